"""A real `modelport server`: control API, docs, ping, metrics, uploads, errors, shutdown."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from modelport.client import Client
from modelport.errors import FailedPrecondition, InvalidArgument
from modelport.server import listen
from tests import infra

pytestmark = pytest.mark.slow  # every test here talks to a `modelport server` process


def test_ping_docs_openapi_metrics(server: infra.LiveServer) -> None:
    ping = httpx.get(f"{server.url}/ping")
    assert ping.status_code == 200 and ping.content == b""
    docs = httpx.get(f"{server.url}/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert "/api/v1/models/{name}/versions" in spec["paths"]
    httpx.get(f"{server.url}/api/v1/models/does-not-exist")
    metrics = httpx.get(f"{server.url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'modelport_http_requests_total{method="GET",route="/api/v1/models/{name}",status="404"}' in metrics.text
    assert "modelport_http_request_duration_seconds_bucket" in metrics.text


def test_errors_are_json_with_neutral_codes(server: infra.LiveServer) -> None:
    r = httpx.get(f"{server.url}/api/v1/models/nope")
    assert r.status_code == 404
    assert r.json() == {"error": {"code": "NOT_FOUND", "message": "model 'nope' does not exist"}}
    r = httpx.get(f"{server.url}/api/v1/models/bad%20name")
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert "invalid model name 'bad name'" in r.json()["error"]["message"]
    r = httpx.get(f"{server.url}/no/such/route")
    assert r.status_code == 404 and r.json()["error"]["message"] == "no such route: GET /no/such/route"
    r = httpx.put(f"{server.url}/api/v1/models/m/aliases/prod", json={"version": "two"})
    assert r.status_code == 400 and "version" in r.json()["error"]["message"]
    r = httpx.post(f"{server.url}/api/v1/models", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_ARGUMENT"
    r = httpx.get(f"{server.url}/api/v1/models", params={"limit": 0})
    assert r.status_code == 400 and "invalid limit 0" in r.json()["error"]["message"]


def test_upload_register_download_round_trip(server: infra.LiveServer, model_file: Path, tmp_path: Path) -> None:
    with Client(url=server.url) as c:
        mv = c.models.register(model_file, "roundtrip", metrics={"auc": 0.9})
        out = c.models.download("roundtrip:1", tmp_path)
    assert out.read_bytes() == model_file.read_bytes()
    assert mv.created_by  # recorded
    r = httpx.get(f"{server.url}/api/v1/models/roundtrip/versions/1/files/model")
    assert r.headers["x-content-sha256"] == mv.sha256


def test_corrupt_upload_is_refused(server: infra.LiveServer) -> None:
    data = b"model bytes"
    wrong = hashlib.sha256(b"other").hexdigest()
    r = httpx.put(f"{server.url}/api/v1/artifacts/{wrong}", content=data)
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("upload is corrupted: sha256 is")
    r = httpx.put(f"{server.url}/api/v1/artifacts/not-a-sha", content=data)
    assert r.status_code == 400 and "invalid sha256" in r.json()["error"]["message"]
    body = {"format": "sklearn", "sha256": wrong, "size": 5}
    r = httpx.post(f"{server.url}/api/v1/models/m/versions", json=body)
    assert r.status_code == 400 and "is not in the store: upload it before registering" in r.json()["error"]["message"]


def test_oversize_upload_refused_before_reading(tmp_path: Path) -> None:
    env = {"MODELPORT_HOME": str(tmp_path / "h"), "MODELPORT_MAX_UPLOAD_BYTES": "1000"}
    with infra.live_server(env) as live:
        sha = hashlib.sha256(b"x" * 2000).hexdigest()
        r = httpx.put(f"{live.url}/api/v1/artifacts/{sha}", content=b"x" * 2000)
        assert r.status_code == 413
        assert r.json()["error"] == {"code": "PAYLOAD_TOO_LARGE", "message": "upload of 2000 bytes exceeds the limit of 1000 bytes"}

        def chunked():  # no Content-Length: the limit is enforced while streaming
            for _ in range(20):
                yield b"y" * 100

        r = httpx.put(f"{live.url}/api/v1/artifacts/{sha}", content=chunked())
        assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_sigterm_shuts_down_gracefully(tmp_path: Path) -> None:
    with infra.live_server({"MODELPORT_HOME": str(tmp_path / "h")}) as live:
        assert httpx.get(f"{live.url}/ping").status_code == 200
        start = time.monotonic()
        code = live.stop(signal.SIGTERM)
        assert code == 0
        assert time.monotonic() - start < 15
        assert "shutdown" in live.log().lower()


def test_several_workers(tmp_path: Path, model_file: Path) -> None:
    with infra.live_server({"MODELPORT_HOME": str(tmp_path / "h")}, "--workers", "2") as live:
        with Client(url=live.url) as c:
            c.models.register(model_file, "w")
            for _ in range(20):
                assert c.models.show("w").version == 1
        metrics = httpx.get(f"{live.url}/metrics").text
        line = next(x for x in metrics.splitlines() if 'route="/api/v1/models/{name}/versions/{version}"' in x and "_total" in x)
        assert float(line.rsplit(" ", 1)[1]) == 20  # summed over both workers
        assert live.stop() == 0


def test_server_logs_no_traceback_on_user_errors(server: infra.LiveServer) -> None:
    httpx.get(f"{server.url}/api/v1/models/nope")
    httpx.delete(f"{server.url}/api/v1/models/nope/versions/1")
    assert "Traceback" not in server.log()


# -- the server owns its port ------------------------------------------------------------


def _second_server(port: int, home: Path) -> subprocess.CompletedProcess[str]:
    """`modelport server --port PORT` as a user would start it, Rust backtraces asked for."""
    env = {**os.environ, "MODELPORT_HOME": str(home), "RUST_BACKTRACE": "1"}
    return subprocess.run(
        [*infra.modelport_cmd(), "server", "--port", str(port)], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_second_server_on_a_taken_port_exits_at_once(tmp_path: Path, model_file: Path, workers: str) -> None:
    with infra.live_server({"MODELPORT_HOME": str(tmp_path / "first")}, "--workers", workers) as first:
        port = int(first.url.rsplit(":", 1)[1])
        second = _second_server(port, tmp_path / "second")
        assert second.returncode == 1
        assert second.stderr == f"error: port {port} is already in use\n"
        # every request still reaches the first server's registry, and only it
        with Client(url=first.url) as c:
            c.models.register(model_file, "mine")
            for _ in range(20):
                assert [m.name for m in c.models.list().items] == ["mine"]
        assert first.stop() == 0


@pytest.mark.slow
@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain-socket", "reuseport-socket"])
def test_a_port_held_by_another_program_is_one_line(tmp_path: Path, reuse_port: bool) -> None:
    with socket.socket() as holder:
        if reuse_port:  # what granian's own workers do: it must not let us in either
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _second_server(port, tmp_path / "h")
    assert result.returncode == 1
    assert result.stderr == f"error: port {port} is already in use\n"  # one line, no Rust backtrace


def test_listen_refuses_a_taken_port_and_bad_addresses() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(FailedPrecondition, match=f"^port {port} is already in use$"):
            listen("127.0.0.1", port)
    with pytest.raises(InvalidArgument, match="cannot listen on no-such-host.invalid:80"):
        listen("no-such-host.invalid", 80)
    sock = listen("127.0.0.1", 0)
    try:
        assert not sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)  # nobody can share it
    finally:
        sock.close()


# -- logs ------------------------------------------------------------------------------


def _access_lines(live: infra.LiveServer) -> list[str]:
    return [line for line in live.log().splitlines() if " modelport.access: " in line]


@pytest.mark.slow
def test_the_access_log_is_on_by_default_and_off_with_a_flag(tmp_path: Path) -> None:
    with infra.live_server({"MODELPORT_HOME": str(tmp_path / "h")}) as live:
        httpx.get(f"{live.url}/api/v1/models/nope", params={"token": "s3cr3t"}, headers={"Authorization": "Bearer t0k3n"})
        infra.wait_for(lambda: any("/api/v1/models/nope" in x for x in _access_lines(live)), 10, "the access line")
        line = next(x for x in _access_lines(live) if "/api/v1/models/nope" in x)
        assert re.search(r" INFO modelport\.access: GET /api/v1/models/nope 404 \d+\.\d\dms endpoint=- variant=- inference_id=-$", line)
        assert "s3cr3t" not in live.log() and "t0k3n" not in live.log()
    with infra.live_server({"MODELPORT_HOME": str(tmp_path / "h")}, "--no-access-log") as quiet:
        for _ in range(3):
            assert httpx.get(f"{quiet.url}/api/v1/models").status_code == 200
        assert quiet.stop() == 0
        assert _access_lines(quiet) == [] and "Listening at" in quiet.log()


@pytest.mark.slow
def test_log_level_warning_leaves_only_warnings_and_errors(tmp_path: Path) -> None:
    with infra.live_server({"MODELPORT_HOME": str(tmp_path / "h")}, "--log-level", "warning") as live:
        for _ in range(3):
            assert httpx.get(f"{live.url}/api/v1/models").status_code == 200
        assert live.stop() == 0
        assert live.log().strip() == ""  # not the start-up banner, not an access line
