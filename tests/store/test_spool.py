"""Uploads spool under the home, and what a kill -9 leaves behind is swept at the next start."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelport.spool import spool_path, sweep
from tests import infra


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_sweep_removes_only_files_of_gone_processes(tmp_path: Path) -> None:
    mine = spool_path(tmp_path, ".upload")
    mine.write_bytes(b"in flight")
    dead = mine.with_name(mine.name.replace(f"-{os.getpid()}-", f"-{_dead_pid()}-"))
    dead.write_bytes(b"left by a kill -9")
    other_host_new = tmp_path / f"elsewhere-{os.getpid()}-abc.upload"
    other_host_new.write_bytes(b"another machine's upload")
    other_host_old = tmp_path / "elsewhere-1-def.upload"
    other_host_old.write_bytes(b"a day old")
    os.utime(other_host_old, (time.time() - 2 * 86400,) * 2)
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("not a spool file")

    zombie = subprocess.Popen([sys.executable, "-c", "pass"])  # exited, not yet reaped: kill(0) still succeeds
    infra.wait_for(lambda: Path(f"/proc/{zombie.pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z", 10, "a zombie")
    by_zombie = mine.with_name(mine.name.replace(f"-{os.getpid()}-", f"-{zombie.pid}-"))
    by_zombie.write_bytes(b"left by a killed worker nobody reaped")

    assert sorted(sweep(tmp_path)) == sorted([dead, by_zombie, other_host_old])
    assert mine.exists() and other_host_new.exists() and unrelated.exists()
    zombie.wait()


def _descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [d for c in children for d in (int(c), *_descendants(int(c)))]


@pytest.mark.slow
def test_a_killed_upload_leaves_nothing_in_tmp_after_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"MODELPORT_HOME": str(home)}
    spool = home / "tmp"
    stop = threading.Event()
    data = os.urandom(64 * 1024)

    def body() -> Iterator[bytes]:
        while not stop.is_set():  # an upload that never finishes
            yield data
            time.sleep(0.05)

    with infra.live_server(env) as live:
        sha = hashlib.sha256(b"never completes").hexdigest()

        def upload() -> None:
            try:
                httpx.put(f"{live.url}/api/v1/artifacts/{sha}", content=body(), timeout=30)
            except httpx.HTTPError:
                pass  # the server is killed under it

        sender = threading.Thread(target=upload, daemon=True)
        sender.start()
        infra.wait_for(lambda: any(spool.glob("*.upload")), 20, "the upload to spool under the home")
        for pid in [*_descendants(live.proc.pid), live.proc.pid]:  # the worker too: kill -9, no clean-up
            os.kill(pid, signal.SIGKILL)
        live.proc.wait(10)
        stop.set()
        sender.join(10)
    left = list(spool.glob("*.upload"))
    assert left, "a killed upload leaves its spool file (under the home, not /tmp)"
    with infra.live_server(env):
        assert not any(spool.glob("*.upload"))
