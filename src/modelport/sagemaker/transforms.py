"""CreateTransformJob, DescribeTransformJob, ListTransformJobs, StopTransformJob, on modelport's transform jobs.

    TransformInput.DataSource.S3DataSource.S3Uri   → input (an S3 prefix, or a path the server reads)
    TransformInput.ContentType / CompressionType    → content_type / compression
    TransformInput.SplitType (None | Line)          → split
    BatchStrategy / MaxPayloadInMB                  → batch_strategy / max_payload_mb
    MaxConcurrentTransforms                         → threads
    TransformOutput.S3OutputPath / Accept           → output (one <input>.out per object) / accept
    DataProcessing.InputFilter / OutputFilter       → input_filter / output_filter
    DataProcessing.JoinSource = Input               → join_input

The job runs on the server like ``modelport jobs start``; a job made with the
CLI describes here under its id (``tj-…``).

    modelport status   pending, running   (cancel asked)   completed   failed   cancelled
    TransformJobStatus InProgress         Stopping         Completed   Failed   Stopped
"""

from __future__ import annotations

from typing import Any, Final

from modelport.batch.job import ASYNC_JOB_CREATOR, TransformJob
from modelport.batch.spec import TransformSpec
from modelport.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from modelport.sagemaker.context import Context, Listed, drop_none, epoch, listing
from modelport.sagemaker.records import Record
from modelport.sagemaker.shapes import Members, could_not_find, resource_in_use, resource_not_found, validation

KIND: Final = "transform-job"
STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")


def create_transform_job(ctx: Context, req: Members) -> dict[str, Any]:
    name = req.required_name("TransformJobName")
    model = req.required_name("ModelName")
    threads = req.number("MaxConcurrentTransforms", minimum=0, integer=True)
    client = req.struct("ModelClientConfig")
    if client is not None:
        client.number("InvocationsTimeoutInSeconds", minimum=1, maximum=3600, integer=True)
        client.number("InvocationsMaxRetries", minimum=0, maximum=3, integer=True)
    payload = req.number("MaxPayloadInMB", minimum=0, maximum=100, integer=True)
    strategy = req.enum("BatchStrategy", ("MultiRecord", "SingleRecord"))
    req.string_map("Environment", max_items=16, max_len=10240)
    source = req.struct("TransformInput", required=True)
    assert source is not None
    data = source.struct("DataSource", required=True)
    assert data is not None
    s3 = data.struct("S3DataSource", required=True)
    assert s3 is not None
    kind = s3.enum("S3DataType", ("ManifestFile", "S3Prefix", "AugmentedManifestFile", "Converse"), required=True)
    uri = s3.text("S3Uri", required=True, max_len=1024)
    content_type = source.text("ContentType", max_len=256)
    compression = source.enum("CompressionType", ("None", "Gzip"))
    split = source.enum("SplitType", ("None", "Line", "RecordIO", "TFRecord"))
    output = req.struct("TransformOutput", required=True)
    assert output is not None
    out_path = output.text("S3OutputPath", required=True, max_len=1024)
    accept = output.text("Accept", max_len=256)
    output.enum("AssembleWith", ("None", "Line"))
    resources = req.struct("TransformResources", required=True)
    assert resources is not None
    resources.text("InstanceType", required=True, max_len=64)
    resources.number("InstanceCount", minimum=1, integer=True, required=True)
    processing = req.struct("DataProcessing")
    input_filter = output_filter = join = None
    if processing is not None:
        input_filter = processing.text("InputFilter", max_len=63)
        output_filter = processing.text("OutputFilter", max_len=63)
        join = processing.enum("JoinSource", ("Input", "None"))
    req.items("Tags", max_items=50)
    if kind != "S3Prefix":
        raise validation(f"TransformInput.DataSource.S3DataSource.S3DataType {kind}: modelport reads S3Prefix inputs only")
    if split in ("RecordIO", "TFRecord"):
        raise validation(f"TransformInput.SplitType {split}: modelport splits by Line or not at all (None)")
    arn = ctx.arn(KIND, name)
    if _find(ctx, name) is not None:
        raise resource_in_use(
            f"Job name must be unique within an AWS account and region, and a job with this name already exists ({arn})"
        )
    version = ctx.model_version(model)
    if version is None:
        raise could_not_find("model", ctx.arn("model", model))
    assert uri is not None and out_path is not None
    try:
        spec = TransformSpec.build(
            model=version.ref,
            input=uri,
            output=out_path if out_path.endswith("/") else out_path + "/",
            content_type=content_type,
            accept=accept,
            compression={"None": "none", "Gzip": "gzip"}.get(compression or "", "auto"),
            split=(split or "None").lower() if split else "line",
            batch_strategy=strategy,
            max_payload_mb=payload,
            join_input=join == "Input",
            input_filter=None if input_filter in (None, "$") else input_filter,
            output_filter=None if output_filter in (None, "$") else output_filter,
            threads=int(threads) if threads else None,
        )
        job = ctx.services.transforms.create(spec, created_by=ctx.caller.name)
    except InvalidArgument as exc:
        raise validation(exc.message) from None
    body = {k: v for k, v in req.data.items() if k != "TransformJobName" and v is not None}
    try:
        ctx.records.add(KIND, name, target=job.id, body=body, created_by=ctx.caller.name)
    except AlreadyExists:  # the name was taken meanwhile: this job never runs
        ctx.services.transforms.cancel(job.id)
        raise resource_in_use(
            f"Job name must be unique within an AWS account and region, and a job with this name already exists ({arn})"
        ) from None
    ctx.services.transforms.start(job.id)
    return {"TransformJobArn": arn}


def _find(ctx: Context, name: str) -> tuple[Record | None, TransformJob] | None:
    """The job a SageMaker name stands for: its record's, else a modelport job with that id."""
    record = ctx.records.find(KIND, name)
    try:
        job = ctx.services.transforms.get(record.target if record and record.target else name)
    except (NotFound, InvalidArgument):
        return None
    return record, job


def _status(job: TransformJob) -> str:
    if job.status in ("pending", "running"):
        return "Stopping" if job.cancel_requested else "InProgress"
    return {"completed": "Completed", "failed": "Failed", "cancelled": "Stopped"}[job.status]


def _job(ctx: Context, name: str) -> tuple[Record | None, TransformJob]:
    found = _find(ctx, name)
    if found is None:
        raise resource_not_found(f"Could not find requested job with name {name}")
    return found


def describe_transform_job(ctx: Context, req: Members) -> dict[str, Any]:
    name = req.required_name("TransformJobName")
    record, job = _job(ctx, name)
    body = record.body if record else _as_request(job)
    status = _status(job)
    return drop_none(
        {
            **body,
            "TransformJobName": name,
            "TransformJobArn": ctx.arn(KIND, name),
            "TransformJobStatus": status,
            "FailureReason": job.failure_reason if status == "Failed" else None,
            "CreationTime": epoch(job.created_at),
            "TransformStartTime": epoch(job.started_at),
            "TransformEndTime": epoch(job.finished_at) if job.done else None,
            "Tags": None,
        }
    )


def _as_request(job: TransformJob) -> dict[str, Any]:
    """A job made with the CLI, described as the CreateTransformJob request that would have made it."""
    spec = job.spec
    return drop_none(
        {
            "ModelName": job.model.split(":")[0],
            "BatchStrategy": "SingleRecord" if spec.batch_strategy == "single" else "MultiRecord",
            "MaxPayloadInMB": int(spec.max_payload_mb),
            "TransformInput": drop_none(
                {
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": spec.input}},
                    "ContentType": spec.content_type,
                    "SplitType": "Line" if spec.split == "line" else "None",
                    "CompressionType": {"gzip": "Gzip", "none": "None"}.get(spec.compression),
                }
            ),
            "TransformOutput": drop_none({"S3OutputPath": spec.output, "Accept": spec.accept, "AssembleWith": "Line"}),
            "TransformResources": {"InstanceType": "local", "InstanceCount": 1},
            "DataProcessing": drop_none(
                {
                    "InputFilter": spec.input_filter,
                    "OutputFilter": spec.output_filter,
                    "JoinSource": "Input" if spec.join_input else None,
                }
            ),
        }
    )


def list_transform_jobs(ctx: Context, req: Members) -> dict[str, Any]:
    jobs: list[TransformJob] = []
    token = None
    while True:
        page = ctx.services.transforms.list(limit=1000, page_token=token)
        jobs.extend(page.items)
        token = page.next_page_token
        if token is None:
            break
    names = {r.target: r.name for r in ctx.records.list(KIND)}
    items = []
    for job in jobs:
        if job.created_by.startswith(ASYNC_JOB_CREATOR):
            continue  # an asynchronous request's own transform job: not a TransformJob of the caller's
        name = names.get(job.id, job.id)
        status = _status(job)
        summary = drop_none(
            {
                "TransformJobName": name,
                "TransformJobArn": ctx.arn(KIND, name),
                "CreationTime": epoch(job.created_at),
                "TransformEndTime": epoch(job.finished_at) if job.done else None,
                "LastModifiedTime": epoch(job.updated_at),
                "TransformJobStatus": status,
                "FailureReason": job.failure_reason if status == "Failed" else None,
            }
        )
        items.append(Listed(name, job.created_at, summary, job.updated_at, status))
    return listing(req, items, "TransformJobSummaries", sort_by=("Name", "CreationTime", "Status"), statuses=STATUSES)


def stop_transform_job(ctx: Context, req: Members) -> dict[str, Any]:
    name = req.required_name("TransformJobName")
    _record, job = _job(ctx, name)
    if job.done and job.status != "cancelled":
        raise validation(f"Transform job {name} is {_status(job)}: only a job in progress can be stopped")
    try:
        ctx.services.transforms.cancel(job.id)
    except Conflict as exc:
        raise validation(exc.message) from None
    return {}
