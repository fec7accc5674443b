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

import math
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
    """One named input or output: dtype and shape (``-1`` = any length).

    A numeric input takes finite numbers only: NaN (a missing value) only when
    ``nullable``, and ``inf``/``-inf`` (or a number beyond a float column's
    range, which becomes one) only when ``allow_inf``.  Booleans are not
    numbers here: a numeric column refuses ``true``/``false``.
    """

    name: str
    dtype: str
    shape: tuple[int, ...] = (-1,)
    nullable: bool = False
    allow_inf: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise InvalidArgument(
                f"column {self.name!r}: unknown dtype {self.dtype!r}; expected one of {', '.join(DTYPES)}"
            )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}
        if self.nullable:
            out["nullable"] = True
        if self.allow_inf:
            out["allow_inf"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSpec:
        try:
            return cls(
                name=str(data["name"]),
                dtype=str(data["dtype"]),
                shape=tuple(int(d) for d in data.get("shape", (-1,))),
                nullable=bool(data.get("nullable", False)),
                allow_inf=bool(data.get("allow_inf", False)),
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
    if type(batch) is BlockBatch:
        return int(batch.block.shape[0]) if batch.names else 0
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


# -- inference ------------------------------------------------------------------


def signature_from_frame(frame: Any, *, categories_limit: int = 50) -> tuple[ColumnSpec, ...]:
    """Input columns from a sample DataFrame: names, dtypes, nullability."""
    cols = []
    for name in frame.columns:
        series = frame[name]
        kind = series.dtype.kind
        if kind in "OUSTM" or str(series.dtype) in ("string", "category", "str"):
            dtype = "string"
        elif kind == "b":
            dtype = "bool"
        elif kind in "iu" or kind == "f":
            dtype = np.dtype(series.dtype).name
        else:
            raise InvalidArgument(f"sample column {name!r} has unsupported dtype {series.dtype}")
        nullable = bool(series.isna().any())
        # a sample holding infinities shows the model takes them
        allow_inf = kind == "f" and bool(np.isinf(series.to_numpy()).any())
        cols.append(ColumnSpec(name=str(name), dtype=dtype, shape=(-1,), nullable=nullable, allow_inf=allow_inf))
    return tuple(cols)


def output_specs(outputs: Mapping[str, np.ndarray]) -> tuple[ColumnSpec, ...]:
    """Output columns as a runtime actually returned them (names, dtypes, shapes)."""
    specs = []
    for name, value in outputs.items():
        arr = np.asarray(value)
        shape = (-1, *arr.shape[1:]) if arr.ndim else (-1,)
        specs.append(ColumnSpec(name=name, dtype=dtype_name(arr.dtype), shape=tuple(int(d) for d in shape)))
    return tuple(specs)


def frame_to_batch(frame: Any, signature: Signature | None = None) -> Batch:
    """A DataFrame as a columnar batch (no copies for numeric columns)."""
    batch: Batch = {}
    for name in frame.columns:
        values = frame[name].to_numpy()
        if values.dtype.kind in "OUS" or str(frame[name].dtype) in ("string", "str", "category"):
            values = frame[name].astype(object).to_numpy()
        batch[str(name)] = values
    return validate_batch(signature, batch) if signature is not None else batch


# -- validation -----------------------------------------------------------------

_NUMERIC_KINDS = "biuf"
_BOOL_TEXT = frozenset({"true", "false"})

# Which non-finite values a float column refuses (see ColumnSpec): a plan entry's third item.
NO_CHECK, FINITE, NOT_NAN, NOT_INF = 0, 1, 2, 3


def _finite_check(spec: ColumnSpec, target: np.dtype) -> int:
    if spec.dtype == "string" or target.kind != "f":
        return NO_CHECK
    if spec.nullable:
        return NO_CHECK if spec.allow_inf else NOT_INF
    return NOT_NAN if spec.allow_inf else FINITE


def holds_bool(values: Any) -> bool:
    """Whether (nested) lists hold a boolean anywhere (numpy would read one among numbers as 1 or 0)."""
    kinds = set(map(type, values))
    if bool in kinds:
        return True
    return (list in kinds or tuple in kinds) and any(holds_bool(v) for v in values if type(v) in (list, tuple))


def _not_a_number(arr: np.ndarray) -> Any:
    """The first value of an object array that is no number (numeric text like "1.5" is read as one)."""
    for v in arr.ravel():
        if v is None or isinstance(v, int | float | np.number):
            continue
        try:
            float(v)
        except (TypeError, ValueError):
            return v
    return None


def _coerce(spec: ColumnSpec, target: np.dtype, value: Any, check: int) -> np.ndarray:
    """``value`` as a column of ``target``, or InvalidArgument saying what is wrong (the caller quiets
    numpy's overflow warning: a narrowing cast's inf is refused here, naming the value)."""
    want = spec.dtype
    if type(value) is np.ndarray:
        arr = value
    elif type(value) in (list, tuple) and want != "bool" and want != "string" and holds_bool(value):
        arr = np.array(value, dtype=object)  # keep the booleans visible: they are refused below
    else:
        arr = np.asarray(value)
    kind = arr.dtype.kind
    if want == "string":
        if kind in "OUS":
            return arr.astype(object, copy=False)
        raise InvalidArgument(
            f"column {spec.name!r}: expected strings, got {dtype_name(arr.dtype) if kind != 'O' else 'objects'}"
        )
    if kind == "O":
        # JSON nulls or mixed lists arrive as objects: numbers (and None → NaN) only.
        if want != "bool":
            kinds = set(map(type, arr.ravel()))
            if bool in kinds or np.bool_ in kinds:
                raise _bool_error(spec, np.vectorize(lambda v: isinstance(v, bool | np.bool_), otypes=[bool])(arr))
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            sample = _not_a_number(arr)
            if isinstance(sample, str) and sample.strip().lower() in _BOOL_TEXT:
                raise _bool_error(spec, np.vectorize(lambda v: v is sample, otypes=[bool])(arr)) from None
            raise InvalidArgument(f"column {spec.name!r}: expected {want}, got a non-numeric value {sample!r}") from None
        kind = "f"
    elif kind not in "iuf":
        if kind == "b" and want != "bool":
            raise _bool_error(spec, np.ones(arr.shape, dtype=bool))
        if kind in "US":
            raise InvalidArgument(f"column {spec.name!r}: expected {want}, got strings")
        if kind != "b":
            raise InvalidArgument(f"column {spec.name!r}: expected {want}, got {arr.dtype}")
    if arr.dtype == target:
        out = arr
    elif target.kind == "f":
        out = arr.astype(target, copy=False)  # past float32's range → inf, refused below
    elif target.kind in "iu" and kind in "iuf":
        if kind == "f":
            if not np.isfinite(arr).all():
                if np.isnan(arr).any():
                    raise InvalidArgument(f"column {spec.name!r}: missing value (NaN) where {want} is expected")
                raise _inf_error(spec, arr)
            if not np.all(np.mod(arr, 1) == 0):
                raise InvalidArgument(f"column {spec.name!r}: expected {want}, got fractional numbers")
        info = np.iinfo(target)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise _range_error(spec, arr, (arr < info.min) | (arr > info.max))
        out = arr.astype(target)
    elif target.kind == "b" and kind in "iu":
        if not np.isin(arr, (0, 1)).all():
            raise InvalidArgument(f"column {spec.name!r}: expected bool (0/1), got other integers")
        out = arr.astype(bool)
    else:
        out = arr.astype(target, copy=False)
    if check and out.size and not np.isfinite(out).all():
        _refuse_non_finite(spec, out, check, arr)
    return out


def _first_row(mask: np.ndarray) -> int:
    return int(np.argwhere(np.atleast_1d(mask))[0][0])


def _nan_error(spec: ColumnSpec, column: np.ndarray) -> InvalidArgument:
    return InvalidArgument(
        f"column {spec.name!r}: missing value (NaN) at row {_first_row(np.isnan(column))}, "
        "and this column does not allow missing values"
    )


def _inf_error(spec: ColumnSpec, column: np.ndarray) -> InvalidArgument:
    inf = np.isinf(column)
    row = _first_row(inf)
    value = "-inf" if column[inf][0] < 0 else "inf"
    return InvalidArgument(
        f"column {spec.name!r}: infinite value ({value}) at row {row}, and this column does not allow infinities"
    )


def _range_error(spec: ColumnSpec, given: np.ndarray, mask: np.ndarray) -> InvalidArgument:
    row = _first_row(mask)
    value = given[mask][0]  # the first in row-major order is in the first row
    text = f"{float(value):g}" if given.dtype.kind == "f" else str(value)
    return InvalidArgument(f"column {spec.name!r}: {text} at row {row} is out of range for {spec.dtype}")


def _bool_error(spec: ColumnSpec, mask: np.ndarray) -> InvalidArgument:
    return InvalidArgument(
        f"column {spec.name!r}: expected {spec.dtype}, got a boolean (true/false) at row {_first_row(mask)}"
    )


def _refuse_non_finite(spec: ColumnSpec, column: np.ndarray, check: int, given: np.ndarray | None = None) -> None:
    """Raise for the NaN or infinity ``check`` refuses (``given``: the values before a cast that may overflow)."""
    if check in (FINITE, NOT_NAN) and np.isnan(column).any():
        raise _nan_error(spec, column)
    if check in (FINITE, NOT_INF):
        inf = np.isinf(column)
        if inf.any():
            first = np.flatnonzero(inf)[0]
            if given is not None and given.shape == column.shape and np.isfinite(given.ravel()[first]):
                raise _range_error(spec, given, inf & np.isfinite(given))  # finite before the cast: too large
            raise _inf_error(spec, column)


class BlockBatch(dict[str, np.ndarray]):
    """A batch whose columns are, in ``names`` order, the columns of one ``(n, k)`` matrix.

    Codecs decode rows of numbers into one matrix; validation then checks the
    matrix at once, and runtimes that stack columns take it back as is.
    It is an ordinary batch to everyone else: the column views are made on
    first use (most requests never ask for them — ~3 µs saved per request),
    by every method that reads or changes the mapping.  Code that reads a
    dict's storage directly from C (``orjson.dumps``) sees it empty until
    then: hand such code ``dict(batch)``.
    """

    __slots__ = ("_filled", "block", "names", "nan_free")

    def __init__(self, block: np.ndarray, names: Sequence[str], *, nan_free: bool = False) -> None:
        super().__init__()
        if block.ndim != 2 or block.shape[1] != len(names):
            raise ValueError(f"a block of shape {block.shape} cannot hold {len(names)} columns")
        self.block = block
        self.names = tuple(names)
        self.nan_free = nan_free  # the codec knows every value is finite (no NaN, no inf): validation skips the check
        self._filled = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (_block_batch, (self.block, self.names, self.nan_free))

    def _fill(self) -> None:
        if not self._filled:
            self._filled = True
            dict.update(self, zip(self.names, self.block.T, strict=True))  # column views, made in C

    def __len__(self) -> int:
        return dict.__len__(self) if self._filled else len(self.names)

    def copy(self) -> dict[str, np.ndarray]:
        self._fill()
        return dict(dict.items(self))

    __hash__ = None  # type: ignore[assignment]


def _filling(method: Any) -> Any:
    """``dict``'s own ``method``, after the column views are made."""

    def fill_then(self: BlockBatch, *args: Any, **kwargs: Any) -> Any:
        self._fill()
        return method(self, *args, **kwargs)

    fill_then.__name__ = method.__name__
    return fill_then


# Every dict method that reads or changes the mapping makes the views first.
for _name in (
    "__getitem__", "__iter__", "__reversed__", "__contains__", "__eq__", "__ne__", "__repr__", "__or__", "__ror__",
    "__ior__", "__setitem__", "__delitem__", "get", "keys", "values", "items", "setdefault", "pop", "popitem",
    "update", "clear",
):
    setattr(BlockBatch, _name, _filling(getattr(dict, _name)))
del _name


def _block_batch(block: np.ndarray, names: Sequence[str], nan_free: bool) -> BlockBatch:
    return BlockBatch(block, names, nan_free=nan_free)


def block_of(batch: Mapping[str, Any], names: Sequence[str]) -> np.ndarray | None:
    """The ``(n, k)`` matrix behind ``names`` (in that order), when the batch carries one."""
    if type(batch) is BlockBatch and batch.names == tuple(names):
        return batch.block
    return None


def _plan(signature: Signature) -> tuple[Any, ...]:
    """Per-signature facts the hot path needs, computed once and kept on the signature."""
    plan = signature.__dict__.get("_plan")
    if plan is None:
        columns = tuple((c, numpy_dtype(c.dtype), _finite_check(c, numpy_dtype(c.dtype))) for c in signature.inputs)
        # One dtype for every 1-D column: a decoded matrix can be checked in one go.
        dtypes = {t for c, t, _ in columns if len(c.shape) == 1}
        uniform = next(iter(dtypes)) if len(dtypes) == 1 and all(len(c.shape) == 1 for c, _, _ in columns) else None
        plan = (
            frozenset(c.name for c in signature.inputs),
            columns,
            uniform,
            any(chk for _, _, chk in columns),
            tuple(c.name for c in signature.inputs),
            # a float column narrower than float64: a cast may overflow (refused; numpy's warning quieted)
            any(t.kind == "f" and t.itemsize < 8 for _, t, _ in columns),
        )
        object.__setattr__(signature, "_plan", plan)  # a cache, not state: signatures stay immutable
    return plan


def input_order(signature: Signature) -> tuple[str, ...]:
    """The input names in order, computed once per signature."""
    return _plan(signature)[4]  # type: ignore[no-any-return]


def input_name_set(signature: Signature) -> frozenset[str]:
    """The input names as a set, computed once per signature."""
    return _plan(signature)[0]  # type: ignore[no-any-return]


def uniform_dtype(signature: Signature) -> np.dtype | None:
    """The one dtype of every input when all are 1-D columns of the same (numeric) dtype."""
    uniform = _plan(signature)[2]
    return uniform if uniform is not None and uniform.kind in "iuf" else None


def validate_batch(signature: Signature | None, batch: Mapping[str, Any]) -> Batch:
    """Check a batch against the signature's inputs and coerce dtypes; INVALID_ARGUMENT names the column.

    Shared by every caller: REST codecs, the v2 protocol, batch jobs, `modelport predict`.
    The common case — arrays already of the right dtype and rank — costs one
    ``isfinite`` per float column (NaN and infinities at once) and nothing else.
    """
    if signature is None or not signature.inputs:
        return {k: np.asarray(v) for k, v in batch.items()}
    names, plan, uniform, any_check, order, narrow = _plan(signature)
    if (
        uniform is not None
        and type(batch) is BlockBatch
        and batch.names == order
        and batch.block.dtype == uniform
    ):
        if any_check and uniform.kind == "f" and not batch.nan_free and not np.isfinite(batch.block).all():
            _check_finite(plan, [batch[n] for n in order])
        return batch
    if len(batch) != len(names) or not names.issuperset(batch):
        _wrong_columns(signature, batch)
    if narrow:
        with np.errstate(over="ignore"):  # one for the batch: entering one costs ~1 µs
            return _validate_columns(signature, plan, batch)
    return _validate_columns(signature, plan, batch)


def _validate_columns(
    signature: Signature, plan: Sequence[tuple[ColumnSpec, np.dtype, int]], batch: Mapping[str, Any]
) -> Batch:
    out: Batch = {}
    rows: int | None = None
    for spec, target, check in plan:
        value = batch.get(spec.name)
        if value is None:
            _wrong_columns(signature, batch)
        if type(value) is np.ndarray and value.dtype == target and value.ndim == len(spec.shape) and value.ndim == 1:
            arr = value
            if check and arr.size and (not math.isfinite(arr[0]) if arr.size == 1 else not np.isfinite(arr).all()):
                _refuse_non_finite(spec, arr, check)
        else:
            arr = _coerce(spec, target, value, check)
            if arr.ndim == 0:
                arr = arr.reshape(1)
            if len(spec.shape) != arr.ndim or any(
                w not in (-1, g) for w, g in zip(spec.shape[1:], arr.shape[1:], strict=False)
            ):
                raise InvalidArgument(
                    f"column {spec.name!r}: expected shape {_describe_shape(spec.shape)}, got {list(arr.shape)}"
                )
        if rows is None:
            rows = arr.shape[0]
        elif arr.shape[0] != rows:
            raise InvalidArgument(f"column {spec.name!r} has {arr.shape[0]} rows, other columns have {rows}")
        out[spec.name] = arr
    return out


def _check_finite(plan: Sequence[tuple[ColumnSpec, np.dtype, int]], cols: Sequence[np.ndarray]) -> None:
    for (spec, _, check), col in zip(plan, cols, strict=True):
        if check:
            _refuse_non_finite(spec, col, check)


def _wrong_columns(signature: Signature, batch: Mapping[str, Any]) -> None:
    expected = signature.input_names
    missing = [n for n in expected if n not in batch]
    if missing:
        raise InvalidArgument(
            f"missing input column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; "
            f"expected {', '.join(expected)}"
        )
    known = set(expected)
    unexpected = [n for n in batch if n not in known]
    raise InvalidArgument(
        f"unexpected input column{'s' if len(unexpected) > 1 else ''} {', '.join(map(repr, unexpected))}; "
        f"expected {', '.join(expected)}"
    )
