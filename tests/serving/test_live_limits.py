"""What a hostile client can do to a real server: decompression bombs, slow clients."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests import infra
from tests.serving.conftest import Deployment, build_home, server_env

pytestmark = pytest.mark.slow

ROW = b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"
TIMEOUT_S = 2.0  # headers and bodies, on this module's server


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The serving tests' deployment, on a server that gives headers and bodies 2 s."""
    home, x, models = build_home(tmp_path_factory.mktemp("limits"))
    env = server_env(home, MODELPORT_HEADER_READ_TIMEOUT_S=str(TIMEOUT_S), MODELPORT_BODY_READ_TIMEOUT_S=str(TIMEOUT_S))
    with infra.live_server(env) as server:
        deployment = Deployment(home=home, server=server, x=x, models=models)
        url = f"{server.url}/endpoints/iris/invocations"
        infra.wait_for(lambda: httpx.post(url, content=ROW, headers={"content-type": "text/csv"}).status_code == 200, 60, "iris")
        yield deployment
        assert "Traceback" not in server.log(), server.log()[-3000:]


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


def trickle(deployment: Deployment, head: bytes, drip: bytes, outcome: dict[str, object]) -> None:
    """Send ``head`` at once, then ``drip`` a byte a second; record what the server answered and when it hung up."""
    host, port = deployment.url.removeprefix("http://").rsplit(":", 1)
    start = time.monotonic()
    answer = b""
    with socket.create_connection((host, int(port)), timeout=1) as sock:
        for i in range(60):
            try:
                sock.sendall(head if i == 0 else drip[i % len(drip) : i % len(drip) + 1])
                data = sock.recv(4096)
            except TimeoutError:
                continue  # nothing yet: a byte a second
            except OSError:  # reset: the server closed the connection
                break
            if not data:  # closed
                break
            answer += data
        else:
            outcome.update(closed_after=None, answer=answer)  # still open after a minute
            return
    outcome.update(closed_after=time.monotonic() - start, answer=answer)


def test_slow_clients_are_cut_off_while_others_are_served(deployment: Deployment) -> None:
    slow_headers: dict[str, object] = {}
    slow_body: dict[str, object] = {}
    clients = [
        threading.Thread(target=trickle, args=(deployment, b"POST /endpoints/iris/invocations HTTP/1.1\r\n", b"X-Slow: abc\r\n", slow_headers)),
        threading.Thread(
            target=trickle,
            args=(
                deployment,
                b"POST /endpoints/iris/invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 500\r\n\r\n",
                b"1",
                slow_body,
            ),
        ),
    ]
    for t in clients:
        t.start()
    served = []
    url = f"{deployment.url}/endpoints/iris/invocations"
    with httpx.Client(timeout=10) as http:
        while any(t.is_alive() for t in clients):  # ordinary requests, for as long as the slow clients last
            start = time.monotonic()
            r = http.post(url, content=ROW, headers={"content-type": "text/csv"})
            served.append((r.status_code, time.monotonic() - start))
    for t in clients:
        t.join()
    # cut off within the timeout, give or take the checks' period and the byte-a-second pace
    assert slow_headers["closed_after"] is not None and slow_headers["closed_after"] < TIMEOUT_S + 1.5, slow_headers
    assert slow_body["closed_after"] is not None and slow_body["closed_after"] < TIMEOUT_S + 1.5, slow_body
    assert slow_body["answer"].startswith(b"HTTP/1.1 408 Request Timeout"), slow_body  # type: ignore[union-attr]
    assert slow_headers["answer"] == b"", slow_headers  # granian hangs up without a word
    assert len(served) > 5 and {status for status, _ in served} == {200}
    assert max(took for _, took in served) < 1.0, served
