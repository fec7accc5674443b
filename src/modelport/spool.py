"""Temporary files for uploads in flight, and the sweep that removes those a crash left behind.

Spool files live under the home (``<home>/tmp``, or ``MODELPORT_TMP_DIR``),
never in the system's /tmp, and are named ``<host>-<pid>-<random><suffix>``:
at start a server removes the ones whose process on this host is gone (a
``kill -9`` mid-upload), and any from another host older than a day.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from pathlib import Path

from modelport.processes import process_alive

log = logging.getLogger(__name__)

#: spool files of other hosts (a home on shared storage) are swept after this long
OTHER_HOST_AFTER_S = 86400.0


def _host() -> str:
    return socket.gethostname().replace("-", "_") or "host"


def spool_path(folder: Path, suffix: str) -> Path:
    """A fresh spool file name in ``folder`` (created), owned by this process."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{_host()}-{os.getpid()}-{uuid.uuid4().hex}{suffix}"


def sweep(folder: Path, *, now: float | None = None) -> list[Path]:
    """Remove spool files whose process is gone; returns what was removed."""
    if not folder.is_dir():
        return []
    now = time.time() if now is None else now
    host = _host()
    removed = []
    for path in folder.iterdir():
        parts = path.name.split("-", 2)
        if len(parts) != 3 or not parts[1].isdigit() or not path.is_file():
            continue
        stale = not process_alive(int(parts[1])) if parts[0] == host else now - path.stat().st_mtime > OTHER_HOST_AFTER_S
        if stale:
            with contextlib.suppress(FileNotFoundError):
                path.chmod(0o644)
                path.unlink()
                removed.append(path)
    if removed:
        log.info("removed %d spool file(s) left by stopped processes in %s", len(removed), folder)
    return removed
