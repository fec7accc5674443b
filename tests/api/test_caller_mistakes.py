"""A caller's mistake is a 4xx in the protocol's envelope, never a 500; request data never forges a log line."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from tests.api.conftest import InProcess

INT64_MAX = 2**63 - 1
TOO_BIG = 2**63
SHA = "a" * 64


@pytest.fixture
def api(in_process: Callable[..., InProcess]) -> InProcess:
    return in_process(tokens=("admin", "invoke"), max_api_body_bytes=4096)


@pytest.mark.parametrize(
    "version",
    ["²", "٣", "1" * 5000, str(TOO_BIG), "0", "-1", "1.0", "1%0Aforged"],
    ids=["superscript", "arabic-indic", "5000-digits", "2^63", "zero", "negative", "float", "newline"],
)
def test_a_v2_version_that_is_not_a_version_is_400(api: InProcess, version: str, caplog: pytest.LogCaptureFixture) -> None:
    for method, suffix in (("GET", "/ready"), ("GET", ""), ("POST", "/infer")):
        r = api.request(method, f"/v2/models/iris/versions/{version}{suffix}", token="invoke", content=b"{}")
        assert r.status_code == 400, (method, suffix, r.text)
        assert r.headers["content-type"] == "application/json"
        assert r.json()["error"].startswith("invalid version ")
        assert r.json()["error"].endswith(f": expected a whole number from 1 to {INT64_MAX}")
    assert "Traceback" not in caplog.text and not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


def test_a_v2_version_is_checked_only_after_the_token(api: InProcess) -> None:
    r = api.get("/v2/models/iris/versions/²/ready")
    assert r.status_code == 401 and r.json() == {"error": "this server requires a token: send 'Authorization: Bearer <token>'"}


@pytest.mark.parametrize("version", ["²", "1" * 5000, str(TOO_BIG), "0"])
def test_control_api_version_paths_are_400(api: InProcess, version: str) -> None:
    assert api.post("/api/v1/models", token="admin", json={"name": "m"}).status_code == 201
    for method, path in (
        ("GET", f"/api/v1/models/m/versions/{version}"),
        ("DELETE", f"/api/v1/models/m/versions/{version}"),
        ("GET", f"/api/v1/models/m/versions/{version}/files/model"),
    ):
        r = api.request(method, path, token="admin")
        assert r.status_code == 400, (method, r.text)
        error = r.json()["error"]
        assert error["code"] == "INVALID_ARGUMENT"
        assert "the version after ':' must be a positive integer" in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("PUT", "/api/v1/models/m/aliases/prod", {"version": TOO_BIG}, "version"),
        ("PUT", "/api/v1/models/m/aliases/prod", {"version": 0}, "version"),
        ("POST", "/api/v1/endpoints/e/rollback", {"revision": TOO_BIG}, "revision"),
        ("POST", "/api/v1/models/m/versions", {"sha256": SHA, "size": TOO_BIG}, "size"),
        ("POST", "/api/v1/models/m/versions", {"sha256": SHA, "options": {"opset": TOO_BIG}}, "options.opset"),
        ("POST", "/api/v1/endpoints", {"name": "e", "variants": [{"name": "a", "model": "m:1", "max_batch_size": TOO_BIG}]}, "variants.0.max_batch_size"),
        ("POST", "/api/v1/jobs", {"model": "m", "input": "in.csv", "output": "out/", "threads": TOO_BIG}, "threads"),
        ("GET", f"/api/v1/models?limit={TOO_BIG}", None, "limit"),
        ("GET", f"/api/v1/models/m/versions?limit={TOO_BIG}", None, "limit"),
        ("GET", f"/api/v1/jobs?limit={TOO_BIG}", None, "limit"),
    ],
)
def test_integers_past_int64_are_400(api: InProcess, method: str, path: str, body: object, field: str) -> None:
    api.post("/api/v1/models", token="admin", json={"name": "m"})
    r = api.request(method, path, token="admin", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "INVALID_ARGUMENT" and field in r.json()["error"]["message"]


def test_a_model_reference_past_int64_is_400(api: InProcess) -> None:
    api.post("/api/v1/models", token="admin", json={"name": "m"})
    body = {"name": "e", "variants": [{"name": "a", "model": f"m:{TOO_BIG}"}]}
    r = api.post("/api/v1/endpoints", token="admin", json=body)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        f"invalid model reference 'm:{TOO_BIG}': the version after ':' must be a positive integer (at most {INT64_MAX})"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"sha256": "' + SHA.encode() + b'", "metrics": {"auc": NaN}}', "invalid JSON body: unexpected character"),
        (b'{"sha256": "' + SHA.encode() + b'", "metrics": {"auc": Infinity}}', "invalid JSON body: unexpected character"),
        (b'{"sha256": "' + SHA.encode() + b'", "metrics": {"auc": -1e400}}', "invalid JSON body: number is infinity"),
        (b'{"sha256": "' + SHA.encode() + b'", "metrics": {"auc": "NaN"}}', "metrics.auc: Input should be a finite number"),
        (b'{"sha256": "' + SHA.encode() + b'", "options": {"atol": "inf"}}', "options.atol: Input should be a finite number"),
        (b'{"sha256": "' + SHA.encode() + b'", "description": "\xff"}', "invalid JSON body: str is not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON body: depth limit exceeded"),
    ],
    ids=["NaN", "Infinity", "overflow", "NaN-string", "inf-option", "bad-utf8", "deep"],
)
def test_non_finite_numbers_and_bad_json_are_400(in_process: Callable[..., InProcess], body: bytes, message: str) -> None:
    api = in_process(tokens=("admin",))  # the default body limit: the deep body is 200 kB
    api.post("/api/v1/models", token="admin", json={"name": "m"})
    r = api.post("/api/v1/models/m/versions", token="admin", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "INVALID_ARGUMENT" and message in r.json()["error"]["message"]


def test_endpoint_weights_must_be_finite(api: InProcess) -> None:
    r = api.request("PATCH", "/api/v1/endpoints/e", token="admin", json={"weights": {"a": "Infinity"}})
    assert r.status_code == 400 and "weights.a: Input should be a finite number" in r.json()["error"]["message"]


def test_control_api_bodies_have_a_size_limit(api: InProcess) -> None:
    big = {"name": "m", "description": "x" * 5000}
    r = api.post("/api/v1/models", token="admin", json=big)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert r.json()["error"]["message"].startswith("request body of 5029 bytes exceeds the control API's limit of 4096 bytes")

    def chunked():  # no Content-Length: counted as it streams in
        yield b'{"name": "m", "description": "'
        for _ in range(50):
            yield b"x" * 100
        yield b'"}'

    r = api.post("/api/v1/models", token="admin", content=chunked(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    chunks = (b'{"name": "m"}'[i : i + 4] for i in range(0, 13, 4))
    small = api.post("/api/v1/models", token="admin", content=chunks, headers={"Content-Type": "application/json"})
    assert small.status_code == 201, small.text
    # only the upload routes themselves have their own limit, not every path that starts like one
    r = api.post("/api/v1/async-inputs-and-more", token="admin", content=b"x" * 5000)
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert small.json()["name"] == "m"


def test_artifact_uploads_keep_their_own_limit(api: InProcess) -> None:
    import hashlib

    data = b"m" * 10_000  # past the control API's 4096 bytes, well under max_upload_bytes
    r = api.request("PUT", f"/api/v1/artifacts/{hashlib.sha256(data).hexdigest()}", token="admin", content=data)
    assert r.status_code == 201 and r.json()["size"] == 10_000


def test_a_bad_content_length_on_an_upload_is_400(api: InProcess) -> None:
    r = api.request("PUT", f"/api/v1/artifacts/{SHA}", token="admin", content=b"x", headers={"Content-Length": "¹".encode("latin-1")})
    assert r.status_code == 400 and r.json()["error"]["message"] == "invalid Content-Length '¹'"


def test_a_request_path_cannot_forge_a_log_line(api: InProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A bug's log line names the path with its control characters escaped (data plane and control API)."""
    import modelport.api.dataplane as dataplane
    import modelport.api.routes.models as models

    def bug(*_args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(dataplane, "_v2_version", bug)
    monkeypatch.setattr(models, "version_ref", bug)
    forged = "%0A2026-01-01 00:00:00 INFO modelport.server: admin logged in%1B[2J"
    with caplog.at_level(logging.ERROR):
        r = api.get(f"/v2/models/iris/versions/1{forged}/ready", token="invoke")
        assert r.status_code == 500 and r.json() == {"error": "internal error in the data plane; the server log has the details"}
        r = api.get(f"/api/v1/models/m/versions/1{forged}", token="admin")
        assert r.status_code == 500 and r.json()["error"]["code"] == "INTERNAL"
    messages = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(messages) == 2
    for message in messages:
        assert "\n" not in message and "\x1b" not in message
        assert "\\n2026-01-01 00:00:00 INFO modelport.server: admin logged in\\x1b[2J" in message


@pytest.mark.parametrize("forged", [str(TOO_BIG), str(-TOO_BIG - 1), "true", "[1, 2]", "1.5", "null", '{"a": 1}'])
def test_a_forged_page_token_is_400(api: InProcess, forged: str) -> None:
    import base64

    token = base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")
    api.post("/api/v1/models", token="admin", json={"name": "m"})
    for path in ("/api/v1/models", "/api/v1/models/m/versions", "/api/v1/jobs"):
        r = api.get(path, token="admin", params={"page_token": token})
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["message"] == f"invalid page token {token!r}: pass back the next_page_token of a previous page"


def test_nul_characters_are_400(api: InProcess) -> None:
    """PostgreSQL cannot hold NUL (a 500 there) and SQLite's JSON paths choke on it (a tag filter was a 503)."""
    api.post("/api/v1/models", token="admin", json={"name": "m"})
    for path in ("/api/v1/models?tag=%00=x", "/api/v1/models?name_contains=a%00", "/api/v1/tokens/%00", "/api/v1/jobs/a%00"):
        r = api.request("DELETE" if "tokens" in path else "GET", path, token="admin")
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"] == {"code": "INVALID_ARGUMENT", "message": "the path or query string holds a NUL character (%00)"}
    for method, path, body in (
        ("POST", "/api/v1/models", {"name": "n", "description": "a\x00b"}),
        ("PATCH", "/api/v1/models/m", {"tags": {"k\x00": "v"}}),
        ("POST", "/api/v1/jobs", {"model": "m", "input": "in\x00.csv", "output": "out/"}),
    ):
        r = api.request(method, path, token="admin", json=body)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["error"]["message"] == "invalid JSON body: a string holds a NUL character (\\u0000)"
    assert api.post("/api/v1/models", token="admin", json={"name": "n", "description": "a\\u0000b"}).status_code == 201
