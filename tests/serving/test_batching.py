"""Adaptive batching: merged calls, results split in order, one request's bad rows fail only it."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from modelport.errors import InvalidArgument
from modelport.serving.batching import AdaptiveBatcher
from modelport.signature import Batch, BlockBatch


class SumModel:
    """A toy runtime: the row sum; rows containing -1 are refused; records every call's size."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[int] = []
        self.threads: set[str] = set()
        self.delay = delay

    def predict(self, batch: Batch) -> Batch:
        self.calls.append(len(batch["x"]))
        self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        if np.any(batch["x"] == -1):
            raise InvalidArgument("row with -1")
        return {"prediction": batch["x"] + batch["y"]}


@pytest.fixture
def pool():  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(4, thread_name_prefix="test-pool") as executor:
        yield executor


def req(*values: float) -> Batch:
    x = np.array(values, dtype=np.float64)
    return {"x": x, "y": x * 10}


def test_concurrent_requests_share_one_call_and_get_their_own_rows(pool) -> None:  # type: ignore[no-untyped-def]
    model = SumModel()
    batcher = AdaptiveBatcher(model.predict, pool, max_batch_size=64)

    async def run() -> list[Batch]:
        return await asyncio.gather(*[batcher.submit(req(i, i + 0.5)) for i in range(10)])

    results = asyncio.run(run())
    assert model.calls == [20]  # ten requests of two rows, one model call
    for i, out in enumerate(results):
        np.testing.assert_array_equal(out["prediction"], [11 * i, 11 * (i + 0.5)])


def test_bad_rows_fail_only_their_request(pool) -> None:  # type: ignore[no-untyped-def]
    model = SumModel()
    batcher = AdaptiveBatcher(model.predict, pool)

    async def run() -> list[object]:
        return await asyncio.gather(batcher.submit(req(1)), batcher.submit(req(-1, 2)), batcher.submit(req(3)), return_exceptions=True)

    ok1, bad, ok3 = asyncio.run(run())
    assert isinstance(bad, InvalidArgument) and str(bad) == "row with -1"
    np.testing.assert_array_equal(ok1["prediction"], [11])  # type: ignore[index]
    np.testing.assert_array_equal(ok3["prediction"], [33])  # type: ignore[index]
    assert model.calls[0] == 4 and sorted(model.calls[1:]) == [1, 1, 2]  # merged, then each alone


def test_max_batch_size_bounds_each_call(pool) -> None:  # type: ignore[no-untyped-def]
    model = SumModel()
    batcher = AdaptiveBatcher(model.predict, pool, max_batch_size=8)

    async def run() -> None:
        await asyncio.gather(*[batcher.submit(req(1, 2, 3)) for _ in range(10)], batcher.submit(req(*range(20))))

    asyncio.run(run())
    assert sum(model.calls) == 50
    assert all(c <= 8 for c in model.calls if c != 20)  # an oversize request still goes, alone
    assert 20 in model.calls


def test_a_lone_request_is_not_held_back(pool) -> None:  # type: ignore[no-untyped-def]
    model = SumModel()
    batcher = AdaptiveBatcher(model.predict, pool, max_batch_size=64, max_wait_ms=50)

    async def run() -> float:
        start = time.perf_counter()
        await batcher.submit(req(1))
        return time.perf_counter() - start

    assert asyncio.run(run()) < 0.04  # max_wait only applies once traffic is concurrent
    assert model.calls == [1]


def test_fast_models_run_inline_slow_ones_in_the_pool(pool) -> None:  # type: ignore[no-untyped-def]
    fast, slow = SumModel(), SumModel(delay=0.002)
    fast_b = AdaptiveBatcher(fast.predict, pool)
    slow_b = AdaptiveBatcher(slow.predict, pool)

    async def run() -> None:
        for _ in range(20):
            await fast_b.submit(req(1))
            await slow_b.submit(req(1))

    asyncio.run(run())
    assert fast_b.stats.inline_calls >= 10 and "MainThread" in fast.threads
    assert slow_b.stats.inline_calls == 0 and slow.threads == {t for t in slow.threads if t.startswith("test-pool")}


def test_decoded_matrices_are_merged_as_matrices(pool) -> None:  # type: ignore[no-untyped-def]
    seen: list[Batch] = []

    def predict(batch: Batch) -> Batch:
        seen.append(batch)
        return {"prediction": batch["a"] * 2}

    batcher = AdaptiveBatcher(predict, pool)

    async def run() -> list[Batch]:
        blocks = [BlockBatch(np.array([[i, i + 1.0]]), ["a", "b"]) for i in range(3)]
        return await asyncio.gather(*[batcher.submit(b) for b in blocks])

    out = asyncio.run(run())
    assert type(seen[0]) is BlockBatch and seen[0].block.shape == (3, 2)
    assert [o["prediction"].tolist() for o in out] == [[0.0], [2.0], [4.0]]


def test_deadlines_fail_only_late_requests_and_leave_nothing_behind(pool) -> None:  # type: ignore[no-untyped-def]
    """One watchdog per batcher: a shorter deadline arriving later still fires on time; answered requests are forgotten."""
    model = SumModel(delay=0.3)  # slow: runs in the pool
    batcher = AdaptiveBatcher(model.predict, pool, max_batch_size=1)

    async def run() -> list[object]:
        slow = batcher.enqueue(req(1), 5.0)  # answered after ~0.3 s
        start = time.perf_counter()
        quick = batcher.enqueue(req(2), 0.1)  # queued behind it: its deadline passes first
        results = await asyncio.gather(slow, quick, return_exceptions=True)
        assert time.perf_counter() - start < 1.0
        return [*results, len(batcher._deadlines)]

    slow, quick, left = asyncio.run(run())
    assert isinstance(slow, dict) and slow["prediction"].tolist() == [11.0]
    assert isinstance(quick, TimeoutError)
    assert left == 0
