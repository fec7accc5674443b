"""CreateModel, DescribeModel, ListModels, DeleteModel: a SageMaker model is a modelport model version.

CreateModel registers the artifact behind ``ModelDataUrl`` as the next version
of the modelport model of the same name (or, for a registry reference, points
at a version already there); the record keeps the container fields
(``Image``, ``Environment``, the role) that modelport does not use, and the
version's ``source`` says where it came from.  A modelport model that was
never created through this API describes as its latest version.
"""

from __future__ import annotations

from typing import Any, Final

from modelport.domain import ModelVersion, RegisterRequest
from modelport.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from modelport.sagemaker.artifacts import classify, model_file
from modelport.sagemaker.context import Context, Listed, drop_none, epoch, listing
from modelport.sagemaker.shapes import Members, already_exists, could_not_find, resource_in_use, validation

KIND: Final = "model"


def create_model(ctx: Context, req: Members) -> dict[str, Any]:
    name = req.required_name("ModelName")
    primary = req.struct("PrimaryContainer")
    containers = req.structs("Containers", max_items=15)
    if primary is None:
        if len(containers) > 1:
            raise validation(
                "Containers: modelport serves one container per model; give one PrimaryContainer (inference pipelines are not supported)"
            )
        if not containers:
            raise validation("1 validation error detected: PrimaryContainer (or one of Containers) is required")
        primary = containers[0]
    image = primary.text("Image", max_len=255)
    url = primary.text("ModelDataUrl", max_len=1024)
    environment = primary.string_map("Environment")
    mode = primary.enum("Mode", ("SingleModel", "MultiModel"))
    if mode == "MultiModel":
        raise validation(f"{primary.where}.Mode: MultiModel containers are not supported; create one model per artifact")
    if url is None:
        raise validation(f"{primary.where}.ModelDataUrl: modelport needs the model's artifact (s3://…/model.tar.gz, a path, or a registry reference)")
    role = req.text("ExecutionRoleArn", max_len=2048)
    isolation = req.boolean("EnableNetworkIsolation")
    tags = req.items("Tags", max_items=50)
    arn = ctx.arn(KIND, name)
    if ctx.records.find(KIND, name) is not None:
        raise already_exists("model", arn)
    version, registered = _version_for(ctx, name, url, image, environment)
    container = drop_none({"Image": image, "ModelDataUrl": url, "Environment": environment, "Mode": mode})
    body = drop_none(
        {
            "PrimaryContainer": container,
            "ExecutionRoleArn": role,
            "EnableNetworkIsolation": isolation,
            "VpcConfig": req.data.get("VpcConfig"),
            "Tags": tags,
            "Registered": registered,
        }
    )
    try:
        ctx.records.add(KIND, name, target=version.ref, body=body, created_by=ctx.caller.name)
    except AlreadyExists:  # made meanwhile by another request: this one registered for nothing
        if registered:
            _forget(ctx, version.ref)
        raise already_exists("model", arn) from None
    return {"ModelArn": arn}


def _version_for(
    ctx: Context, name: str, url: str, image: str | None, environment: dict[str, str]
) -> tuple[ModelVersion, bool]:
    """The version ``url`` names, or the one it is registered as now (True)."""
    svc = ctx.services
    data = classify(url)
    if data.reference is not None:
        try:
            return svc.registry.get_version(data.reference), False
        except NotFound as exc:
            raise validation(f"ModelDataUrl {url!r} is not a model: {exc.message}") from None
    settings = svc.settings
    with model_file(
        url, s3_endpoint_url=settings.s3_endpoint_url, max_bytes=settings.max_upload_bytes, tmp_dir=settings.tmp_dir
    ) as path:
        upload = svc.artifacts.put_file(path)
        request = RegisterRequest(
            name=name,
            filename=path.name,
            sha256=upload.sha256,
            size=upload.size,
            description="created with SageMaker CreateModel",
            source={"sagemaker": drop_none({"model_data_url": url, "image": image, "environment": environment})},
        )
        try:
            # isolate: a pickle is loaded in a child process, never in the server (as for every server registration)
            return svc.registry.register_uploaded(request, created_by=ctx.caller.name, isolate=True), True
        except InvalidArgument as exc:
            raise validation(f"ModelDataUrl {url!r} is not a model: {exc.message}") from None


def _forget(ctx: Context, ref: str) -> None:
    """Delete a version this API registered, unless an endpoint serves it (then it stays, as any version)."""
    registry = ctx.services.registry
    try:
        registry.delete_version(ref)
    except (Conflict, NotFound):
        return
    name = ref.split(":")[0]
    try:
        if registry.get_model(name).latest_version is None:
            registry.delete_model(name)
    except (Conflict, NotFound):
        pass


def describe_model(ctx: Context, req: Members) -> dict[str, Any]:
    name = req.required_name("ModelName")
    record = ctx.records.find(KIND, name)
    version = ctx.model_version(name)
    if record is None and version is None:
        raise could_not_find("model", ctx.arn(KIND, name))
    if record is not None:
        body = record.body
        return drop_none(
            {
                "ModelName": name,
                "ModelArn": ctx.arn(KIND, name),
                "PrimaryContainer": body.get("PrimaryContainer"),
                "ExecutionRoleArn": body.get("ExecutionRoleArn"),
                "VpcConfig": body.get("VpcConfig"),
                "EnableNetworkIsolation": body.get("EnableNetworkIsolation"),
                "CreationTime": epoch(record.created_at),
            }
        )
    assert version is not None
    return {
        "ModelName": name,
        "ModelArn": ctx.arn(KIND, name),
        "PrimaryContainer": {"ModelDataUrl": version.ref, "Environment": {}},
        "CreationTime": epoch(version.created_at),
    }


def list_models(ctx: Context, req: Members) -> dict[str, Any]:
    items: dict[str, Listed] = {}
    for record in ctx.records.list(KIND):
        items[record.name] = _listed(ctx, record.name, record.created_at)
    token = None
    while True:  # registry models made with the CLI or SDK are SageMaker models too
        page = ctx.services.registry.list_models(limit=1000, page_token=token)
        for model in page.items:
            if model.name not in items and model.latest_version is not None:
                items[model.name] = _listed(ctx, model.name, model.created_at)
        token = page.next_page_token
        if token is None:
            break
    return listing(req, list(items.values()), "Models")


def _listed(ctx: Context, name: str, created: Any) -> Listed:
    return Listed(name, created, {"ModelName": name, "ModelArn": ctx.arn(KIND, name), "CreationTime": epoch(created)})


def delete_model(ctx: Context, req: Members) -> dict[str, Any]:
    """Forget the model; a version this API registered goes with it unless an endpoint still serves it."""
    name = req.required_name("ModelName")
    record = ctx.records.find(KIND, name)
    if record is None:
        if ctx.model_version(name) is None:
            raise could_not_find("model", ctx.arn(KIND, name))
        try:
            ctx.services.registry.delete_model(name)
        except Conflict as exc:
            raise resource_in_use(f"Cannot delete model {name}: {exc.message}") from None
        return {}
    ctx.records.delete(KIND, name)
    if record.body.get("Registered") and record.target:
        _forget(ctx, record.target)
    return {}
