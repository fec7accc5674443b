"""Whether a process is still running, as the crash-recovery paths need to know."""

from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """``pid`` runs on this host: it exists and is not a zombie (killed, not yet reaped, writes nothing more)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True
