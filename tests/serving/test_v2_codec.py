"""Open Inference Protocol codec, proven against tritonclient.http's own request and reply code."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import numpy as np
import orjson
import pytest
from tritonclient.http import InferenceServerClient, InferInput, InferRequestedOutput, InferResult

from modelport.errors import Internal, InvalidArgument, PayloadTooLarge, UnsupportedMediaType
from modelport.serving.codecs.v2 import (
    HEADER_LENGTH,
    V2Request,
    build_infer_response,
    compress_response,
    error_body,
    model_metadata,
    parse_infer_request,
    v2_inputs_to_batch,
)
from modelport.signature import Batch, ColumnSpec, Signature


def client_request(
    inputs: list[InferInput], outputs: list[InferRequestedOutput] | None = None, **kwargs: Any
) -> tuple[bytes, dict[str, str]]:
    """The exact body and headers tritonclient.http sends for ``infer(...)``."""
    body, header_length = InferenceServerClient.generate_request_body(inputs, outputs=outputs, **kwargs)
    headers = {} if header_length is None else {HEADER_LENGTH: str(header_length)}
    return body, headers


def tensor(name: str, value: np.ndarray, datatype: str, *, binary: bool = True) -> InferInput:
    item = InferInput(name, list(value.shape), datatype)
    item.set_data_from_numpy(value, binary_data=binary)
    return item


def client_result(body: bytes, headers: dict[str, str]) -> InferResult:
    """What tritonclient makes of our reply."""
    length = headers.get(HEADER_LENGTH)
    return InferResult.from_response_body(body, header_length=None if length is None else int(length))


def roundtrip(inputs: list[InferInput], **kwargs: Any) -> V2Request:
    body, headers = client_request(inputs, **kwargs)
    return parse_infer_request(body, headers)


# -- PROTOCOLS.md §1, byte for byte ---------------------------------------------

EXAMPLE_REQUEST = (
    b'{"inputs":[{"name":"INPUT0","shape":[1,4],"datatype":"FP32","parameters":{"binary_data_size":16}}],'
    b'"parameters":{"binary_data_output":true}}' + bytes.fromhex("0000803f000000400000404000008040")
)
EXAMPLE_REPLY = (
    b'{"model_name":"simple","model_version":"1","outputs":[{"name":"OUTPUT0","datatype":"FP32","shape":[1,4],'
    b'"parameters":{"binary_data_size":16}}]}' + bytes.fromhex("00000040000080400000c04000000041")
)


def test_the_protocols_example_byte_for_byte() -> None:
    body, headers = client_request([tensor("INPUT0", np.array([[1, 2, 3, 4]], dtype=np.float32), "FP32")])
    assert body == EXAMPLE_REQUEST and headers == {HEADER_LENGTH: "140"} and len(body) == 156

    req = parse_infer_request(body, headers)
    (inp,) = req.inputs
    assert (inp.name, inp.datatype, inp.shape) == ("INPUT0", "FP32", (1, 4))
    assert inp.data.dtype == np.float32 and inp.data.tolist() == [[1, 2, 3, 4]]
    assert req.binary_data_output and req.id is None and req.outputs == ()

    reply, extra = build_infer_response("simple", "1", req.id, {"OUTPUT0": inp.data * 2}, req)
    assert reply == EXAMPLE_REPLY and len(reply) == 159
    assert extra == {HEADER_LENGTH: "143", "Content-Type": "application/octet-stream"}
    assert client_result(reply, extra).as_numpy("OUTPUT0").tolist() == [[2, 4, 6, 8]]


# -- every datatype, binary and JSON --------------------------------------------

NUMERIC = {
    "BOOL": np.array([[True, False, True]]),
    "UINT8": np.array([[0, 7, 255]], dtype=np.uint8),
    "UINT16": np.array([[0, 7, 65535]], dtype=np.uint16),
    "UINT32": np.array([[0, 7, 2**32 - 1]], dtype=np.uint32),
    "UINT64": np.array([[0, 7, 2**64 - 1]], dtype=np.uint64),
    "INT8": np.array([[-128, 0, 127]], dtype=np.int8),
    "INT16": np.array([[-(2**15), 0, 2**15 - 1]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 0, 2**31 - 1]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 0, 2**63 - 1]], dtype=np.int64),
    "FP16": np.array([[0.5, -2.0, 65504.0]], dtype=np.float16),
    "FP32": np.array([[0.1, -2.5, 3.4e38]], dtype=np.float32),
    "FP64": np.array([[0.1, -2.5, 1e300]], dtype=np.float64),
}


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("datatype", NUMERIC)
def test_every_datatype_both_ways(datatype: str, binary: bool) -> None:
    value = NUMERIC[datatype]
    req = roundtrip([tensor("t", value, datatype, binary=binary)])
    got = req.inputs[0].data
    assert got.dtype == value.dtype and got.shape == value.shape and got.tolist() == value.tolist()
    assert got.flags.writeable

    wanted = [InferRequestedOutput("t", binary_data=binary)]
    req = roundtrip([tensor("t", value, datatype)], outputs=wanted)
    reply, extra = build_infer_response("m", "1", None, {"t": value}, req)
    out = client_result(reply, extra).as_numpy("t")
    assert out.dtype == value.dtype and out.tolist() == value.tolist()
    assert (HEADER_LENGTH in extra) is binary


def test_bytes_tensors_both_ways() -> None:
    words = np.array(["héllo", "w"], dtype=object)
    body, headers = client_request([tensor("s", words, "BYTES")])
    assert body.endswith(bytes.fromhex("06000000 68c3a96c6c6f 01000000 77".replace(" ", "")))
    binary = parse_infer_request(body, headers).inputs[0]
    assert binary.data.tolist() == ["héllo".encode(), b"w"]
    as_json = roundtrip([tensor("s", words, "BYTES", binary=False)]).inputs[0]
    assert as_json.data.tolist() == ["héllo", "w"]

    for flag in (True, False):
        req = roundtrip([tensor("s", words, "BYTES")], outputs=[InferRequestedOutput("s", binary_data=flag)])
        reply, extra = build_infer_response("m", "1", None, {"s": words}, req)
        out = client_result(reply, extra).as_numpy("s")
        assert [v.decode() if isinstance(v, bytes) else v for v in out.tolist()] == ["héllo", "w"]
    reply, extra = build_infer_response("m", "1", None, {"s": np.array(["héllo", "w"])}, req)
    assert orjson.loads(reply)["outputs"][0] == {"name": "s", "datatype": "BYTES", "shape": [2], "data": ["héllo", "w"]}


def test_non_ascii_json_next_to_binary_tensors() -> None:
    # the client measures the header in characters; rapidjson escapes non-ASCII, so that is also bytes
    words = tensor("s", np.array(["héllo"], dtype=object), "BYTES", binary=False)
    req = roundtrip([words, tensor("x", np.array([1.5], dtype=np.float32), "FP32")], request_id="ré")
    assert req.id == "ré" and req.inputs[0].data.tolist() == ["héllo"] and req.inputs[1].data.tolist() == [1.5]


def test_json_data_may_be_nested_or_flat() -> None:
    doc = {
        "inputs": [
            {"name": "a", "shape": [2, 2], "datatype": "INT32", "data": [[1, 2], [3, 4]]},
            {"name": "b", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3.5, None]},
            {"name": "c", "shape": [2], "datatype": "BYTES", "data": ["x", "y"]},
        ]
    }
    req = parse_infer_request(orjson.dumps(doc), {})
    a, b, c = (t.data for t in req.inputs)
    assert a.dtype == np.int32 and a.tolist() == [[1, 2], [3, 4]]
    assert b.dtype == np.float32 and b[:1].tolist() == [[1, 2]] and np.isnan(b[1, 1])
    assert c.tolist() == ["x", "y"]


def test_fp16_json_data_and_lenient_bools() -> None:
    doc = {
        "inputs": [
            {"name": "h", "shape": [2], "datatype": "FP16", "data": [0.5, 1.5]},
            {"name": "b", "shape": [2], "datatype": "BOOL", "data": [1, 0]},
            {"name": "u", "shape": [2], "datatype": "UINT64", "data": [2**64 - 1, 1.0]},
        ]
    }
    h, b, u = (t.data for t in parse_infer_request(orjson.dumps(doc), {}).inputs)
    assert h.dtype == np.float16 and h.tolist() == [0.5, 1.5]
    assert b.tolist() == [True, False] and u.tolist() == [2**64 - 1, 1]


def test_request_id_and_parameters_reach_the_reply() -> None:
    req = roundtrip(
        [tensor("x", np.array([1.0]), "FP64")],
        request_id="req-7",
        sequence_id=42,
        sequence_start=True,
        priority=2,
        timeout=1000,
        parameters={"tenant": "blue"},
    )
    assert req.id == "req-7"
    assert req.parameters == {
        "sequence_id": 42,
        "sequence_start": True,
        "sequence_end": False,
        "priority": 2,
        "timeout": 1000,
        "tenant": "blue",
        "binary_data_output": True,
    }
    reply, extra = build_infer_response("m", "3", req.id, {"y": np.array([2.0])}, req)
    result = client_result(reply, extra).get_response()
    assert result["id"] == "req-7" and result["model_version"] == "3"


# -- requested outputs ----------------------------------------------------------

OUTPUTS: Batch = {
    "label": np.array([0, 1], dtype=np.int64),
    "probabilities": np.array([[0.75, 0.25], [0.125, 0.875]], dtype=np.float32),
    "flag": np.array([True, False]),
}


def test_requested_outputs_pick_and_order_with_per_output_binary() -> None:
    wanted = [InferRequestedOutput("probabilities", binary_data=True), InferRequestedOutput("label", binary_data=False)]
    req = roundtrip([tensor("x", np.array([1.0, 2.0]), "FP64")], outputs=wanted)
    assert not req.binary_data_output and [o.name for o in req.outputs] == ["probabilities", "label"]
    reply, extra = build_infer_response("m", "1", None, OUTPUTS, req)
    result = client_result(reply, extra)
    header = result.get_response()
    assert [o["name"] for o in header["outputs"]] == ["probabilities", "label"]
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 16} and "data" not in header["outputs"][0]
    assert header["outputs"][1]["data"] == [0, 1]
    assert result.as_numpy("probabilities").tolist() == OUTPUTS["probabilities"].tolist()
    assert result.as_numpy("flag") is None


def test_per_output_flag_beats_the_request_default() -> None:
    doc = {
        "inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1, 2]}],
        "outputs": [{"name": "label", "parameters": {"binary_data": False}}, {"name": "flag"}],
        "parameters": {"binary_data_output": True},
    }
    req = parse_infer_request(orjson.dumps(doc), {})
    assert not req.wants_binary("label") and req.wants_binary("flag")
    reply, extra = build_infer_response("m", None, None, OUTPUTS, req)
    result = client_result(reply, extra)
    assert result.as_numpy("label").tolist() == [0, 1] and result.as_numpy("flag").tolist() == [True, False]
    assert "model_version" not in result.get_response()


def test_all_outputs_as_json_without_a_request() -> None:
    reply, extra = build_infer_response("m", "1", None, {"y": np.array([0.1, np.nan], dtype=np.float32)}, None)
    assert extra == {"Content-Type": "application/json"}
    assert (
        reply
        == b'{"model_name":"m","model_version":"1","outputs":[{"name":"y","datatype":"FP32","shape":[2],"data":[0.1,null]}]}'
    )
    out = client_result(reply, extra).as_numpy("y")
    assert out[0] == np.float32(0.1) and np.isnan(out[1])


def test_unknown_requested_output() -> None:
    req = roundtrip([tensor("x", np.array([1.0]), "FP64")], outputs=[InferRequestedOutput("nope")])
    with pytest.raises(InvalidArgument, match="unknown output 'nope': this model returns label, probabilities, flag"):
        build_infer_response("m", "1", None, OUTPUTS, req)


def test_an_output_the_protocol_cannot_carry() -> None:
    with pytest.raises(Internal, match="output 'when' has dtype datetime64"):
        build_infer_response("m", "1", None, {"when": np.array(["2024-01-01"], dtype="datetime64[D]")}, None)


# -- compression ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", lambda b: zlib.compress(b, wbits=-15))],
    ids=["gzip", "deflate", "raw deflate"],
)
def test_compressed_request_bodies(encoding: str, compress: Any) -> None:
    # what InferenceServerClient.infer(..., request_compression_algorithm=...) sends: the header
    # length is the JSON's length before compression
    value = np.arange(12, dtype=np.float32).reshape(3, 4)
    body, headers = client_request(
        [tensor("X", value, "FP32"), tensor("s", np.array(["a", "bc", "d"], dtype=object), "BYTES")]
    )
    headers = {**headers, "Content-Encoding": encoding}
    req = parse_infer_request(compress(body), headers)
    assert req.inputs[0].data.tolist() == value.tolist() and req.inputs[1].data.tolist() == [b"a", b"bc", b"d"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_replies_read_by_the_client(encoding: str) -> None:
    req = roundtrip([tensor("x", np.array([1.0]), "FP64")])
    reply, extra = build_infer_response("m", "1", None, OUTPUTS, req)
    packed, more = compress_response(reply, encoding)
    assert more == {"Content-Encoding": encoding} and packed != reply
    length = int(extra[HEADER_LENGTH])
    result = InferResult.from_response_body(packed, header_length=length, content_encoding=encoding)
    assert result.as_numpy("probabilities").tolist() == OUTPUTS["probabilities"].tolist()


def test_replies_are_compressed_only_when_asked() -> None:
    assert compress_response(b"x", None) == (b"x", {})
    assert compress_response(b"x", "identity, br") == (b"x", {})
    assert compress_response(b"x", "gzip;q=0, deflate")[1] == {"Content-Encoding": "deflate"}


def test_compression_errors() -> None:
    body = orjson.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]})
    with pytest.raises(InvalidArgument, match="not valid gzip data"):
        parse_infer_request(body, {"Content-Encoding": "gzip"})
    with pytest.raises(InvalidArgument, match="the gzip request body is truncated"):
        parse_infer_request(gzip.compress(body)[:-12], {"Content-Encoding": "gzip"})
    with pytest.raises(UnsupportedMediaType, match="Content-Encoding 'br' is not supported"):
        parse_infer_request(body, {"content-encoding": "br"})
    bomb = gzip.compress(b" " * (8 << 20))
    with pytest.raises(PayloadTooLarge, match="inflates beyond 1048576 bytes"):
        parse_infer_request(bomb, {"Content-Encoding": "gzip"}, max_decompressed=1 << 20)


# -- bad bodies -----------------------------------------------------------------


def fp32_input(**overrides: Any) -> dict[str, Any]:
    return {"name": "X", "shape": [1, 4], "datatype": "FP32", **overrides}


@pytest.mark.parametrize(
    ("doc", "binary", "message"),
    [
        ({"inputs": [fp32_input(data=[1, 2, 3])]}, b"", "input 'X': shape [1,4] needs 4 values, 'data' has 3"),
        ({"inputs": [fp32_input(data=[[1, 2], [3]])]}, b"", "input 'X': 'data' is a ragged nested list"),
        ({"inputs": [fp32_input(datatype="FP8", data=[1, 2, 3, 4])]}, b"", "input 'X': unsupported datatype 'FP8'"),
        ({"inputs": [fp32_input(datatype="BF16", data=[1, 2, 3, 4])]}, b"", "send FP32 instead"),
        ({"inputs": [fp32_input(data=["a", "b", "c", "d"])]}, b"", "input 'X': FP32 data must be numbers, got 'a'"),
        ({"inputs": [fp32_input(datatype="INT32", data=[1, 2, 3, 4.5])]}, b"", "INT32 data must be integers"),
        ({"inputs": [fp32_input(datatype="UINT8", data=[1, 2, 3, 256])]}, b"", "out of range for UINT8 (0..255)"),
        ({"inputs": [fp32_input(datatype="BOOL", data=[1, 2, 0, 1])]}, b"", "BOOL data must be true/false"),
        ({"inputs": [fp32_input(datatype="BYTES", data=[1, 2, 3, 4])]}, b"", "BYTES data must be strings, got 1"),
        ({"inputs": [fp32_input(datatype="BYTES", data=[["a", "b"], ["c"]])]}, b"", "'data' is a ragged nested list"),
        ({"inputs": [fp32_input(datatype="BYTES", data=["a", "b"])]}, b"", "shape [1,4] needs 4 values, 'data' has 2"),
        ({"inputs": [fp32_input(datatype="INT64", data=[1, 2, None, 4])]}, b"", "INT64 data must be numbers, got None"),
        ({"inputs": [fp32_input(datatype="UINT64", data=[1, 2, 3, -1])]}, b"", "out of range for UINT64"),
        ({"inputs": [fp32_input(datatype="INT64", data=[1, 2, 3, 2**63])]}, b"", "out of range for INT64"),
        ({"inputs": [fp32_input(shape=[1, -4], data=[1])]}, b"", "'shape' must be a list of non-negative integers"),
        ({"inputs": [fp32_input()]}, b"", "input 'X' has neither 'data' nor parameters.binary_data_size"),
        (
            {"inputs": [fp32_input(parameters={"binary_data_size": 16})]},
            b"\0" * 12,
            "binary_data_size is 16, but only 12 bytes",
        ),
        (
            {"inputs": [fp32_input(parameters={"binary_data_size": 12})]},
            b"\0" * 12,
            "shape [1,4] of FP32 needs 16 bytes, binary_data_size is 12",
        ),
        (
            {"inputs": [fp32_input(parameters={"binary_data_size": 16})]},
            b"\0" * 20,
            "the body has 4 bytes after the binary tensors",
        ),
        (
            {"inputs": [fp32_input(datatype="BYTES", shape=[1], parameters={"binary_data_size": 6})]},
            b"\x05\0\0\0ab",
            "BYTES element 0 declares 5 bytes, only 2 remain",
        ),
        (
            {"inputs": [fp32_input(datatype="BYTES", shape=[2], parameters={"binary_data_size": 6})]},
            b"\x02\0\0\0ab",
            "shape [2] needs 2 BYTES elements, the binary data holds 1",
        ),
        ({"inputs": []}, b"", "'inputs' must be a non-empty list"),
        (
            {"inputs": [fp32_input(data=[1, 2, 3, 4]), fp32_input(data=[1, 2, 3, 4])]},
            b"",
            "input 'X' appears more than once",
        ),
        (
            {"inputs": [fp32_input(parameters={"shared_memory_region": "r"})]},
            b"",
            "shared-memory tensors are not supported",
        ),
        ({"id": 7, "inputs": [fp32_input(data=[1, 2, 3, 4])]}, b"", "'id' must be a string"),
        (
            {
                "inputs": [fp32_input(data=[1, 2, 3, 4])],
                "outputs": [{"name": "y", "parameters": {"classification": 2}}],
            },
            b"",
            "classification extension (class_count) is not supported",
        ),
    ],
)
def test_bad_bodies_are_invalid_arguments(doc: dict[str, Any], binary: bytes, message: str) -> None:
    head = orjson.dumps(doc)
    headers = {HEADER_LENGTH: str(len(head))} if binary else {}
    with pytest.raises(InvalidArgument) as info:
        parse_infer_request(head + binary, headers)
    assert message in str(info.value)


def test_header_length_problems() -> None:
    body, headers = client_request([tensor("X", np.zeros((1, 4), dtype=np.float32), "FP32")])
    with pytest.raises(InvalidArgument, match="binary tensors need the Inference-Header-Content-Length header"):
        parse_infer_request(body, {})
    with pytest.raises(InvalidArgument, match="Inference-Header-Content-Length is 500, but the body has 151 bytes"):
        parse_infer_request(body, {HEADER_LENGTH: "500"})
    with pytest.raises(InvalidArgument, match="must be an integer"):
        parse_infer_request(body, {HEADER_LENGTH: "ten"})
    with pytest.raises(InvalidArgument, match="invalid JSON at line 1 column 1"):
        parse_infer_request(b"nope", {})
    # header names are case-insensitive, whatever mapping the server passes
    lower = {"inference-header-content-length": headers[HEADER_LENGTH]}
    assert parse_infer_request(body, lower).inputs[0].shape == (1, 4)


# -- request → batch ------------------------------------------------------------

TABLE = Signature(inputs=(ColumnSpec("a", "float64"), ColumnSpec("b", "int64"), ColumnSpec("name", "string")))
TENSOR = Signature(inputs=(ColumnSpec("X", "float32", (-1, 4)),))
FLOATS = Signature(inputs=(ColumnSpec("a", "float32"), ColumnSpec("b", "float32")))


def test_inputs_named_like_the_columns() -> None:
    req = roundtrip(
        [
            tensor("name", np.array([["x"], ["y"]], dtype=object), "BYTES"),
            tensor("a", np.array([[1.5], [2.5]]), "FP64"),
            tensor("b", np.array([3, 4], dtype=np.int32), "INT32", binary=False),
        ]
    )
    batch = v2_inputs_to_batch(req, TABLE)
    assert list(batch) == ["a", "b", "name"]
    assert batch["a"].tolist() == [1.5, 2.5] and batch["b"].dtype == np.int64 and batch["name"].tolist() == ["x", "y"]


def test_one_wide_tensor_is_split_into_the_columns() -> None:
    req = roundtrip([tensor("INPUT0", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float64), "FP64")])
    with pytest.raises(InvalidArgument, match="column 'name': expected strings"):
        v2_inputs_to_batch(req, TABLE)
    sig = Signature(inputs=(ColumnSpec("a", "float64"), ColumnSpec("b", "int64"), ColumnSpec("c", "float32")))
    batch = v2_inputs_to_batch(req, sig)
    assert batch["a"].tolist() == [1, 4] and batch["b"].tolist() == [2, 5] and batch["c"].dtype == np.float32
    narrow = roundtrip([tensor("INPUT0", np.zeros((2, 2)), "FP64")])
    with pytest.raises(InvalidArgument, match="input 'INPUT0' has 2 columns, this model takes 3: a, b, c"):
        v2_inputs_to_batch(narrow, sig)


def test_the_signatures_own_tensor() -> None:
    value = np.arange(8, dtype=np.float32).reshape(2, 4)
    for name in ("X", "INPUT0"):
        batch = v2_inputs_to_batch(roundtrip([tensor(name, value, "FP32")]), TENSOR)
        assert list(batch) == ["X"] and batch["X"].tolist() == value.tolist()
    wrong = roundtrip([tensor("X", np.zeros((2, 3), dtype=np.float32), "FP32")])
    with pytest.raises(InvalidArgument, match=r"column 'X': expected shape \[N, 4\], got \[2, 3\]"):
        v2_inputs_to_batch(wrong, TENSOR)


@pytest.mark.parametrize("binary", [True, False])
def test_bool_tensors_and_non_finite_numbers_for_numeric_columns(binary: bool) -> None:
    def refused(a: InferInput, b: InferInput) -> str:
        with pytest.raises(InvalidArgument) as info:
            v2_inputs_to_batch(roundtrip([a, b]), FLOATS)
        return info.value.message

    b = tensor("b", np.array([1.0, 2.0], dtype=np.float32), "FP32", binary=binary)
    flags = tensor("a", np.array([True, False]), "BOOL", binary=binary)
    assert refused(flags, b) == "column 'a': expected float32, got a boolean (true/false) at row 0"
    inf = tensor("a", np.array([1.0, np.inf]), "FP64", binary=binary)  # JSON: Infinity, as tritonclient writes it
    assert refused(inf, b) == "column 'a': infinite value (inf) at row 1, and this column does not allow infinities"
    big = tensor("a", np.array([1e39, 1.0]), "FP64", binary=binary)
    assert refused(big, b) == "column 'a': 1e+39 at row 0 is out of range for float32"
    nan = tensor("a", np.array([np.nan, 1.0]), "FP64", binary=binary)
    assert refused(nan, b).startswith("column 'a': missing value (NaN) at row 0")


def test_json_booleans_in_numeric_data_are_refused() -> None:
    doc = {"inputs": [{"name": "a", "shape": [2], "datatype": "FP32", "data": [1.5, True]}]}
    with pytest.raises(InvalidArgument, match=r"^input 'a': FP32 data must be numbers, got a boolean \(true/false\)$"):
        parse_infer_request(orjson.dumps(doc), {})
    doc["inputs"][0].update(datatype="INT64", data=[[1], [False]], shape=[2, 1])
    with pytest.raises(InvalidArgument, match=r"^input 'a': INT64 data must be numbers, got a boolean"):
        parse_infer_request(orjson.dumps(doc), {})


def test_unknown_inputs_name_what_is_expected() -> None:
    req = roundtrip([tensor("a", np.array([1.0]), "FP64"), tensor("zzz", np.array([1.0]), "FP64")])
    with pytest.raises(InvalidArgument, match="missing input columns 'b', 'name'; expected a, b, name"):
        v2_inputs_to_batch(req, TABLE)


def test_bytes_that_are_not_text() -> None:
    req = roundtrip([tensor("s", np.array([b"\xff\xfe"], dtype=object), "BYTES")])
    with pytest.raises(InvalidArgument, match="BYTES values must be UTF-8 text"):
        v2_inputs_to_batch(req, Signature(inputs=(ColumnSpec("s", "string"),)))


# -- metadata and errors --------------------------------------------------------


def test_model_metadata() -> None:
    sig = Signature(
        inputs=(ColumnSpec("X", "float32", (-1, 4)), ColumnSpec("flag", "bool")),
        outputs=(ColumnSpec("label", "string"), ColumnSpec("probabilities", "float64", (-1, 3))),
    )
    assert model_metadata("iris", [1, 2], sig, "onnxruntime_onnx") == {
        "name": "iris",
        "versions": ["1", "2"],
        "platform": "onnxruntime_onnx",
        "inputs": [
            {"name": "X", "datatype": "FP32", "shape": [-1, 4]},
            {"name": "flag", "datatype": "BOOL", "shape": [-1]},
        ],
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
        ],
    }
    assert "versions" not in model_metadata("iris", None, sig, "sklearn")


def test_error_body() -> None:
    assert error_body('bad "thing"') == b'{"error":"bad \\"thing\\""}'
