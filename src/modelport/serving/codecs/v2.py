"""The Open Inference Protocol v2 (KServe v2 / Triton HTTP), transport-free.

    req = parse_infer_request(body, headers)           # gzip/deflate, binary tensors, JSON data
    batch = v2_inputs_to_batch(req, signature)         # validated like every other route
    body, extra_headers = build_infer_response("simple", "1", req.id, outputs, req)

What unmodified ``tritonclient.http`` sends and expects (PROTOCOLS.md §1):

- the request is JSON, optionally followed by raw tensors in ``inputs`` order
  when ``Inference-Header-Content-Length`` gives the JSON's length; a binary
  input carries ``parameters.binary_data_size`` instead of ``data``;
- an output is returned as raw bytes when it asks with
  ``outputs[].parameters.binary_data``, or, failing that, when the request has
  ``parameters.binary_data_output`` (the client sets it whenever it names no
  outputs); the reply then carries ``Inference-Header-Content-Length``;
- errors are ``{"error": "<message>"}`` (:func:`error_body`).

Not supported (InvalidArgument, never silently ignored): shared-memory
tensors, the classification extension (``class_count``), BF16.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from modelport.errors import InvalidArgument
from modelport.serving.codecs.content_encoding import inflate
from modelport.serving.codecs.json_body import parse
from modelport.serving.codecs.v2_tensors import (
    check_datatype,
    from_binary,
    from_json,
    output_array,
    to_binary,
    to_json_data,
)
from modelport.signature import Batch, Signature, v2_datatype, validate_batch

HEADER_LENGTH = "Inference-Header-Content-Length"
#: a compressed request may not inflate beyond this by default (servers pass MODELPORT_MAX_REQUEST_BYTES)
MAX_DECOMPRESSED_BYTES = 6 * 1024 * 1024
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True)
class V2Tensor:
    """One request input: ``data`` already has ``shape`` (BYTES: ``str`` from JSON, ``bytes`` from binary)."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class V2RequestedOutput:
    """An entry of the request's ``outputs``: ``binary_data`` None = the request-level default."""

    name: str
    binary_data: bool | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class V2Request:
    inputs: tuple[V2Tensor, ...]
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    #: the outputs asked for, in order; empty = all of them
    outputs: tuple[V2RequestedOutput, ...] = ()

    @property
    def binary_data_output(self) -> bool:
        return bool(self.parameters.get("binary_data_output", False))

    def wants_binary(self, output: str) -> bool:
        """Per-output ``binary_data`` wins over the request-level ``binary_data_output``."""
        for requested in self.outputs:
            if requested.name == output and requested.binary_data is not None:
                return requested.binary_data
        return self.binary_data_output


# -- request --------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if value is None and not hasattr(headers, "getlist"):  # a plain dict in another case
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be an object, got {type(value).__name__}")
    return value


def _shape(name: str, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(type(d) is int and d >= 0 for d in value):
        raise InvalidArgument(f"input {name!r}: 'shape' must be a list of non-negative integers, got {value!r}")
    return tuple(value)


def parse_infer_request(
    body: bytes, headers: Mapping[str, str], *, max_decompressed: int = MAX_DECOMPRESSED_BYTES
) -> V2Request:
    """Parse an infer request (JSON + optional binary tensors, optionally gzip/deflate-compressed)."""
    body = inflate(body, _header(headers, "Content-Encoding"), max_decompressed)
    return parse_infer_body(body, headers)


def parse_infer_body(body: bytes, headers: Mapping[str, str]) -> V2Request:
    """Parse an infer request whose body is already inflated (``Content-Encoding`` is not looked at)."""
    length_text = _header(headers, HEADER_LENGTH)
    if length_text is None:
        json_part, binary = body, memoryview(b"")
    else:
        try:
            length = int(length_text)
        except ValueError:
            raise InvalidArgument(f"{HEADER_LENGTH} must be an integer, got {length_text!r}") from None
        if not 0 <= length <= len(body):
            raise InvalidArgument(f"{HEADER_LENGTH} is {length}, but the body has {len(body)} bytes")
        json_part, binary = body[:length], memoryview(body)[length:]

    if not json_part.strip():
        raise InvalidArgument("empty infer request: send a JSON object with 'inputs'")
    try:
        doc = parse(json_part)[0]  # NaN and Infinity as Python's json writes them are read too
    except orjson.JSONDecodeError as exc:
        hint = "" if length_text is not None else f" (binary tensors need the {HEADER_LENGTH} header)"
        raise InvalidArgument(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{hint}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("an infer request must be a JSON object with 'inputs'")

    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgument(f"'id' must be a string, got {request_id!r}")
    parameters = _object(doc.get("parameters"), "'parameters'")
    if not isinstance(parameters.get("binary_data_output", False), bool):
        raise InvalidArgument("'parameters.binary_data_output' must be true or false")

    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidArgument("'inputs' must be a non-empty list of tensors")
    inputs: list[V2Tensor] = []
    offset = 0
    bools = b"true" in json_part or b"false" in json_part  # see from_json
    for i, item in enumerate(raw_inputs):
        if not isinstance(item, dict):
            raise InvalidArgument(f"'inputs'[{i}] must be an object with 'name', 'shape', 'datatype' and 'data'")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"'inputs'[{i}] has no 'name'")
        if any(t.name == name for t in inputs):
            raise InvalidArgument(f"input {name!r} appears more than once")
        datatype = check_datatype(name, item.get("datatype"))
        shape = _shape(name, item.get("shape"))
        params = _object(item.get("parameters"), f"input {name!r}: 'parameters'")
        if "shared_memory_region" in params:
            raise InvalidArgument(f"input {name!r}: shared-memory tensors are not supported; send the data in the body")
        size = params.get("binary_data_size")
        if size is not None:
            if type(size) is not int or size < 0:
                raise InvalidArgument(f"input {name!r}: 'binary_data_size' must be a non-negative integer")
            if offset + size > len(binary):
                left = len(binary) - offset
                why = "" if length_text is not None else f" (is the {HEADER_LENGTH} header missing?)"
                raise InvalidArgument(
                    f"input {name!r}: binary_data_size is {size}, but only {left} bytes of binary data remain{why}"
                )
            data = from_binary(name, datatype, shape, binary[offset : offset + size])
            offset += size
        elif "data" in item:
            data = from_json(name, datatype, shape, item["data"], bools=bools)
        else:
            raise InvalidArgument(f"input {name!r} has neither 'data' nor parameters.binary_data_size")
        inputs.append(V2Tensor(name, datatype, shape, data, params))
    if offset != len(binary):
        raise InvalidArgument(
            f"the body has {len(binary) - offset} bytes after the binary tensors the inputs declare ({offset} bytes)"
        )

    outputs: list[V2RequestedOutput] = []
    raw_outputs = doc.get("outputs")
    if raw_outputs is not None:
        if not isinstance(raw_outputs, list):
            raise InvalidArgument("'outputs' must be a list of {\"name\": …} objects")
        for i, item in enumerate(raw_outputs):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise InvalidArgument(f"'outputs'[{i}] must be an object with a 'name'")
            name = item["name"]
            if any(o.name == name for o in outputs):
                raise InvalidArgument(f"output {name!r} is requested more than once")
            params = _object(item.get("parameters"), f"output {name!r}: 'parameters'")
            if params.get("classification"):
                raise InvalidArgument(f"output {name!r}: the classification extension (class_count) is not supported")
            if "shared_memory_region" in params:
                raise InvalidArgument(f"output {name!r}: shared-memory outputs are not supported")
            binary_flag = params.get("binary_data")
            if binary_flag is not None and not isinstance(binary_flag, bool):
                raise InvalidArgument(f"output {name!r}: 'binary_data' must be true or false")
            outputs.append(V2RequestedOutput(name, binary_flag, params))
    return V2Request(inputs=tuple(inputs), id=request_id, parameters=parameters, outputs=tuple(outputs))


# -- request → batch ------------------------------------------------------------


def _column(name: str, arr: np.ndarray, want_1d: bool, want_string: bool) -> np.ndarray:
    """A tensor as a signature column: ``[N, 1]`` → ``[N]`` for a 1-D column, BYTES → text for a string column."""
    if want_1d and arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if want_string and arr.dtype == object and any(isinstance(v, bytes) for v in arr.flat):
        try:
            decoded = [v.decode("utf-8") if isinstance(v, bytes) else v for v in arr.ravel().tolist()]
        except UnicodeDecodeError:
            raise InvalidArgument(f"input {name!r}: BYTES values must be UTF-8 text for this model") from None
        out = np.empty(arr.size, dtype=object)
        out[:] = decoded
        arr = out.reshape(arr.shape)
    return arr


def v2_inputs_to_batch(req: V2Request, signature: Signature) -> Batch:
    """The request's tensors as the signature's columns, validated.

    - inputs named like the signature's columns (an ``[N, 1]`` tensor feeds a 1-D column);
    - or one ``[N, k]`` tensor, any name, for a signature of k 1-D columns (split in order);
    - or one tensor, any name, for a signature with a single input.
    """
    specs = signature.inputs
    if not specs:
        return validate_batch(signature, {t.name: t.data for t in req.inputs})
    by_name = {s.name: s for s in specs}
    if all(t.name in by_name for t in req.inputs) or len(req.inputs) > 1:
        columns: dict[str, Any] = {}
        for t in req.inputs:
            spec = by_name.get(t.name)
            one_d = spec is not None and len(spec.shape) == 1
            columns[t.name] = _column(t.name, t.data, one_d, spec is not None and spec.dtype == "string")
        return validate_batch(signature, columns)
    (tensor,) = req.inputs
    if len(specs) == 1:
        spec = specs[0]
        column = _column(tensor.name, tensor.data, len(spec.shape) == 1, spec.dtype == "string")
        return validate_batch(signature, {spec.name: column})
    if tensor.data.ndim == 2 and all(len(s.shape) == 1 for s in specs):
        width = tensor.data.shape[1]
        if width != len(specs):
            raise InvalidArgument(
                f"input {tensor.name!r} has {width} columns, this model takes {len(specs)}: {', '.join(signature.input_names)}"
            )
        columns = {}
        for i, spec in enumerate(specs):
            part = np.ascontiguousarray(tensor.data[:, i])
            columns[spec.name] = _column(tensor.name, part, True, spec.dtype == "string")
        return validate_batch(signature, columns)
    raise InvalidArgument(
        f"input {tensor.name!r} (shape {list(tensor.shape)}) does not fit this model: send inputs named "
        f"{', '.join(signature.input_names)}, or one [N, {len(specs)}] tensor"
    )


# -- response -------------------------------------------------------------------


def build_infer_response(
    model_name: str,
    model_version: str | None,
    request_id: str | None,
    outputs: Batch,
    requested: V2Request | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The reply body and its extra headers (``Content-Type``, and ``Inference-Header-Content-Length`` when binary).

    ``requested`` (the parsed request) picks the outputs and which ones are
    binary; without it every output is returned as JSON ``data``.
    """
    if requested is not None and requested.outputs:
        unknown = [o.name for o in requested.outputs if o.name not in outputs]
        if unknown:
            raise InvalidArgument(
                f"unknown output{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
                f"this model returns {', '.join(outputs)}"
            )
        names: Sequence[str] = [o.name for o in requested.outputs]
    else:
        names = list(outputs)
    header: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        header["model_version"] = str(model_version)
    if request_id is not None:
        header["id"] = request_id
    entries = []
    blobs: list[bytes] = []
    for name in names:
        arr, datatype = output_array(name, outputs[name])
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(arr.shape)}
        if requested is not None and requested.wants_binary(name):
            raw = to_binary(arr, datatype)
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            entry["data"] = to_json_data(arr, datatype)
        entries.append(entry)
    header["outputs"] = entries
    text = orjson.dumps(header, option=_NUMPY)
    if blobs:
        return b"".join([text, *blobs]), {HEADER_LENGTH: str(len(text)), "Content-Type": "application/octet-stream"}
    return text, {"Content-Type": "application/json"}


def compress_response(body: bytes, accept_encoding: str | None) -> tuple[bytes, dict[str, str]]:
    """Compress a reply only when ``Accept-Encoding`` asks (gzip preferred, then deflate = zlib).

    Returns the body and the ``Content-Encoding`` header to add (none when sent as is).
    """
    offered = {}
    for part in (accept_encoding or "").split(","):
        token, _, params = part.strip().lower().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if token:
            offered[token.strip()] = q
    for encoding in ("gzip", "deflate"):
        if offered.get(encoding, offered.get("*", 0.0)) > 0:
            packed = gzip.compress(body, compresslevel=6, mtime=0) if encoding == "gzip" else zlib.compress(body)
            return packed, {"Content-Encoding": encoding}
    return body, {}


# -- metadata and errors --------------------------------------------------------


def model_metadata(name: str, versions: Sequence[Any] | None, signature: Signature, platform: str) -> dict[str, Any]:
    """``GET /v2/models/{m}``: inputs and outputs with v2 datatypes; ``-1`` marks a variable dimension."""
    meta: dict[str, Any] = {"name": name}
    if versions:
        meta["versions"] = [str(v) for v in versions]
    meta["platform"] = platform
    meta["inputs"] = [
        {"name": c.name, "datatype": v2_datatype(c.dtype), "shape": list(c.shape)} for c in signature.inputs
    ]
    meta["outputs"] = [
        {"name": c.name, "datatype": v2_datatype(c.dtype), "shape": list(c.shape)} for c in signature.outputs
    ]
    return meta


def error_body(message: str) -> bytes:
    """The v2 error envelope: ``{"error": "<message>"}``."""
    return orjson.dumps({"error": message})
