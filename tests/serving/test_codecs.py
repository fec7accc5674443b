"""REST codecs: every request shape and media type in, every reply format out."""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import orjson
import pytest

from modelport.errors import InvalidArgument, NotAcceptable, UnsupportedMediaType
from modelport.serving.codecs import decode_request, encode_response
from modelport.serving.codecs.media import negotiate, parse_media_type
from modelport.signature import Batch, ColumnSpec, Signature

JSON = "application/json"
CSV = "text/csv"

# a, b: the MLflow table's "sum" model; c: a string column
SIG = Signature(inputs=(ColumnSpec("a", "int64"), ColumnSpec("b", "float64"), ColumnSpec("c", "string")))
TENSOR = Signature(inputs=(ColumnSpec("X", "float32", (-1, 4)),))
ONE = Signature(inputs=(ColumnSpec("x", "float64"),))
NULLABLE = Signature(inputs=(ColumnSpec("a", "int64"), ColumnSpec("b", "float64", nullable=True)))


def decode(body: bytes | str, content_type: str | None = JSON, sig: Signature = SIG, *, sniff: bool = False) -> Batch:
    raw = body.encode() if isinstance(body, str) else body
    return decode_request(raw, content_type, sig, sniff_missing=sniff)


def assert_abc(batch: Batch) -> None:
    """Rows (1, 2.0, "x") and (3, 4.0, "y") with the signature's dtypes."""
    assert list(batch) == ["a", "b", "c"]
    assert batch["a"].dtype == np.int64 and batch["a"].tolist() == [1, 3]
    assert batch["b"].dtype == np.float64 and batch["b"].tolist() == [2.0, 4.0]
    assert batch["c"].dtype == object and batch["c"].tolist() == ["x", "y"]


def errors(exc_type: type[Exception], body: bytes | str, content_type: str | None = JSON, sig: Signature = SIG) -> str:
    with pytest.raises(exc_type) as info:
        decode(body, content_type, sig)
    return str(info.value)


# -- JSON shapes ----------------------------------------------------------------

ABC_SHAPES = {
    "instances rows": {"instances": [[1, 2, "x"], [3, 4, "y"]]},
    "instances records": {"instances": [{"a": 1, "b": 2, "c": "x"}, {"a": 3, "b": 4, "c": "y"}]},
    "inputs columns": {"inputs": {"a": [1, 3], "b": [2, 4], "c": ["x", "y"]}},
    "inputs rows": {"inputs": [[1, 2, "x"], [3, 4, "y"]]},
    "inputs records": {"inputs": [{"a": 1, "b": 2, "c": "x"}, {"c": "y", "b": 4.0, "a": 3}]},
    "dataframe_split": {"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2, "x"], [3, 4, "y"]]}},
    "dataframe_split reordered": {"dataframe_split": {"columns": ["c", "b", "a"], "data": [["x", 2, 1], ["y", 4, 3]]}},
    "dataframe_split index": {
        "dataframe_split": {"index": [7, 8], "columns": ["a", "b", "c"], "data": [[1, 2, "x"], [3, 4, "y"]]}
    },
    "dataframe_split positional": {"dataframe_split": {"data": [[1, 2, "x"], [3, 4, "y"]]}},
    "dataframe_records": {"dataframe_records": [{"a": 1, "b": 2, "c": "x"}, {"a": 3, "b": 4, "c": "y"}]},
    "bare rows": [[1, 2, "x"], [3, 4, "y"]],
    "bare records": [{"a": 1, "b": 2, "c": "x"}, {"a": 3, "b": 4, "c": "y"}],
    "columns without wrapper": {"a": [1, 3], "b": [2, 4], "c": ["x", "y"]},
    "params ignored": {"instances": [[1, 2, "x"], [3, 4, "y"]], "params": {"temperature": 0.5}},
}


@pytest.mark.parametrize("payload", ABC_SHAPES.values(), ids=ABC_SHAPES.keys())
def test_every_json_shape_gives_the_same_batch(payload: Any) -> None:
    assert_abc(decode(orjson.dumps(payload)))


def test_a_single_record_is_one_row() -> None:
    batch = decode('{"c": "x", "a": 1, "b": 2.5}')
    assert batch["a"].tolist() == [1] and batch["b"].tolist() == [2.5] and batch["c"].tolist() == ["x"]


def test_json_content_type_parameters_and_case() -> None:
    assert_abc(decode(orjson.dumps(ABC_SHAPES["instances rows"]), "Application/JSON; charset=UTF-8"))


@pytest.mark.parametrize(
    "payload",
    [
        {"instances": [[1, 2, 3, 4], [5, 6, 7, 8]]},
        {"inputs": [[1, 2, 3, 4], [5, 6, 7, 8]]},
        {"inputs": {"X": [[1, 2, 3, 4], [5, 6, 7, 8]]}},
        [[1, 2, 3, 4], [5, 6, 7, 8]],
        {"dataframe_split": {"columns": ["f0", "f1", "f2", "f3"], "data": [[1, 2, 3, 4], [5, 6, 7, 8]]}},
        {"dataframe_records": [{"X": [1, 2, 3, 4]}, {"X": [5, 6, 7, 8]}]},
    ],
    ids=["instances", "inputs rows", "inputs columns", "bare rows", "dataframe_split", "records"],
)
def test_rows_of_k_values_feed_a_tensor_input(payload: Any) -> None:
    batch = decode(orjson.dumps(payload), sig=TENSOR)
    assert batch["X"].dtype == np.float32 and batch["X"].shape == (2, 4)
    assert batch["X"].tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_a_single_tensor_record() -> None:
    assert decode('{"X": [1, 2, 3, 4]}', sig=TENSOR)["X"].shape == (1, 4)


def test_one_column_takes_scalars_or_one_value_rows() -> None:
    assert decode('{"instances": [1, 2.5, 3]}', sig=ONE)["x"].tolist() == [1.0, 2.5, 3.0]
    assert decode("[[1], [2]]", sig=ONE)["x"].tolist() == [1.0, 2.0]


def test_rows_of_numbers_decode_to_one_matrix_and_nan_is_still_refused() -> None:
    floats = Signature(inputs=(ColumnSpec("a", "float32"), ColumnSpec("b", "float32")))
    batch = decode('{"instances": [[1, 2.5], [3, 4]]}', sig=floats)
    assert batch["b"].tolist() == [2.5, 4.0] and batch["a"].dtype == np.float32
    for body in ('{"instances": [[1, null]]}', '{"instances": [[1, "nan"]]}', '{"instances": [[1, "NaN"]]}'):
        msg = errors(InvalidArgument, body, sig=floats)
        assert "column 'b'" in msg and "NaN" in msg, (body, msg)


@pytest.mark.parametrize("shape", [k for k in ABC_SHAPES if k != "dataframe_split positional"])
def test_json_booleans_are_refused_for_numeric_columns_in_every_shape(shape: str) -> None:
    # numpy alone reads true among numbers as 1.0
    body = orjson.dumps(ABC_SHAPES[shape]).replace(b"4.0", b"true").replace(b"4", b"true")
    assert "column 'b': expected float64, got a boolean (true/false) at row 1" in errors(InvalidArgument, body)


def test_json_booleans_in_the_rows_of_numbers_fast_path() -> None:
    floats = Signature(inputs=(ColumnSpec("a", "float32"), ColumnSpec("b", "float32")))
    for body in ('{"instances": [[1, true], [3, 4]]}', '{"instances": [[false, 2], [3, 4]]}', '{"inputs": [[1, 2], [true, 4]]}'):
        assert "got a boolean (true/false)" in errors(InvalidArgument, body, sig=floats), body
    tensor = errors(InvalidArgument, '{"instances": [[1, 2, 3, 4], [5, 6, true, 8]]}', sig=TENSOR)
    assert tensor == "column 'X': expected float32, got a boolean (true/false) at row 1"
    # a string that says "true" is no boolean: the body's other values still go through
    named = Signature(inputs=(ColumnSpec("true", "float64"), ColumnSpec("b", "float64")))
    assert decode('{"dataframe_records": [{"true": 1, "b": 2}]}', sig=named)["true"].tolist() == [1.0]


def test_nan_and_infinity_as_pythons_json_writes_them_reach_validation() -> None:
    floats = Signature(inputs=(ColumnSpec("a", "float32"), ColumnSpec("b", "float32")))
    assert "column 'b': missing value (NaN) at row 0" in errors(InvalidArgument, '{"instances": [[1, NaN]]}', sig=floats)
    assert "column 'a': infinite value (-inf) at row 1" in errors(
        InvalidArgument, '{"dataframe_records": [{"a": 1, "b": 2}, {"a": -Infinity, "b": 2}]}', sig=floats
    )
    assert "column 'b': 1e+39 at row 0 is out of range for float32" in errors(
        InvalidArgument, '{"instances": [[1, 1e39]]}', sig=floats
    )
    allowed = Signature(inputs=(ColumnSpec("a", "float64", nullable=True, allow_inf=True), ColumnSpec("b", "float64")))
    batch = decode('{"instances": [[NaN, 1], [Infinity, 2]]}', sig=allowed)
    assert np.isnan(batch["a"][0]) and batch["a"][1] == np.inf
    assert errors(InvalidArgument, '{"instances": [[1, 2], [3, NaN') .startswith("invalid JSON at line 1 column")


def test_csv_booleans_and_non_finite_numbers() -> None:
    floats = Signature(inputs=(ColumnSpec("a", "float32"), ColumnSpec("b", "float32")))
    assert errors(InvalidArgument, "1,true\n2,false\n", CSV, floats) == (
        "column 'b': expected float32, got a boolean (true/false) at row 0"
    )
    assert errors(InvalidArgument, "1,2\n2,TRUE\n", CSV, floats) == (
        "CSV column 'b': 'TRUE' at row 1 is a boolean (true/false), not a number (float32)"
    )
    for cell, message in (("inf", "infinite value (inf)"), ("-Infinity", "infinite value (-inf)"), ("1e39", "1e+39")):
        assert f"column 'b': {message} at row 1" in errors(InvalidArgument, f"1,2\n2,{cell}\n", CSV, floats)


def test_parquet_bool_columns_are_refused_for_numeric_inputs() -> None:
    import pandas as pd

    floats = Signature(inputs=(ColumnSpec("a", "float32"), ColumnSpec("b", "float32")))
    buf = io.BytesIO()
    pd.DataFrame({"a": [1.0, 2.0], "b": [True, False]}).to_parquet(buf)
    message = errors(InvalidArgument, buf.getvalue(), "application/vnd.apache.parquet", floats)
    assert message == "column 'b': expected float32, got a boolean (true/false) at row 0"


def test_json_null_is_a_missing_value_where_allowed() -> None:
    batch = decode('{"dataframe_records": [{"a": 1, "b": null}, {"a": 2}]}', sig=NULLABLE)
    assert np.isnan(batch["b"]).all()
    msg = errors(InvalidArgument, '{"dataframe_records": [{"a": 1, "b": 1}, {"b": 2}]}', sig=NULLABLE)
    assert msg == "'dataframe_records': record 1 has no 'a', and this column does not allow missing values"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"a": 1,,}', "invalid JSON at line 1 column 9: unexpected character"),
        ("[1, 2", "invalid JSON at line 1 column"),
        (
            '{"instances": [[1, 2, "x"]], "inputs": {"a": [1]}}',
            "the JSON body has 'instances' and 'inputs': send exactly one of 'dataframe_split', 'dataframe_records', 'instances', 'inputs'",
        ),
        ('{"instances": {"a": 1}}', "'instances' must be a list of rows or records, got an object"),
        ('{"dataframe_records": {"a": 1}}', "'dataframe_records' must be a list of records, got an object"),
        ('{"instances": []}', "'instances' is empty: send at least one row"),
        ('{"instances": [[1, 2]]}', "'instances': row 0 has 2 values, expected 3 (a, b, c)"),
        ('{"instances": [[1, 2, "x"], 5]}', "'instances': row 1 has int, expected 3 (a, b, c)"),
        (
            '{"instances": [{"a": 1, "b": 2, "c": "x"}, [1, 2, "x"]]}',
            "'instances': item 1 is a list, expected a record (an object) like item 0",
        ),
        ('{"instances": [[1, 2, "x"], {"a": 1}]}', "'instances' must be a list of rows or records, not a mix of both"),
        (
            '{"instances": [[1, 2, "x"]], "extra": 1}',
            "unexpected key 'extra' next to 'instances': only 'params' may accompany it",
        ),
        ('{"rows": [[1, 2, "x"]]}', "unrecognised JSON object (keys: 'rows')"),
        ("42", "a JSON body must be an object or a list, got int"),
        ('{"instances": [["one", 2, "x"]]}', "column 'a': expected int64, got strings"),
        ('{"instances": [[1.5, 2, "x"]]}', "column 'a': expected int64, got fractional numbers"),
        ('{"instances": [[1, 2, 3]]}', "column 'c': expected strings, got int64"),
        (
            '{"dataframe_records": [{"a": 1, "b": 2, "c": "x", "d": 0}]}',
            "'dataframe_records': unexpected input column 'd'; expected a, b, c",
        ),
        (
            '{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}}',
            "missing input column 'c'; expected a, b, c",
        ),
        (
            '{"dataframe_split": {"columns": ["a", "b", "c"], "data": [[1, 2]]}}',
            "'dataframe_split.data': row 0 has 2 values, expected 3 (a, b, c)",
        ),
        ('{"params": {}}', "unrecognised JSON object"),
    ],
)
def test_json_errors_say_what_is_wrong(body: str, message: str) -> None:
    assert message in errors(InvalidArgument, body)


def test_tensor_rows_of_the_wrong_width() -> None:
    assert "column 'X': expected shape [N, 4], got [1, 3]" in errors(InvalidArgument, "[[1, 2, 3]]", sig=TENSOR)


# -- Content-Type ---------------------------------------------------------------


def test_missing_content_type_is_refused_unless_sniffing() -> None:
    msg = errors(UnsupportedMediaType, "1,2,x\n", None)
    assert msg.startswith("missing Content-Type: send one of application/json, text/csv, application/xml")


@pytest.mark.parametrize(
    "body",
    [
        '{"instances": [[1, 2, "x"], [3, 4, "y"]]}',
        '  [[1, 2, "x"], [3, 4, "y"]]',
        "1,2,x\n3,4,y\n",
        "a,b,c\n1,2,x\n3,4,y",
        "<rows><row a='1' b='2' c='x'/><row a='3' b='4' c='y'/></rows>",
    ],
    ids=["json object", "json list", "csv", "csv header", "xml"],
)
def test_sniffing_a_missing_content_type(body: str) -> None:
    assert_abc(decode(body, None, sniff=True))
    assert_abc(decode(body, "", sniff=True))


def test_unsupported_types_list_the_supported_ones() -> None:
    msg = errors(UnsupportedMediaType, "x", "text/plain")
    assert msg == (
        "unsupported Content-Type 'text/plain': send one of application/json, text/csv, application/xml, "
        "text/xml, application/vnd.apache.parquet, application/x-parquet, application/parquet"
    )
    assert "malformed media type" in errors(UnsupportedMediaType, "x", "json")
    msg = errors(UnsupportedMediaType, "{}", "application/json; format=pandas-split")
    assert msg == "unsupported Content-Type parameter 'format=pandas-split': application/json takes charset"
    msg = errors(UnsupportedMediaType, b"PAR1", "application/parquet; charset=utf-8")
    assert msg == "unsupported Content-Type parameter 'charset=utf-8': application/parquet takes no parameters"
    assert "charset 'latin-1' is not supported" in errors(
        UnsupportedMediaType, "{}", "application/json; charset=latin-1"
    )


@pytest.mark.parametrize("content_type", [JSON, CSV, "application/xml", "application/vnd.apache.parquet"])
def test_an_empty_body_is_invalid(content_type: str) -> None:
    assert errors(InvalidArgument, b"", content_type).startswith("empty request body")
    assert errors(InvalidArgument, b" \n", content_type).startswith("empty request body")


def test_media_type_parsing() -> None:
    media = parse_media_type('Text/CSV ; Header="present"; charset=UTF-8')
    assert media.type == "text/csv" and media.params == {"header": "present", "charset": "utf-8"}


# -- CSV ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "1,2,x\n3,4,y\n",
        "a,b,c\n1,2,x\n3,4,y\n",
        "c,a,b\nx,1,2\ny,3,4\n",
        "\ufeffa, b, c\r\n1, 2, x\r\n3, 4, y\r\n",
        '\n\n"a","b","c"\n1,2.0,"x"\n\n3,4,"y"',
    ],
    ids=["no header", "header", "reordered header", "bom crlf spaces", "quoted blank line"],
)
def test_csv_with_or_without_a_header(body: str) -> None:
    assert_abc(decode(body, CSV))


def test_csv_header_parameter_overrides_the_guess() -> None:
    assert_abc(decode("c,a,b\nx,1,2\ny,3,4\n", "text/csv; header=present"))
    sig = Signature(inputs=(ColumnSpec("a", "string"), ColumnSpec("b", "string")))
    # the first row looks like a header, but the caller says it is data
    assert decode("a,b\nc,d\n", "text/csv; header=absent", sig)["a"].tolist() == ["a", "c"]
    assert "header='maybe' is not understood" in errors(UnsupportedMediaType, "1,2,x", "text/csv; header=maybe")


def test_csv_strings_keep_their_text() -> None:
    batch = decode('7,1,"NA, or not"\n8,2,007\n9,3,\n', CSV)
    assert batch["c"].tolist() == ["NA, or not", "007", None]


def test_csv_missing_numbers() -> None:
    assert np.isnan(decode("1,\n2,NaN\n", CSV, NULLABLE)["b"]).all()
    assert (
        errors(InvalidArgument, "1,2\n,3\n", CSV, NULLABLE) == "column 'a': missing value (NaN) where int64 is expected"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("1,2\n3,4\n", "CSV rows have 2 values, expected 3 (a, b, c)"),
        ("1,2,x,9\n", "CSV rows have 4 values, expected 3 (a, b, c)"),
        ("1,2,x\n3,4,y,5\n", "invalid CSV: row 1 has 4 values where the first row has 3"),
        ("1,2,x\n3,four,y\n", "CSV column 'b': 'four' at row 1 is not a number (float64)"),
        ("1.5,2,x\n", "column 'a': expected int64, got fractional numbers"),
        ("a,b,c\n", "the CSV body has a header but no rows"),
        (b"1,2,\xff\n", "invalid CSV"),
    ],
)
def test_csv_errors(body: str | bytes, message: str) -> None:
    assert message in errors(InvalidArgument, body, CSV)


def test_csv_header_with_wrong_names() -> None:
    msg = errors(InvalidArgument, "a,b,d\n1,2,x\n", "text/csv; header=present")
    assert msg == "CSV header names a, b, d; expected the input names a, b, c"


def test_csv_for_a_tensor_input() -> None:
    for body in ("1,2,3,4\n5,6,7,8\n", "f0,f1,f2,f3\n1,2,3,4\n5,6,7,8\n"):
        batch = decode(body, CSV, TENSOR)
        assert batch["X"].dtype == np.float32 and batch["X"].tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert (
        errors(InvalidArgument, "1,2,3\n", CSV, TENSOR)
        == "CSV rows have 3 values, expected 4 (the values of input 'X')"
    )


def test_csv_bools() -> None:
    sig = Signature(inputs=(ColumnSpec("flag", "bool"), ColumnSpec("n", "int32")))
    batch = decode("true,1\nFalse,2\n1,3\n", CSV, sig)
    assert batch["flag"].tolist() == [True, False, True] and batch["n"].dtype == np.int32
    assert "CSV column 'flag': 'maybe' at row 0 is not true/false" in errors(InvalidArgument, "maybe,1\n", CSV, sig)


def test_csv_without_a_signature_needs_its_header() -> None:
    batch = decode("p,q\n1,x\n2,y\n", CSV, Signature())
    assert batch["p"].tolist() == [1, 2] and batch["q"].tolist() == ["x", "y"]
    msg = errors(InvalidArgument, "1,x\n", "text/csv; header=absent", Signature())
    assert msg == "this model has no input signature: send a CSV header naming the columns"


def test_a_6_mib_csv_decodes_fast() -> None:
    rng = np.random.default_rng(0)
    rows = 300_000
    lines = [f"{i},{v:.6f},cat{i % 7}" for i, v in zip(range(rows), rng.standard_normal(rows), strict=True)]
    body = ("\n".join(lines) + "\n").encode()
    assert len(body) > 6 << 20
    decode("1,2,x\n", CSV)  # warm: pandas is imported once per process, not per request
    start = time.perf_counter()
    batch = decode(body, CSV)
    elapsed = time.perf_counter() - start
    assert batch["a"].shape == (rows,) and batch["c"][3] == "cat3"
    assert elapsed < 1.0, f"{len(body) / 2**20:.1f} MiB CSV took {elapsed:.2f} s"


# -- XML ------------------------------------------------------------------------

XML = "application/xml"


@pytest.mark.parametrize(
    "body",
    [
        "<rows><row><a>1</a><b>2</b><c>x</c></row><row><c>y</c><a>3</a><b>4.0</b></row></rows>",
        '<?xml version="1.0" encoding="UTF-8"?>\n<data>\n  <r a="1" b="2" c="x"/>\n  <r a="3" b="4" c="y"/>\n</data>',
        '<m:rows xmlns:m="urn:x"><m:row a="1"><m:b>2</m:b><m:c>x</m:c></m:row><m:row a="3" b="4"><m:c>y</m:c></m:row></m:rows>',
    ],
    ids=["elements", "attributes", "namespaces and both"],
)
def test_xml_records(body: str) -> None:
    assert_abc(decode(body, XML))
    assert_abc(decode(body, "text/xml; charset=utf-8"))


def test_xml_single_record_and_tensor_and_missing() -> None:
    batch = decode("<row><a>5</a><b>1.5</b><c>z</c></row>", XML)
    assert batch["a"].tolist() == [5] and batch["c"].tolist() == ["z"]
    body = "<rows><row>" + "".join(f"<X>{v}</X>" for v in (1, 2, 3, 4)) + "</row></rows>"
    assert decode(body, XML, TENSOR)["X"].tolist() == [[1, 2, 3, 4]]
    assert np.isnan(decode("<rows><row><a>1</a><b/></row><row a='2'/></rows>", XML, NULLABLE)["b"]).all()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rows><row><a>1</a><b>2</b><c>&lol9;</c></row></rows>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rows [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rows><row><a>1</a><b>2</b><c>&xxe;</c></row></rows>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE rows SYSTEM "http://127.0.0.1:9/evil.dtd">
<rows><row><a>1</a><b>2</b><c>x</c></row></rows>"""


@pytest.mark.parametrize(
    "body", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["billion laughs", "xxe", "external dtd"]
)
def test_xml_with_dtds_or_entities_is_refused_quickly(body: bytes) -> None:
    start = time.perf_counter()
    msg = errors(InvalidArgument, body, XML)
    assert time.perf_counter() - start < 0.5
    assert msg.startswith("XML with DTDs/entities is not accepted")
    assert "root:" not in msg


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<rows><row><a>1</a>", "invalid XML at line 1 column 20: no element found"),
        ("<rows/>", "the XML root <rows> has no records: send one child element per row"),
        ("<rows><row><a>one</a><b>2</b><c>x</c></row></rows>", "XML record 0: a = 'one' is not a number (int64)"),
        (
            "<rows><row><a>1</a><b>true</b><c>x</c></row></rows>",
            "XML record 0: b = 'true' is not a number (float64): booleans (true/false) are not numbers",
        ),
        (
            "<rows><row><a>1</a><b>-inf</b><c>x</c></row></rows>",
            "column 'b': infinite value (-inf) at row 0, and this column does not allow infinities",
        ),
        (
            "<rows><row><a><v>1</v></a></row></rows>",
            "XML record 0: field <a> has child elements; fields hold text only",
        ),
        ("<rows><row a='1' b='2' c='x' d='4'/></rows>", "unexpected input column 'd'; expected a, b, c"),
    ],
)
def test_xml_errors(body: str, message: str) -> None:
    assert message in errors(InvalidArgument, body, XML)


# -- Parquet --------------------------------------------------------------------


def parquet(frame: Any) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


@pytest.mark.parametrize(
    "content_type", ["application/vnd.apache.parquet", "application/x-parquet", "application/parquet"]
)
def test_parquet_by_name_in_any_order(content_type: str) -> None:
    import pandas as pd

    body = parquet(pd.DataFrame({"c": ["x", "y"], "b": [2.0, 4.0], "a": [1, 3]}))
    assert_abc(decode(body, content_type))
    assert_abc(decode(body, None, sniff=True))


def test_parquet_ignores_a_stored_pandas_index() -> None:
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 3], "b": [2.0, 4.0], "c": ["x", "y"]}, index=[10, 20])
    buf = io.BytesIO()
    frame.to_parquet(buf)  # index=None keeps a non-default index as "__index_level_0__"
    assert_abc(decode(buf.getvalue(), "application/parquet"))


def test_parquet_tensor_from_columns_or_lists() -> None:
    import pandas as pd

    wide = parquet(pd.DataFrame({f"f{i}": [float(i), float(i + 4)] for i in range(4)}))
    assert decode(wide, "application/parquet", TENSOR)["X"].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    lists = parquet(pd.DataFrame({"X": [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]}))
    assert decode(lists, "application/parquet", TENSOR)["X"].tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_parquet_nulls_and_errors() -> None:
    import pandas as pd

    body = parquet(pd.DataFrame({"a": [1, 2], "b": [1.5, None]}))
    assert np.isnan(decode(body, "application/parquet", NULLABLE)["b"][1])
    assert errors(InvalidArgument, b"PAR1 not really", "application/parquet").startswith("invalid Parquet body: ")
    wrong = parquet(pd.DataFrame({"a": [1], "b": [2.0]}))
    assert errors(InvalidArgument, wrong, "application/parquet") == "missing input column 'c'; expected a, b, c"


# -- replies --------------------------------------------------------------------

CLASSIFIER: Batch = {
    "label": np.array(["setosa", "virginica"], dtype=object),
    "probabilities": np.array([[0.9, 0.1], [0.25, 0.75]], dtype=np.float32),
}
CLASSES = ["setosa", "virginica"]


def test_json_single_output_is_a_flat_list() -> None:
    body, ctype = encode_response({"prediction": np.array([0.5, np.nan, 2.0])}, None, None)
    assert ctype == JSON and body == b'{"predictions":[0.5,null,2.0]}'
    body, _ = encode_response({"prediction": np.array([[1, 2], [3, 4]], dtype=np.int32)}, "*/*", None)
    assert body == b'{"predictions":[[1,2],[3,4]]}'
    body, _ = encode_response({"label": np.array(["a", "b"])}, JSON, None)
    assert body == b'{"predictions":["a","b"]}'


def test_json_takes_any_numpy_output() -> None:
    outputs = {"big_endian": np.array([1.5, 2.5], dtype=">f8"), "u": np.array(["a", "b"]), "b": np.array([b"x", b"y"])}
    body, _ = encode_response(outputs, None, None)
    assert orjson.loads(body)["predictions"] == [
        {"big_endian": 1.5, "u": "a", "b": "x"},
        {"big_endian": 2.5, "u": "b", "b": "y"},
    ]
    body, _ = encode_response({"p": np.array([[1.0, 2.0]], dtype=">f4")}, None, None)
    assert body == b'{"predictions":[[1.0,2.0]]}'
    body, _ = encode_response({"a": np.zeros((2, 0)), "b": np.array([True, False])}, None, None)
    assert body == b'{"predictions":[{"a":[],"b":true},{"a":[],"b":false}]}'


def test_json_several_outputs_are_records() -> None:
    body, _ = encode_response(CLASSIFIER, "application/json; charset=utf-8", CLASSES)
    assert body == (
        b'{"predictions":[{"label":"setosa","probabilities":[0.9,0.1]},'
        b'{"label":"virginica","probabilities":[0.25,0.75]}]}'
    )


def test_json_records_are_the_same_bytes_for_few_and_many_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Short replies are built by orjson from records, long ones cut from one dump per output: same bytes."""
    import modelport.serving.codecs.response as response

    rng = np.random.default_rng(0)
    outputs = {
        "label": np.array(["a", "b", "c"], dtype=object)[rng.integers(0, 3, 5)],
        "u": np.array(["x", "yz", "w", "v", "q"]),
        "probabilities": rng.random((5, 3)).astype(np.float32),
        "f64": np.array([0.1, np.nan, np.inf, -2.5, 1e-300]),
        "big_endian": np.arange(5, dtype=">f8"),
        "i": np.arange(5, dtype=np.int64),
        "flag": np.array([True, False, True, True, False]),
        "raw": np.array([b"a", b"b", b"c", b"d", b"e"]),
        "cube": np.arange(20, dtype=np.int32).reshape(5, 2, 2),
        "longlong": np.arange(5).astype(np.longlong),  # what ONNX Runtime returns for int64 labels
        "u8": np.arange(5, dtype=np.uint8),
    }
    others = {  # rows orjson cannot take from the buffer as they are: the same text either way
        "fortran": np.asfortranarray(rng.random((5, 3)).astype(np.float32)),
        "strided": rng.random((5, 6)).astype(np.float32)[:, ::2],
        "when": np.array(["2020-01-01", "2021-06-30", "2022-01-01", "2023-01-01", "2024-02-29"], dtype="datetime64[D]"),
        7: np.arange(5),
    }
    small = response.encode_json(outputs)
    small_others = response.encode_json(others)
    monkeypatch.setattr(response, "SMALL_REPLY_ROWS", 0)
    assert response.encode_json(outputs) == small
    assert response.encode_json(others) == small_others
    assert orjson.loads(small)["predictions"][1]["f64"] is None
    assert b'"fortran":[0.' in small_others and b"0000000" not in small_others
    assert response.encode_json({}) == b'{"predictions":[]}'


def test_csv_reply_flattens_probabilities() -> None:
    body, ctype = encode_response(CLASSIFIER, "text/csv", CLASSES)
    assert ctype == "text/csv; charset=utf-8"
    assert body == b"setosa,0.9,0.1\nvirginica,0.25,0.75\n"
    body, _ = encode_response(CLASSIFIER, "text/csv; header=present", CLASSES)
    assert body.splitlines()[0] == b"label,proba_setosa,proba_virginica"


def test_xml_reply() -> None:
    body, ctype = encode_response(CLASSIFIER, "application/xml", CLASSES)
    assert ctype == "application/xml"
    assert body.endswith(
        b"<predictions><prediction><label>setosa</label><proba_setosa>0.9</proba_setosa>"
        b"<proba_virginica>0.1</proba_virginica></prediction><prediction><label>virginica</label>"
        b"<proba_setosa>0.25</proba_setosa><proba_virginica>0.75</proba_virginica></prediction></predictions>\n"
    )
    assert encode_response(CLASSIFIER, "text/xml", CLASSES)[1] == "text/xml"


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("text/csv", "text/csv; charset=utf-8"),
        ("text/csv;q=0.5, application/json", JSON),
        ("application/json;q=0.2, text/csv;q=0.8", "text/csv; charset=utf-8"),
        ("text/csv, application/json", "text/csv; charset=utf-8"),
        ("text/*", "text/csv; charset=utf-8"),
        ("image/png, */*;q=0.1", JSON),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/xml"),
        ("application/json;q=0, */*", "text/csv; charset=utf-8"),
    ],
)
def test_accept_negotiation(accept: str | None, chosen: str) -> None:
    assert encode_response(CLASSIFIER, accept, CLASSES)[1] == chosen


def test_nothing_acceptable_is_406_listing_the_types() -> None:
    with pytest.raises(NotAcceptable) as info:
        encode_response(CLASSIFIER, "image/png, application/json;q=0", CLASSES)
    assert str(info.value) == (
        "cannot answer with 'image/png, application/json;q=0': supported types are "
        "application/json, text/csv, application/xml, text/xml"
    )


def test_negotiate_keeps_the_range_parameters() -> None:
    assert negotiate("text/csv; header=present; q=0.9", ("application/json", "text/csv")).params == {
        "header": "present"
    }


OUTPUTS: dict[str, Batch] = {
    "regressor": {"prediction": np.array([0.5, -1.25, 3.0])},
    "classifier": CLASSIFIER,
    "ints and bools": {"label": np.array([0, 1, 1]), "flag": np.array([True, False, True])},
}


def assert_same(got: Any, expected: Any) -> None:
    expected = np.asarray(expected)
    if expected.dtype.kind == "f":
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64), expected, rtol=1e-6)
    else:
        assert np.asarray(got).tolist() == expected.tolist()


@pytest.mark.parametrize("outputs", OUTPUTS.values(), ids=OUTPUTS.keys())
@pytest.mark.parametrize("accept", ["application/json", "text/csv; header=present", "application/xml"])
def test_each_reply_format_round_trips(outputs: Batch, accept: str) -> None:
    """JSON decodes to the same values; CSV and XML replies decode back through our own request codecs."""
    from modelport.frames import outputs_to_columns

    body, ctype = encode_response(outputs, accept, CLASSES)
    if ctype == JSON:
        got = orjson.loads(body)["predictions"]
        if len(outputs) == 1:
            assert_same(got, next(iter(outputs.values())))
        else:
            assert all(list(record) == list(outputs) for record in got)
            for name, values in outputs.items():
                assert_same([record[name] for record in got], values)
        return
    flat = outputs_to_columns(outputs, CLASSES)
    kinds = {"f": "float64", "i": "int64", "b": "bool", "O": "string", "U": "string"}
    sig = Signature(inputs=tuple(ColumnSpec(n, kinds[np.asarray(v).dtype.kind]) for n, v in flat.items()))
    back = decode(body, ctype, sig)
    assert list(back) == list(flat)
    for name, values in flat.items():
        assert_same(back[name], values)
