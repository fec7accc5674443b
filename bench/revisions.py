"""The checkout's revision and another revision's ``src/``, for benchmarks that compare two (bench/cli.py, bench/monitor_run.py)."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def revision() -> str:
    rev = git("rev-parse", "--short", "HEAD").strip()
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "src").strip()
    return rev + ("+uncommitted changes" if dirty else "")


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout


def export(rev: str, dest: Path) -> Path:
    """``src/`` of a revision, without touching the repository's worktrees."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], capture_output=True, check=True).stdout
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"
