"""Open Inference Protocol tensors: datatypes, JSON ``data`` and the binary tensor extension.

Raw binary tensors are little-endian, row-major and packed; ``BOOL`` is one
byte (0/1); a ``BYTES`` element is ``<u32 LE length><bytes>``, so
``["héllo", "w"]`` is ``06000000 68c3a96c6c6f 01000000 77``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from modelport.errors import Internal, InvalidArgument
from modelport.signature import dtype_name, holds_bool, v2_datatype

#: fixed-size datatypes → little-endian numpy dtypes; BYTES is variable-sized
FIXED_DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.uint8),  # one byte on the wire, 0 or 1
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
DATATYPES = (*FIXED_DATATYPES, "BYTES")
_U32 = struct.Struct("<I")


def check_datatype(name: str, datatype: Any) -> str:
    if datatype in FIXED_DATATYPES or datatype == "BYTES":
        return datatype
    hint = "; send FP32 instead" if datatype == "BF16" else ""
    raise InvalidArgument(
        f"input {name!r}: unsupported datatype {datatype!r}{hint}: expected one of {', '.join(DATATYPES)}"
    )


def element_count(shape: Sequence[int]) -> int:
    return math.prod(shape)


def _describe(shape: Sequence[int]) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


# -- decoding -------------------------------------------------------------------


def from_binary(name: str, datatype: str, shape: Sequence[int], raw: bytes | memoryview) -> np.ndarray:
    """A raw binary tensor → a writable native-order array of ``shape``."""
    count = element_count(shape)
    if datatype == "BYTES":
        elements = bytes_elements(name, raw)
        if len(elements) != count:
            raise InvalidArgument(
                f"input {name!r}: shape {_describe(shape)} needs {count} BYTES elements, the binary data holds {len(elements)}"
            )
        arr = np.empty(count, dtype=object)
        arr[:] = elements
        return arr.reshape(shape)
    dtype = FIXED_DATATYPES[datatype]
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise InvalidArgument(
            f"input {name!r}: shape {_describe(shape)} of {datatype} needs {expected} bytes, binary_data_size is {len(raw)}"
        )
    flat = np.frombuffer(raw, dtype=dtype)
    if datatype == "BOOL":
        return (flat != 0).reshape(shape)
    return flat.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def bytes_elements(name: str, raw: bytes | memoryview) -> list[bytes]:
    """Split ``<u32 LE len><bytes>`` elements; InvalidArgument when one runs past the end."""
    view = memoryview(raw)
    out: list[bytes] = []
    offset, end = 0, len(view)
    while offset < end:
        if offset + 4 > end:
            raise InvalidArgument(f"input {name!r}: truncated BYTES element {len(out)} (a 4-byte length is cut off)")
        (length,) = _U32.unpack_from(view, offset)
        offset += 4
        if offset + length > end:
            raise InvalidArgument(
                f"input {name!r}: BYTES element {len(out)} declares {length} bytes, only {end - offset} remain"
            )
        out.append(bytes(view[offset : offset + length]))
        offset += length
    return out


def from_json(name: str, datatype: str, shape: Sequence[int], data: Any, *, bools: bool = False) -> np.ndarray:
    """JSON ``data`` (flat or nested, row-major) → an array of ``shape``.

    ``bools``: the data may hold ``true``/``false``, which a numeric datatype
    refuses (numpy alone would read them as 1 and 0 among numbers).
    """
    count = element_count(shape)
    if not isinstance(data, list):
        data = [data]
    if datatype == "BYTES":
        try:
            arr = np.array(data, dtype=object)
        except ValueError:
            arr = np.array([[]], dtype=object)  # ragged
        flat = arr.ravel()
        if (arr.size == 0 and count) or any(isinstance(v, list) for v in flat):
            raise InvalidArgument(
                f"input {name!r}: 'data' is a ragged nested list; shape {_describe(shape)} needs {count} values"
            )
        if arr.size != count:
            raise InvalidArgument(
                f"input {name!r}: shape {_describe(shape)} needs {count} values, 'data' has {arr.size}"
            )
        bad = next((v for v in flat if not isinstance(v, str)), None)
        if bad is not None:
            raise InvalidArgument(f"input {name!r}: BYTES data must be strings, got {bad!r}")
        return flat.reshape(shape)
    try:
        arr = np.asarray(data)
    except ValueError:
        raise InvalidArgument(
            f"input {name!r}: 'data' is a ragged nested list; shape {_describe(shape)} needs {count} values"
        ) from None
    if arr.size != count:
        raise InvalidArgument(f"input {name!r}: shape {_describe(shape)} needs {count} values, 'data' has {arr.size}")
    target = FIXED_DATATYPES[datatype]
    kind = arr.dtype.kind
    if datatype != "BOOL" and (kind == "b" or (bools and kind in "iufO" and holds_bool(data))):
        raise InvalidArgument(f"input {name!r}: {datatype} data must be numbers, got a boolean (true/false)")
    if datatype == "BOOL":
        if kind == "b" or (kind in "iu" and np.isin(arr, (0, 1)).all()):
            return arr.astype(bool).reshape(shape)
        raise InvalidArgument(f"input {name!r}: BOOL data must be true/false")
    native = target.newbyteorder("=")
    if target.kind == "f":
        if kind == "O":
            # null is how a JSON reply spells NaN: accept it back
            values = arr.ravel().tolist()
            _check_numbers(name, datatype, values, allow_none=True)
            arr, kind = np.array([np.nan if v is None else v for v in values], dtype=np.float64), "f"
        if kind not in "iuf":
            _check_numbers(name, datatype, arr.ravel().tolist())
        return arr.astype(native).reshape(shape)
    info = np.iinfo(target)
    if kind in "iu":
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise InvalidArgument(f"input {name!r}: a value is out of range for {datatype} ({info.min}..{info.max})")
        return arr.astype(native).reshape(shape)
    # floats, or integers numpy could not type exactly (beyond int64): check the JSON values themselves
    values = np.array(data, dtype=object).ravel().tolist()
    _check_numbers(name, datatype, values)
    if any(type(v) is float and not v.is_integer() for v in values):
        raise InvalidArgument(f"input {name!r}: {datatype} data must be integers, got fractional numbers")
    ints = [int(v) for v in values]
    if ints and (min(ints) < info.min or max(ints) > info.max):
        raise InvalidArgument(f"input {name!r}: a value is out of range for {datatype} ({info.min}..{info.max})")
    return np.array(ints, dtype=native).reshape(shape)


def _check_numbers(name: str, datatype: str, values: list[Any], *, allow_none: bool = False) -> None:
    for v in values:
        if type(v) not in (int, float) and not (allow_none and v is None):
            raise InvalidArgument(f"input {name!r}: {datatype} data must be numbers, got {v!r}")


# -- encoding -------------------------------------------------------------------


def output_array(name: str, value: Any) -> tuple[np.ndarray, str]:
    """An output as an array the protocol can carry, and its datatype."""
    arr = np.atleast_1d(np.asarray(value))
    if arr.dtype.kind == "O":
        flat = arr.ravel().tolist()
        if flat and not all(isinstance(v, str | bytes) for v in flat):
            # objects that are really numbers (e.g. labels of an object-typed class list)
            try:
                inferred = np.asarray(flat)
            except ValueError:
                inferred = None
            if inferred is not None and inferred.dtype.kind in "biuf":
                arr = inferred.reshape(arr.shape)
    if arr.dtype.kind in "OUS":
        return arr, "BYTES"
    try:
        return arr, v2_datatype(dtype_name(arr.dtype))
    except InvalidArgument:
        raise Internal(f"output {name!r} has dtype {arr.dtype}, which the v2 protocol cannot carry") from None


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def to_binary(arr: np.ndarray, datatype: str) -> bytes:
    """An array as raw tensor bytes (row-major, little-endian)."""
    if datatype == "BYTES":
        parts = []
        for value in arr.ravel().tolist():
            raw = _as_bytes(value)
            parts.append(_U32.pack(len(raw)))
            parts.append(raw)
        return b"".join(parts)
    if datatype == "BOOL":
        return np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
    return np.ascontiguousarray(arr, dtype=FIXED_DATATYPES[datatype]).tobytes()


def to_json_data(arr: np.ndarray, datatype: str) -> Any:
    """Flat row-major JSON ``data``: a numpy array orjson reads directly, or strings for BYTES."""
    if datatype == "BYTES":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in arr.ravel().tolist()]
    return np.ascontiguousarray(arr).ravel()
