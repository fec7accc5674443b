"""/api/v1/monitors in process: scopes, caller mistakes in the error envelope, the remote SDK's same errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelport.errors import FailedPrecondition, NotFound
from modelport.services import Services
from modelport.settings import Settings
from tests.monitoring.conftest import InProcess, remote_client


@pytest.fixture
def api(in_process: Callable[..., InProcess], tmp_path: Path, trained: tuple[Path, Path]) -> InProcess:
    app = in_process(tokens=("admin", "read"), monitor_scheduler=False)
    svc = Services.open(Settings(home=tmp_path / "home0"))
    try:
        model, train = trained
        svc.registry.register(model, "clf", sample=train)
        variants = [{"name": "a", "requested": "clf:1"}]
        svc.endpoints.create("churn", variants, capture={"enabled": True}, created_by="me")
        svc.endpoints.create("quiet", variants, created_by="me")
    finally:
        svc.close()
    return app


def test_read_scope_looks_admin_acts(api: InProcess) -> None:
    body = {"name": "m", "endpoint": "churn", "every": "1h"}
    assert api.post("/api/v1/monitors", json=body).status_code == 401
    r = api.post("/api/v1/monitors", json=body, token="read")
    assert (r.status_code, r.json()["error"]["code"]) == (403, "PERMISSION_DENIED")
    r = api.post("/api/v1/monitors", json=body, token="admin")
    assert r.status_code == 201, r.text
    assert (r.json()["schedule"], r.json()["window_s"]) == ({"every": 3600}, 3600)
    assert [m["name"] for m in api.get("/api/v1/monitors", token="read").json()] == ["m"]
    assert api.post("/api/v1/monitors/m/runs", token="read").status_code == 403
    r = api.post("/api/v1/monitors/m/runs", token="admin")  # no body: the monitor's window up to now
    assert r.status_code == 201, r.text
    assert r.json()["result"]["variants"]["a"]["status"] == "no_data"
    shown = api.get("/api/v1/monitors/m", token="read").json()
    assert [run["id"] for run in shown["runs"]] == [r.json()["id"]]
    assert api.get("/api/v1/monitors/m/runs?limit=5", token="read").json()[0]["id"] == r.json()["id"]
    assert api.request("DELETE", "/api/v1/monitors/m", token="read").status_code == 403
    assert api.request("DELETE", "/api/v1/monitors/m", token="admin").status_code == 204


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "message"),
    [
        (
            "POST",
            "/api/v1/monitors",
            {"name": "m", "endpoint": "quiet"},
            412,
            "FAILED_PRECONDITION",
            "endpoint 'quiet' does not capture data",
        ),
        (
            "POST",
            "/api/v1/monitors",
            {"name": "m", "endpoint": "nope"},
            404,
            "NOT_FOUND",
            "endpoint 'nope' does not exist",
        ),
        (
            "POST",
            "/api/v1/monitors",
            {"name": "m", "endpoint": "churn", "every": "soon"},
            400,
            "INVALID_ARGUMENT",
            "invalid --every 'soon'",
        ),
        (
            "POST",
            "/api/v1/monitors",
            {"name": "Bad Name!", "endpoint": "churn"},
            400,
            "INVALID_ARGUMENT",
            "invalid monitor name",
        ),
        ("POST", "/api/v1/monitors/nope/runs", {}, 404, "NOT_FOUND", "monitor 'nope' does not exist"),
        (
            "POST",
            "/api/v1/monitors/baselines",
            {"model": "clf:1"},
            400,
            "INVALID_ARGUMENT",
            "make a baseline from a dataset",
        ),
        ("POST", "/api/v1/monitors/baselines", {"model": "clf:9", "statistics": {}}, 404, "NOT_FOUND", "clf"),
    ],
)
def test_caller_mistakes_in_the_envelope(
    api: InProcess, method: str, path: str, body: dict, status: int, code: str, message: str
) -> None:  # type: ignore[type-arg]
    r = api.request(method, path, json=body, token="admin")
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert message in r.json()["error"]["message"]


def test_the_remote_sdk_raises_the_same_errors(api: InProcess, tmp_path: Path) -> None:
    with remote_client(api, tmp_path / "client", "admin") as client:
        with pytest.raises(FailedPrecondition, match="endpoint 'quiet' does not capture data"):
            client.monitors.create("m", "quiet")
        monitor = client.monitors.create("m", "churn", cron="*/15 * * * *", window="15m")
        assert (monitor.schedule, monitor.window_s) == ({"cron": "*/15 * * * *"}, 900)
        assert client.monitors.get("m") == monitor
        client.monitors.delete("m")
        with pytest.raises(NotFound, match="monitor 'm' does not exist"):
            client.monitors.run("m")
