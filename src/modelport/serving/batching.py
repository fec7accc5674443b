"""Adaptive batching: concurrent requests to one variant share one model call.

:class:`AdaptiveBatcher` wraps a runtime (compose, don't patch).  Requests
queue on the event loop; a flush is scheduled with ``call_soon``, so it runs
once the loop has read every request that is already waiting — no timer, no
added latency when a request is alone.  While a model call is running, new
requests keep queueing and go together in the next call, up to
``max_batch_size`` rows (optionally waiting ``max_wait_ms`` for more once
traffic is concurrent).

A model call runs on the event loop itself when its expected duration is
tiny (a moving average per row, under ``inline_budget_s``): for a fast ONNX
graph the thread hop costs more than the prediction.  Anything slower runs
in the worker pool under the request deadline.

If a merged call fails, each request is retried on its own so that one
request's bad rows fail that request only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np

from modelport.signature import Batch, BlockBatch, batch_rows

DEFAULT_MAX_BATCH_SIZE = 64
#: a call expected to finish within this runs inline on the event loop
INLINE_BUDGET_S = 0.0005


@dataclass(slots=True)
class _Pending:
    batch: Batch
    rows: int
    future: asyncio.Future[Batch]


@dataclass
class BatchStats:
    calls: int = 0
    requests: int = 0
    inline_calls: int = 0


def concat(batches: list[Batch]) -> Batch:
    if len(batches) == 1:
        return batches[0]
    first = batches[0]
    if type(first) is BlockBatch and all(type(b) is BlockBatch and b.names == first.names for b in batches):
        return BlockBatch(np.concatenate([b.block for b in batches]), first.names)  # type: ignore[attr-defined]
    return {name: np.concatenate([b[name] for b in batches]) for name in first}


def split(outputs: Batch, rows: list[int]) -> list[Batch]:
    if len(rows) == 1:
        return [outputs]
    parts: list[Batch] = []
    start = 0
    for n in rows:
        parts.append({name: value[start : start + n] for name, value in outputs.items()})
        start += n
    return parts


class AdaptiveBatcher:
    """Merges concurrent predictions for one runtime into fewer, larger calls."""

    def __init__(
        self,
        predict: Callable[[Batch], Batch],
        executor: Executor,
        *,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_wait_ms: float = 0.0,
        inline_budget_s: float = INLINE_BUDGET_S,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.predict_fn = predict
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.inline_budget_s = inline_budget_s
        self.clock = clock
        self.stats = BatchStats()
        self._queue: list[_Pending] = []
        self._in_call = 0
        self._deadlines: dict[asyncio.Future[Batch], float] = {}  # request → loop time it times out
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_at = 0.0
        self._scheduled = False
        self._running = False
        # Moving averages of a call's duration (s) and size (rows).
        self._seconds = 0.0
        self._rows = 1.0
        self._observed = 0

    def expected_cost(self, rows: int) -> float:
        """A conservative guess: cost grows linearly with rows beyond the usual call size."""
        if self._observed < 8:
            return float("inf")  # unknown yet: measure in the pool first
        return self._seconds * max(1.0, rows / self._rows)

    def _learn(self, rows: int, seconds: float) -> None:
        self._observed += 1
        alpha = 1.0 if self._observed == 1 else 0.1
        self._seconds += alpha * (seconds - self._seconds)
        self._rows += alpha * (max(rows, 1) - self._rows)

    async def submit(self, batch: Batch, timeout_s: float | None = None) -> Batch:
        """Predict ``batch`` together with whatever else is queued by the time the loop comes round."""
        return await self.enqueue(batch, timeout_s)

    def enqueue(self, batch: Batch, timeout_s: float | None = None) -> asyncio.Future[Batch]:
        """Queue ``batch``; the future gets its outputs, or TimeoutError after ``timeout_s``.

        Deadlines are kept per request and enforced by one watchdog timer per
        batcher (a timer handle per request cost ~1.7 µs); a model call
        already running finishes unobserved.
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.append(_Pending(batch, batch_rows(batch), future))
        if timeout_s is not None:
            deadline = self._deadlines[future] = loop.time() + timeout_s
            if self._watchdog is None or deadline < self._watchdog_at:
                self._arm(loop, deadline)
        if not self._running and not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._start)
        return future

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watchdog_at = at
        self._watchdog = loop.call_at(at, self._expire_due)

    def _expire_due(self) -> None:
        """Fail the requests past their deadline with TimeoutError; wake again for the next one."""
        self._watchdog = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = [f for f, deadline in self._deadlines.items() if deadline <= now]
        for future in due:
            del self._deadlines[future]
            if not future.done():
                future.set_exception(TimeoutError())
        if self._deadlines:
            self._arm(loop, min(self._deadlines.values()))

    def _resolve(self, p: _Pending, value: Batch) -> None:
        self._deadlines.pop(p.future, None)
        if not p.future.done():
            p.future.set_result(value)

    def _fail(self, p: _Pending, exc: Exception) -> None:
        self._deadlines.pop(p.future, None)
        if not p.future.done():
            p.future.set_exception(exc)

    def _start(self) -> None:
        self._scheduled = False
        if self._running or not self._queue:
            return
        if self.expected_cost(sum(p.rows for p in self._queue[: self.max_batch_size])) <= self.inline_budget_s:
            # Cheap: score right here in the callback — no task, no extra trip round the loop.
            self._run_inline(self._take())
            if self._queue and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._start)
            return
        self._running = True
        asyncio.get_running_loop().create_task(self._drain())

    def _run_inline(self, items: list[_Pending]) -> None:
        live = self._account(items)
        if not live:
            return
        try:
            merged = concat([p.batch for p in live])
            self.stats.inline_calls += 1
            outputs, seconds = self._timed(merged)
            self._learn(sum(p.rows for p in live), seconds)
        except Exception as exc:
            for p in live:
                if len(live) == 1:
                    self._fail(p, exc)
                    continue
                try:
                    self._resolve(p, self._timed(p.batch)[0])
                except Exception as single:
                    self._fail(p, single)
            return
        for p, part in zip(live, split(outputs, [p.rows for p in live]), strict=True):
            self._resolve(p, part)

    def _account(self, items: list[_Pending]) -> list[_Pending]:
        live = [p for p in items if not p.future.done()]  # a caller that timed out is gone
        if live:
            self.stats.calls += 1
            self.stats.requests += len(live)
        return live

    def _take(self) -> list[_Pending]:
        taken: list[_Pending] = []
        rows = 0
        while self._queue and (not taken or rows + self._queue[0].rows <= self.max_batch_size):
            item = self._queue.pop(0)
            taken.append(item)
            rows += item.rows
        return taken

    def _gather_window(self) -> float:
        """How long to let queued requests catch up before a call, once traffic is concurrent.

        A model that holds the GIL (a scikit-learn forest) starves the event
        loop while it runs, so requests that arrived meanwhile are still
        unread when it returns.  Waiting a tenth of a call (at most 2 ms) lets
        the loop read them, and the next call carries them all.
        """
        if self.max_wait_s > 0:
            return self.max_wait_s
        cost = self.expected_cost(1)
        if cost <= self.inline_budget_s or cost == float("inf"):
            return 0.0
        return min(0.002, cost / 10)

    async def _drain(self) -> None:
        try:
            while self._queue:
                if self.stats.calls and sum(p.rows for p in self._queue) < self.max_batch_size:
                    wait = self._gather_window()
                    if wait > 0 and self.stats.requests > self.stats.calls:  # concurrent traffic seen
                        await asyncio.sleep(wait)
                items = self._take()
                await self._run(items)
        finally:
            self._running = False
            if self._queue and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._start)

    def _timed(self, batch: Batch) -> tuple[Batch, float]:
        # Timed where it runs, so the thread hop is not mistaken for model cost.
        start = self.clock()
        out = self.predict_fn(batch)
        return out, self.clock() - start

    async def _call(self, batch: Batch, rows: int) -> Batch:
        if self.expected_cost(rows) <= self.inline_budget_s:
            self.stats.inline_calls += 1
            out, seconds = self._timed(batch)
        else:
            loop = asyncio.get_running_loop()
            out, seconds = await loop.run_in_executor(self.executor, self._timed, batch)
        self._learn(rows, seconds)
        return out

    @property
    def pending(self) -> int:
        """Requests queued or in a model call running off the loop (what a variant must drain before it closes)."""
        return len(self._queue) + self._in_call

    async def _run(self, items: list[_Pending]) -> None:
        live = self._account(items)
        if not live:
            return
        self._in_call += len(live)
        try:
            await self._run_live(live)
        finally:
            self._in_call -= len(live)

    async def _run_live(self, live: list[_Pending]) -> None:
        rows = [p.rows for p in live]
        total = sum(rows)
        try:
            merged = concat([p.batch for p in live])
            outputs = await self._call(merged, total)
        except Exception as exc:
            if len(live) == 1:
                self._fail(live[0], exc)
                return
            # Find the culprit: each request alone, so only the bad one fails.
            for p in live:
                try:
                    self._resolve(p, await self._call(p.batch, p.rows))
                except Exception as single:
                    self._fail(p, single)
            return
        for p, part in zip(live, split(outputs, rows), strict=True):
            self._resolve(p, part)
