"""BentoML: ``bentoml serve`` on ``apps/bento_service.py`` (one worker, its default), ``POST /predict``."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peers.base import APPS, BenchModel, Launch, Peer
from peers.process import Probe, free_port
from peers.venvs import CACHE, project_version, venv_env


@dataclass
class BentoML(Peer):
    @property
    def pins(self) -> list[str]:
        return [
            "bentoml==1.4.40",
            f"scikit-learn=={project_version('scikit-learn')}",
            f"numpy=={project_version('numpy')}",
        ]

    def prepare(self, model: BenchModel, workdir: Path) -> None:
        folder = workdir / self.key
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(APPS / "bento_service.py", folder / "bento_service.py")

    def launch(self, model: BenchModel, workdir: Path) -> Launch:
        assert self.venv is not None
        port = free_port()
        return Launch(
            cmd=[str(self.venv / "bin" / "bentoml"), "serve", "bento_service:RandomForest", "--host", "127.0.0.1", "--port", str(port)],
            env=venv_env(
                self.venv,
                BENCH_MODEL=str(model.joblib_path),
                BENTOML_HOME=str(CACHE / "bentoml-home"),
                BENTOML_DO_NOT_TRACK="True",
            ),
            cwd=workdir / self.key,
            probe=Probe(port, "/predict", json.dumps({"instances": [model.row]}).encode()),
        )

    def label_from(self, body: bytes) -> Any:
        return json.loads(body)[0]
