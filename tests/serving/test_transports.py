"""The same data-plane handlers over RSGI and ASGI, in process (granian's objects faked; live tests use the real one)."""

from __future__ import annotations

import asyncio
import gzip
import io
import re
import shlex
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from granian.rsgi import ProtocolClosed

from modelport.api.access import AccessLog
from modelport.api.app import create_app
from modelport.api.rsgi import RSGIApp
from modelport.logs import FORMAT, Formatter
from modelport.settings import Settings
from tests import infra
from tests.serving.conftest import build_home


class Scope:
    proto = "http"
    http_version = "1.1"
    scheme = "http"
    client = "127.0.0.1:50000"
    server = "127.0.0.1:8080"

    def __init__(self, method: str, path: str, headers: dict[str, str], query: str = "") -> None:
        self.method, self.path, self.headers, self.query_string = method, path, headers, query


class Protocol:
    """What an RSGI app sees of a request: the body (whole or in chunks) and one reply."""

    def __init__(self, body: bytes, chunk: int = 1 << 20, closed: bool = False) -> None:
        self.chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]
        self.body = body
        self.closed = closed  # the client goes away after sending the body
        self.status = 0
        self.headers: dict[str, str] = {}
        self.reply = b""

    async def __call__(self) -> bytes:
        if self.closed:
            raise ProtocolClosed("Connection closed")
        return self.body

    def __aiter__(self) -> Any:
        async def gen():  # type: ignore[no-untyped-def]
            for c in self.chunks:
                yield c
            if self.closed:
                raise ProtocolClosed("Connection closed")

        return gen()

    async def client_disconnect(self) -> None:
        await asyncio.Event().wait()

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status, self.headers, self.reply = status, dict(headers), body

    def response_stream(self, status: int, headers: list[tuple[str, str]]) -> Any:
        self.status, self.headers = status, dict(headers)
        proto = self

        class Stream:
            async def send_bytes(self, data: bytes) -> None:
                proto.reply += data

        return Stream()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RSGIApp, asyncio.AbstractEventLoop]]:
    home, _, _ = build_home(tmp_path_factory.mktemp("transports"))
    app = create_app(Settings(home=home))
    rsgi = RSGIApp(app)  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    rsgi.__rsgi_init__(loop)  # the ASGI lifespan: services, endpoint manager

    def iris_loaded() -> bool:
        loop.run_until_complete(asyncio.sleep(0.05))  # the manager's tasks run only while the loop does
        return "iris" in app.dataplane.manager.endpoints  # type: ignore[attr-defined]

    infra.wait_for(iris_loaded, 30, "the endpoint manager to load iris", interval=0)
    try:
        yield rsgi, loop
    finally:
        rsgi.__rsgi_del__(loop)
        loop.close()


def call(
    served: tuple[RSGIApp, asyncio.AbstractEventLoop],
    method: str,
    path: str,
    body: bytes = b"",
    query: str = "",
    closed: bool = False,
    **headers: str,
) -> Protocol:
    rsgi, loop = served
    chunked = headers.pop("chunked", None)
    if body and not chunked and "content_length" not in headers:
        headers["content_length"] = str(len(body))
    proto = Protocol(body, chunk=1 << 16, closed=closed)
    scope = Scope(method, path, {k.replace("_", "-"): v for k, v in headers.items()}, query)
    loop.run_until_complete(rsgi.__rsgi__(scope, proto))
    return proto


ROW = b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"


def test_invocations_over_rsgi_with_and_without_content_length(served) -> None:  # type: ignore[no-untyped-def]
    for extra in ({}, {"chunked": "1"}):
        r = call(served, "POST", "/endpoints/iris/invocations", ROW, content_type="text/csv", **extra)
        assert r.status == 200, r.reply
        assert [p["label"] for p in orjson.loads(r.reply)["predictions"]] == [0, 2]
        assert r.headers["x-amzn-invoked-production-variant"] in ("a", "b")


def test_control_api_docs_and_metrics_through_the_bridge(served) -> None:  # type: ignore[no-untyped-def]
    eps = call(served, "GET", "/api/v1/endpoints")
    assert eps.status == 200 and {e["name"] for e in orjson.loads(eps.reply)} >= {"iris", "flowers"}
    missing = call(served, "GET", "/api/v1/models/nope")
    assert missing.status == 404 and orjson.loads(missing.reply)["error"]["code"] == "NOT_FOUND"
    metrics = call(served, "GET", "/metrics")
    assert metrics.status == 200
    # the invocations of the test above were tallied, then added to Prometheus before this scrape
    assert b'modelport_invocations_total{code="200",endpoint="iris"' in metrics.reply


def test_a_bug_in_a_handler_is_a_500_in_the_protocols_envelope(served, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    rsgi, _ = served

    async def broken(req: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(rsgi.app.dataplane, "invoke", broken)
    r = call(served, "POST", "/endpoints/iris/invocations", ROW, content_type="text/csv")
    assert r.status == 500 and r.headers["x-amzn-errortype"] == "InternalFailure:"
    assert "internal error" in orjson.loads(r.reply)["message"] and "boom" not in r.reply.decode()


def test_oversize_body_refused_while_streaming(served) -> None:  # type: ignore[no-untyped-def]
    big = ROW * (7 * 1024 * 1024 // len(ROW))
    r = call(served, "POST", "/endpoints/iris/invocations", big, content_type="text/csv", chunked="1")
    assert r.status == 413 and "exceeds the limit" in orjson.loads(r.reply)["message"]


def test_the_lifespan_ran(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rsgi, _ = served
    assert rsgi.app.dataplane.manager.ready


def test_a_client_that_goes_away_gets_no_reply_and_the_log_no_traceback(served, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    for extra in ({}, {"chunked": "1"}):
        r = call(served, "POST", "/endpoints/iris/invocations", ROW, closed=True, content_type="text/csv", **extra)
        assert r.status == 0  # nothing sent
    short = call(served, "POST", "/endpoints/iris/invocations", ROW, content_type="text/csv", content_length=str(len(ROW) + 100))
    assert short.status == 0
    assert "unhandled error" not in caplog.text and "Traceback" not in caplog.text


def test_query_strings_reach_the_control_api_as_sent(served) -> None:  # type: ignore[no-untyped-def]
    found = call(served, "GET", "/api/v1/models", query="name_contains=iri")
    assert found.status == 200 and [m["name"] for m in orjson.loads(found.reply)["items"]] == ["iris"]
    none = call(served, "GET", "/api/v1/models", query="name_contains=%E5%90%8D")  # percent-encoded "名"
    assert none.status == 200 and orjson.loads(none.reply)["items"] == []
    raw = call(served, "GET", "/api/v1/models", query="name_contains=名")  # granian hands raw UTF-8 over decoded
    assert raw.status == 200 and orjson.loads(raw.reply)["items"] == []


# -- compressed bodies ------------------------------------------------------------------

V2_ROWS = orjson.dumps(
    {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]}]}
)


def gzip_bomb(gib: float = 1.0) -> bytes:
    """``gib`` GiB of zeros as ~1 MB of gzip: one 8 MiB member, repeated (a gzip body may hold several)."""
    member = gzip.compress(bytes(8 << 20), compresslevel=9)
    return member * int(gib * 128)


def deflate_bomb() -> bytes:
    packer = zlib.compressobj(9)
    zeros = bytes(1 << 20)
    return b"".join([*(packer.compress(zeros) for _ in range(32)), packer.flush()])


ROUTES = {
    # route: (path, body, headers, how its envelope names the error)
    "sagemaker": ("/endpoints/iris/invocations", ROW, {"content_type": "text/csv"}, "message"),
    "container": ("/invocations", ROW, {"content_type": "text/csv"}, "message"),
    "v2": ("/v2/models/iris/infer", V2_ROWS, {}, "error"),
}


@pytest.fixture
def container_mode(served, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The same app answering the container contract's /invocations for "iris" too."""
    monkeypatch.setattr(served[0].app, "single", "iris")
    return served


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_decompression_bombs_are_refused_with_413_on_every_route(container_mode, route: str, encoding: str) -> None:  # type: ignore[no-untyped-def]
    path, _, headers, key = ROUTES[route]
    bomb = gzip_bomb() if encoding == "gzip" else deflate_bomb()
    assert len(bomb) < 1_100_000  # well under the 6 MiB limit as sent
    start = time.perf_counter()
    r = call(container_mode, "POST", path, bomb, content_encoding=encoding, **headers)
    assert time.perf_counter() - start < 2
    assert r.status == 413, r.reply
    assert f"the {encoding} request body inflates beyond 6291456 bytes" in orjson.loads(r.reply)[key]
    if route == "sagemaker":
        assert r.headers["x-amzn-errortype"] == "ValidationError:"
    if route == "container":
        assert orjson.loads(r.reply)["error_code"] == "BAD_REQUEST"


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("x-gzip", gzip.compress), ("identity", bytes)],
)
def test_compressed_bodies_are_scored_on_every_route(container_mode, route: str, encoding: str, compress: Any) -> None:  # type: ignore[no-untyped-def]
    path, body, headers, _ = ROUTES[route]
    r = call(container_mode, "POST", path, compress(body), content_encoding=encoding, **headers)
    assert r.status == 200, r.reply
    reply = orjson.loads(r.reply)
    if route == "v2":
        assert [o["data"] for o in reply["outputs"] if o["name"] == "label"] == [[0, 2]]
    else:
        assert [p["label"] for p in reply["predictions"]] == [0, 2]


def test_a_compressed_body_just_under_the_limit_inflated_is_scored(served) -> None:  # type: ignore[no-untyped-def]
    rows = ROW * (6 * 1024 * 1024 // len(ROW) - 1)  # big enough to finish inflating in a worker thread
    r = call(served, "POST", "/endpoints/iris/invocations", gzip.compress(rows), content_encoding="gzip", content_type="text/csv")
    assert r.status == 200, r.reply[:200]
    assert len(orjson.loads(r.reply)["predictions"]) == rows.count(b"\n")
    over = rows + ROW * 20
    r = call(served, "POST", "/endpoints/iris/invocations", gzip.compress(over), content_encoding="gzip", content_type="text/csv")
    assert r.status == 413


@pytest.mark.parametrize("route", list(ROUTES))
def test_unknown_content_encodings_are_refused(container_mode, route: str) -> None:  # type: ignore[no-untyped-def]
    path, body, headers, key = ROUTES[route]
    r = call(container_mode, "POST", path, body, content_encoding="br", **headers)
    assert "Content-Encoding 'br' is not supported" in orjson.loads(r.reply)[key]
    assert r.status == (424 if route == "sagemaker" else 415)


# -- the access log ------------------------------------------------------------------------


@pytest.fixture
def logged(served):  # type: ignore[no-untyped-def]
    """The served app with its access log on, written to a string."""
    rsgi, loop = served
    return RSGIApp(rsgi.app, AccessLog(io.StringIO())), loop


def access_lines(logged) -> list[str]:  # type: ignore[no-untyped-def]
    """The access lines written so far, without their time stamp and logger name."""
    access = logged[0].access_log
    access.flush()
    lines = access.stream.getvalue().splitlines()
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO modelport\.access: ", line) for line in lines)
    return [line.split(": ", 1)[1] for line in lines]


def test_each_request_is_one_access_line_naming_what_served_it(logged) -> None:  # type: ignore[no-untyped-def]
    r = call(logged, "POST", "/endpoints/iris/invocations", ROW, content_type="text/csv", x_amzn_sagemaker_inference_id="inf-7")
    variant = r.headers["x-amzn-invoked-production-variant"]
    v2 = {"id": "v2-req-1", "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}
    infer = call(logged, "POST", "/v2/models/iris/versions/1/infer", orjson.dumps(v2), content_type="application/json")
    assert infer.status == 200, infer.reply
    call(logged, "GET", "/api/v1/models/nope")
    call(logged, "POST", "/endpoints/nope/invocations", ROW, content_type="text/csv")
    call(logged, "POST", "/endpoints/iris/invocations", ROW, closed=True, content_type="text/csv")
    lines = access_lines(logged)
    assert len(lines) == 5
    assert re.fullmatch(
        rf"POST /endpoints/iris/invocations 200 \d+\.\d\dms endpoint=iris variant={variant} inference_id=inf-7", lines[0]
    ), lines[0]
    assert re.fullmatch(r"POST /v2/models/iris/versions/1/infer 200 \S+ms endpoint=iris variant=a inference_id=v2-req-1", lines[1])
    assert re.fullmatch(r"GET /api/v1/models/nope 404 \S+ms endpoint=- variant=- inference_id=-", lines[2])
    assert re.fullmatch(r"POST /endpoints/nope/invocations 400 \S+ms endpoint=nope variant=- inference_id=-", lines[3])
    assert re.fullmatch(r"POST /endpoints/iris/invocations 499 \S+ms endpoint=- variant=- inference_id=-", lines[4])


def test_the_access_log_holds_no_secret(logged, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    secrets = ["query-token-1", "amz-token-2", "bearer-token-3", "header-token-4", "signature-5"]
    call(
        logged,
        "GET",
        "/api/v1/models",
        query=f"token={secrets[0]}&X-Amz-Security-Token={secrets[1]}&X-Amz-Signature={secrets[4]}",
        authorization=f"Bearer {secrets[2]}",
        x_amz_security_token=secrets[3],
    )
    call(logged, "POST", "/endpoints/iris/invocations", ROW, query=f"token={secrets[0]}", content_type="text/csv",
         authorization=f"Bearer {secrets[2]}")
    lines = access_lines(logged)
    assert [line.split(" ")[:3] for line in lines] == [["GET", "/api/v1/models", "200"], ["POST", "/endpoints/iris/invocations", "200"]]
    assert not any(secret in "\n".join(lines) + caplog.text for secret in secrets)


def test_request_data_cannot_forge_a_log_line(logged, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    forged = "\n2026-01-01 00:00:00,000 INFO modelport.access: GET /admin 200"
    call(logged, "POST", f"/endpoints/a{forged}\x1b[2J/invocations", ROW, content_type="text/csv",
         x_amzn_sagemaker_inference_id=f"id{forged}")
    v2 = {"id": f"v2{forged}", "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]}
    call(logged, "POST", "/v2/models/iris/versions/1/infer", orjson.dumps(v2), content_type="application/json")
    call(logged, "GET", f"/api/v1/models/x{forged}")
    rsgi, _ = logged

    async def broken(req: Any) -> Any:
        raise RuntimeError(f"boom{forged}")

    monkeypatch.setattr(rsgi.app.dataplane, "invoke", broken)
    call(logged, "POST", f"/endpoints/iris{forged}/invocations", ROW, content_type="text/csv")  # logs a traceback
    lines = access_lines(logged)
    assert len(lines) == 4 and "\x1b" not in "".join(lines)
    fields = [shlex.split(line) for line in lines]  # a value with spaces is one quoted field
    assert [f[2] for f in fields] == ["400", "200", "404", "500"]
    assert fields[0][1] == "/endpoints/a\\n2026-01-01 00:00:00,000 INFO modelport.access: GET /admin 200\\x1b[2J/invocations"
    assert fields[0][-1] == "inference_id=id\\n2026-01-01 00:00:00,000 INFO modelport.access: GET /admin 200"
    # every other record (the bug's traceback included) goes through the log's formatter
    assert any(r.name == "modelport.dataplane" for r in caplog.records)
    written = "\n".join(Formatter(FORMAT).format(r) for r in caplog.records)
    records = [line for line in written.split("\n") if not line.startswith("    ")]  # traceback lines are indented
    assert len(records) == len(caplog.records)
    assert "\x1b" not in written and not any(line.startswith("2026-01-01") for line in written.split("\n"))
