"""The ceiling: ``apps/bare_asgi.py`` on the same granian (version and event loop) modelport runs on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peers.base import APPS, BenchModel, Launch, Peer
from peers.process import Probe, free_port
from peers.venvs import project_version, venv_env


@dataclass
class BareASGI(Peer):
    @property
    def pins(self) -> list[str]:
        pins = [f"granian=={project_version('granian')}"]
        # granian's "auto" loop picks rloop, then uvloop: mirror what the project venv has
        for loop in ("rloop", "uvloop"):
            if (v := project_version(loop)) is not None:
                pins.append(f"{loop}=={v}")
        return pins

    @property
    def venv_name(self) -> str:
        return "bare-asgi"

    def launch(self, model: BenchModel, workdir: Path) -> Launch:
        assert self.venv is not None
        port = free_port()
        return Launch(
            cmd=[
                str(self.venv / "bin" / "granian"), "--interface", "asgi", "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(self.workers), "bare_asgi:app",
            ],
            env=venv_env(self.venv),
            cwd=APPS,
            probe=Probe(port, "/endpoints/bench/invocations", json.dumps({"instances": [model.row]}).encode()),
        )

    def label_from(self, body: bytes) -> Any:
        return None  # a constant: nothing to check
