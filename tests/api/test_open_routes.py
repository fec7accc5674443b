"""With auth on, only liveness answers without a token; every other route needs the scope the README lists."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.api.conftest import InProcess

NEEDS_A_TOKEN = "this server requires a token: send 'Authorization: Bearer <token>'"

V2 = [  # an invoke token
    "/v2",
    "/v2/health/ready",
    "/v2/models/iris",
    "/v2/models/iris/ready",
    "/v2/models/iris/versions/1/ready",
    "/v2/repository/index",  # not a route: still no answer to strangers
]
CONTROL = ["/docs", "/redoc", "/openapi.json", "/metrics", "/api/v1/info", "/api/v1/models"]  # a read token


@pytest.fixture
def api(in_process: Callable[..., InProcess]) -> InProcess:
    return in_process(tokens=("admin", "read", "invoke"))


@pytest.mark.parametrize("path", ["/ping", "/v2/health/live"])
def test_liveness_is_open(api: InProcess, path: str) -> None:
    r = api.get(path)
    assert r.status_code == 200 and r.content == b""


def test_the_kubernetes_probes_are_open_and_say_only_alive_or_ready(api: InProcess) -> None:
    assert (api.get("/healthz").status_code, api.get("/healthz").json()) == (200, {"status": "alive"})
    assert (api.get("/readyz").status_code, api.get("/readyz").json()) == (200, {"status": "ready"})


@pytest.mark.parametrize("path", V2)
def test_the_v2_protocol_needs_an_invoke_token(api: InProcess, path: str) -> None:
    r = api.get(path)
    assert r.status_code == 401 and r.json() == {"error": NEEDS_A_TOKEN}
    r = api.get(path, token="read")
    assert r.status_code == 403 and r.json() == {"error": "token 'read-token' has scope 'read'; this call needs 'invoke'"}
    for scope in ("invoke", "admin"):
        assert api.get(path, token=scope).status_code not in (401, 403)


def test_model_ready_tells_strangers_nothing(api: InProcess) -> None:
    """An unknown and a known name answer alike without a token (it used to be 400 vs 200)."""
    assert api.get("/v2/models/no-such-endpoint/ready").status_code == 401
    assert api.get("/v2/models/no-such-endpoint/ready", token="invoke").status_code == 400  # false, per the protocol
    r = api.post("/v2/models/no-such-endpoint/infer", content=b"{}")
    assert r.status_code == 401 and r.json() == {"error": NEEDS_A_TOKEN}


@pytest.mark.parametrize("path", CONTROL)
def test_docs_schema_and_metrics_need_a_read_token(api: InProcess, path: str) -> None:
    r = api.get(path)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json() == {"error": {"code": "UNAUTHENTICATED", "message": NEEDS_A_TOKEN}}
    r = api.get(path, token="invoke")
    assert r.status_code == 403 and r.json()["error"]["code"] == "PERMISSION_DENIED"
    for scope in ("read", "admin"):
        assert api.get(path, token=scope).status_code == 200


def test_with_auth_off_everything_is_open(in_process: Callable[..., InProcess]) -> None:
    api = in_process()
    for path in V2[:3] + CONTROL:
        assert api.get(path).status_code in (200, 404), path
    assert "/api/v1/models" in api.get("/openapi.json").json()["paths"]
    assert "swagger" in api.get("/docs").text.lower()


def test_the_last_admin_token_cannot_be_revoked_over_the_api(in_process: Callable[..., InProcess]) -> None:
    """Found by the fuzzer: revoking every token over the API turned auth off (auto) and opened the server."""
    api = in_process(tokens=("admin", "read"))
    ids = {t["name"]: t["id"] for t in api.get("/api/v1/tokens", token="admin").json()}
    assert api.request("DELETE", f"/api/v1/tokens/{ids['read-token']}", token="admin").status_code == 204
    r = api.request("DELETE", f"/api/v1/tokens/{ids['admin-token']}", token="admin")
    assert r.status_code == 412 and r.json()["error"] == {
        "code": "FAILED_PRECONDITION",
        "message": "token 'admin-token' is the last token with admin rights: create another admin token before "
        "revoking it (or run `modelport tokens revoke` on the server's host)",
    }
    assert api.get("/api/v1/models").status_code == 401  # still closed
    second = api.post("/api/v1/tokens", token="admin", json={"scope": "trust-code", "name": "ops2"}).json()
    assert api.request("DELETE", f"/api/v1/tokens/{ids['admin-token']}", token="admin").status_code == 204
    assert api.request("DELETE", f"/api/v1/tokens/{second['token']['id']}", token=second["secret"]).status_code == 412
    assert api.get("/api/v1/models").status_code == 401
