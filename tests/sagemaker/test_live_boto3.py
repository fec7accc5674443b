"""An unmodified boto3 SageMaker script against a live server, with auth on and S3 on loopback.

model.tar.gz in S3 → CreateModel → a config with two variants → CreateEndpoint →
waiter → invoke with the runtime client → UpdateEndpointWeightsAndCapacities →
UpdateEndpoint → transform job → waiter → deletes; the errors boto3 maps; scopes.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import joblib
import pytest
from botocore.exceptions import ClientError
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from modelport.domain import NewToken
from modelport.services import Services
from modelport.settings import Settings
from tests import infra

pytestmark = pytest.mark.slow

REGION = "eu-west-1"
FAST = {"Delay": 1, "MaxAttempts": 60}  # the waiters' own pace is 30-60 s between looks


@dataclass
class Live:
    url: str
    bucket: str
    tokens: dict[str, NewToken]
    s3: Any
    tree_path: Path

    def cli(self, *args: str) -> str:
        """``modelport ARGS`` against the server, as an operator runs it."""
        env = {**os.environ, "MODELPORT_URL": self.url, "MODELPORT_TOKEN": self.tokens["admin"].secret}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(infra.REPO / "src"), env.get("PYTHONPATH")]))
        done = subprocess.run([*infra.modelport_cmd(), *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def client(self, scope: str = "admin", service: str = "sagemaker") -> Any:
        new = self.tokens[scope]
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=new.token.id,
            aws_secret_access_key=new.secret,
        )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, s3: infra.S3Server) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("sagemaker")
    home = root / "home"
    x, y = load_iris(return_X_y=True)
    joblib.dump(LogisticRegression(max_iter=1000).fit(x, y), root / "model.joblib")
    joblib.dump(DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y), root / "tree.joblib")
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:  # SageMaker's packaging: the model file inside
        tar.add(root / "model.joblib", arcname="model.joblib")
    bucket = s3.create_bucket()
    s3c = boto3.client("s3", endpoint_url=s3.url, region_name="us-east-1")
    s3c.put_object(Bucket=bucket, Key="models/iris/model.tar.gz", Body=packed.getvalue())
    rows = "".join(f"{i}," + ",".join(str(v) for v in x[i]) + "\n" for i in range(0, 150, 3))
    s3c.put_object(Bucket=bucket, Key="batch/in/data.csv", Body=rows.encode())
    svc = Services.open(Settings(home=home))
    try:
        tokens = {scope: svc.tokens.create(scope, f"{scope}-app") for scope in ("admin", "read")}
        svc.registry.register(root / "tree.joblib", "cli-model")
        svc.endpoints.create("cli-endpoint", [{"name": "main", "requested": "cli-model:1"}], created_by="tests")
    finally:
        svc.close()
    env = {"MODELPORT_HOME": str(home), "MODELPORT_SYNC_INTERVAL_S": "0.2", **s3.env()}
    with infra.live_server(env) as server:
        yield Live(server.url, bucket, tokens, s3c, root / "tree.joblib")


def code_of(err: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_a_boto3_script_runs_unchanged(live: Live) -> None:
    sm = live.client()
    arn = sm.create_model(
        ModelName="iris",
        PrimaryContainer={
            "Image": "683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "ModelDataUrl": f"s3://{live.bucket}/models/iris/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
        },
        ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
    )["ModelArn"]
    assert arn == "arn:aws:sagemaker:eu-west-1:000000000000:model/iris"
    sm.create_model(ModelName="iris-tree", PrimaryContainer={"ModelDataUrl": str(live.tree_path)})
    described = sm.describe_model(ModelName="iris")
    assert described["PrimaryContainer"]["Environment"] == {"SAGEMAKER_PROGRAM": "inference.py"}
    assert described["PrimaryContainer"]["Image"].endswith("sagemaker-scikit-learn:1.2-1-cpu-py3")
    assert {"iris", "iris-tree", "cli-model"} <= {m["ModelName"] for m in sm.list_models(MaxResults=100)["Models"]}

    variant = {"InitialInstanceCount": 1, "InstanceType": "ml.m5.large", "InitialVariantWeight": 0.5}
    sm.create_endpoint_config(
        EndpointConfigName="iris-config",
        ProductionVariants=[
            {"VariantName": "a", "ModelName": "iris", **variant},
            {"VariantName": "b", "ModelName": "iris-tree", **variant},
        ],
    )
    sm.create_endpoint_config(
        EndpointConfigName="iris-config-2",
        ProductionVariants=[{"VariantName": "a", "ModelName": "iris-tree", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
    )
    config = sm.describe_endpoint_config(EndpointConfigName="iris-config")
    assert [v["InstanceType"] for v in config["ProductionVariants"]] == ["ml.m5.large", "ml.m5.large"]

    sm.create_endpoint(EndpointName="iris-ep", EndpointConfigName="iris-config")
    assert sm.describe_endpoint(EndpointName="iris-ep")["EndpointStatus"] in ("Creating", "InService")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="iris-ep", WaiterConfig=FAST)
    ep = sm.describe_endpoint(EndpointName="iris-ep")
    assert ep["EndpointConfigName"] == "iris-config"
    assert [(v["VariantName"], v["CurrentWeight"], v["DesiredWeight"]) for v in ep["ProductionVariants"]] == [
        ("a", 0.5, 0.5),
        ("b", 0.5, 0.5),
    ]

    runtime = live.client(service="sagemaker-runtime")
    served = {
        runtime.invoke_endpoint(EndpointName="iris-ep", Body=b"5.1,3.5,1.4,0.2", ContentType="text/csv")[
            "InvokedProductionVariant"
        ]
        for _ in range(30)
    }
    assert served == {"a", "b"}

    sm.update_endpoint_weights_and_capacities(
        EndpointName="iris-ep",
        DesiredWeightsAndCapacities=[
            {"VariantName": "a", "DesiredWeight": 1.0},
            {"VariantName": "b", "DesiredWeight": 0.0, "DesiredInstanceCount": 2},
        ],
    )
    sm.get_waiter("endpoint_in_service").wait(EndpointName="iris-ep", WaiterConfig=FAST)
    ep = sm.describe_endpoint(EndpointName="iris-ep")
    assert [(v["VariantName"], v["CurrentWeight"], v["DesiredInstanceCount"]) for v in ep["ProductionVariants"]] == [
        ("a", 1.0, 1),
        ("b", 0.0, 2),
    ]
    for _ in range(10):
        resp = runtime.invoke_endpoint(EndpointName="iris-ep", Body=b"5.1,3.5,1.4,0.2", ContentType="text/csv")
        assert resp["InvokedProductionVariant"] == "a"

    # the endpoint is modelport's: the CLI shows the SageMaker variants
    shown = json.loads(live.cli("endpoints", "show", "iris-ep", "--json"))["endpoint"]
    assert {v["name"]: v["weight"] for v in shown["config"]["variants"]} == {"a": 1.0, "b": 0.0}

    sm.create_transform_job(
        TransformJobName="iris-batch",
        ModelName="iris",
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=6,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{live.bucket}/batch/in/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": f"s3://{live.bucket}/batch/out", "Accept": "text/csv", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input"},
    )
    sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName="iris-batch", WaiterConfig=FAST)
    job = sm.describe_transform_job(TransformJobName="iris-batch")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformInput"]["SplitType"] == "Line"
    out = live.s3.get_object(Bucket=live.bucket, Key="batch/out/data.csv.out")["Body"].read().decode()
    lines = out.strip().splitlines()
    assert len(lines) == 50
    assert [line.split(",")[0] for line in lines[:3]] == ["0", "3", "6"]  # joined: the input's id column first
    assert "iris-batch" in {j["TransformJobName"] for j in sm.list_transform_jobs()["TransformJobSummaries"]}
    jobs = json.loads(live.cli("jobs", "list", "--json"))
    assert [(j["model"], j["status"]) for j in (jobs["items"] if isinstance(jobs, dict) else jobs)] == [("iris:1", "completed")]

    # UpdateEndpoint is modelport's warm swap: requests sent all along are all served
    stop, outcomes = threading.Event(), []

    def keep_invoking() -> None:
        caller = live.client(service="sagemaker-runtime")
        while not stop.is_set():
            try:
                caller.invoke_endpoint(EndpointName="iris-ep", Body=b"5.1,3.5,1.4,0.2", ContentType="text/csv")
                outcomes.append("ok")
            except ClientError as exc:
                outcomes.append(exc.response["Error"]["Code"])

    invoker = threading.Thread(target=keep_invoking)
    invoker.start()
    try:
        infra.wait_for(lambda: len(outcomes) >= 5, 30, "requests before the update")
        sm.update_endpoint(EndpointName="iris-ep", EndpointConfigName="iris-config-2")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="iris-ep", WaiterConfig=FAST)
        served_before = len(outcomes)
        infra.wait_for(lambda: len(outcomes) >= served_before + 5, 30, "requests after the update")
    finally:
        stop.set()
        invoker.join()
    assert set(outcomes) == {"ok"}
    ep = sm.describe_endpoint(EndpointName="iris-ep")
    assert ep["EndpointConfigName"] == "iris-config-2"
    assert [v["VariantName"] for v in ep["ProductionVariants"]] == ["a"]

    sm.delete_endpoint(EndpointName="iris-ep")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="iris-ep", WaiterConfig=FAST)
    sm.delete_endpoint_config(EndpointConfigName="iris-config")
    sm.delete_endpoint_config(EndpointConfigName="iris-config-2")
    sm.delete_model(ModelName="iris-tree")
    with pytest.raises(ClientError) as err:
        sm.describe_model(ModelName="iris-tree")
    assert code_of(err) == ("ValidationException", f'Could not find model "arn:aws:sagemaker:{REGION}:000000000000:model/iris-tree".')


def test_endpoints_made_with_the_cli_describe_and_list(live: Live) -> None:
    sm = live.client("read")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="cli-endpoint", WaiterConfig=FAST)
    ep = sm.describe_endpoint(EndpointName="cli-endpoint")
    assert ep["EndpointArn"] == f"arn:aws:sagemaker:{REGION}:000000000000:endpoint/cli-endpoint"
    assert ep["ProductionVariants"][0]["VariantName"] == "main"
    listed = sm.list_endpoints(NameContains="cli", StatusEquals="InService")["Endpoints"]
    assert [e["EndpointName"] for e in listed] == ["cli-endpoint"]


def test_errors_carry_the_codes_boto3_maps(live: Live) -> None:
    sm = live.client()
    with pytest.raises(ClientError) as err:
        sm.describe_endpoint(EndpointName="nope")
    assert code_of(err) == (
        "ValidationException",
        f'Could not find endpoint "arn:aws:sagemaker:{REGION}:000000000000:endpoint/nope".',
    )
    with pytest.raises(ClientError) as err:
        sm.create_endpoint(EndpointName="cli-endpoint", EndpointConfigName="nope")
    assert code_of(err)[0] == "ValidationException"
    with pytest.raises(ClientError) as err:
        sm.describe_transform_job(TransformJobName="nope")
    assert code_of(err)[0] == "ResourceNotFound"
    with pytest.raises(ClientError) as err:
        sm.create_endpoint_config(
            EndpointConfigName="bad", ProductionVariants=[{"VariantName": "a_b", "ModelName": "cli-model"}]
        )
    code, message = code_of(err)
    assert code == "ValidationException" and "ProductionVariants.1.VariantName" in message
    with pytest.raises(ClientError) as err:
        live.client("read").create_model(ModelName="x", PrimaryContainer={"ModelDataUrl": "cli-model:1"})
    assert code_of(err) == ("AccessDeniedException", "token 'read-app' has scope 'read'; this call needs 'admin'")
    with pytest.raises(ClientError) as err:
        sm.create_model(ModelName="not-a-model", PrimaryContainer={"ModelDataUrl": str(live.tree_path.parent / "nothing")})
    assert code_of(err)[0] == "ValidationException"
