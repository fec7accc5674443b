"""What a batch transform job is asked to do: the TransformSpec.

The options mirror SageMaker's CreateTransformJob (PROTOCOLS.md §6) in
modelport's words: ``split`` (SplitType), ``batch_strategy`` (BatchStrategy),
``max_payload_mb`` (MaxPayloadInMB), ``join_input`` (JoinSource=Input),
``input_filter`` / ``output_filter`` (DataProcessing), ``compression``
(CompressionType).  SageMaker's spellings (``MultiRecord``, ``Line``,
``Gzip``) are accepted too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modelport.errors import InvalidArgument

_MEDIA_TYPES = {
    "csv": "csv",
    "text/csv": "csv",
    "application/csv": "csv",
    "jsonl": "jsonl",
    "json": "jsonl",
    "application/jsonlines": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
    "application/json": "jsonl",
    "parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
    "application/vnd.apache.parquet": "parquet",
}

_SUFFIXES = {
    ".csv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

#: SageMaker's enum spellings → ours
_ALIASES = {
    "multirecord": "multi",
    "singlerecord": "single",
    "line": "line",
    "none": "none",
    "gzip": "gzip",
}


def media_format(value: str, what: str = "content type") -> tuple[str, bool | None]:
    """``text/csv; header=present`` → ``("csv", True)``; a short name (``csv``) works too."""
    kind, _, params = value.partition(";")
    fmt = _MEDIA_TYPES.get(kind.strip().lower())
    if fmt is None:
        raise InvalidArgument(
            f"unsupported {what} {value!r}: expected text/csv, application/jsonlines or application/x-parquet "
            "(or csv, jsonl, parquet)"
        )
    header: bool | None = None
    for param in params.split(";"):
        key, _, val = param.strip().partition("=")
        if key.lower() == "header" and val.lower() in ("present", "absent"):
            header = val.lower() == "present"
    return fmt, header


def suffix_format(name: str) -> str | None:
    """The table format a file name announces (``.csv``, ``.jsonl``, ``.parquet``, optionally ``.gz``), or None."""
    lower = name.lower().removesuffix(".gz")
    for suffix, fmt in _SUFFIXES.items():
        if lower.endswith(suffix):
            return fmt
    return None


class TransformSpec(BaseModel):
    """One batch transform: which model scores which files, where the predictions go, and how."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    """``name:N``, ``name@alias`` or ``name`` (latest); pinned to a version when the job is created."""
    input: str
    """A file, a folder or S3 prefix, or a glob; local or ``s3://``."""
    output: str
    """A folder or prefix (``preds/``: one ``<input>.out`` per input object) or a file (one assembled output)."""
    content_type: str | None = None
    """Input format (``text/csv``, ``application/jsonlines``, ``application/x-parquet``); default from the file names."""
    accept: str | None = None
    """Output format; default from the output file name, else the input format."""
    header: bool | None = None
    """Whether CSV inputs start with a header row; default: detected from the first input."""
    compression: Literal["auto", "gzip", "none"] = "auto"
    """Input compression; ``auto`` = gzip for names ending in ``.gz``."""
    split: Literal["line", "none"] = "line"
    """``line``: records are lines (CSV, JSON Lines); ``none``: each object is one request."""
    batch_strategy: Literal["multi", "single"] = "multi"
    """``multi``: as many records per model call as fit in ``max_payload_mb``; ``single``: one record per call."""
    max_payload_mb: float = Field(default=6.0, ge=0, le=1024)
    """Input bytes per model call (and per checkpointed block); 0 = no limit (blocks of 6 MB)."""
    join_input: bool = False
    """Write each input record's columns before its predictions."""
    input_filter: str | None = None
    """Columns sent to the model: ``$[1:]``, ``1:``, ``f1,f2``, ``$.features``; default all."""
    output_filter: str | None = None
    """Columns written, chosen from the joined (or prediction) columns: ``id,label,proba_1`` or ``$[0,-1]``."""
    on_error: Literal["fail", "skip"] = "fail"
    """``skip``: bad records are left out and listed in an errors file; ``fail``: the first one fails the job."""
    engine: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    """A Dask scheduler address (``tcp://host:8786``); unset = a local cluster."""
    threads: int | None = Field(default=None, ge=1, le=4096)
    """Model threads (local engine: intra-op threads; Dask local cluster: worker threads); default all cores."""

    @field_validator("split", "batch_strategy", "compression", mode="before")
    @classmethod
    def _sagemaker_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            return _ALIASES.get(value.strip().lower(), value.strip().lower())
        return value

    @field_validator("content_type", "accept")
    @classmethod
    def _media(cls, value: str | None) -> str | None:
        if value is not None:
            media_format(value)
        return value

    @field_validator("model", "input", "output")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value or not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @classmethod
    def build(cls, **fields: Any) -> TransformSpec:
        """A spec from keyword arguments; a mistake is one InvalidArgument naming the field."""
        try:
            return cls(**{k: v for k, v in fields.items() if v is not None})
        except ValidationError as exc:
            parts = []
            for err in exc.errors():
                loc = ".".join(str(p) for p in err.get("loc", ()))
                parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
            raise InvalidArgument("invalid transform: " + "; ".join(parts)) from None

    @property
    def input_format(self) -> str | None:
        return media_format(self.content_type)[0] if self.content_type else None

    @property
    def output_format(self) -> str | None:
        return media_format(self.accept, "accept type")[0] if self.accept else None

    @property
    def block_bytes(self) -> int:
        """Bytes of input per block: the unit of model calls, checkpoints and Dask partitions."""
        mb = self.max_payload_mb or 6.0
        return max(1, int(mb * 1024 * 1024))
