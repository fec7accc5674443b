"""What a hostile client can do to a real server: decompression bombs, slow clients."""

from __future__ import annotations

import gzip
import threading
import time

import httpx
import psutil
import pytest

from tests.serving.conftest import Deployment

pytestmark = pytest.mark.slow

ROW = b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"


def worker(deployment: Deployment) -> psutil.Process:
    """The granian worker answering requests (the server's child with the most memory)."""
    children = psutil.Process(deployment.server.proc.pid).children(recursive=True)
    return max(children, key=lambda p: p.memory_info().rss)


def test_a_stream_of_decompression_bombs_leaves_worker_memory_flat(deployment: Deployment) -> None:
    url = f"{deployment.url}/endpoints/iris/invocations"
    bomb = gzip.compress(bytes(8 << 20), compresslevel=9) * 128  # 1 GiB of zeros as ~1 MB of gzip
    headers = {"content-type": "text/csv", "content-encoding": "gzip"}  # v2 ignores the type
    with httpx.Client(timeout=30) as http:
        for _ in range(20):  # warm: models loaded, allocator settled by ordinary requests
            assert http.post(url, content=ROW, headers={"content-type": "text/csv"}).status_code == 200
        proc = worker(deployment)
        idle = proc.memory_info().rss

        stalls: list[float] = []
        done = threading.Event()

        def probe() -> None:  # the event loop keeps answering while bombs are inflated
            with httpx.Client(timeout=30) as other:
                while not done.is_set():
                    start = time.perf_counter()
                    assert other.get(f"{deployment.url}/v2/health/live").status_code == 200
                    stalls.append(time.perf_counter() - start)

        answers: list[tuple[int, float]] = []

        def bombs(path: str, n: int) -> None:
            with httpx.Client(timeout=60) as mine:
                for _ in range(n):
                    start = time.perf_counter()
                    r = mine.post(f"{deployment.url}{path}", content=bomb, headers=headers)
                    answers.append((r.status_code, time.perf_counter() - start))

        prober = threading.Thread(target=probe)
        prober.start()
        paths = ["/v2/models/iris/infer", "/endpoints/iris/invocations"] * 2
        senders = [threading.Thread(target=bombs, args=(p, 25)) for p in paths]  # 100 bombs, 4 at a time
        for t in senders:
            t.start()
        for t in senders:
            t.join()
        done.set()
        prober.join()
        grown = proc.memory_info().rss - idle
        peak_stall = max(stalls)
    assert [status for status, _ in answers] == [413] * 100
    print(f"RSS +{grown / 2**20:.1f} MB, slowest bomb {max(t for _, t in answers):.2f} s, slowest probe {peak_stall:.3f} s")
    assert max(t for _, t in answers) < 5
    assert grown < 50 * 1024 * 1024, f"worker RSS grew {grown / 2**20:.0f} MB over 100 bombs"
    assert peak_stall < 1.0, f"a health check waited {peak_stall:.2f} s behind the bombs"
