"""Request bodies that must arrive in time: a client sending a byte a second is cut off.

    deadlines = BodyDeadlines(timeout_s=30, min_rate=64 * 1024)
    deadline = deadlines.deadline()                       # when the body starts to be read
    chunk = await deadlines.in_time(next_chunk(), deadline)  # RequestTimeout past it
    deadline += deadlines.allowance(len(chunk))

A body gets ``timeout_s`` to arrive, plus a second for every ``min_rate``
bytes received (Apache's ``mod_reqtimeout`` rule): a large upload that keeps
coming at a decent rate is never cut, a trickle is.  One timer per event loop
checks the reads in progress every ``period`` seconds (a timer per request
costs µs on the hot path) and cancels the task of each read past its
deadline; the reader turns that cancellation into RequestTimeout (408).
Headers are granian's business (``MODELPORT_HEADER_READ_TIMEOUT_S``, see
:mod:`modelport.server`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from modelport.errors import RequestTimeout

T = TypeVar("T")


class BodyDeadlines:
    """The body reads of one event loop, and the timer that cuts off the slow ones."""

    def __init__(self, timeout_s: float, min_rate: float) -> None:
        self.timeout_s = timeout_s
        self.min_rate = min_rate
        self.period = min(1.0, timeout_s / 4)
        self._reading: dict[asyncio.Task[Any], float] = {}
        self._expired: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def deadline(self) -> float:
        """The deadline of a body whose reading starts now (the running loop's clock)."""
        return asyncio.get_running_loop().time() + self.timeout_s

    def allowance(self, size: int) -> float:
        """The seconds ``size`` more bytes received add to a deadline."""
        return size / self.min_rate

    async def in_time(self, awaitable: Awaitable[T], deadline: float) -> T:
        """What ``awaitable`` (a wait for the client) gives, or RequestTimeout once ``deadline`` passes."""
        task = self.watch(deadline)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if self.expired(task):
                raise self.timeout_error() from None
            raise
        finally:
            self.unwatch(task)

    def timeout_error(self) -> RequestTimeout:
        return RequestTimeout(
            f"the request body did not arrive in time: {self.timeout_s:g} s (MODELPORT_BODY_READ_TIMEOUT_S), "
            f"plus a second per {self.min_rate:g} bytes received (MODELPORT_BODY_MIN_RATE)"
        )

    def watch(self, deadline: float | None) -> asyncio.Task[Any]:
        """Cut off the current task's read at ``deadline`` (None: ``timeout_s`` from now); call
        :meth:`unwatch` once the await is over."""
        task = asyncio.current_task()
        assert task is not None, "a body is read in a task"
        loop = task.get_loop()
        self._reading[task] = loop.time() + self.timeout_s if deadline is None else deadline
        if self._timer is None or self._loop is not loop:
            self._loop = loop
            self._timer = loop.call_later(self.period, self._check)
        return task

    def unwatch(self, task: asyncio.Task[Any]) -> None:
        self._reading.pop(task, None)

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """Whether this timer cancelled ``task`` (the read timed out); if so the cancellation is taken back."""
        if task not in self._expired:
            return False
        self._expired.discard(task)
        task.uncancel()
        return True

    def _check(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for task, deadline in list(self._reading.items()):
            if deadline <= now:
                del self._reading[task]
                self._expired.add(task)
                task.cancel()
        self._timer = loop.call_later(self.period, self._check) if self._reading else None
