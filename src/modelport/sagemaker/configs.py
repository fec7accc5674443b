"""CreateEndpointConfig, DescribeEndpointConfig, ListEndpointConfigs, DeleteEndpointConfig.

An endpoint config is kept as SageMaker described it (the record's body); it
becomes a modelport :class:`~modelport.endpoints.config.EndpointConfig` when an
endpoint is created or updated with it (:func:`endpoint_spec`):

    ProductionVariants[]        → live variants (VariantName, the model's version, InitialVariantWeight)
    ShadowProductionVariants[]  → shadow variants, mirrored share = shadow weight / first live weight
    DataCaptureConfig           → capture (enabled, sampling %, destination, input/output, content types)
    AsyncInferenceConfig        → async_inference (output and failure paths, concurrency, notifications)

Instance fields (InitialInstanceCount, InstanceType, …) are accepted and recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from modelport.errors import AlreadyExists
from modelport.sagemaker.context import Context, Listed, drop_none, epoch, listing
from modelport.sagemaker.records import Record
from modelport.sagemaker.shapes import Members, already_exists, could_not_find, validation

KIND: Final = "endpoint-config"
WHAT = "endpoint configuration"
CAPTURE_MODES = ("Input", "Output", "InputAndOutput")
NOTIFY = {"SUCCESS_NOTIFICATION_TOPIC": "success", "ERROR_NOTIFICATION_TOPIC": "error"}


def create_endpoint_config(ctx: Context, req: Members) -> dict[str, Any]:
    name = req.required_name("EndpointConfigName")
    live = req.structs("ProductionVariants", required=True, min_items=1, max_items=10)
    shadows = req.structs("ShadowProductionVariants", max_items=10)
    seen: set[str] = set()
    for variant in [*live, *shadows]:
        _check_variant(ctx, variant, seen)
    capture = req.struct("DataCaptureConfig")
    if capture is not None:
        _check_capture(capture)
    async_config = req.struct("AsyncInferenceConfig")
    if async_config is not None:
        _check_async(async_config)
    for key in ("KmsKeyId", "ExecutionRoleArn"):
        req.text(key, max_len=2048)
    req.items("Tags", max_items=50)
    arn = ctx.arn(KIND, name)
    if ctx.records.find(KIND, name) is not None:
        raise already_exists(WHAT, arn)
    body = {k: v for k, v in req.data.items() if k != "EndpointConfigName" and v is not None}
    try:
        ctx.records.add(KIND, name, target=None, body=body, created_by=ctx.caller.name)
    except AlreadyExists:  # made meanwhile by another request
        raise already_exists(WHAT, arn) from None
    return {"EndpointConfigArn": arn}


def _check_variant(ctx: Context, variant: Members, seen: set[str]) -> None:
    name = variant.required_name("VariantName")
    if name in seen:
        raise validation(f"{variant.where}.VariantName: variant {name!r} appears twice; variant names must be unique")
    seen.add(name)
    model = variant.name("ModelName", required=True)
    assert model is not None
    variant.number("InitialInstanceCount", minimum=1, integer=True)
    variant.text("InstanceType", max_len=64)
    variant.number("InitialVariantWeight", minimum=0)
    if ctx.model_version(model) is None:
        raise could_not_find("model", ctx.arn("model", model))


def _check_capture(capture: Members) -> None:
    capture.boolean("EnableCapture")
    capture.number("InitialSamplingPercentage", minimum=0, maximum=100, integer=True, required=True)
    capture.text("DestinationS3Uri", required=True, max_len=512)
    for option in capture.structs("CaptureOptions", required=True, min_items=1, max_items=2):
        option.enum("CaptureMode", CAPTURE_MODES, required=True)
    header = capture.struct("CaptureContentTypeHeader")
    if header is not None:
        header.strings("CsvContentTypes", max_items=10)
        header.strings("JsonContentTypes", max_items=10)


def _check_async(config: Members) -> None:
    client = config.struct("ClientConfig")
    if client is not None:
        client.number("MaxConcurrentInvocationsPerInstance", minimum=1, maximum=1000, integer=True)
    output = config.struct("OutputConfig", required=True)
    assert output is not None
    output.text("S3OutputPath", max_len=512)
    output.text("S3FailurePath", max_len=512)
    output.text("KmsKeyId", max_len=2048)
    notification = output.struct("NotificationConfig")
    if notification is not None:
        notification.text("SuccessTopic", max_len=2048)
        notification.text("ErrorTopic", max_len=2048)
        for i, item in enumerate(notification.items("IncludeInferenceResponseIn", max_items=2), start=1):
            if item not in NOTIFY:
                raise validation(
                    f"1 validation error detected: Value '{item}' at '{notification.where}.IncludeInferenceResponseIn.{i}' "
                    f"failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(NOTIFY)}]"
                )


def find_config(ctx: Context, name: str) -> Record:
    record = ctx.records.find(KIND, name)
    if record is None:
        raise could_not_find(WHAT, ctx.arn(KIND, name))
    return record


def describe_endpoint_config(ctx: Context, req: Members) -> dict[str, Any]:
    name = req.required_name("EndpointConfigName")
    record = find_config(ctx, name)
    body = record.body
    return drop_none(
        {
            **body,
            "EndpointConfigName": name,
            "EndpointConfigArn": ctx.arn(KIND, name),
            "ProductionVariants": [_with_defaults(v) for v in body.get("ProductionVariants", [])],
            "ShadowProductionVariants": [_with_defaults(v) for v in body.get("ShadowProductionVariants", [])],
            "CreationTime": epoch(record.created_at),
            "Tags": None,
        }
    )


def _with_defaults(variant: dict[str, Any]) -> dict[str, Any]:
    """A variant as AWS describes it: the weight 1.0 when not given (or given as null), null members left out."""
    return {"InitialVariantWeight": 1.0, **{k: v for k, v in variant.items() if v is not None}}


def list_endpoint_configs(ctx: Context, req: Members) -> dict[str, Any]:
    items = [
        Listed(
            r.name,
            r.created_at,
            {"EndpointConfigName": r.name, "EndpointConfigArn": ctx.arn(KIND, r.name), "CreationTime": epoch(r.created_at)},
        )
        for r in ctx.records.list(KIND)
    ]
    return listing(req, items, "EndpointConfigs")


def delete_endpoint_config(ctx: Context, req: Members) -> dict[str, Any]:
    """Delete the config; endpoints created with it keep running (as on AWS)."""
    name = req.required_name("EndpointConfigName")
    if not ctx.records.delete(KIND, name):
        raise could_not_find(WHAT, ctx.arn(KIND, name))
    return {}


# -- a SageMaker endpoint config as a modelport endpoint configuration --------------------


@dataclass(frozen=True)
class EndpointSpec:
    """What :meth:`EndpointService.create` / ``update`` take."""

    variants: list[dict[str, Any]]
    capture: dict[str, Any]
    async_inference: dict[str, Any] | None
    instances: dict[str, int]
    """Variant → instance count (recorded: one modelport server serves every variant)."""


def endpoint_spec(ctx: Context, body: dict[str, Any]) -> EndpointSpec:
    live = [_with_defaults(v) for v in body.get("ProductionVariants", [])]
    variants: list[dict[str, Any]] = []
    instances: dict[str, int] = {}
    for v in live:
        variants.append({"name": v["VariantName"], "requested": _model_ref(ctx, v["ModelName"]), "weight": float(v["InitialVariantWeight"])})
        instances[v["VariantName"]] = int(v.get("InitialInstanceCount") or 1)
    first = float(live[0]["InitialVariantWeight"]) if live else 0.0
    for v in map(_with_defaults, body.get("ShadowProductionVariants", [])):
        weight = float(v["InitialVariantWeight"])
        share = 100.0 if first <= 0 else min(100.0, 100.0 * weight / first)
        variants.append({"name": v["VariantName"], "requested": _model_ref(ctx, v["ModelName"]), "shadow": True, "sample_percent": share})
        instances[v["VariantName"]] = int(v.get("InitialInstanceCount") or 1)
    return EndpointSpec(variants, _capture(body.get("DataCaptureConfig")), _async(body.get("AsyncInferenceConfig")), instances)


def _model_ref(ctx: Context, model: str) -> str:
    version = ctx.model_version(model)
    if version is None:
        raise could_not_find("model", ctx.arn("model", model))
    return version.ref


def _capture(capture: dict[str, Any] | None) -> dict[str, Any]:
    if not capture:
        return {"enabled": False}
    modes = {o.get("CaptureMode") for o in capture.get("CaptureOptions", [])}
    header = capture.get("CaptureContentTypeHeader") or {}
    out: dict[str, Any] = {
        "enabled": bool(capture.get("EnableCapture", True)),
        "sampling_percent": float(capture.get("InitialSamplingPercentage", 100)),
        "destination": capture.get("DestinationS3Uri"),
        "capture_input": bool(modes & {"Input", "InputAndOutput"}),
        "capture_output": bool(modes & {"Output", "InputAndOutput"}),
    }
    if header.get("CsvContentTypes"):
        out["csv_content_types"] = list(header["CsvContentTypes"])
    if header.get("JsonContentTypes"):
        out["json_content_types"] = list(header["JsonContentTypes"])
    return out


def _async(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """SageMaker's AsyncInferenceConfig in modelport's words; SNS topic ARNs are recorded, only URLs are called."""
    if config is None:
        return None
    output = config.get("OutputConfig") or {}
    notification = output.get("NotificationConfig") or {}

    def url(value: str | None) -> str | None:
        return value if value and value.startswith(("http://", "https://")) else None

    return drop_none(
        {
            "output_path": output.get("S3OutputPath"),
            "failure_path": output.get("S3FailurePath"),
            "kms_key_id": output.get("KmsKeyId"),
            "max_concurrent_invocations_per_instance": (config.get("ClientConfig") or {}).get(
                "MaxConcurrentInvocationsPerInstance"
            ),
            "notification": drop_none(
                {
                    "success_url": url(notification.get("SuccessTopic")),
                    "error_url": url(notification.get("ErrorTopic")),
                    "include_inference_response_in": [
                        NOTIFY[i] for i in notification.get("IncludeInferenceResponseIn", []) if i in NOTIFY
                    ],
                }
            ),
        }
    ) or {}
