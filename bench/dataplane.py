"""The data plane's own cost per request, in process: no sockets, no load generator.

    .venv/bin/python bench/dataplane.py                 # µs per request at c=1 and c=64, ONNX and pickle
    .venv/bin/python bench/dataplane.py --profile onnx  # plus cProfile's top functions for that path
    .venv/bin/python bench/dataplane.py --body csv      # the row as text/csv: pandas' C parser vs as served

The app modelport serves (`create_app`, on RSGI as `modelport server`
runs it, or on ASGI) is called directly with the request wrk sends in bench/online.py (one row of the same RandomForest, as
``instances`` JSON on the SageMaker route), `c` requests at a time on one
event loop (uvloop when installed).  What it measures is everything in
Python between the server handing over a request and taking back the reply;
what the HTTP server itself costs shows as the bare-ASGI ceiling in
bench/online.py.  Numbers are for comparing changes on one machine, not
across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from online import train

from modelport.api.app import create_app
from modelport.services import Services
from modelport.settings import Settings


def build(workdir: Path) -> tuple[Settings, bytes]:
    import orjson

    model = train(workdir)
    settings = Settings(home=workdir / "home")
    svc = Services.open(settings)
    try:
        for path, to_onnx in (("onnx", True), ("pickle", False)):
            svc.registry.register(model.joblib_path, f"rf-{path}", sample=model.sample_csv, to_onnx=to_onnx)
            svc.endpoints.create(path, [{"name": "a", "requested": f"rf-{path}:1"}], created_by="bench")
        capture = {"enabled": True, "sampling_percent": 100}  # every request and reply captured (monitoring's cost)
        svc.endpoints.create("onnx-capture", [{"name": "a", "requested": "rf-onnx:1"}], capture=capture, created_by="bench")
        # sticky assignment: two variants, the unit header on every request (hashed per request)
        svc.endpoints.create(
            "onnx-sticky",
            [{"name": "a", "requested": "rf-onnx:1"}, {"name": "b", "requested": "rf-onnx:1"}],
            routing={"unit": "header:X-User-Id", "experiment": "bench"},
            created_by="bench",
        )
    finally:
        svc.close()
    return settings, orjson.dumps({"instances": [model.row]}), (",".join(repr(float(v)) for v in model.row) + "\n").encode()


class RsgiScope:
    """What granian hands an RSGI app (its headers object answers ``get`` like this dict)."""

    proto = "http"
    http_version = "1.1"
    scheme = "http"
    method = "POST"
    query_string = ""
    client = "127.0.0.1:1"
    server = "127.0.0.1:8080"

    def __init__(self, path: str, headers: dict[str, str]) -> None:
        self.path = path
        self.headers = headers


class RsgiProtocol:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.status = 0

    async def __call__(self) -> bytes:
        return self.body

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status


class RsgiCall:
    """One request through the RSGI app, as ``modelport server`` runs it."""

    def __init__(self, app: Any, path: str, body: bytes, extra: dict[str, str] | None = None) -> None:
        from modelport.api.rsgi import RSGIApp

        self.app = RSGIApp(app)
        headers = {"host": "127.0.0.1", "content-type": _content_type(body), "content-length": str(len(body))}
        self.scope = RsgiScope(path, {**headers, **(extra or {})})
        self.body = body

    async def __call__(self) -> int:
        protocol = RsgiProtocol(self.body)
        await self.app.__rsgi__(self.scope, protocol)
        return protocol.status


class Call:
    """One request through the ASGI app; the reply's status is kept to check it."""

    def __init__(self, app: Any, path: str, body: bytes, extra: dict[str, str] | None = None) -> None:
        self.app = app
        self.scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", _content_type(body).encode()),
                        (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8080),
        }
        self.scope["headers"] += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
        self.message = {"type": "http.request", "body": body, "more_body": False}

    async def __call__(self) -> int:
        status = 0

        async def receive() -> dict[str, Any]:
            return self.message

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(dict(self.scope), receive, send)
        return status


def _content_type(body: bytes) -> str:
    return "application/json" if body.startswith(b"{") else "text/csv"


async def measure(app: Any, endpoint: str, body: bytes, concurrency: int, seconds: float, interface: str = "rsgi") -> float:
    extra = {"x-user-id": "user-42"} if endpoint == "onnx-sticky" else None
    call = (RsgiCall if interface == "rsgi" else Call)(app, f"/endpoints/{endpoint}/invocations", body, extra)
    for _ in range(200):
        assert await call() == 200
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        statuses = await asyncio.gather(*(call() for _ in range(concurrency)))
        assert all(s == 200 for s in statuses), statuses
        done += concurrency
    return (time.perf_counter() - start) / done * 1e6


async def lifespan(app: Any, phase: str) -> None:
    sent = asyncio.Event()
    messages = [{"type": f"lifespan.{phase}"}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()
        return {}

    async def send(message: dict[str, Any]) -> None:
        if message["type"].endswith(("complete", "failed")):
            sent.set()

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    await sent.wait()
    if phase == "shutdown":
        await task
    else:
        app._lifespan_task = task


async def run(args: argparse.Namespace, settings: Settings, body: bytes) -> list[tuple[str, int, float]]:
    from modelport.serving.codecs import csv_body

    app = create_app(settings)
    await lifespan(app, "startup")
    rows = []
    served = csv_body.SMALL_BODY
    # a CSV body is measured read both ways, alternating: by pandas' C parser (every body, as before 2026-12-07)
    # and as served (a body this small by modelport's own reader)
    readers = [("pandas", -1), ("served", served)] if args.body == "csv" else [("", served)]
    try:
        for endpoint in args.paths:
            for c in (1, 64):
                for label, limit in readers:
                    csv_body.SMALL_BODY = limit
                    us = await measure(app, endpoint, body, c, args.seconds, args.interface)
                    rows.append((f"{endpoint} {label}".strip(), c, us))
        csv_body.SMALL_BODY = served
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
            await measure(app, args.profile, body, 64, args.seconds, args.interface)
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)
    finally:
        app._lifespan_task.cancel()
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--paths", default="onnx,pickle", help="which endpoints to call: onnx,pickle,onnx-capture,onnx-sticky")
    p.add_argument("--seconds", type=float, default=3.0, help="measured seconds per path and concurrency")
    p.add_argument("--profile", choices=("onnx", "pickle", "onnx-capture", "onnx-sticky"), help="also print cProfile's top functions at c=64")
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--interface", choices=("rsgi", "asgi"), default="rsgi", help="how the server hands requests over (default rsgi, as modelport server runs)")
    p.add_argument("--body", choices=("json", "csv"), default="json", help="the row as {\"instances\": [...]} or as one CSV line")
    args = p.parse_args()
    args.paths = [s for s in args.paths.split(",") if s]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with tempfile.TemporaryDirectory(prefix="modelport-dp-") as tmp:
        settings, json_body, csv_line = build(Path(tmp))
        rows = asyncio.run(run(args, settings, csv_line if args.body == "csv" else json_body))
    from rich.console import Console
    from rich.table import Table

    table = Table(title="data plane in process (µs per request)")
    for col in ("path", "c", "µs/request", "requests/s per core"):
        table.add_column(col, justify="right")
    for endpoint, c, us in rows:
        table.add_row(endpoint, str(c), f"{us:.1f}", f"{1e6 / us:,.0f}")
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
