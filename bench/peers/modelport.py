"""modelport from the project venv: the ONNX path or the unconverted pickle, on a temp MODELPORT_HOME.

Both versions are registered once, with the CLI, into a template home that
holds no endpoint; every visit serves a fresh copy of it.  A visit first
starts a server on the copy and creates the endpoint through the control API
(the *cold start*: create → first 2xx on a running server), stops it, then
starts the measured server on the same home, where the endpoint now exists
(the *start-up*: process start → first 2xx).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peers.base import BenchModel, Launch, Peer
from peers.process import Probe, free_port
from peers.venvs import PROJECT_VENV, project_version, venv_env

ENDPOINT = "bench"
MODELS = {"onnx": "rf-onnx", "pickle": "rf-pickle"}


def register_models(model: BenchModel, template: Path, log: Path) -> None:
    """``modelport models register`` both versions into ``template`` (once per run)."""
    if (template / ".registered").exists():
        return
    shutil.rmtree(template, ignore_errors=True)
    template.mkdir(parents=True)
    env = venv_env(PROJECT_VENV, MODELPORT_HOME=str(template))
    cli = str(PROJECT_VENV / "bin" / "modelport")
    for path, name in (("onnx", MODELS["onnx"]), ("pickle", MODELS["pickle"])):
        cmd = [cli, "models", "register", str(model.joblib_path), "--name", name, "--sample", str(model.sample_csv)]
        if path == "onnx":
            cmd.append("--to-onnx")
        with log.open("ab") as out:
            out.write(("$ " + " ".join(cmd) + "\n").encode())
            out.flush()
            done = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"modelport models register ({path}) failed; see {log}")
    (template / ".registered").touch()


@dataclass
class Modelport(Peer):
    path: str = "onnx"
    runtime_threads: int | None = None
    max_batch_size: int | None = None
    max_batch_wait_ms: float | None = None
    capture: bool = False
    """Data capture of every request and response (the cost monitoring adds to serving)."""
    home: Path | None = None
    _visits: int = 0

    def versions(self) -> str:
        return f"modelport {project_version('modelport')} (project venv)"

    def prepare(self, model: BenchModel, workdir: Path) -> None:
        self.venv = PROJECT_VENV
        register_models(model, workdir / "modelport-template", workdir / "modelport-register.log")
        if self.runtime_threads is not None:
            self.notes.append(f"MODELPORT_RUNTIME_THREADS={self.runtime_threads}")
        if self.max_batch_size is not None or self.max_batch_wait_ms is not None:
            self.notes.append(f"max_batch_size={self.max_batch_size}, max_batch_wait_ms={self.max_batch_wait_ms}")

    def fresh_home(self, workdir: Path) -> Path:
        """A copy of the template home (registered versions, no endpoint) for one visit."""
        self._visits += 1
        home = workdir / f"{self.key}-home-{self._visits}"
        shutil.copytree(workdir / "modelport-template", home)
        self.home = home
        return home

    def launch(self, model: BenchModel, workdir: Path) -> Launch:
        assert self.home is not None
        port = free_port()
        env = venv_env(PROJECT_VENV, MODELPORT_HOME=str(self.home))
        if self.runtime_threads is not None:
            env["MODELPORT_RUNTIME_THREADS"] = str(self.runtime_threads)
        return Launch(
            cmd=[
                str(PROJECT_VENV / "bin" / "modelport"), "server", "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(self.workers),
            ],
            env=env,
            cwd=workdir,
            probe=self.invocation(port, ENDPOINT, model),
        )

    def invocation(self, port: int, endpoint: str, model: BenchModel) -> Probe:
        """SageMaker route, one row as ``instances``."""
        return Probe(port, f"/endpoints/{endpoint}/invocations", json.dumps({"instances": [model.row]}).encode())

    def create_endpoint(self, port: int, name: str) -> Probe:
        """The control-API call that deploys the version as endpoint ``name`` (send it to create)."""
        variant: dict[str, Any] = {"name": "a", "model": f"{MODELS[self.path]}:1", "weight": 1}
        if self.max_batch_size is not None:
            variant["max_batch_size"] = self.max_batch_size
        if self.max_batch_wait_ms is not None:
            variant["max_batch_wait_ms"] = self.max_batch_wait_ms
        config: dict[str, Any] = {"name": name, "variants": [variant]}
        if self.capture:
            config["capture"] = {"enabled": True, "sampling_percent": 100}
        return Probe(port, "/api/v1/endpoints", json.dumps(config).encode())

    def delete_endpoint(self, port: int, name: str) -> Probe:
        return Probe(port, f"/api/v1/endpoints/{name}", b"", method="DELETE")

    def ping(self, port: int) -> Probe:
        return Probe(port, "/ping", b"", method="GET")

    def label_from(self, body: bytes) -> Any:
        return json.loads(body)["predictions"][0]["label"]

