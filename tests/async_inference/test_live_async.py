"""Unmodified boto3 ``invoke_endpoint_async`` against a live server and an S3 emulator; a server killed mid-request."""

from __future__ import annotations

import http.server
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import httpx
import joblib
import numpy as np
import pytest
from botocore.exceptions import ClientError
from sklearn.linear_model import LinearRegression

from modelport.client import Client
from modelport.domain import NewToken
from modelport.errors import ModelportError
from modelport.monitoring.alerts import verify
from modelport.services import Services
from modelport.settings import Settings
from tests import infra

pytestmark = [pytest.mark.slow, pytest.mark.s3]

FEATURES = 32
SECRET = "hook-secret"


@dataclass
class Hooks:
    """A webhook receiver on loopback: what it was sent."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def events(self) -> list[dict[str, object]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture(scope="module")
def hooks() -> Iterator[Hooks]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Hooks(f"http://127.0.0.1:{server.server_address[1]}/hook", got)
    server.shutdown()


def wide_model(root: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, FEATURES))
    path = root / "wide.joblib"
    joblib.dump(LinearRegression().fit(x, x @ rng.normal(size=FEATURES)), path)
    return path


def write_csv(path: Path, megabytes: float) -> int:
    """Rows of FEATURES numbers, about ``megabytes`` of them, written in blocks; returns the row count."""
    rng = np.random.default_rng(1)
    block = "".join(",".join(f"{v:.3f}" for v in row) + "\n" for row in rng.normal(size=(1000, FEATURES))).encode()
    blocks = max(1, int(megabytes * 1024 * 1024 / len(block)))
    with open(path, "wb") as fh:
        for _ in range(blocks):
            fh.write(block)
    return blocks * 1000


@dataclass
class Live:
    server: infra.LiveServer
    bucket: str
    s3: infra.S3Server
    token: NewToken
    root: Path
    reader: NewToken
    admin: NewToken
    other: NewToken

    @property
    def read_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.reader.secret}"}

    def runtime(self):  # type: ignore[no-untyped-def]
        return boto3.client(
            "sagemaker-runtime",
            endpoint_url=self.server.url,
            region_name="us-east-1",
            aws_access_key_id=self.token.token.id,
            aws_secret_access_key=self.token.secret,
        )

    def s3_client(self):  # type: ignore[no-untyped-def]
        return boto3.client(
            "s3", endpoint_url=self.s3.url, aws_access_key_id="testing", aws_secret_access_key="testing",
            region_name="us-east-1",
        )  # fmt: skip

    def wait_for_object(self, key: str, timeout: float) -> bytes:
        s3 = self.s3_client()

        def there() -> bool:
            try:
                s3.head_object(Bucket=self.bucket, Key=key)
            except ClientError:
                return False
            return True

        infra.wait_for(there, timeout, f"s3://{self.bucket}/{key}", interval=0.5)
        return s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, s3: infra.S3Server, hooks: Hooks) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("async-live")
    home = root / "home"
    bucket = s3.create_bucket()
    svc = Services.open(Settings(home=home))
    try:
        svc.registry.register(wide_model(root), "wide")
        notification = {
            "success_url": hooks.url, "error_url": hooks.url, "secret": SECRET,
            "include_inference_response_in": ["success", "error"],
        }  # fmt: skip
        svc.endpoints.create(
            "wide", [{"name": "main", "requested": "wide:1"}], created_by="tests",
            async_inference={
                "output_path": f"s3://{bucket}/out", "failure_path": f"s3://{bucket}/failed",
                "notification": notification,
            },
        )  # fmt: skip
        svc.endpoints.create("sync", [{"name": "main", "requested": "wide:1"}], created_by="tests")
        token = svc.tokens.create("invoke", "async-app")
        reader = svc.tokens.create("read", "dashboards")
        admin = svc.tokens.create("admin", "ops")
        other = svc.tokens.create("invoke", "other-app")
    finally:
        svc.close()
    env = {"MODELPORT_HOME": str(home), "MODELPORT_ASYNC_POLL_S": "0.2", **s3.env()}
    with infra.live_server(env) as server:
        yield Live(server, bucket, s3, token, root, reader, admin, other)


def test_boto3_invoke_endpoint_async_of_a_200_mb_csv_writes_the_output_to_s3(live: Live, hooks: Hooks) -> None:
    rows = write_csv(live.root / "big.csv", 200)
    live.s3_client().upload_file(str(live.root / "big.csv"), live.bucket, "in/big.csv")
    (live.root / "big.csv").unlink()
    before = _peak_rss_mb(live.server.proc.pid)
    started = time.monotonic()
    reply = live.runtime().invoke_endpoint_async(
        EndpointName="wide", InputLocation=f"s3://{live.bucket}/in/big.csv", ContentType="text/csv",
        InferenceId="big-1", RequestTTLSeconds=600, InvocationTimeoutSeconds=600,
    )  # fmt: skip
    assert reply["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert reply["InferenceId"] == "big-1"
    assert reply["OutputLocation"] == f"s3://{live.bucket}/out/big-1.out"
    assert reply["FailureLocation"] == f"s3://{live.bucket}/failed/big-1-error.out"
    output = live.wait_for_object("out/big-1.out", 240)
    elapsed = time.monotonic() - started
    assert output.count(b"\n") == rows
    peak = _peak_rss_mb(live.server.proc.pid)
    print(f"\n200 MB CSV ({rows} rows): {elapsed:.1f} s to the output in S3; server peak RSS {peak:.0f} MB "
          f"({before:.0f} MB before)")
    infra.wait_for(lambda: any(e.get("inferenceId") == "big-1" for e in hooks.events()), 20, "the webhook")
    headers, body = next((h, b) for h, b in hooks.received if json.loads(b)["inferenceId"] == "big-1")
    assert verify(SECRET, headers, body)
    event = json.loads(body)
    assert (event["invocationStatus"], event["responseParameters"]["outputLocation"]) == (
        "Completed", f"s3://{live.bucket}/out/big-1.out"
    )
    assert "responseBody" not in event  # over 128 KB: not inlined
    again = live.runtime().invoke_endpoint_async(
        EndpointName="wide", InputLocation=f"s3://{live.bucket}/in/big.csv", ContentType="text/csv", InferenceId="big-1"
    )  # the same inference id: the same request, not a second run
    assert again["OutputLocation"] == reply["OutputLocation"]
    shown = httpx.get(f"{live.server.url}/api/v1/async-invocations/big-1", headers=live.read_headers).json()
    assert (shown["status"], shown["attempts"], shown["result"]["rows"]) == ("completed", 1, rows)


def test_a_small_output_is_inlined_and_an_unreadable_input_is_a_reported_failure(live: Live, hooks: Hooks) -> None:
    rows = write_csv(live.root / "small.csv", 0.01)
    live.s3_client().upload_file(str(live.root / "small.csv"), live.bucket, "in/small.csv")
    runtime = live.runtime()
    runtime.invoke_endpoint_async(EndpointName="wide", InputLocation=f"s3://{live.bucket}/in/small.csv", InferenceId="s1")
    runtime.invoke_endpoint_async(EndpointName="wide", InputLocation=f"s3://{live.bucket}/in/nope.csv", InferenceId="n1")
    output = live.wait_for_object("out/s1.out", 60)
    assert output.count(b"\n") == rows
    failure = json.loads(live.wait_for_object("failed/n1-error.out", 60))
    assert failure == {
        "InferenceId": "n1", "Status": "failed", "ErrorCode": "NOT_FOUND",
        "Message": f"input 's3://{live.bucket}/in/nope.csv' does not exist",
    }  # fmt: skip
    infra.wait_for(lambda: {"s1", "n1"} <= {e.get("inferenceId") for e in hooks.events()}, 20, "both webhooks")
    by_id = {e["inferenceId"]: e for e in hooks.events()}
    import base64

    assert base64.b64decode(by_id["s1"]["responseBody"]["content"]) == output  # type: ignore[index]
    assert by_id["n1"]["invocationStatus"] == "Failed"
    assert by_id["n1"]["failureReason"] == failure["ErrorCode"] + ": " + failure["Message"]


def test_caller_mistakes_are_validation_errors(live: Live) -> None:
    runtime = live.runtime()
    cases = [
        ({"EndpointName": "nope"}, "Endpoint nope of account modelport not found."),
        ({"EndpointName": "sync"}, "endpoint 'sync' is not configured for asynchronous inference"),
        ({"EndpointName": "wide", "RequestTTLSeconds": 100000}, "RequestTTLSeconds must be 60-86400 seconds"),
    ]
    for extra, message in cases:
        with pytest.raises(ClientError) as caught:
            runtime.invoke_endpoint_async(InputLocation=f"s3://{live.bucket}/in/small.csv", **extra)
        error = caught.value.response
        assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (400, "ValidationError")
        assert message in error["Error"]["Message"]
    denied = boto3.client(
        "sagemaker-runtime", endpoint_url=live.server.url, region_name="us-east-1",
        aws_access_key_id=live.token.token.id, aws_secret_access_key="wrong",
    )  # fmt: skip
    with pytest.raises(ClientError) as caught:
        denied.invoke_endpoint_async(EndpointName="wide", InputLocation=f"s3://{live.bucket}/in/small.csv")
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_an_endpoint_made_by_the_sagemaker_control_plane_takes_async_invocations(live: Live, hooks: Hooks) -> None:
    sm = boto3.client(
        "sagemaker", endpoint_url=live.server.url, region_name="us-east-1",
        aws_access_key_id=live.admin.token.id, aws_secret_access_key=live.admin.secret,
    )  # fmt: skip
    sm.create_model(ModelName="wide-sm", PrimaryContainer={"ModelDataUrl": str(wide_model(live.root))})
    sm.create_endpoint_config(
        EndpointConfigName="wide-async",
        ProductionVariants=[{"VariantName": "a", "ModelName": "wide-sm", "InitialInstanceCount": 1,
                             "InstanceType": "ml.m5.large"}],
        AsyncInferenceConfig={
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
            "OutputConfig": {
                "S3OutputPath": f"s3://{live.bucket}/sm-out", "S3FailurePath": f"s3://{live.bucket}/sm-failed",
                "NotificationConfig": {"SuccessTopic": hooks.url, "IncludeInferenceResponseIn": ["SUCCESS_NOTIFICATION_TOPIC"]},
            },
        },
    )  # fmt: skip
    sm.create_endpoint(EndpointName="wide-sm", EndpointConfigName="wide-async")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="wide-sm", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    rows = write_csv(live.root / "sm.csv", 0.01)
    live.s3_client().upload_file(str(live.root / "sm.csv"), live.bucket, "in/sm.csv")
    reply = live.runtime().invoke_endpoint_async(
        EndpointName="wide-sm", InputLocation=f"s3://{live.bucket}/in/sm.csv", ContentType="text/csv", InferenceId="sm-1"
    )
    assert reply["OutputLocation"] == f"s3://{live.bucket}/sm-out/sm-1.out"
    assert live.wait_for_object("sm-out/sm-1.out", 60).count(b"\n") == rows
    infra.wait_for(lambda: "sm-1" in {e.get("inferenceId") for e in hooks.events()}, 20, "the webhook")
    sm.delete_endpoint(EndpointName="wide-sm")
    with pytest.raises(ClientError) as caught:
        live.runtime().invoke_endpoint_async(EndpointName="wide-sm", InputLocation=f"s3://{live.bucket}/in/sm.csv")
    assert caught.value.response["Error"]["Code"] == "ValidationError"


def test_the_sdk_uploads_a_file_and_follows_the_request(live: Live) -> None:
    rows = write_csv(live.root / "sdk.csv", 0.05)
    with Client(url=live.server.url, token=live.token.secret) as remote:  # an invoke token
        item = remote.async_inference.submit("wide", file=live.root / "sdk.csv", content_type="text/csv")
        assert "/artifacts/async/inputs/" in item.input_location
        seen: list[str] = []
        done = remote.async_inference.wait(item.id, timeout=60, progress=lambda i: seen.append(i.status))
        assert done.status == "completed" and seen[-1] == "completed"
        assert done.progress is not None and done.progress["fraction"] == 1.0
        assert [i.id for i in remote.async_inference.list(status="completed").items if i.id == item.id] == [item.id]
    assert live.wait_for_object(f"out/{item.id}.out", 10).count(b"\n") == rows
    # another caller's invoke token neither sees nor cancels it (its input and output locations); a read token sees it
    with Client(url=live.server.url, token=live.other.secret) as other:
        assert item.id not in {i.id for i in other.async_inference.list().items}
        for attempt in (lambda: other.async_inference.show(item.id), lambda: other.async_inference.cancel(item.id)):
            with pytest.raises(ModelportError) as refused:
                attempt()
            assert refused.value.code == "NOT_FOUND" and item.id in refused.value.message
    with Client(url=live.server.url, token=live.reader.secret) as reader:
        assert item.id in {i.id for i in reader.async_inference.list().items}


def test_metrics_show_the_backlog(live: Live) -> None:
    text = httpx.get(f"{live.server.url}/metrics", headers=live.read_headers).text
    assert 'modelport_async_workers{endpoint="*"} 1.0' in text
    assert "# TYPE modelport_async_backlog_per_worker gauge" in text


def _peak_rss_mb(pid: int) -> float:
    """The peak resident memory of the server and its children (granian's workers)."""
    peak = 0.0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            pass
    return peak


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out + [g for c in out for g in _children(c)]


# -- kill -9 ---------------------------------------------------------------------------------


def test_a_server_killed_mid_request_loses_nothing_and_runs_nothing_twice(tmp_path: Path) -> None:
    home = tmp_path / "home"
    svc = Services.open(Settings(home=home))
    try:
        svc.registry.register(wide_model(tmp_path), "wide")
        svc.endpoints.create(
            "wide", [{"name": "main", "requested": "wide:1"}], created_by="tests",
            async_inference={"output_path": str(tmp_path / "out")},
        )  # fmt: skip
    finally:
        svc.close()
    big_rows = write_csv(tmp_path / "big.csv", 100)
    small_rows = write_csv(tmp_path / "small.csv", 0.05)
    env = {"MODELPORT_HOME": str(home), "MODELPORT_ASYNC_POLL_S": "0.2", "MODELPORT_ASYNC_LEASE_S": "3"}
    api = "/api/v1/endpoints/wide/async-invocations"
    with infra.live_server(env) as server:
        first = httpx.post(f"{server.url}{api}", json={"input_location": str(tmp_path / "big.csv"),
                                                        "content_type": "text/csv", "inference_id": "big"})
        assert first.status_code == 202, first.text
        for i in range(3):
            queued = httpx.post(f"{server.url}{api}", json={"input_location": str(tmp_path / "small.csv"),
                                                             "inference_id": f"small-{i}"})
            assert queued.status_code == 202, queued.text

        def big_is_half_done() -> bool:
            shown = httpx.get(f"{server.url}/api/v1/async-invocations/big").json()
            if not shown["job_id"]:
                return False
            job = httpx.get(f"{server.url}/api/v1/jobs/{shown['job_id']}").json()
            return bool(job["progress"]["blocks_done"] >= 1)

        infra.wait_for(big_is_half_done, 30, "the big request to commit a block", interval=0.05)
        for pid in [server.proc.pid, *_children(server.proc.pid)]:  # the server and its worker processes
            os.kill(pid, signal.SIGKILL)
        server.proc.wait()
    assert not (tmp_path / "out" / "big.out").exists()
    with infra.live_server(env) as server:

        def all_done() -> bool:
            items = httpx.get(f"{server.url}/api/v1/async-invocations", params={"endpoint": "wide"}).json()["items"]
            return len(items) == 4 and all(i["status"] == "completed" for i in items)

        infra.wait_for(all_done, 120, "every request to complete after the restart", interval=0.5)
        big = httpx.get(f"{server.url}/api/v1/async-invocations/big").json()
    assert big["attempts"] == 2, str(big)  # the killed run, then the resumed one
    assert (tmp_path / "out" / "big.out").read_bytes().count(b"\n") == big_rows
    for i in range(3):
        assert (tmp_path / "out" / f"small-{i}.out").read_bytes().count(b"\n") == small_rows
    job = Services.open(Settings(home=home))
    try:
        record = job.transforms.get(big["job_id"])
        assert (record.status, record.runs) == ("completed", 2)  # one job, resumed: not started over
    finally:
        job.close()
