"""The asynchronous inference routes in process: SageMaker's wire, the /api/v1 routes, who may read what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelport.services import Services
from modelport.settings import Settings

ASYNC = "/endpoints/iris/async-invocations"


def _app(in_process: Any, tmp_path: Path, model_file: Path) -> Any:
    app = in_process(tokens=("admin", "invoke", "read"), async_worker=False)  # requests stay queued
    svc = Services.open(Settings(home=tmp_path / "home0"))
    try:
        svc.registry.register(model_file, "iris")
        svc.endpoints.create(
            "iris", [{"name": "a", "requested": "iris:1"}], async_inference={"output_path": "s3://b/out"}, created_by="t"
        )
        svc.endpoints.create("sync", [{"name": "a", "requested": "iris:1"}], created_by="t")
    finally:
        svc.close()
    return app


def test_the_sagemaker_wire(in_process: Any, tmp_path: Path, model_file: Path) -> None:
    app = _app(in_process, tmp_path, model_file)
    headers = {
        "X-Amzn-SageMaker-InputLocation": "s3://b/in/data.csv", "X-Amzn-SageMaker-Inference-Id": "r1",
        "X-Amzn-SageMaker-Content-Type": "text/csv", "X-Amzn-SageMaker-RequestTTLSeconds": "600",
        "X-Amzn-SageMaker-Custom-Attributes": "trace=7",
    }  # fmt: skip
    r = app.post(ASYNC, headers=headers, token="invoke")
    assert r.status_code == 202, r.text
    assert r.json() == {"InferenceId": "r1", "OutputLocation": "s3://b/out/r1.out", "FailureLocation": "s3://b/out/r1-error.out"}
    assert r.headers["x-amzn-sagemaker-outputlocation"] == "s3://b/out/r1.out"
    assert r.headers["x-amzn-sagemaker-failurelocation"] == "s3://b/out/r1-error.out"
    assert app.post(ASYNC, headers=headers, token="invoke").json()["InferenceId"] == "r1"  # idempotent
    shown = app.get("/api/v1/async-invocations/r1", token="invoke").json()  # invoke tokens follow what they sent
    assert (shown["status"], shown["request"]["custom_attributes"], shown["created_by"]) == ("queued", "trace=7", "invoke-token")
    assert [i["id"] for i in app.get("/api/v1/async-invocations", token="read").json()["items"]] == ["r1"]

    def refused(path: str, extra: dict[str, str], token: str = "invoke") -> tuple[int, str, str]:
        r = app.post(path, headers={"X-Amzn-SageMaker-InputLocation": "s3://b/in/data.csv", **extra}, token=token)
        return r.status_code, r.headers.get("x-amzn-errortype", ""), r.json()["message"]

    assert refused("/endpoints/nope/async-invocations", {}) == (
        400, "ValidationError:", "Endpoint nope of account modelport not found."
    )
    assert refused("/endpoints/sync/async-invocations", {})[:2] == (400, "ValidationError:")
    assert refused(ASYNC, {"X-Amzn-SageMaker-RequestTTLSeconds": "soon"}) == (
        400, "ValidationError:", "X-Amzn-SageMaker-RequestTTLSeconds must be a whole number of seconds, got 'soon'"
    )
    assert refused(ASYNC, {"X-Amzn-SageMaker-InputLocation": "/etc/passwd"}) == (
        403, "AccessDeniedException:",
        "reading the server's files needs an admin token: use s3:// or upload the input "
        "(POST /api/v1/async-inputs, what `modelport invoke --async --file` does)",
    )  # fmt: skip
    assert refused(ASYNC, {}, token="read")[:2] == (403, "AccessDeniedException:")
    assert app.post(ASYNC, headers={"X-Amzn-SageMaker-InputLocation": "s3://b/k"}).status_code == 401
    assert app.get(ASYNC, token="invoke").status_code == 405


def test_uploads_are_inputs_an_invoke_token_may_name(in_process: Any, tmp_path: Path, model_file: Path) -> None:
    app = _app(in_process, tmp_path, model_file)
    stored = app.post("/api/v1/async-inputs", content=b"5.1,3.5,1.4,0.2\n" * 1000, token="invoke")
    assert stored.status_code == 201, stored.text
    location = stored.json()["location"]
    assert Path(location).read_bytes().count(b"\n") == 1000 and stored.json()["size"] == 16000
    r = app.post("/api/v1/endpoints/iris/async-invocations", json={"input_location": location}, token="invoke")
    assert r.status_code == 202 and r.json()["input_location"] == location
    assert app.post("/api/v1/async-inputs", content=b"", token="invoke").status_code == 400
    cancelled = app.post(f"/api/v1/async-invocations/{r.json()['id']}/cancel", token="invoke").json()
    assert cancelled["status"] == "cancelled"
