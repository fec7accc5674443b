"""A real Docker engine for the tests (and bench/containers.py), as /work/shared/CONTAINERS.md describes.

- ``docker.io``, ``debootstrap`` (and a JDK's ``jlink`` for PMML images) from Debian's packages (installed here when
  missing and CI=true; elsewhere a missing engine is a skip with what to install);
- a private ``dockerd`` with no bridge network (containers use the host's, on
  loopback), its data root in a fixed cache folder so images and build layers
  survive between runs;
- a Python 3.11 base image made once with debootstrap (no registry is reachable)
  and kept as a tarball in the same cache folder: only the first run pays.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("MODELPORT_TEST_CACHE", Path.home() / ".cache" / "modelport-test"))
BASE_IMAGE = "modelport-test/python:3.11"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


class EngineUnavailable(Exception):
    """The engine cannot be had here (outside CI: the tests skip with this message)."""


@dataclass
class DockerEngine:
    host: str
    base: str
    started: bool
    process: subprocess.Popen[bytes] | None = None  # the daemon, when this run started it

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.host}

    def docker(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=check
        )

    def has_image(self, ref: str) -> bool:
        return self.docker("image", "inspect", ref, check=False).returncode == 0


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def ensure_packages() -> None:
    """dockerd, docker, debootstrap, jlink and strip; apt-get installs them in CI (as root), else EngineUnavailable."""
    missing = [tool for tool in ("dockerd", "docker", "debootstrap", "jlink", "strip") if shutil.which(tool) is None]
    if not missing:
        return
    packages = ["docker.io", "debootstrap", "openjdk-17-jdk-headless", "binutils"]  # binutils: strip, for image sizes
    if not in_ci() or os.geteuid() != 0:
        raise EngineUnavailable(f"{', '.join(missing)} not installed: apt-get install -y {' '.join(packages)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-q", *packages], check=True, env=env, capture_output=True)


def apt_mirror() -> str:
    """The Debian mirror apt uses here (its sources lists), else deb.debian.org."""
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in files:
        with contextlib.suppress(OSError):
            text = path.read_text()
            for match in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.MULTILINE):
                uri = match.group(1)
                if "debian" in uri and "security" not in uri:
                    return uri.rstrip("/")
    return DEFAULT_MIRROR


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().strip())
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"dockerd")
    except (OSError, ValueError):
        return False


def _answers(host: str) -> bool:
    done = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        env={**os.environ, "DOCKER_HOST": host}, capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    return done.returncode == 0


def start_engine(cache: Path = CACHE) -> DockerEngine:
    """A running private engine: the one a previous run left (reused), else a new one."""
    ensure_packages()
    folder = cache / "engine"
    folder.mkdir(parents=True, exist_ok=True)
    host = f"unix://{folder}/docker.sock"
    pid_file = folder / "dockerd.pid"
    if _alive(pid_file) and _answers(host):
        return DockerEngine(host=host, base=BASE_IMAGE, started=False)
    pid_file.unlink(missing_ok=True)
    log = open(folder / "dockerd.log", "ab")  # noqa: SIM115 - the daemon writes it for its whole life
    process = subprocess.Popen(
        ["dockerd", "--data-root", str(folder / "data"), "--host", host, "--pidfile", str(pid_file),
         "--exec-root", f"/tmp/modelport-test-docker-{os.getuid()}", "--bridge=none", "--iptables=false",
         "--ip-masq=false"],
        stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not _answers(host):
        if time.monotonic() > deadline:
            raise RuntimeError(f"dockerd did not answer within 60 s: see {folder / 'dockerd.log'}")
        time.sleep(0.25)
    return DockerEngine(host=host, base=BASE_IMAGE, started=True, process=process)


def stop_engine(engine: DockerEngine, cache: Path = CACHE) -> None:
    """Stop the daemon this run started (its own process, never by name)."""
    if not engine.started or engine.process is None:
        return
    engine.process.send_signal(signal.SIGTERM)
    try:
        engine.process.wait(30)  # reaped here: a zombie would look alive
    except subprocess.TimeoutExpired:
        engine.process.kill()
        engine.process.wait(10)


def ensure_base(engine: DockerEngine, cache: Path = CACHE) -> str:
    """The Python 3.11 base image in the engine: imported from the cached tarball, made once with debootstrap."""
    if engine.has_image(engine.base):
        return engine.base
    tarball = cache / "python-3.11-base.tar"
    if not tarball.exists():
        rootfs = cache / "rootfs.partial"
        shutil.rmtree(rootfs, ignore_errors=True)
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=python3,python3-venv", SUITE, str(rootfs), apt_mirror()],
            check=True, capture_output=True, timeout=1200,
        )  # fmt: skip
        partial = tarball.with_suffix(".partial")
        with open(partial, "wb") as out:
            subprocess.run(["tar", "-C", str(rootfs), "-c", "."], stdout=out, check=True)
        partial.rename(tarball)
        shutil.rmtree(rootfs, ignore_errors=True)
    with open(tarball, "rb") as data:
        subprocess.run(["docker", "import", "-", engine.base], stdin=data, env=engine.env, check=True,
                       capture_output=True, timeout=600)  # fmt: skip
    return engine.base


@contextlib.contextmanager
def engine_with_base(cache: Path = CACHE) -> Iterator[DockerEngine]:
    engine = start_engine(cache)
    try:
        ensure_base(engine, cache)
        yield engine
    finally:
        # build-stage images are the engine's layer cache (warm builds): only week-old ones go
        engine.docker("image", "prune", "--force", "--filter", "until=168h", check=False)
        stop_engine(engine, cache)
