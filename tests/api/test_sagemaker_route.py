"""The SageMaker control plane's wire protocol: POST / with X-Amz-Target, AWS JSON 1.1, AWS's error shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from tests.api.conftest import InProcess

AMZ_JSON = "application/x-amz-json-1.1"


def target(served: InProcess, operation: str, body: Any = None, *, token: str | None = None, raw: bytes | None = None):  # type: ignore[no-untyped-def]
    headers = {"X-Amz-Target": f"SageMaker.{operation}", "Content-Type": AMZ_JSON}
    content = raw if raw is not None else orjson.dumps(body or {})
    return served.post("/", content=content, headers=headers, token=token)


def test_operations_answer_in_aws_json(in_process: Callable[..., InProcess]) -> None:
    served = in_process()
    r = target(served, "ListEndpoints")
    assert r.status_code == 200 and r.headers["content-type"] == AMZ_JSON
    assert r.json() == {"Endpoints": []}
    assert r.headers["x-amzn-requestid"]


def test_errors_have_the_shape_botocore_reads(in_process: Callable[..., InProcess]) -> None:
    served = in_process()
    r = target(served, "DescribeEndpoint", {"EndpointName": "nope"})
    assert r.status_code == 400
    assert r.headers["x-amzn-errortype"] == "ValidationException:"
    assert r.json() == {
        "__type": "ValidationException",
        "message": 'Could not find endpoint "arn:aws:sagemaker:us-east-1:000000000000:endpoint/nope".',
    }
    unknown = target(served, "CreateTrainingJob", {})
    assert (unknown.status_code, unknown.json()["__type"]) == (400, "UnknownOperationException")
    assert unknown.json()["message"].startswith("Unknown operation SageMaker.CreateTrainingJob")
    missing = served.post("/", content=b"{}", headers={"Content-Type": AMZ_JSON})
    assert missing.json()["__type"] == "UnknownOperationException"
    assert target(served, "ListModels", raw=b"{not json").json()["__type"] == "SerializationException"
    wrong_type = target(served, "DescribeEndpoint", {"EndpointName": 7})
    assert wrong_type.json() == {
        "__type": "ValidationException",
        "message": "1 validation error detected: Value '7' at 'EndpointName' failed to satisfy constraint: Member must be a string",
    }


def test_scopes_read_for_describe_and_list_admin_for_the_rest(in_process: Callable[..., InProcess]) -> None:
    served = in_process(tokens=("read", "admin"))
    assert target(served, "ListModels", token="read").status_code == 200
    denied = target(served, "CreateEndpointConfig", {"EndpointConfigName": "c"}, token="read")
    assert (denied.status_code, denied.json()["__type"]) == (403, "AccessDeniedException")
    anonymous = target(served, "ListModels")
    assert (anonymous.status_code, anonymous.json()["__type"]) == (403, "MissingAuthenticationTokenException")
    assert target(served, "CreateEndpointConfig", {"EndpointConfigName": "c"}, token="admin").json()["__type"] == (
        "ValidationException"
    )
