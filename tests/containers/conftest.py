"""The real container engine and the images the container tests share (built once per session)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import infra
from tests.containers import dockerd


@pytest.fixture(scope="session")
def engine() -> Iterator[dockerd.DockerEngine]:
    """A private Docker engine with the Python 3.11 base image; never a skip in CI."""
    try:
        with dockerd.engine_with_base() as started:
            yield started
    except dockerd.EngineUnavailable as exc:
        if dockerd.in_ci():
            raise
        pytest.skip(str(exc))


@dataclass
class Workspace:
    """A registry (home) shared by the container tests, and the CLI run against it."""

    home: Path
    engine: dockerd.DockerEngine

    def cli(self, *args: str, docker_host: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "MODELPORT_HOME": str(self.home), "PYTHONPATH": infra.PYTHONPATH,
               "DOCKER_HOST": docker_host or self.engine.host}  # fmt: skip
        env.pop("MODELPORT_URL", None)
        done = subprocess.run(
            [sys.executable, "-m", "modelport.cli.main", *args], env=env, capture_output=True, text=True, timeout=900
        )
        if check and done.returncode != 0:
            raise AssertionError(f"modelport {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def build(self, target: str, *extra: str) -> dict[str, object]:
        out = self.cli("build", target, "--base", self.engine.base, "--json", *extra)
        return json.loads(out.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def workspace(engine: dockerd.DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    home = tmp_path_factory.mktemp("container-home")
    # repacked wheels and the jlinked Java runtime (keyed by name, version and tag; by JDK and modules) outlive the run
    shared = dockerd.CACHE / "build-cache"
    shared.mkdir(parents=True, exist_ok=True)
    (home / "cache").symlink_to(shared, target_is_directory=True)
    return Workspace(home=home, engine=engine)
