"""Where trials run: worker processes on this machine, or tasks on a Dask cluster.

An engine takes :class:`TrialTask` s and gives back events; it never writes
the database (the job's runner is the one writer).  The local engine keeps
one long-lived worker process per parallel slot: a worker beats while its
trial runs, asks the runner whether to prune on every ``report``, and a
worker that dies or falls silent is replaced and its trial failed with the
reason.  On Dask, trials are tasks; a lost worker fails its trial through
Dask, and ``report`` records intermediate values without pruning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from modelport.errors import MissingExtra, Unavailable
from modelport.tuning.trials import TrialResult, TrialTask, run_trial

#: a worker beats this often while its trial runs
BEAT_S = 1.0


@dataclass
class Report:
    """A running trial reported an intermediate value and waits for ``engine.reply`` (prune or go on)."""

    number: int
    step: int
    value: float


Event = Report | TrialResult


class Engine(ABC):
    @abstractmethod
    def free(self) -> int:
        """Slots ready for another trial."""

    @abstractmethod
    def submit(self, task: TrialTask) -> None: ...

    @abstractmethod
    def poll(self, timeout: float) -> list[Event]:
        """Events since the last poll (waits up to ``timeout`` for the first)."""

    def reply(self, number: int, prune: bool) -> None:  # noqa: B027 -- engines without pruning ignore it
        """Answer a :class:`Report`."""

    @abstractmethod
    def stop(self, number: int, reason: str) -> None:
        """Kill a running trial (it ends as failed with ``reason``)."""

    @abstractmethod
    def close(self) -> None:
        """Stop every worker (running trials are killed)."""


# -- local: worker processes -----------------------------------------------------------------


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    conn: Connection
    number: int | None = None
    last_beat: float = 0.0


#: how long a worker told to stop (SIGTERM) has to kill its trial's command before it is killed itself
STOP_GRACE_S = 2.0


class LocalEngine(Engine):
    """``parallel`` worker processes, each ``python -m modelport.tuning.worker`` on a socket pair.

    A fresh interpreter that imports only the worker and the trial's module:
    the runner's threads and connections stay its own, and (unlike
    multiprocessing's spawn) the caller's ``__main__`` is not imported again.
    """

    def __init__(self, parallel: int, *, heartbeat_timeout_s: float = 60.0, clock: Any = time.monotonic) -> None:
        self._slots: list[_Worker | None] = [None] * parallel
        self._timeout = heartbeat_timeout_s
        self._clock = clock
        self._failed: list[TrialResult] = []

    def _start(self, slot: int) -> _Worker:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        with theirs:
            proc = subprocess.Popen(
                [sys.executable, "-m", "modelport.tuning.worker", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=2,  # a trial's prints go to stderr (file descriptor 2): stdout is the command's (--json)
                env=env,
            )
        worker = _Worker(proc, Connection(ours.detach()))
        self._slots[slot] = worker
        return worker

    def free(self) -> int:
        return sum(1 for w in self._slots if w is None or w.number is None)

    def submit(self, task: TrialTask) -> None:
        for slot, w in enumerate(self._slots):
            if w is None or w.number is None:
                worker = w or self._start(slot)
                worker.number = task.number
                worker.last_beat = self._clock()
                worker.conn.send(task)
                return
        raise RuntimeError("no free worker")

    def poll(self, timeout: float) -> list[Event]:
        out: list[Event] = []
        busy = [w for w in self._slots if w is not None and w.number is not None]
        ready = set(wait([w.conn for w in busy], timeout)) if busy else set()
        if not busy:
            time.sleep(timeout)
        for w in busy:
            if w.conn not in ready:
                continue
            try:
                while w.conn.poll():
                    kind, payload = w.conn.recv()
                    if kind == "beat":
                        w.last_beat = self._clock()
                    elif kind == "report" and w.number == payload.number:
                        w.last_beat = self._clock()
                        out.append(payload)
                    elif kind == "done" and w.number == payload.number:
                        w.number = None
                        out.append(payload)
            except (EOFError, OSError):  # the worker is gone: _check says how
                pass
        out.extend(self._check())
        out.extend(self._failed)
        self._failed.clear()
        return out

    def _check(self) -> list[TrialResult]:
        """Dead or silent workers: their trials fail at once, the worker is replaced on next submit."""
        failed: list[TrialResult] = []
        now = self._clock()
        for slot, w in enumerate(self._slots):
            if w is None:
                continue
            code = w.process.poll()
            if w.number is None:
                if code is not None:
                    self._kill(slot)
                continue
            if code is not None:
                failed.append(TrialResult(w.number, "failed", reason=f"the trial's worker process died (exit code {code})"))
            elif now - w.last_beat > self._timeout:
                failed.append(TrialResult(w.number, "failed", reason=f"no heartbeat for {self._timeout:g}s: the trial's worker was stopped"))
            else:
                continue
            self._kill(slot)
        return failed

    def reply(self, number: int, prune: bool) -> None:
        for w in self._slots:
            if w is not None and w.number == number:
                with contextlib.suppress(OSError):
                    w.conn.send(prune)

    def stop(self, number: int, reason: str) -> None:
        for slot, w in enumerate(self._slots):
            if w is not None and w.number == number:
                self._kill(slot)
                self._failed.append(TrialResult(number, "failed", reason=reason))

    def _kill(self, slot: int) -> None:
        w = self._slots[slot]
        if w is None:
            return
        if w.process.poll() is None:
            w.process.terminate()  # the worker kills its trial's command and all it started, then exits
            try:
                w.process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:  # stuck in a trial function's native code
                w.process.kill()
        w.process.wait(5)
        w.conn.close()
        self._slots[slot] = None

    def close(self) -> None:
        """Idle workers are told to exit (and given a moment), busy ones are killed."""
        for w in self._slots:
            if w is not None and w.number is None:
                with contextlib.suppress(OSError):
                    w.conn.send(None)
        deadline = time.monotonic() + 1.0
        for slot, w in enumerate(self._slots):
            if w is None:
                continue
            if w.number is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    w.process.wait(max(0.0, deadline - time.monotonic()))
            self._kill(slot)


# -- Dask ---------------------------------------------------------------------------------------


def _dask_trial(task: TrialTask) -> TrialResult:
    return run_trial(task, None)


class DaskEngine(Engine):
    """Trials as tasks on a ``dask.distributed`` cluster: ``scheduler`` or a local cluster of ``parallel`` processes."""

    def __init__(self, parallel: int, *, scheduler: str | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise MissingExtra.for_extra("dask", "--engine dask") from None
        self._cluster = None
        try:
            if scheduler:
                self._client = Client(scheduler, timeout="20s")
            else:
                self._cluster = LocalCluster(
                    n_workers=parallel,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                )
                self._client = Client(self._cluster)
        except OSError as exc:
            raise Unavailable(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        self._parallel = parallel
        self._futures: dict[int, Any] = {}
        self._failed: list[TrialResult] = []

    def free(self) -> int:
        return max(0, self._parallel - len(self._futures))

    def submit(self, task: TrialTask) -> None:
        self._futures[task.number] = self._client.submit(_dask_trial, task, pure=False, key=f"trial-{task.job}-{task.number}-{time.time_ns()}")

    def poll(self, timeout: float) -> list[Event]:
        from distributed import wait

        out: list[Event] = list(self._failed)
        self._failed.clear()
        if self._futures and not out:
            wait(list(self._futures.values()), timeout=timeout, return_when="FIRST_COMPLETED")
        elif not out:
            time.sleep(timeout)
        for number, fut in list(self._futures.items()):
            if fut.status == "finished":
                out.append(fut.result())
            elif fut.status in ("error", "cancelled", "lost"):
                try:
                    exc = fut.exception()
                    reason = f"the Dask task failed: {type(exc).__name__}: {exc}"
                except Exception as err:  # a cancelled future has no exception to give
                    reason = f"the Dask task was {fut.status}: {err}"
                out.append(TrialResult(number, "failed", reason=reason))
            else:
                continue
            del self._futures[number]
        return out

    def stop(self, number: int, reason: str) -> None:
        fut = self._futures.pop(number, None)
        if fut is not None:
            fut.cancel()
            self._failed.append(TrialResult(number, "failed", reason=reason))

    def close(self) -> None:
        for fut in self._futures.values():
            fut.cancel()
        self._futures.clear()
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_engine(kind: str, parallel: int, *, scheduler: str | None, heartbeat_timeout_s: float) -> Engine:
    if kind == "dask":
        return DaskEngine(parallel, scheduler=scheduler)
    return LocalEngine(parallel, heartbeat_timeout_s=heartbeat_timeout_s)
