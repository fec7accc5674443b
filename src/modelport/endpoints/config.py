"""Endpoint configurations: variants, weights, shadows, data capture, routing.

Every change to an endpoint creates a new :class:`EndpointConfig` revision;
the history is kept, so a rollback is "make a new revision equal to the
previous one".  Model references are resolved when the config is written: an
alias (``churn@champion``) is pinned to the version it pointed at then, so
moving the alias later does not silently change a live endpoint.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializationInfo, field_serializer

from modelport.domain import NAME_MAX, ModelRef, validate_name
from modelport.errors import InvalidArgument

VARIANT_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
#: an HTTP header name (RFC 9110 token)
HEADER_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")
#: headers that say something else than who the caller is: never a unit id
NOT_UNIT_HEADERS = frozenset(
    {
        "authorization", "content-encoding", "content-length", "content-type", "host", "transfer-encoding",
        "x-amzn-sagemaker-target-variant", "x-amzn-sagemaker-inference-id",
    }
)  # fmt: skip
EndpointStatus = Literal["creating", "updating", "in_service", "failed"]


def validate_variant_name(name: str) -> str:
    if not isinstance(name, str) or not name or len(name) > NAME_MAX or not VARIANT_RE.match(name):
        raise InvalidArgument(
            f"invalid variant name {name!r}: use 1-{NAME_MAX} letters, digits or '-', starting and ending with a letter or digit"
        )
    return name


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Variant(_Model):
    """One model version behind an endpoint."""

    name: str
    model: str
    """The pinned version, ``name:N``."""
    requested: str | None = None
    """What the user asked for (``churn@champion``), kept for the record."""
    weight: float = 1.0
    shadow: bool = False
    """A shadow gets a copy of live traffic; its answers are compared, never returned."""
    sample_percent: float = 100.0
    """For shadows: the share of requests mirrored."""
    max_batch_size: int | None = None
    max_batch_wait_ms: float | None = None

    @property
    def ref(self) -> ModelRef:
        return ModelRef.parse(self.model)


class CaptureConfig(_Model):
    enabled: bool = False
    sampling_percent: float = 100.0
    destination: str | None = None
    """Root for capture files; default the artifact store's ``capture/``."""
    capture_input: bool = True
    capture_output: bool = True
    csv_content_types: list[str] = Field(default_factory=lambda: ["text/csv"])
    json_content_types: list[str] = Field(default_factory=lambda: ["application/json"])


class RoutingConfig(_Model):
    """How live traffic is assigned to variants beyond the weights (docs/experiments.md, "Data plane").

    With ``unit`` set, a request carrying that header is routed by a hash of
    (salt, header value) laid on the weights, so one unit id always gets the
    same variant — in every worker of every server, across restarts — while
    the weights stay put; requests without the header are routed at random by
    weight, as without ``unit``.
    """

    unit: str | None = None
    """``header:NAME``: the request header that identifies the unit (a user, a session)."""
    salt: str | None = None
    """Mixed into the hash, so two experiments assign units independently; default ``experiment``, else the endpoint's name."""
    experiment: str | None = None
    """The experiment that owns this endpoint's weights now: named in every capture record."""

    @property
    def unit_header(self) -> str | None:
        """The unit header's name in lower case (as transports hand headers over), or None."""
        return None if self.unit is None else self.unit.partition(":")[2].lower()

    def check(self) -> RoutingConfig:
        if self.unit is not None:
            kind, sep, header = self.unit.partition(":")
            if kind != "header" or not sep:
                raise InvalidArgument(
                    f"invalid routing unit {self.unit!r}: expected header:NAME, e.g. header:X-User-Id"
                )
            if not HEADER_RE.match(header):
                raise InvalidArgument(
                    f"invalid routing unit {self.unit!r}: {header!r} is not an HTTP header name "
                    "(1-128 letters, digits and !#$%&'*+.^_`|~-)"
                )
            if header.lower() in NOT_UNIT_HEADERS:
                raise InvalidArgument(f"invalid routing unit {self.unit!r}: {header} does not identify a caller")
        if self.salt is not None and not 1 <= len(self.salt) <= 255:
            raise InvalidArgument("routing salt must be 1-255 characters")
        if self.experiment is not None:
            validate_name(self.experiment, "experiment name")
        return self


class AsyncNotificationConfig(_Model):
    """Where to tell the caller that an asynchronous inference ended (SageMaker's ``NotificationConfig``).

    SageMaker publishes to SNS topics; modelport POSTs a JSON event to webhook URLs, signed with
    HMAC-SHA256 over the body when ``secret`` is set (``X-Modelport-Signature: sha256=HEX``).
    """

    success_url: str | None = None
    """``SuccessTopic``: called when an inference wrote its output."""
    error_url: str | None = None
    """``ErrorTopic``: called when an inference failed, expired or was dead-lettered."""
    secret: str | None = None
    """The HMAC key of the signature; no signature without it."""
    include_inference_response_in: list[Literal["success", "error"]] = Field(default_factory=list)
    """``IncludeInferenceResponseIn``: inline the output (or the error) in those events when it is <= 128 KB."""

    @field_serializer("secret")
    def _masked(self, secret: str | None, info: SerializationInfo) -> str | None:
        """Shown as ``********``; dumped as is only with ``context={"secrets": True}`` (what the store writes)."""
        if secret is None or (info.context or {}).get("secrets"):
            return secret
        return "********"


class AsyncInferenceConfig(_Model):
    """Asynchronous inference for an endpoint (SageMaker's ``AsyncInferenceConfig``; docs/async.md).

    ``output_path`` and ``failure_path`` are ``s3://bucket/prefix`` or a local directory; the output of
    inference ``ID`` is written to ``OUTPUT_PATH/ID.out``, its error to ``FAILURE_PATH/ID-error.out``.
    """

    output_path: str | None = None
    """``OutputConfig.S3OutputPath``; default the artifact store's ``async/NAME/output``."""
    failure_path: str | None = None
    """``OutputConfig.S3FailurePath``; default the output path."""
    max_concurrent_invocations_per_instance: int | None = None
    """``ClientConfig.MaxConcurrentInvocationsPerInstance``: how many requests one server runs at once (default: the setting ``async_concurrency``)."""
    kms_key_id: str | None = None
    """``OutputConfig.KmsKeyId``: accepted and recorded, not used."""
    notification: AsyncNotificationConfig = Field(default_factory=AsyncNotificationConfig)

    def check(self) -> AsyncInferenceConfig:
        for label, path in (("output path", self.output_path), ("failure path", self.failure_path)):
            if path is not None and (not path or (path.startswith("s3://") and len(path) <= len("s3://"))):
                raise InvalidArgument(f"async {label} {path!r} is not a directory or s3://bucket/prefix")
        if self.max_concurrent_invocations_per_instance is not None and not (
            1 <= self.max_concurrent_invocations_per_instance <= 1000
        ):
            raise InvalidArgument("async max concurrent invocations per instance must be 1-1000")
        for label, url in (("success", self.notification.success_url), ("error", self.notification.error_url)):
            if url is not None and not url.startswith(("http://", "https://")):
                raise InvalidArgument(f"async {label} notification URL {url!r} must be http:// or https://")
        return self


class EndpointConfig(_Model):
    variants: list[Variant]
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    async_inference: AsyncInferenceConfig | None = None
    """None: the endpoint takes no asynchronous invocations."""
    comment: str = ""

    @property
    def live(self) -> list[Variant]:
        return [v for v in self.variants if not v.shadow]

    @property
    def shadows(self) -> list[Variant]:
        return [v for v in self.variants if v.shadow]

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise InvalidArgument(f"no variant {name!r}; variants: {', '.join(v.name for v in self.variants)}")

    def check(self) -> EndpointConfig:
        """Refuse configs that cannot serve: the message says what to fix."""
        if not self.variants:
            raise InvalidArgument("an endpoint needs at least one variant")
        seen: set[str] = set()
        for v in self.variants:
            validate_variant_name(v.name)
            if v.name in seen:
                raise InvalidArgument(f"variant {v.name!r} appears twice")
            seen.add(v.name)
            if not (v.weight >= 0) or v.weight == float("inf"):
                raise InvalidArgument(f"variant {v.name!r}: weight must be a number >= 0, got {v.weight}")
            if not 0 <= v.sample_percent <= 100:
                raise InvalidArgument(f"variant {v.name!r}: sample percent must be 0-100, got {v.sample_percent}")
            if v.max_batch_size is not None and v.max_batch_size < 1:
                raise InvalidArgument(f"variant {v.name!r}: max batch size must be >= 1")
        if not any(v.weight > 0 for v in self.live):
            raise InvalidArgument("no live variant takes traffic: give at least one non-shadow variant a weight > 0")
        if not 0 <= self.capture.sampling_percent <= 100:
            raise InvalidArgument(f"capture sampling must be 0-100 percent, got {self.capture.sampling_percent}")
        self.routing.check()
        if self.async_inference is not None:
            self.async_inference.check()
        return self


class Endpoint(_Model):
    """An endpoint as the registry knows it: its current config and status."""

    name: str
    revision: int
    config: EndpointConfig
    status: EndpointStatus
    failure_reason: str | None = None
    variant_status: dict[str, dict[str, Any]] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class ConfigRevision(_Model):
    endpoint: str
    revision: int
    config: EndpointConfig
    created_at: datetime
    created_by: str
    action: str
    """create, update, rollback."""


def parse_variant_spec(spec: str, *, shadow: bool = False) -> dict[str, Any]:
    """``a=churn:3:90`` or ``b=churn@challenger:10`` or ``c=churn:5`` → variant fields.

    The last ``:number`` is a weight (or, for shadows, the mirrored percent)
    only when the model part before it is still a full reference.
    """
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise InvalidArgument(f"invalid variant {spec!r}: expected NAME=MODEL[:VERSION|@ALIAS][:WEIGHT]")
    model, number = rest, None
    head, colon, tail = rest.rpartition(":")
    if colon and head and _is_number(tail) and (":" in head or "@" in head):
        model, number = head, float(tail)
    ModelRef.parse(model)
    out: dict[str, Any] = {"name": validate_variant_name(name), "requested": model, "shadow": shadow}
    if number is not None:
        out["sample_percent" if shadow else "weight"] = number
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_weights(spec: str) -> dict[str, float]:
    """``a=50,b=50`` → {"a": 50.0, "b": 50.0}."""
    out: dict[str, float] = {}
    for part in spec.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or not _is_number(value):
            raise InvalidArgument(f"invalid weights {spec!r}: expected NAME=NUMBER[,NAME=NUMBER…]")
        out[name] = float(value)
    return out
