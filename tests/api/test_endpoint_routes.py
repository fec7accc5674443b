"""/api/v1/endpoints: routing in the configuration, the shadow report route (the app in process)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.api.conftest import InProcess

ROW = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


def test_sticky_routing_and_the_shadow_report_over_the_api(
    in_process: Callable[..., InProcess], model_file: Path, other_model_file: Path
) -> None:
    api = in_process()
    svc = api.app.state.services
    svc.registry.register(model_file, "churn")
    svc.registry.register(other_model_file, "churn")
    variants = [
        {"name": "a", "model": "churn:1"},
        {"name": "b", "model": "churn:2"},
        {"name": "s", "model": "churn:2", "shadow": True},
    ]
    r = api.post("/api/v1/endpoints", json={"name": "e", "variants": variants, "routing": {"unit": "header:X-User-Id"}})
    assert r.status_code == 201, r.text
    assert r.json()["config"]["routing"] == {"unit": "header:X-User-Id", "salt": None, "experiment": None}
    r = api.request("PATCH", "/api/v1/endpoints/e", json={"routing": {"unit": "cookie:sid"}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert "header:NAME" in r.json()["error"]["message"]
    r = api.request("PATCH", "/api/v1/endpoints/e", json={"routing": {"unit": "header:X-User-Id", "shard": 1}})
    assert r.status_code == 400  # unknown fields are refused

    dataplane = api.app.state.dataplane
    api.loop.run_until_complete(dataplane.manager.sync())
    served = set()
    for _ in range(6):
        r = api.post("/endpoints/e/invocations", json=ROW, headers={"X-User-Id": "user-7"})
        assert r.status_code == 200, r.text
        served.add(r.headers["x-amzn-invoked-production-variant"])
    assert len(served) == 1
    api.loop.run_until_complete(dataplane.drain_shadows())
    dataplane.flush_metrics()
    dataplane.arms.flush()

    r = api.get("/api/v1/endpoints/e/shadow-report")
    assert r.status_code == 200, r.text
    [report] = r.json()
    assert (report["variant"], report["model"], report["pairs"], report["rows"]) == ("s", "churn:2", 6, 6)
    assert report["confidence"] == 0.95 and len(report["agreement"]["interval"]) == 2
    r = api.get("/api/v1/endpoints/e/shadow-report", params={"since": "2999-01-01T00:00:00Z"})
    assert r.json()[0]["pairs"] == 0
    assert api.get("/api/v1/endpoints/e/shadow-report", params={"confidence": 2}).status_code == 400
    assert api.get("/api/v1/endpoints/ghost/shadow-report").status_code == 404
    counts = svc.endpoints.counters.totals("e")
    assert counts[served.pop()].unit_requests == 6
