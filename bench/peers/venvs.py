"""One virtualenv per peer under ``bench/.cache/venvs``, made with the project's ``uv``.

A venv's folder name carries a hash of its pins and interpreter, so changing
a pin makes a new one (and removes the old); a ``.installed`` stamp is
written only after a complete install, so an interrupted one is redone.
Peers are never installed into the project venv.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_VENV = ROOT / ".venv"
CACHE = ROOT / "bench" / ".cache"
UV = PROJECT_VENV / "bin" / "uv"
# the interpreter the project venv was made from: every peer runs the same Python
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))


def project_version(dist: str) -> str | None:
    """The version of ``dist`` in the project venv (peers pin scikit-learn/numpy to it: the same pickle must load)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def ensure_venv(name: str, pins: Sequence[str], log: Path) -> tuple[Path, float]:
    """The venv for ``name`` with exactly ``pins``; (path, seconds spent installing: 0 when cached)."""
    key = hashlib.sha256("\n".join([str(BASE_PYTHON), *sorted(pins)]).encode()).hexdigest()[:12]
    root = CACHE / "venvs"
    path = root / f"{name}-{key}"
    stamp = path / ".installed"
    if stamp.exists():
        return path, 0.0
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(f"{name}-*"):
        if stale != path:
            shutil.rmtree(stale, ignore_errors=True)
    shutil.rmtree(path, ignore_errors=True)
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": str(path)}
    start = time.perf_counter()
    with log.open("ab") as out:
        for cmd in (
            [str(UV), "venv", "--quiet", "--python", str(BASE_PYTHON), str(path)],
            [str(UV), "pip", "install", "--quiet", "--python", str(path / "bin" / "python"), *pins],
        ):
            out.write(("$ " + " ".join(cmd) + "\n").encode())
            out.flush()
            done = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"installing {name} failed (exit {done.returncode}); see {log}")
    stamp.write_text("\n".join(pins) + "\n")
    return path, time.perf_counter() - start


def venv_env(venv: Path, **extra: str) -> dict[str, str]:
    """The environment of an activated ``venv`` (peers shell out to their own console scripts)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELPORT_", "VIRTUAL_ENV", "PYTHON"))}
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update(extra)
    return env
