"""Domain objects: what stores return and the SDK hands to users.

They are plain, immutable pydantic models, so the same class is the REST
schema, the SDK return type and the CLI's ``--json`` output.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from modelport.errors import InvalidArgument

NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9_.])*$"
NAME_MAX = 63
_NAME_RE = re.compile(NAME_PATTERN)
_ALIAS_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_-]*$")

#: versions, revisions and sizes are stored as signed 64-bit integers (SQLite INTEGER, PostgreSQL BIGINT)
INT64_MAX = 2**63 - 1
#: a whole number the database can store: what request models declare for versions, revisions, sizes
PositiveInt64 = Annotated[int, Field(ge=1, le=INT64_MAX)]
NonNegativeInt64 = Annotated[int, Field(ge=0, le=INT64_MAX)]

Scope = Literal["admin", "invoke", "read", "trust-code"]
SCOPES: tuple[str, ...] = ("admin", "invoke", "read", "trust-code")


def validate_name(name: str, what: str = "model name") -> str:
    """Check a resource name; the error says exactly what is allowed."""
    if not isinstance(name, str) or not name or len(name) > NAME_MAX or not _NAME_RE.match(name):
        shown = name if isinstance(name, str) else repr(name)
        raise InvalidArgument(
            f"invalid {what} {shown!r}: use 1-{NAME_MAX} letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, with no '-' right before the end"
        )
    return name


def parse_version(text: str, what: str = "version") -> int:
    """A version number as written in a path or a reference: ASCII digits only, 1 to 2^63-1.

    ``str.isdigit`` alone would pass superscripts and other scripts' digits
    (``²``, ``٣``) that ``int`` then refuses, and 5,000 digits that ``int``
    refuses too: both were a 500 before this check.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(INT64_MAX)) or not 1 <= int(text) <= INT64_MAX:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise InvalidArgument(f"invalid {what} {shown!r}: expected a whole number from 1 to {INT64_MAX}")
    return int(text)


def check_version(version: int, what: str = "version") -> int:
    """A version number handed over as an int (SDK, request bodies): 1 to 2^63-1, never a bool."""
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= INT64_MAX:
        raise InvalidArgument(f"invalid {what} {version!r}: expected a whole number from 1 to {INT64_MAX}")
    return version


def check_metrics(metrics: Mapping[str, Any]) -> None:
    """Metrics are finite numbers (the control API refuses NaN and infinities too; JSON has no spelling for them)."""
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidArgument(f"metric {key!r} is {value!r}: metrics must be finite numbers")


def validate_alias(alias: str) -> str:
    if not isinstance(alias, str) or not alias or len(alias) > NAME_MAX or not _ALIAS_RE.match(alias):
        raise InvalidArgument(
            f"invalid alias {alias!r}: use 1-{NAME_MAX} letters, digits, '_' or '-', starting with a letter or '_'"
        )
    return alias


@dataclass(frozen=True)
class ModelRef:
    """A reference to a model version: ``churn:3``, ``churn@champion`` or ``churn`` (latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    @classmethod
    def parse(cls, ref: str) -> ModelRef:
        if not isinstance(ref, str) or not ref:
            raise InvalidArgument("empty model reference: expected NAME, NAME:VERSION or NAME@ALIAS")
        if "@" in ref:
            name, _, alias = ref.partition("@")
            return cls(validate_name(name), alias=validate_alias(alias))
        if ":" in ref:
            name, _, version = ref.partition(":")
            try:
                number = parse_version(version)
            except InvalidArgument:
                shown = ref if len(ref) <= 80 else ref[:80] + "…"
                raise InvalidArgument(
                    f"invalid model reference {shown!r}: the version after ':' must be a positive integer "
                    f"(at most {INT64_MAX})"
                ) from None
            return cls(validate_name(name), version=number)
        return cls(validate_name(ref))

    def __str__(self) -> str:
        if self.alias:
            return f"{self.name}@{self.alias}"
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return self.name


class _Frozen(BaseModel):
    # defer_build: a class's validator is built when first used, not when modelport.domain is imported
    # (`modelport tokens list` builds Token's alone)
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class ArtifactFile(_Frozen):
    """One stored file of a version, content-addressed."""

    role: str = "model"
    """``model`` is what serving loads; ``original`` keeps the unconverted upload."""
    uri: str
    sha256: str
    size: int
    filename: str
    format: str | None = None


class Model(_Frozen):
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    latest_version: int | None = None
    aliases: dict[str, int] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class ModelVersion(_Frozen):
    name: str
    version: int
    format: str
    artifact_uri: str
    sha256: str
    size: int
    files: list[ArtifactFile] = Field(default_factory=list)
    signature: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    source: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    aliases: list[str] = Field(default_factory=list)
    created_at: datetime
    created_by: str = ""
    baseline: dict[str, Any] = Field(default_factory=dict)
    """Statistics of the registration sample (see :mod:`modelport.baseline`)."""
    conversion: dict[str, Any] = Field(default_factory=dict)
    """How the served artifact was made from the original: converter, parity report."""

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def file(self, role: str = "model") -> ArtifactFile:
        for f in self.files:
            if f.role == role:
                return f
        raise InvalidArgument(f"{self.ref} has no {role!r} file; it has: {', '.join(f.role for f in self.files)}")


class Alias(_Frozen):
    name: str
    alias: str
    version: int


class Token(_Frozen):
    """A token's public record; the secret is shown once, at creation."""

    id: str
    name: str
    scope: Scope
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    sigv4: bool = False
    """Whether AWS Signature V4 requests may be signed with it (tokens made before modelport accepted SigV4 may not)."""


class NewToken(_Frozen):
    token: Token
    secret: str


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a listing; pass ``next_page_token`` back for the next."""

    model_config = ConfigDict(defer_build=True)

    items: list[T]
    next_page_token: str | None = None


class ArtifactUpload(_Frozen):
    """What the store returns for a staged upload."""

    uri: str
    sha256: str
    size: int


class RegisterOptions(_Frozen):
    """How a registration prepares the model: sample, conversion, parity tolerance."""

    model_config = ConfigDict(allow_inf_nan=False)  # a NaN tolerance would pass every parity check

    sample_sha256: str | None = None
    sample_filename: str | None = None
    to_onnx: bool = False
    force: bool = False
    atol: float = 1e-4
    min_label_agreement: float = 1.0
    opset: PositiveInt64 | None = None
    #: the caller trusts the file's code: a pickle may import what the allow-list does not hold
    trust: bool = False


class RegisterRequest(_Frozen):
    """Everything but the bytes: the server and the local registry take the same request."""

    name: str
    format: str | None = None
    filename: str = "model"
    sha256: str
    #: what the client declares; the registry measures the bytes and refuses a size that disagrees
    size: NonNegativeInt64 | None = None
    options: RegisterOptions = Field(default_factory=RegisterOptions)
    description: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    source: dict[str, Any] = Field(default_factory=dict)
    signature: dict[str, Any] = Field(default_factory=dict)
