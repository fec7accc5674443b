"""MLServer + mlserver-sklearn, V2 JSON, adaptive batching off or on.

``debug: false`` is MLServer's production setting (no access log); the rest
are its defaults (one parallel inference worker process, uvloop).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peers.base import BenchModel, Launch, Peer
from peers.process import Probe, free_port
from peers.venvs import project_version, venv_env

# Adaptive batching when on: up to the largest concurrency driven, waiting at most 5 ms.
BATCH_SIZE = 64
BATCH_TIME_S = 0.005


@dataclass
class MLServer(Peer):
    batching: bool = False

    @property
    def pins(self) -> list[str]:
        return [
            "mlserver==1.7.1",
            "mlserver-sklearn==1.7.1",
            # mlserver 1.7.1's inference workers call asyncio.get_event_loop(), which uvloop >= 0.22 refuses
            "uvloop==0.21.0",
            # mlserver 1.7.1 predates pandas 3
            "pandas==2.3.3",
            f"scikit-learn=={project_version('scikit-learn')}",
            f"numpy=={project_version('numpy')}",
        ]

    @property
    def venv_name(self) -> str:
        return "mlserver"

    def _folder(self, workdir: Path) -> Path:
        return workdir / self.key / "rf"

    def prepare(self, model: BenchModel, workdir: Path) -> None:
        folder = self._folder(workdir)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(model.joblib_path, folder / "model.joblib")
        settings: dict[str, Any] = {
            "name": "rf",
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib", "version": "v1"},
        }
        if self.batching:
            settings |= {"max_batch_size": BATCH_SIZE, "max_batch_time": BATCH_TIME_S}
            self.notes.append(f"max_batch_size={BATCH_SIZE}, max_batch_time={BATCH_TIME_S}")
        (folder / "model-settings.json").write_text(json.dumps(settings, indent=2))

    def launch(self, model: BenchModel, workdir: Path) -> Launch:
        assert self.venv is not None
        folder = self._folder(workdir)
        http, grpc, metrics = free_port(), free_port(), free_port()
        (folder / "settings.json").write_text(
            json.dumps(
                {"host": "127.0.0.1", "http_port": http, "grpc_port": grpc, "metrics_port": metrics, "debug": False}
            )
        )
        body = {"inputs": [{"name": "input-0", "shape": [1, model.n_features], "datatype": "FP64", "data": model.row}]}
        return Launch(
            cmd=[str(self.venv / "bin" / "mlserver"), "start", str(folder)],
            env=venv_env(self.venv),
            cwd=folder,
            probe=Probe(http, "/v2/models/rf/infer", json.dumps(body).encode()),
            extra_ports=(grpc, metrics),
        )

    def label_from(self, body: bytes) -> Any:
        return json.loads(body)["outputs"][0]["data"][0]
