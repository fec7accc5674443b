"""What hostile requests cost a real server: decompression bombs (worker RSS, time, event-loop stalls).

    .venv/bin/python bench/hostile.py                      # this checkout's src/
    .venv/bin/python bench/hostile.py --src /tmp/old/src   # another checkout, for a before/after

One `modelport server` (1 worker) serves the RandomForest of bench/online.py.
After 20 ordinary requests the worker's RSS is the *idle* figure; then, per
kind of bomb, ``--count`` bombs are sent 2 at a time while a probe thread
calls ``GET /v2/health/live`` in a loop (its slowest answer shows how long
the event loop was held).  The worker's RSS is sampled every 20 ms.

Bombs:
- ``v2 JSON``: an infer request of ~240 MB of ``0,0,0…`` as ~233 KB of gzip
  (the request of the issue: under the old 256 MiB inflate limit, so it was
  inflated and parsed);
- ``v2 zeros`` / ``sagemaker zeros``: 1 GiB of zeros as ~1 MB of gzip.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from online import train
from peers.process import Probe, ServerProcess, free_port, stop_all, wait_for_success

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
if not PYTHON.exists():
    PYTHON = Path(sys.executable)


def v2_json_bomb(features: int) -> bytes:
    values = 120_000_000
    rows = values // features
    head = b'{"inputs":[{"name":"x","shape":[%d,%d],"datatype":"FP32","data":[' % (rows, features)
    packer = zlib_gzip()
    parts = [packer.compress(head)]
    block = b"0," * (1 << 20)
    for _ in range((rows * features - 1) // (1 << 20)):
        parts.append(packer.compress(block))
    parts.append(packer.compress(b"0," * ((rows * features - 1) % (1 << 20)) + b"0]}]}"))
    parts.append(packer.flush())
    return b"".join(parts)


def zlib_gzip():  # type: ignore[no-untyped-def]
    import zlib

    return zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)


def post(port: int, path: str, body: bytes, headers: dict[str, str], timeout: float = 120) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def stream(
    kind: str, port: int, worker: psutil.Process, idle: int, path: str, body: bytes, headers: dict[str, str], count: int
) -> str:
    """Send ``count`` bombs, 2 at a time, probing the event loop and sampling RSS: one table row."""
    peak = 0
    stalls: list[float] = []
    times: list[float] = []
    statuses: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, worker.memory_info().rss)

    def probe() -> None:
        live = Probe(port, "/v2/health/live", b"", {}, method="GET")
        while not done.is_set():
            start = time.perf_counter()
            live.send(timeout=120)
            stalls.append(time.perf_counter() - start)
            time.sleep(0.01)

    def send(n: int) -> None:
        for _ in range(n):
            start = time.perf_counter()
            status = post(port, path, body, headers)
            times.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1

    helpers = [threading.Thread(target=sample), threading.Thread(target=probe)]
    senders = [threading.Thread(target=send, args=(n,)) for n in (count // 2, count - count // 2)]
    for t in (*helpers, *senders):
        t.start()
    for t in senders:
        t.join()
    done.set()
    for t in helpers:
        t.join()
    after = worker.memory_info().rss
    answers = ", ".join(f"{n}x {s}" for s, n in sorted(statuses.items()))
    return (
        f"| {kind} | {len(body) / 1000:.0f} KB | {answers} | {statistics.median(times):.2f} / {max(times):.2f} s "
        f"| +{(after - idle) / 2**20:.0f} MB | +{(max(peak, after) - idle) / 2**20:.0f} MB | {max(stalls):.2f} s |"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=REPO / "src", help="the modelport src/ the server runs")
    ap.add_argument("--count", type=int, default=20, help="bombs per kind")
    ap.add_argument("--kinds", nargs="*", default=["v2 JSON", "v2 zeros", "sagemaker zeros"])
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.src))
    from modelport.services import Services
    from modelport.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="modelport-hostile-"))
    model = train(work)
    home = work / "home"
    svc = Services.open(Settings(home=home))
    try:
        svc.registry.register(model.joblib_path, "rf", sample=model.sample_csv, to_onnx=True)
        svc.endpoints.create("rf", [{"name": "a", "requested": "rf:1"}], created_by="bench")
    finally:
        svc.close()

    zeros = gzip.compress(bytes(8 << 20), compresslevel=9) * 128
    bombs = {
        "v2 JSON": ("/v2/models/rf/infer", v2_json_bomb(model.n_features), {}),
        "v2 zeros": ("/v2/models/rf/infer", zeros, {}),
        "sagemaker zeros": ("/endpoints/rf/invocations", zeros, {"Content-Type": "text/csv"}),
    }
    port = free_port()
    env = {"MODELPORT_HOME": str(home), "PYTHONPATH": str(args.src), "PATH": "/usr/bin:/bin"}
    server = ServerProcess(
        "modelport",
        [str(PYTHON), "-m", "modelport.cli.main", "server", "--port", str(port)],
        env=env,
        cwd=work,
        log=work / "server.log",
    )
    try:
        row = ",".join(map(str, model.row)).encode()
        ok = Probe(port, "/endpoints/rf/invocations", row, {"Content-Type": "text/csv"})
        wait_for_success(ok, timeout=120, alive=server)
        for _ in range(20):
            ok.send()
        worker = max(psutil.Process(server.popen.pid).children(recursive=True), key=lambda p: p.memory_info().rss)
        idle = worker.memory_info().rss
        print(f"server: {args.src}  worker idle RSS {idle / 2**20:.0f} MB")
        print("| bomb | compressed | answers | time per bomb (median / max) | worker RSS after | peak | slowest probe |")
        print("|---|---|---|---|---|---|---|")
        for kind in args.kinds:
            path, body, headers = bombs[kind]
            print(stream(kind, port, worker, idle, path, body, {**headers, "Content-Encoding": "gzip"}, args.count))
    finally:
        server.stop()
        stop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
