"""``mlflow models serve`` (sklearn flavor, ``--env-manager local``), ``{"inputs": …}`` bodies.

The MLflow model folder is written once per model and venv by
``apps/mlflow_save.py`` inside the MLflow venv, and cached (importing MLflow
takes longer than the save itself).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peers.base import APPS, BenchModel, Launch, Peer
from peers.process import Probe, free_port
from peers.venvs import CACHE, project_version, venv_env


@dataclass
class MLflow(Peer):
    model_dir: Path | None = None

    @property
    def pins(self) -> list[str]:
        return [
            "mlflow==3.17.2",
            f"scikit-learn=={project_version('scikit-learn')}",
            f"numpy=={project_version('numpy')}",
        ]

    def prepare(self, model: BenchModel, workdir: Path) -> None:
        assert self.venv is not None
        target = CACHE / "models" / f"mlflow-{model.sha256[:16]}-{self.venv.name}"
        if not (target / "MLmodel").exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            log = workdir / "mlflow-save.log"
            with log.open("ab") as out:
                done = subprocess.run(
                    [str(self.venv / "bin" / "python"), str(APPS / "mlflow_save.py"), str(model.joblib_path), str(target)],
                    env=venv_env(self.venv),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    check=False,
                )
            if done.returncode != 0:
                raise RuntimeError(f"saving the MLflow model failed; see {log}")
        self.model_dir = target

    def launch(self, model: BenchModel, workdir: Path) -> Launch:
        assert self.venv is not None and self.model_dir is not None
        port = free_port()
        return Launch(
            cmd=[
                str(self.venv / "bin" / "mlflow"), "models", "serve", "-m", str(self.model_dir),
                "-h", "127.0.0.1", "-p", str(port), "--env-manager", "local", "--workers", str(self.workers),
            ],
            env=venv_env(self.venv, MLFLOW_TRACKING_URI=str(workdir / "mlruns")),
            cwd=workdir,
            probe=Probe(port, "/invocations", json.dumps({"inputs": [model.row]}).encode()),
        )

    def label_from(self, body: bytes) -> Any:
        return json.loads(body)["predictions"][0]
