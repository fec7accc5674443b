"""Clients nobody here wrote, against a real server: boto3 sagemaker-runtime, tritonclient, curl-style HTTP."""

from __future__ import annotations

import io
import json
import time

import boto3
import httpx
import numpy as np
import pandas as pd
import pytest
import tritonclient.http as triton
from botocore.config import Config
from tritonclient.utils import InferenceServerException

from tests.serving.conftest import Deployment


@pytest.fixture(scope="module")
def runtime(deployment: Deployment):  # type: ignore[no-untyped-def]
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=deployment.url,
        region_name="us-east-1",
        aws_access_key_id="modelport",
        aws_secret_access_key="modelport",
        config=Config(retries={"max_attempts": 1}),
    )


def rows_csv(x: pd.DataFrame, header: bool = False) -> bytes:
    return x.to_csv(index=False, header=header).encode()


def labels(body: bytes) -> list[int]:
    return [p["label"] for p in json.loads(body)["predictions"]]


def test_boto3_invoke_endpoint(runtime, deployment: Deployment) -> None:  # type: ignore[no-untyped-def]
    rows = deployment.x.iloc[[0, 60, 120]]
    resp = runtime.invoke_endpoint(
        EndpointName="iris",
        Body=rows_csv(rows),
        ContentType="text/csv",
        Accept="application/json",
        CustomAttributes="trace=abc",
        InferenceId="inf-0001",
        TargetVariant="b",
    )
    assert resp["InvokedProductionVariant"] == "b"
    assert resp["ContentType"] == "application/json"
    assert resp["CustomAttributes"] == "trace=abc"
    assert resp["ResponseMetadata"]["RequestId"]
    assert labels(resp["Body"].read()) == deployment.expected(2, rows).tolist()
    # Without a target, weighted routing picks a variant and says which.
    resp = runtime.invoke_endpoint(EndpointName="iris", Body=rows_csv(rows), ContentType="text/csv")
    assert resp["InvokedProductionVariant"] in ("a", "b")


def test_boto3_errors_raise_the_modeled_exceptions(runtime, deployment: Deployment) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(runtime.exceptions.ValidationError, match="Endpoint nope of account modelport not found"):
        runtime.invoke_endpoint(EndpointName="nope", Body=b"1,2,3,4", ContentType="text/csv")
    with pytest.raises(runtime.exceptions.ModelError) as err:
        runtime.invoke_endpoint(EndpointName="iris", Body=b"1,2", ContentType="text/csv")
    assert err.value.response["OriginalStatusCode"] == 400
    assert "CSV rows have 2 values, expected 4" in err.value.response["OriginalMessage"]
    with pytest.raises(runtime.exceptions.ValidationError, match="no variant 'zz'"):
        runtime.invoke_endpoint(EndpointName="iris", Body=b"1,2,3,4", ContentType="text/csv", TargetVariant="zz")
    big = b"1.0,2.0,3.0,4.0\n" * (7 * 1024 * 1024 // 16)
    start = time.monotonic()
    with pytest.raises(runtime.exceptions.ValidationError, match="exceeds the limit of 6291456 bytes"):
        runtime.invoke_endpoint(EndpointName="iris", Body=big, ContentType="text/csv")
    assert time.monotonic() - start < 5


def test_chunked_bodies_are_read_and_limited_while_streaming(deployment: Deployment) -> None:
    """No Content-Length: the body is counted as it arrives and refused once past the limit."""
    rows = deployment.x.iloc[[0, 60]]

    def chunks(data: bytes, size: int = 1 << 16):  # type: ignore[no-untyped-def]
        for i in range(0, len(data), size):
            yield data[i : i + size]

    url = f"{deployment.url}/endpoints/iris/invocations"
    headers = {"content-type": "text/csv", "x-amzn-sagemaker-target-variant": "b"}
    ok = httpx.post(url, content=chunks(rows_csv(rows)), headers=headers)
    assert ok.status_code == 200, ok.text
    assert labels(ok.content) == deployment.expected(2, rows).tolist()
    big = b"1.0,2.0,3.0,4.0\n" * (7 * 1024 * 1024 // 16)
    refused = httpx.post(url, content=chunks(big), headers=headers)
    assert refused.status_code == 413
    assert "exceeds the limit of 6291456 bytes" in refused.json()["message"]


def test_tritonclient_binary_and_json(deployment: Deployment) -> None:
    client = triton.InferenceServerClient(url=deployment.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("iris") and client.is_model_ready("iris", "2")
    assert not client.is_model_ready("nope") and not client.is_model_ready("iris", "9")
    meta = client.get_model_metadata("iris")
    assert meta["versions"] == ["1", "2"]
    assert [i["name"] for i in meta["inputs"]] == list(deployment.x.columns)
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    rows = deployment.x.iloc[[0, 55, 110, 140]]
    for binary in (True, False):
        inputs = []
        for name in deployment.x.columns:
            inp = triton.InferInput(name, [len(rows)], "FP64")
            inp.set_data_from_numpy(rows[name].to_numpy(np.float64), binary_data=binary)
            inputs.append(inp)
        outputs = [triton.InferRequestedOutput("label", binary_data=binary), triton.InferRequestedOutput("probabilities", binary_data=binary)]
        result = client.infer("iris", inputs, model_version="2", outputs=outputs, request_id="req-7")
        assert result.get_response()["id"] == "req-7" and result.get_response()["model_version"] == "2"
        np.testing.assert_array_equal(result.as_numpy("label"), deployment.expected(2, rows))
        assert result.as_numpy("probabilities").shape == (4, 3)
    # One 2-D tensor for all columns, default binary mode, no outputs named (all returned).
    x = triton.InferInput("input", [len(rows), 4], "FP32")
    x.set_data_from_numpy(rows.to_numpy(np.float32))
    result = client.infer("iris", [x], model_version="1")
    np.testing.assert_array_equal(result.as_numpy("label"), deployment.expected(1, rows))
    with pytest.raises(InferenceServerException, match="does not exist") as err:
        client.infer("nope", [x])
    assert err.value.status() == "404"
    bad = triton.InferInput("input", [1, 3], "FP32")
    bad.set_data_from_numpy(np.ones((1, 3), np.float32))
    with pytest.raises(InferenceServerException) as err:
        client.infer("iris", [bad])
    assert err.value.status() == "400"


@pytest.mark.parametrize(
    "payload",
    [
        lambda x: {"instances": x.to_numpy().tolist()},
        lambda x: {"instances": x.to_dict(orient="records")},
        lambda x: {"inputs": x.to_dict(orient="list")},
        lambda x: {"dataframe_split": x.to_dict(orient="split", index=False)},
        lambda x: {"dataframe_records": x.to_dict(orient="records")},
        lambda x: x.to_numpy().tolist(),
    ],
    ids=["instances-rows", "instances-records", "inputs-columnar", "dataframe_split", "dataframe_records", "bare-rows"],
)
def test_every_json_shape(deployment: Deployment, payload) -> None:  # type: ignore[no-untyped-def]
    rows = deployment.x.iloc[[3, 70, 130]]
    r = httpx.post(f"{deployment.url}/endpoints/iris/invocations", json=payload(rows), headers={"X-Amzn-SageMaker-Target-Variant": "a"})
    assert r.status_code == 200, r.text
    assert labels(r.content) == deployment.expected(1, rows).tolist()


def test_csv_xml_parquet_and_reply_types(deployment: Deployment) -> None:
    rows = deployment.x.iloc[[3, 70, 130]]
    expected = deployment.expected(1, rows).tolist()
    url = f"{deployment.url}/endpoints/iris/invocations"
    target = {"X-Amzn-SageMaker-Target-Variant": "a"}
    reordered = rows[list(reversed(rows.columns))].to_csv(index=False).encode()
    for body in (rows_csv(rows, header=True), rows_csv(rows, header=False), reordered):
        r = httpx.post(url, content=body, headers={**target, "Content-Type": "text/csv"})
        assert r.status_code == 200, r.text
        assert labels(r.content) == expected
    buf = io.BytesIO()
    rows.to_parquet(buf)
    r = httpx.post(url, content=buf.getvalue(), headers={**target, "Content-Type": "application/vnd.apache.parquet"})
    assert r.status_code == 200, r.text
    assert labels(r.content) == expected
    r = httpx.post(url, content=rows_csv(rows), headers={**target, "Content-Type": "text/csv", "Accept": "text/csv"})
    assert r.headers["content-type"].startswith("text/csv")
    assert [int(line.split(",")[0]) for line in r.text.strip().splitlines()] == expected
    r = httpx.post(url, content=rows_csv(rows), headers={**target, "Content-Type": "text/csv", "Accept": "application/xml"})
    assert r.headers["content-type"].startswith("application/xml") and r.text.count("<prediction>") == 3


def test_xml_records(deployment: Deployment) -> None:
    plain = deployment.x.set_axis(["sepal_length", "sepal_width", "petal_length", "petal_width"], axis=1)
    rows = plain.iloc[[3, 70, 130]]
    elements = "".join(
        "<row>" + "".join(f"<{c}>{v}</{c}>" for c, v in row.items()) + "</row>" for _, row in rows.iterrows()
    )
    attributes = "".join("<row " + " ".join(f'{c}="{v}"' for c, v in row.items()) + "/>" for _, row in rows.iterrows())
    expected = deployment.models["flowers:1"].predict(rows).tolist()  # type: ignore[attr-defined]
    for body in (elements, attributes):
        r = httpx.post(
            f"{deployment.url}/endpoints/flowers/invocations",
            content=f'<?xml version="1.0"?><rows>{body}</rows>'.encode(),
            headers={"Content-Type": "application/xml"},
        )
        assert r.status_code == 200, r.text
        assert labels(r.content) == expected


@pytest.mark.parametrize(
    ("body", "ctype", "accept", "status", "needle"),
    [
        (b'{"instances": [[1, 2, 3]]}', "application/json", None, 424, "expected 4"),
        (b'{"instances": [["a", 2, 3, 4]]}', "application/json", None, 424, "sepal length (cm)"),
        (b'{"instances": [[1, 2, 3, 4]', "application/json", None, 424, "invalid JSON"),
        (b"1,2,3,4", "application/x-weird", None, 424, "text/csv"),
        (b"1,2,3,4", "text/csv", "image/png", 424, "application/json"),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]><rows><row><a>&lol2;</a></row></rows>',
            "application/xml",
            None,
            424,
            "XML",
        ),
    ],
    ids=["wrong-columns", "wrong-type", "malformed-json", "unsupported-type", "unacceptable-accept", "xml-entity-bomb"],
)
def test_bad_bodies_get_a_4xx_naming_the_problem(deployment: Deployment, body, ctype, accept, status, needle) -> None:  # type: ignore[no-untyped-def]
    headers = {"Content-Type": ctype}
    if accept:
        headers["Accept"] = accept
    start = time.monotonic()
    r = httpx.post(f"{deployment.url}/endpoints/iris/invocations", content=body, headers=headers)
    assert time.monotonic() - start < 2
    assert r.status_code == status
    assert r.headers["x-amzn-errortype"].startswith("ModelError")
    original = r.json()["OriginalStatusCode"]
    assert 400 <= original < 500
    assert needle in r.json()["OriginalMessage"]
