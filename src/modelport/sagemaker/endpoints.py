"""CreateEndpoint, DescribeEndpoint, UpdateEndpoint, UpdateEndpointWeightsAndCapacities, ListEndpoints, DeleteEndpoint.

A SageMaker endpoint is a modelport endpoint: created, changed and deleted
through :class:`~modelport.endpoints.service.EndpointService`, so an update is
modelport's (the new revision is loaded and warmed before it takes traffic:
no request fails), and an endpoint made with the CLI describes here too.
The record keeps what only SageMaker has: the config the endpoint runs and
the instance counts asked for.

    modelport status   creating   updating   in_service   failed
    EndpointStatus     Creating   Updating   InService    Failed
"""

from __future__ import annotations

from typing import Any, Final

from modelport.endpoints.config import AsyncInferenceConfig, CaptureConfig, Endpoint, EndpointConfig
from modelport.errors import AlreadyExists, InvalidArgument, NotFound
from modelport.sagemaker.configs import endpoint_spec, find_config
from modelport.sagemaker.context import Context, Listed, drop_none, epoch, listing
from modelport.sagemaker.records import Record
from modelport.sagemaker.shapes import Members, already_exists, could_not_find, validation

KIND: Final = "endpoint"
STATUS = {"creating": "Creating", "updating": "Updating", "in_service": "InService", "failed": "Failed"}
ALL_STATUSES = (
    "OutOfService",
    "Creating",
    "Updating",
    "SystemUpdating",
    "RollingBack",
    "InService",
    "Deleting",
    "Failed",
    "UpdateRollbackFailed",
)


def _endpoint(ctx: Context, name: str) -> Endpoint:
    try:
        return ctx.services.endpoints.get(name)
    except NotFound:
        raise could_not_find("endpoint", ctx.arn(KIND, name)) from None


def _record(ctx: Context, endpoint: Endpoint) -> Record | None:
    """The endpoint's record, unless it was left by an earlier endpoint of that name (deleted with the CLI)."""
    record = ctx.records.find(KIND, endpoint.name)
    if record is None or record.created_at < endpoint.created_at:
        return None
    return record


def create_endpoint(ctx: Context, req: Members) -> dict[str, Any]:
    name = req.required_name("EndpointName")
    config_name = req.required_name("EndpointConfigName")
    req.items("Tags", max_items=50)
    arn = ctx.arn(KIND, name)
    config = find_config(ctx, config_name)
    spec = endpoint_spec(ctx, config.body)
    try:
        ctx.services.endpoints.get(name)
        raise already_exists("endpoint", arn)
    except NotFound:
        pass
    try:
        ctx.services.endpoints.create(
            name,
            spec.variants,
            capture=spec.capture,
            async_inference=spec.async_inference,
            created_by=ctx.caller.name,
        )
    except AlreadyExists:
        raise already_exists("endpoint", arn) from None
    except InvalidArgument as exc:
        raise validation(f"EndpointConfigName {config_name!r}: {exc.message}") from None
    ctx.records.delete(KIND, name)  # one left by an endpoint of that name deleted with the CLI
    ctx.records.add(
        KIND,
        name,
        target=name,
        body={"EndpointConfigName": config_name, "Instances": spec.instances},
        created_by=ctx.caller.name,
    )
    return {"EndpointArn": arn}


def update_endpoint(ctx: Context, req: Members) -> dict[str, Any]:
    """Move the endpoint to another config: one new modelport revision, swapped in without a failed request."""
    name = req.required_name("EndpointName")
    config_name = req.required_name("EndpointConfigName")
    retain = req.boolean("RetainAllVariantProperties") or False
    req.boolean("RetainDeploymentConfig")
    endpoint = _endpoint(ctx, name)
    config = find_config(ctx, config_name)
    spec = endpoint_spec(ctx, config.body)
    current = endpoint.config
    old = {v.name: v for v in current.variants}
    variants = []
    for v in spec.variants:
        if retain and v["name"] in old and not v.get("shadow"):
            v = {**v, "weight": old[v["name"]].weight}
        variants.append(v)
    remove = [v.name for v in current.variants if v.name not in {s["name"] for s in variants}]
    if not _same(ctx, current, variants, spec.capture, spec.async_inference):
        try:
            ctx.services.endpoints.update(
                name,
                variants=variants,
                remove=remove,
                capture=spec.capture,
                async_inference=spec.async_inference,
                remove_async=spec.async_inference is None,
                created_by=ctx.caller.name,
                comment=f"UpdateEndpoint to {config_name}",
            )
        except InvalidArgument as exc:
            raise validation(f"EndpointConfigName {config_name!r}: {exc.message}") from None
    record = _record(ctx, endpoint)
    instances = {**(record.body.get("Instances", {}) if record and retain else {}), **spec.instances}
    ctx.records.put(
        KIND,
        name,
        target=name,
        body={"EndpointConfigName": config_name, "Instances": instances},
        created_by=ctx.caller.name,
    )
    return {"EndpointArn": ctx.arn(KIND, name)}


def _same(
    ctx: Context,
    current: EndpointConfig,
    variants: list[dict[str, Any]],
    capture: dict[str, Any],
    async_inference: dict[str, Any] | None,
) -> bool:
    """Whether the config asks for what the endpoint already serves (modelport refuses a revision that changes nothing)."""
    have = {
        v.name: (v.model, v.weight, v.shadow, v.sample_percent if v.shadow else 100.0) for v in current.variants
    }
    want = {
        v["name"]: (
            ctx.services.registry.get_version(v["requested"]).ref,
            float(v.get("weight", 1.0)),
            bool(v.get("shadow")),
            float(v.get("sample_percent", 100.0)) if v.get("shadow") else 100.0,
        )
        for v in variants
    }
    if have != want:
        return False
    wanted_async = None if async_inference is None else AsyncInferenceConfig.model_validate(async_inference)
    return CaptureConfig.model_validate(capture) == current.capture and wanted_async == current.async_inference


def update_weights(ctx: Context, req: Members) -> dict[str, Any]:
    name = req.required_name("EndpointName")
    desired = req.structs("DesiredWeightsAndCapacities", required=True, min_items=1, max_items=10)
    weights: dict[str, float] = {}
    counts: dict[str, int] = {}
    for item in desired:
        variant = item.required_name("VariantName")
        weight = item.number("DesiredWeight", minimum=0)
        count = item.number("DesiredInstanceCount", minimum=0, integer=True)
        if weight is not None:
            weights[variant] = float(weight)
        if count is not None:
            counts[variant] = int(count)
    endpoint = _endpoint(ctx, name)
    live = {v.name: v for v in endpoint.config.live}
    unknown = sorted({item.data["VariantName"] for item in desired} - set(live))
    if unknown:
        raise validation(
            f"The variant name(s) [{', '.join(unknown)}] is/are not present in the endpoint {ctx.arn(KIND, name)}."
        )
    if any(live[v].weight != w for v, w in weights.items()):
        try:
            ctx.services.endpoints.update(
                name, weights=weights, created_by=ctx.caller.name, comment="UpdateEndpointWeightsAndCapacities"
            )
        except InvalidArgument as exc:
            raise validation(exc.message) from None
    record = _record(ctx, endpoint)
    if counts:
        body = dict(record.body) if record else {}
        body["Instances"] = {**body.get("Instances", {}), **counts}
        ctx.records.put(KIND, name, target=name, body=body, created_by=ctx.caller.name)
    return {"EndpointArn": ctx.arn(KIND, name)}


def describe_endpoint(ctx: Context, req: Members) -> dict[str, Any]:
    name = req.required_name("EndpointName")
    endpoint = _endpoint(ctx, name)
    record = _record(ctx, endpoint)
    instances: dict[str, int] = record.body.get("Instances", {}) if record else {}
    status = STATUS.get(endpoint.status, "Failed")
    config = endpoint.config
    serving = config
    if endpoint.status == "updating" and endpoint.revision > 1:  # the previous revision serves until the swap
        try:
            serving = ctx.services.endpoints.store.revision(name, endpoint.revision - 1)
        except NotFound:
            serving = config
    now_weights = {v.name: v.weight for v in serving.variants}
    in_service = endpoint.status != "creating"

    def variant_summary(v: Any) -> dict[str, Any]:
        count = int(instances.get(v.name, 1))
        current = in_service and v.name in now_weights
        return drop_none(
            {
                "VariantName": v.name,
                "CurrentWeight": now_weights[v.name] if current else None,
                "DesiredWeight": v.weight,
                "CurrentInstanceCount": count if current else None,
                "DesiredInstanceCount": count,
            }
        )

    capture = config.capture
    out = {
        "EndpointName": name,
        "EndpointArn": ctx.arn(KIND, name),
        "EndpointConfigName": record.body.get("EndpointConfigName") if record else None,
        "ProductionVariants": [variant_summary(v) for v in config.live],
        "ShadowProductionVariants": [variant_summary(v) for v in config.shadows],
        "DataCaptureConfig": {
            "EnableCapture": capture.enabled,
            "CaptureStatus": "Started" if capture.enabled else "Stopped",
            "CurrentSamplingPercentage": int(capture.sampling_percent),
            "DestinationS3Uri": capture.destination,
        }
        if capture.enabled or capture.destination
        else None,
        "EndpointStatus": status,
        "FailureReason": endpoint.failure_reason if endpoint.status == "failed" else None,
        "CreationTime": epoch(endpoint.created_at),
        "LastModifiedTime": epoch(endpoint.updated_at),
        "AsyncInferenceConfig": _async_config(ctx, record),
    }
    return drop_none(out)


def _async_config(ctx: Context, record: Record | None) -> dict[str, Any] | None:
    if record is None:
        return None
    config = ctx.records.find("endpoint-config", record.body.get("EndpointConfigName", ""))
    return None if config is None else config.body.get("AsyncInferenceConfig")


def list_endpoints(ctx: Context, req: Members) -> dict[str, Any]:
    items = []
    for e in ctx.services.endpoints.list():
        status = STATUS.get(e.status, "Failed")
        summary = {
            "EndpointName": e.name,
            "EndpointArn": ctx.arn(KIND, e.name),
            "CreationTime": epoch(e.created_at),
            "LastModifiedTime": epoch(e.updated_at),
            "EndpointStatus": status,
        }
        items.append(Listed(e.name, e.created_at, summary, e.updated_at, status))
    return listing(req, items, "Endpoints", sort_by=("Name", "CreationTime", "Status"), statuses=ALL_STATUSES)


def delete_endpoint(ctx: Context, req: Members) -> dict[str, Any]:
    name = req.required_name("EndpointName")
    try:
        ctx.services.endpoints.delete(name)
    except NotFound:
        raise could_not_find("endpoint", ctx.arn(KIND, name)) from None
    ctx.records.delete(KIND, name)
    return {}
