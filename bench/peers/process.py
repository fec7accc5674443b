"""Server processes: start in their own process group, sample RSS, always stop.

Every process the benchmark starts is registered in :data:`STARTED`;
:func:`stop_all` (called from ``finally`` and on SIGTERM/SIGHUP) ends each
one by its group, then any descendant seen while sampling that left the group.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

STARTED: list[ServerProcess] = []


@dataclass(frozen=True)
class Probe:
    """One HTTP request that must answer 2xx: how readiness and the load are defined."""

    port: int
    path: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    method: str = "POST"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def send(self, timeout: float = 5.0) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(self.method, self.path, body=self.body, headers=dict(self.headers))
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def wait_for_success(probe: Probe, *, timeout: float, alive: ServerProcess | None = None) -> float:
    """Seconds until ``probe`` first answers 2xx; polls every 5 ms. Raises on timeout or a dead server."""
    start = time.perf_counter()
    deadline = start + timeout
    last = "no answer"
    while time.perf_counter() < deadline:
        if alive is not None and alive.popen.poll() is not None:
            raise RuntimeError(f"{alive.name} exited with code {alive.popen.returncode} before answering ({last})")
        try:
            status, body = probe.send(timeout=max(0.1, deadline - time.perf_counter()))
        except OSError as exc:  # refused while the server is still binding
            last = f"{type(exc).__name__}: {exc}"
        else:
            if 200 <= status < 300:
                return time.perf_counter() - start
            last = f"HTTP {status}: {body[:200]!r}"
        time.sleep(0.005)
    raise TimeoutError(f"no 2xx from {probe.url} within {timeout:.0f} s (last: {last})")


class ServerProcess:
    """A server started in its own session, with a tree-RSS sampler running beside it."""

    def __init__(
        self, name: str, cmd: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path
    ) -> None:
        self.name = name
        self.log = log
        self._log_file = log.open("ab")
        self.started_at = time.perf_counter()
        self.popen = subprocess.Popen(
            list(cmd),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        STARTED.append(self)
        # (pid, create_time) of every process seen in the tree: a pid alone could be reused
        self.seen: set[tuple[int, float]] = set()
        self._peak = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sampler = threading.Thread(target=self._sample, name=f"rss-{name}", daemon=True)
        self._sampler.start()

    # -- memory -------------------------------------------------------------------

    def _tree(self) -> list[psutil.Process]:
        """The server process and all its descendants now (none once it is gone)."""
        try:
            root = psutil.Process(self.popen.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def tree_rss(self) -> int:
        total = 0
        for p in self._tree():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
                self.seen.add((p.pid, p.create_time()))
        return total

    def tree_cpu(self) -> float:
        """CPU seconds (user + system) used so far by the processes now in the tree."""
        total = 0.0
        for p in self._tree():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            rss = self.tree_rss()
            with self._lock:
                self._peak = max(self._peak, rss)

    def take_peak(self) -> int:
        """Peak tree RSS since the last call (bytes); starts a new window."""
        now = self.tree_rss()
        with self._lock:
            peak, self._peak = max(self._peak, now), 0
        return peak

    # -- lifecycle ----------------------------------------------------------------

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the group, SIGKILL what is left after ``grace`` seconds, then strays by pid."""
        self._stop.set()
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # the group may outlive its leader (workers finishing): kill what remains of it
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
        for pid, created in self.seen:
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pid)
                if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                    p.kill()
        self._log_file.close()
        if self in STARTED:
            STARTED.remove(self)


def stop_all() -> None:
    for proc in list(STARTED):
        with contextlib.suppress(Exception):
            proc.stop(grace=5.0)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
