"""Input/output signatures: named, typed, shaped columns.

A *batch* is columnar: ``dict[str, numpy.ndarray]`` where every array has the
rows on its first axis.  A tabular feature is a 1-D column (shape ``[-1]``); a
tensor input such as an ONNX ``X`` of shape ``[-1, 4]`` is a 2-D array.  The
same :class:`Signature` describes both, so every caller (REST codecs, batch
jobs, the v2 protocol) validates a request the same way.

Dtypes use a small vocabulary that maps onto numpy and onto the Open
Inference Protocol datatypes: ``bool, int8, int16, int32, int64, uint8,
uint16, uint32, uint64, float16, float32, float64, string``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelport.errors import InvalidArgument

Batch = dict[str, np.ndarray]

DTYPES = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "string",
)

_V2_DATATYPES = {
    "bool": "BOOL",
    "int8": "INT8",
    "int16": "INT16",
    "int32": "INT32",
    "int64": "INT64",
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "uint64": "UINT64",
    "float16": "FP16",
    "float32": "FP32",
    "float64": "FP64",
    "string": "BYTES",
}


def dtype_name(dtype: np.dtype | type | str) -> str:
    """Name a numpy dtype in the signature vocabulary."""
    dt = np.dtype(dtype) if not isinstance(dtype, np.dtype) else dtype
    if dt.kind in "OUS":
        return "string"
    if dt.kind == "b":
        return "bool"
    name = dt.name
    if name in DTYPES:
        return name
    raise InvalidArgument(f"unsupported dtype {dt!s}: expected one of {', '.join(DTYPES)}")


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype a signature dtype name stands for (strings are objects)."""
    if name == "string":
        return np.dtype(object)
    return np.dtype(name)


def v2_datatype(name: str) -> str:
    """The Open Inference Protocol datatype for a signature dtype."""
    return _V2_DATATYPES[name]


@dataclass(frozen=True)
class ColumnSpec:
    """One named input or output: dtype and shape (``-1`` = any length)."""

    name: str
    dtype: str
    shape: tuple[int, ...] = (-1,)
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise InvalidArgument(
                f"column {self.name!r}: unknown dtype {self.dtype!r}; expected one of {', '.join(DTYPES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}
        if self.nullable:
            out["nullable"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        try:
            return cls(
                name=str(data["name"]),
                dtype=str(data["dtype"]),
                shape=tuple(int(d) for d in data.get("shape", (-1,))),
                nullable=bool(data.get("nullable", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidArgument(f"invalid column spec {dict(data)!r}: {exc}") from None


@dataclass(frozen=True)
class Signature:
    """The named, typed inputs and outputs of a model version."""

    inputs: tuple[ColumnSpec, ...] = ()
    outputs: tuple[ColumnSpec, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_empty(self) -> bool:
        return not self.inputs and not self.outputs

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [c.name for c in self.outputs]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "inputs": [c.to_dict() for c in self.inputs],
            "outputs": [c.to_dict() for c in self.outputs],
        }
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Signature:
        if not data:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidArgument("a signature must be a JSON object with 'inputs' and 'outputs' lists")
        extra = {k: v for k, v in data.items() if k not in ("inputs", "outputs")}
        return cls(
            inputs=tuple(ColumnSpec.from_dict(c) for c in data.get("inputs") or ()),
            outputs=tuple(ColumnSpec.from_dict(c) for c in data.get("outputs") or ()),
            extra=extra,
        )


def batch_rows(batch: Mapping[str, np.ndarray]) -> int:
    """Number of rows in a columnar batch (0 for an empty batch)."""
    for value in batch.values():
        return int(value.shape[0]) if value.ndim else 1
    return 0


def _describe_shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join("N" if d == -1 else str(d) for d in shape) + "]"


def synthesize_batch(signature: Signature, rows: int = 1, *, seed: int = 0) -> Batch:
    """Rows that fit the signature's inputs: for warm-up and parity checks without a sample."""
    rng = np.random.default_rng(seed)
    batch: Batch = {}
    for col in signature.inputs:
        shape = (rows, *[(d if d > 0 else 1) for d in col.shape[1:]])
        if col.dtype == "string":
            choices = signature.extra.get("categories", {}).get(col.name) or ["a"]
            batch[col.name] = np.array([choices[i % len(choices)] for i in range(int(np.prod(shape)))], dtype=object).reshape(shape)
        elif col.dtype == "bool":
            batch[col.name] = rng.integers(0, 2, size=shape).astype(bool)
        elif col.dtype.startswith(("int", "uint")):
            batch[col.name] = rng.integers(0, 5, size=shape).astype(col.dtype)
        else:
            batch[col.name] = rng.standard_normal(size=shape).astype(col.dtype)
    return batch
