"""The local container engine, driven through its ``docker`` command (which honours ``DOCKER_HOST``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from modelport.containers.dockerfile import BASE_MARKER
from modelport.errors import FailedPrecondition, InvalidArgument

#: what the docker command talks to when DOCKER_HOST is unset
DEFAULT_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class ImageInfo:
    id: str
    size: int


class Engine:
    """A Docker-compatible engine reached by the ``docker`` command; ``host`` is its DOCKER_HOST (None: the default)."""

    def __init__(self, host: str | None = None, *, command: str = "docker") -> None:
        # The engine's own variable: read here as the docker command reads it, and only to name it in errors.
        self.host = host if host is not None else os.environ.get("DOCKER_HOST")
        self.command = command

    @property
    def where(self) -> str:
        return f"DOCKER_HOST={self.host}" if self.host else f"DOCKER_HOST unset, so {DEFAULT_HOST}"

    def _run(self, args: Sequence[str], *, timeout: float | None = 60) -> subprocess.CompletedProcess[str]:
        exe = shutil.which(self.command)
        if exe is None:
            raise FailedPrecondition(
                f"no `{self.command}` command found: install Docker's CLI (it talks to the engine at DOCKER_HOST), "
                "or pass --no-build to only write the build context"
            )
        env = {**os.environ, **({"DOCKER_HOST": self.host} if self.host else {})}
        return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)

    def check(self) -> str:
        """The engine's version; a one-line error naming DOCKER_HOST when it cannot be reached."""
        try:
            done = self._run(["version", "--format", "{{.Server.Version}}"], timeout=20)
        except subprocess.TimeoutExpired:
            done = None
        if done is None or done.returncode != 0 or not done.stdout.strip():
            raise FailedPrecondition(
                f"cannot reach a container engine ({self.where}): start Docker or set DOCKER_HOST to a running "
                "engine; --no-build writes the build context without one"
            )
        return done.stdout.strip()

    def build(self, context: Path, tag: str, *, base: str, timeout: float = 1800) -> str:
        """Build ``context`` as ``tag`` (tagged only on success); the build output on failure in the error."""
        done = self._run(
            ["build", "--force-rm", "--network", "none", "--build-arg", f"BASE={base}", "-t", tag, str(context)],
            timeout=timeout,
        )
        output = (done.stdout or "") + (done.stderr or "")
        if done.returncode != 0:
            for line in output.splitlines():
                if BASE_MARKER in line:
                    raise InvalidArgument(f"base image {base}: {line.split(BASE_MARKER, 1)[1].strip()}")
            last = [ln.strip() for ln in output.splitlines() if ln.strip()]
            tail = last[-1] if last else f"exit status {done.returncode}"
            if "pull access denied" in output or "manifest unknown" in output or "not found" in tail:
                raise InvalidArgument(f"base image {base} is not available to the engine ({self.where}): {tail}")
            raise FailedPrecondition(f"the image build failed: {tail}")
        return output

    def inspect(self, image: str) -> ImageInfo:
        done = self._run(["image", "inspect", "--format", "{{json .}}", image])
        if done.returncode != 0:
            raise FailedPrecondition(f"no image {image} in the engine ({self.where})")
        data = json.loads(done.stdout)
        return ImageInfo(id=data["Id"], size=int(data["Size"]))

    def size(self, image: str) -> int | None:
        try:
            return self.inspect(image).size
        except FailedPrecondition:
            return None
