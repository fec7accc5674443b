"""The SageMaker operations on modelport's services, in process (the wire protocol: tests/api/test_sagemaker_route.py)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelport.errors import ModelportError
from modelport.sagemaker.context import Caller
from modelport.sagemaker.control import operation
from modelport.services import Services
from modelport.settings import Settings

CALLER = Caller("tests", "eu-west-1")
ARN = "arn:aws:sagemaker:eu-west-1:000000000000"


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    s = Services.open(Settings(home=tmp_path / "home", max_upload_bytes=10_000_000))
    yield s
    s.close()


def call(svc: Services, name: str, **body: Any) -> dict[str, Any]:
    operation(f"SageMaker.{name}")
    return svc.sagemaker.call(name, body, CALLER)


def refused(svc: Services, name: str, **body: Any) -> tuple[str, str]:
    with pytest.raises(ModelportError) as err:
        call(svc, name, **body)
    return err.value.details.get("aws_error", err.value.code), err.value.message


def tar_gz(path: Path, *members: Path) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for m in members:
            tar.add(m, arcname=m.name)
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture
def iris(svc: Services, model_file: Path) -> str:
    """A SageMaker model on a registered version (what a model.tar.gz becomes: the first test)."""
    svc.registry.register(model_file, "iris")
    call(svc, "CreateModel", ModelName="iris", PrimaryContainer={"ModelDataUrl": "iris:1"})
    return "iris"


def config(svc: Services, name: str, *variants: tuple[str, str, float], **extra: Any) -> None:
    pvs = [{"VariantName": v, "ModelName": m, "InitialVariantWeight": w, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"} for v, m, w in variants]
    call(svc, "CreateEndpointConfig", EndpointConfigName=name, ProductionVariants=pvs, **extra)


def test_a_model_tar_gz_becomes_a_registered_version(svc: Services, model_file: Path, tmp_path: Path) -> None:
    packed = tar_gz(tmp_path / "model.tar.gz", model_file)
    call(svc, "CreateModel", ModelName="iris", PrimaryContainer={"Image": "img:1", "ModelDataUrl": str(packed), "Environment": {"A": "1"}})
    version = svc.registry.get_version("iris")
    assert (version.ref, version.format) == ("iris:1", "sklearn")
    assert version.source["sagemaker"]["image"] == "img:1"
    described = call(svc, "DescribeModel", ModelName="iris")
    assert described["ModelArn"] == f"{ARN}:model/iris"
    assert described["PrimaryContainer"] == {"Image": "img:1", "ModelDataUrl": version.source["sagemaker"]["model_data_url"], "Environment": {"A": "1"}}
    assert refused(svc, "CreateModel", ModelName="iris", PrimaryContainer={"ModelDataUrl": "iris:1"}) == (
        "ValidationException",
        f'Cannot create already existing model "{ARN}:model/iris".',
    )
    # a registry reference points at the version: nothing new is registered
    call(svc, "CreateModel", ModelName="Iris-Again", PrimaryContainer={"ModelDataUrl": "iris:1"})
    assert [v.ref for v in svc.registry.list_versions("iris").items] == ["iris:1"]
    assert call(svc, "DescribeModel", ModelName="Iris-Again")["ModelArn"] == f"{ARN}:model/iris-again"
    call(svc, "DeleteModel", ModelName="Iris-Again")
    assert svc.registry.get_version("iris:1")
    call(svc, "DeleteModel", ModelName="iris")  # registered by CreateModel: the version goes with it
    assert refused(svc, "DescribeModel", ModelName="iris") == ("ValidationException", f'Could not find model "{ARN}:model/iris".')


def test_model_data_that_is_not_a_model_is_refused(svc: Services, tmp_path: Path) -> None:
    notes = tmp_path / "README.txt"
    notes.write_text("not a model\n")
    kind, message = refused(svc, "CreateModel", ModelName="m", PrimaryContainer={"ModelDataUrl": str(tar_gz(tmp_path / "m.tar.gz", notes))})
    assert kind == "ValidationException" and "is not a model" in message
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * 10_000_001)
    assert refused(svc, "CreateModel", ModelName="m", PrimaryContainer={"ModelDataUrl": str(big)})[0] == "ResourceLimitExceeded"
    assert refused(svc, "CreateModel", ModelName="m", PrimaryContainer={"ModelDataUrl": "nope:3"})[0] == "ValidationException"
    assert refused(svc, "CreateModel", ModelName="m")[1].endswith("PrimaryContainer (or one of Containers) is required")


def test_members_are_checked_and_named(svc: Services, iris: str) -> None:
    assert refused(svc, "CreateEndpointConfig", EndpointConfigName="c") == (
        "ValidationException",
        "1 validation error detected: Value null at 'ProductionVariants' failed to satisfy constraint: Member must not be null",
    )
    _, message = refused(svc, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=[{"VariantName": "a_b", "ModelName": "iris"}])
    assert message.startswith("1 validation error detected: Value 'a_b' at 'ProductionVariants.1.VariantName' failed to satisfy")
    _, message = refused(
        svc, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=[{"VariantName": "a", "ModelName": "iris", "InitialVariantWeight": -1}]
    )
    assert "'ProductionVariants.1.InitialVariantWeight'" in message
    assert refused(svc, "CreateEndpointConfig", EndpointConfigName="c", ProductionVariants=[{"VariantName": "a", "ModelName": "ghost"}]) == (
        "ValidationException",
        f'Could not find model "{ARN}:model/ghost".',
    )
    assert refused(svc, "ListEndpoints", SortBy="Size")[1].endswith("Member must satisfy enum value set: [Name, CreationTime, Status]")
    assert refused(svc, "ListEndpoints", NextToken="garbage")[1].startswith("Invalid NextToken")
    with pytest.raises(ModelportError) as err:
        operation("SageMaker.CreateTrainingJob")
    assert err.value.details["aws_error"] == "UnknownOperationException"


def test_a_variant_weight_sent_as_null_is_the_default_weight(svc: Services, iris: str) -> None:
    """A raw JSON client may send null where boto3 leaves a member out: not a 500."""
    call(svc, "CreateEndpointConfig", EndpointConfigName="nulls",
         ProductionVariants=[{"VariantName": "a", "ModelName": "iris", "InitialVariantWeight": None, "InitialInstanceCount": None}])  # fmt: skip
    described = call(svc, "DescribeEndpointConfig", EndpointConfigName="nulls")["ProductionVariants"]
    assert described == [{"InitialVariantWeight": 1.0, "VariantName": "a", "ModelName": "iris"}]
    call(svc, "CreateEndpoint", EndpointName="nulls", EndpointConfigName="nulls")
    assert [v.weight for v in svc.endpoints.get("nulls").config.variants] == [1.0]


def test_a_config_becomes_an_endpoint(svc: Services, iris: str) -> None:
    call(svc, "CreateModel", ModelName="iris-b", PrimaryContainer={"ModelDataUrl": "iris:1"})
    config(
        svc,
        "cfg",
        ("a", "iris", 3.0),
        ("b", "iris-b", 1.0),
        ShadowProductionVariants=[{"VariantName": "s", "ModelName": "iris", "InitialVariantWeight": 1.5}],
        DataCaptureConfig={
            "InitialSamplingPercentage": 20,
            "DestinationS3Uri": "s3://bucket/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/plain"]},
        },
        AsyncInferenceConfig={
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
            "OutputConfig": {
                "S3OutputPath": "s3://bucket/async-out",
                "NotificationConfig": {"SuccessTopic": "https://hooks.example/ok", "ErrorTopic": "arn:aws:sns:eu-west-1:1:err"},
            },
        },
    )
    assert call(svc, "CreateEndpoint", EndpointName="ep", EndpointConfigName="cfg") == {"EndpointArn": f"{ARN}:endpoint/ep"}
    ep = svc.endpoints.get("ep")
    assert [(v.name, v.model, v.weight, v.shadow, v.sample_percent) for v in ep.config.variants] == [
        ("a", "iris:1", 3.0, False, 100.0),
        ("b", "iris:1", 1.0, False, 100.0),
        ("s", "iris:1", 1.0, True, 50.0),
    ]
    capture = ep.config.capture
    assert (capture.enabled, capture.sampling_percent, capture.destination, capture.capture_input, capture.capture_output) == (
        True, 20.0, "s3://bucket/capture", True, False,
    )  # fmt: skip
    assert capture.csv_content_types == ["text/plain"]
    assert ep.config.async_inference is not None
    assert ep.config.async_inference.output_path == "s3://bucket/async-out"
    assert ep.config.async_inference.max_concurrent_invocations_per_instance == 4
    assert (ep.config.async_inference.notification.success_url, ep.config.async_inference.notification.error_url) == (
        "https://hooks.example/ok",
        None,
    )
    described = call(svc, "DescribeEndpoint", EndpointName="ep")
    assert described["EndpointStatus"] == "Creating" and "CurrentWeight" not in described["ProductionVariants"][0]
    assert described["DataCaptureConfig"] == {"EnableCapture": True, "CaptureStatus": "Started", "CurrentSamplingPercentage": 20, "DestinationS3Uri": "s3://bucket/capture"}
    assert described["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"] == "s3://bucket/async-out"
    svc.endpoints.store.set_status("ep", 1, "in_service")
    described = call(svc, "DescribeEndpoint", EndpointName="ep")
    assert described["EndpointStatus"] == "InService"
    assert [(v["VariantName"], v["CurrentWeight"], v["DesiredWeight"]) for v in described["ProductionVariants"]] == [("a", 3.0, 3.0), ("b", 1.0, 1.0)]
    assert refused(svc, "CreateEndpoint", EndpointName="ep", EndpointConfigName="cfg") == (
        "ValidationException",
        f'Cannot create already existing endpoint "{ARN}:endpoint/ep".',
    )
    assert refused(svc, "CreateEndpoint", EndpointName="ep2", EndpointConfigName="nope") == (
        "ValidationException",
        f'Could not find endpoint configuration "{ARN}:endpoint-config/nope".',
    )


def test_weights_and_updates_are_new_revisions(svc: Services, iris: str) -> None:
    config(svc, "two", ("a", "iris", 1.0), ("b", "iris", 1.0))
    config(svc, "one", ("a", "iris", 1.0))
    call(svc, "CreateEndpoint", EndpointName="ep", EndpointConfigName="two")
    svc.endpoints.store.set_status("ep", 1, "in_service")
    assert refused(svc, "UpdateEndpointWeightsAndCapacities", EndpointName="ep", DesiredWeightsAndCapacities=[{"VariantName": "z", "DesiredWeight": 1}]) == (
        "ValidationException",
        f"The variant name(s) [z] is/are not present in the endpoint {ARN}:endpoint/ep.",
    )
    call(svc, "UpdateEndpointWeightsAndCapacities", EndpointName="ep", DesiredWeightsAndCapacities=[{"VariantName": "b", "DesiredWeight": 0, "DesiredInstanceCount": 3}])
    ep = svc.endpoints.get("ep")
    assert (ep.revision, ep.status, {v.name: v.weight for v in ep.config.variants}) == (2, "updating", {"a": 1.0, "b": 0.0})
    described = call(svc, "DescribeEndpoint", EndpointName="ep")
    assert described["EndpointStatus"] == "Updating"
    # the previous revision serves until the new one is swapped in
    assert [(v["CurrentWeight"], v["DesiredWeight"], v["DesiredInstanceCount"]) for v in described["ProductionVariants"]] == [
        (1.0, 1.0, 1),
        (1.0, 0.0, 3),
    ]
    call(svc, "UpdateEndpoint", EndpointName="ep", EndpointConfigName="one")
    ep = svc.endpoints.get("ep")
    assert (ep.revision, [v.name for v in ep.config.variants]) == (3, ["a"])
    call(svc, "UpdateEndpoint", EndpointName="ep", EndpointConfigName="one")  # nothing to change: no new revision
    assert svc.endpoints.get("ep").revision == 3
    assert call(svc, "DescribeEndpoint", EndpointName="ep")["EndpointConfigName"] == "one"
    call(svc, "DeleteEndpoint", EndpointName="ep")
    assert refused(svc, "DescribeEndpoint", EndpointName="ep")[1] == f'Could not find endpoint "{ARN}:endpoint/ep".'


def test_listings_filter_sort_and_page(svc: Services, iris: str) -> None:
    for name in ("alpha", "beta", "gamma"):
        svc.endpoints.create(name, [{"name": "a", "requested": "iris:1"}], created_by="cli")
    svc.endpoints.store.set_status("beta", 1, "in_service")
    svc.endpoints.store.set_status("gamma", 1, "failed", reason="variant a: no runtime for format 'pmml'")
    failed = call(svc, "DescribeEndpoint", EndpointName="gamma")
    assert (failed["EndpointStatus"], failed["FailureReason"]) == ("Failed", "variant a: no runtime for format 'pmml'")
    first = call(svc, "ListEndpoints", SortBy="Name", SortOrder="Ascending", MaxResults=2)
    assert [e["EndpointName"] for e in first["Endpoints"]] == ["alpha", "beta"]
    second = call(svc, "ListEndpoints", SortBy="Name", SortOrder="Ascending", MaxResults=2, NextToken=first["NextToken"])
    assert [e["EndpointName"] for e in second["Endpoints"]] == ["gamma"] and "NextToken" not in second
    assert [e["EndpointName"] for e in call(svc, "ListEndpoints", StatusEquals="InService")["Endpoints"]] == ["beta"]
    assert [e["EndpointName"] for e in call(svc, "ListEndpoints", NameContains="MM")["Endpoints"]] == ["gamma"]
    assert [m["ModelName"] for m in call(svc, "ListModels")["Models"]] == ["iris"]


def test_transform_jobs_map_onto_modelport_jobs(svc: Services, iris: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    monkeypatch.setattr(type(svc.transforms), "start", lambda self, job_id, **_: started.append(job_id))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.csv").write_text("7,5.1,3.5,1.4,0.2\n8,6.2,2.9,4.3,1.3\n")
    request = {
        "TransformJobName": "batch-1",
        "ModelName": "iris",
        "BatchStrategy": "SingleRecord",
        "MaxPayloadInMB": 1,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(tmp_path / "in")}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": str(tmp_path / "out"), "Accept": "text/csv", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "DataProcessing": {"InputFilter": "$[1:]", "OutputFilter": "$[0,-1]", "JoinSource": "Input"},
    }
    assert call(svc, "CreateTransformJob", **request) == {"TransformJobArn": f"{ARN}:transform-job/batch-1"}
    job = svc.transforms.get(started[0])
    spec = job.spec
    assert (job.model, spec.batch_strategy, spec.max_payload_mb, spec.split, spec.join_input) == ("iris:1", "single", 1.0, "line", True)
    assert (spec.input_filter, spec.output_filter, spec.output) == ("$[1:]", "$[0,-1]", str(tmp_path / "out") + "/")
    described = call(svc, "DescribeTransformJob", TransformJobName="batch-1")
    assert (described["TransformJobStatus"], described["DataProcessing"]["JoinSource"]) == ("InProgress", "Input")
    assert refused(svc, "CreateTransformJob", **request)[0] == "ResourceInUse"
    assert refused(svc, "DescribeTransformJob", TransformJobName="nope") == ("ResourceNotFound", "Could not find requested job with name nope")
    call(svc, "StopTransformJob", TransformJobName="batch-1")
    assert call(svc, "DescribeTransformJob", TransformJobName="batch-1")["TransformJobStatus"] == "Stopped"
    # a job made with the CLI describes under its id; an asynchronous request's own job is not listed
    from modelport.batch.job import ASYNC_JOB_CREATOR

    svc.transforms.create(job.spec, created_by=f"{ASYNC_JOB_CREATOR}some-inference-id")
    listed = call(svc, "ListTransformJobs")["TransformJobSummaries"]
    assert [(j["TransformJobName"], j["TransformJobStatus"]) for j in listed] == [("batch-1", "Stopped")]
    manifest = {**request, "TransformJobName": "batch-2"}
    manifest["TransformInput"] = {**request["TransformInput"], "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://b/m"}}}
    assert "S3Prefix inputs only" in refused(svc, "CreateTransformJob", **manifest)[1]


def test_records_on_each_database(services: Services) -> None:
    """SQLite and PostgreSQL alike: a name is taken once per kind, a put keeps the creation time."""
    from modelport.errors import AlreadyExists
    from modelport.sagemaker.records import RecordStore

    store = RecordStore(services.db)
    first = store.add("endpoint-config", "c", target=None, body={"ProductionVariants": [{"VariantName": "a"}]}, created_by="t")
    store.add("endpoint", "c", target="c", body={}, created_by="t")  # another kind: another name space
    with pytest.raises(AlreadyExists):
        store.add("endpoint-config", "c", target=None, body={}, created_by="t")
    again = store.put("endpoint-config", "c", target="x", body={"k": 1}, created_by="t")
    assert (again.created_at, again.target, again.body) == (first.created_at, "x", {"k": 1})
    assert [r.name for r in store.list("endpoint")] == ["c"]
    assert store.delete("endpoint", "c")
    assert store.find("endpoint", "c") is None and not store.delete("endpoint", "c")
