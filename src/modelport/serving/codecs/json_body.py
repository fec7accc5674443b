"""JSON request bodies (``application/json``) in every shape callers send.

MLflow scoring payloads — exactly one of these keys, plus an optional
``params`` (accepted and not used here):

- ``{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]], "index": [0, 1]}}``
  (``columns`` and ``index`` optional; without ``columns`` the values are positional);
- ``{"dataframe_records": [{"a": 1, "b": 2}, …]}``;
- ``{"instances": [[1, 2], …]}`` (rows in signature order) or ``{"instances": [{"a": 1, "b": 2}, …]}``;
- ``{"inputs": {"a": [1, 3], "b": [2, 4]}}`` (columns) or ``{"inputs": [[1, 2], …]}`` (rows or records).

And, for hand-written calls: a bare list of rows or records, and one record
``{"a": 1, "b": 2}`` whose keys are exactly the signature's input names (it
is also read as columns when its values are lists: ``{"a": [1, 3], …}``).

A signature with one 2-D tensor input (``X`` of shape ``[-1, 4]``) takes
rows of 4 values as that tensor.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from modelport.errors import InvalidArgument
from modelport.serving.codecs.columns import (
    as_column,
    from_columns,
    from_records,
    from_rows,
    from_table,
    numeric_rows,
    type_name,
)
from modelport.signature import Signature, input_name_set

FORMAT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
_ALLOWED_WITH_FORMAT = frozenset({"params"})
_SHAPES_HELP = (
    "send an object with exactly one of 'dataframe_split', 'dataframe_records', 'instances', 'inputs' "
    "(plus optional 'params'), a list of rows or records, or one record keyed by the input names"
)


def parse(body: bytes | memoryview) -> tuple[Any, bool]:
    """The document, and whether it is strict JSON (else it has ``NaN``/``Infinity`` tokens, or numbers beyond float64).

    orjson refuses those tokens; Python's ``json`` module (and so MLflow's and
    tritonclient's Python clients) writes them for NaN and infinities, so a
    body orjson refuses is read again with it: the values then reach
    validation, which names the column that holds them.  Raises orjson's error
    when neither can read the body.
    """
    try:
        return orjson.loads(body), True
    except orjson.JSONDecodeError as exc:
        try:
            return json.loads(bytes(body)), False
        except (ValueError, RecursionError):
            raise exc from None


def _holds_bool_literal(body: bytes) -> bool:
    return b"true" in body or b"false" in body


def loads(body: bytes) -> Any:
    """The document, with a message that says where the JSON broke."""
    try:
        return parse(body)[0]
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def decode_json(body: bytes, signature: Signature) -> dict[str, Any]:
    """A JSON body → named columns (not yet validated)."""
    try:
        doc, strict = orjson.loads(body), True
    except orjson.JSONDecodeError:
        doc, strict = loads(body), False
    if type(doc) is dict and len(doc) == 1:
        # the common request: {"instances": [[…], …]} of numbers — straight to one matrix
        key = next(iter(doc))
        rows = doc[key]
        if (
            (key == "instances" or key == "inputs")
            and type(rows) is list
            and key not in input_name_set(signature)
            # numpy would read true/false as 1/0: both hold an "e", so a body with none after its
            # key (the first string) has neither (one byte is ~3x quicker to look for than two words)
            and (body.find(b"e", body.find(b'"', body.find(b'"') + 1) + 1) < 0 or not _holds_bool_literal(body))
        ):
            # strict JSON has no NaN or infinity (orjson refuses them): with no null and no
            # string in the body (its only quotes are the key's), every value is finite
            nan_free = strict and body.count(b'"') == 2 and b"null" not in body
            fast = numeric_rows(rows, signature, nan_free=nan_free)
            if fast is not None:
                return fast
    # numpy reads true/false among numbers as 1/0: such bodies keep them visible to validation
    bools = _holds_bool_literal(body)
    if isinstance(doc, list):
        return _rows_or_records(doc, signature, "the JSON list", bools)
    if not isinstance(doc, dict):
        raise InvalidArgument(f"a JSON body must be an object or a list, got {type_name(doc)}: {_SHAPES_HELP}")

    present = [k for k in FORMAT_KEYS if k in doc]
    if len(present) != 1 or present[0] in input_name_set(signature):
        input_names = signature.input_names
        keys = set(doc) - _ALLOWED_WITH_FORMAT
        names = set(input_names)
        if (names and keys == names and not keys <= set(FORMAT_KEYS)) or (
            not names and keys and not keys & set(FORMAT_KEYS)
        ):
            # one record (or columns) keyed by the input names; format keys win when a
            # signature's names are themselves all format keys
            return from_columns({k: doc[k] for k in keys}, signature, bools=bools)
        if len(present) > 1:
            raise InvalidArgument(
                f"the JSON body has {' and '.join(map(repr, present))}: "
                f"send exactly one of {', '.join(map(repr, FORMAT_KEYS))}"
            )
        if not present:
            got = ", ".join(map(repr, sorted(doc))) or "none"
            expected = f"; the input names are {', '.join(input_names)}" if names else ""
            raise InvalidArgument(f"unrecognised JSON object (keys: {got}): {_SHAPES_HELP}{expected}")
    key = present[0]
    extra = [k for k in doc if k != key and k not in _ALLOWED_WITH_FORMAT]
    if extra:
        raise InvalidArgument(
            f"unexpected key{'s' if len(extra) > 1 else ''} {', '.join(map(repr, extra))} next to {key!r}: only 'params' may accompany it"
        )
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidArgument(f"'params' must be an object, got {type_name(params)}")
    value = doc[key]
    if key == "dataframe_split":
        return _dataframe_split(value, signature, bools)
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise InvalidArgument(f"'dataframe_records' must be a list of records, got {type_name(value)}")
        _require_rows(value, "'dataframe_records'")
        return from_records(value, signature, "'dataframe_records'", bools=bools)
    if key == "inputs" and isinstance(value, dict):
        if not value:
            raise InvalidArgument("'inputs' is an empty object: send at least one column")
        return from_columns(value, signature, bools=bools)
    if not isinstance(value, list):
        what = "a list of rows or records" + (", or an object of columns" if key == "inputs" else "")
        raise InvalidArgument(f"{key!r} must be {what}, got {type_name(value)}")
    return _rows_or_records(value, signature, repr(key), bools)


def _require_rows(items: list[Any], where: str) -> None:
    if not items:
        raise InvalidArgument(f"{where} is empty: send at least one row")


def _rows_or_records(items: list[Any], signature: Signature, where: str, bools: bool) -> dict[str, Any]:
    _require_rows(items, where)
    if type(items[0]) is dict:
        return from_records(items, signature, where, bools=bools)
    if dict in set(map(type, items)):
        raise InvalidArgument(f"{where} must be a list of rows or records, not a mix of both")
    return from_rows(items, signature, where, bools=bools)


def _dataframe_split(value: Any, signature: Signature, bools: bool) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"'dataframe_split' must be an object with 'columns' and 'data', got {type_name(value)}")
    unknown = sorted(set(value) - {"columns", "data", "index"})
    if unknown:
        raise InvalidArgument(
            f"'dataframe_split' has unexpected key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
            "expected 'columns', 'data' and optionally 'index'"
        )
    data = value.get("data")
    if not isinstance(data, list):
        raise InvalidArgument(f"'dataframe_split.data' must be a list of rows, got {type_name(data)}")
    _require_rows(data, "'dataframe_split.data'")
    index = value.get("index")
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        raise InvalidArgument(f"'dataframe_split.index' must be a list as long as 'data' ({len(data)} rows)")
    columns = value.get("columns")
    if columns is None:
        return from_rows(data, signature, "'dataframe_split.data'", bools=bools)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidArgument("'dataframe_split.columns' must be a list of column names")
    width = len(columns)
    for i, row in enumerate(data):
        if type(row) is not list or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, list) else type_name(row)
            raise InvalidArgument(f"'dataframe_split.data': row {i} has {got}, expected {width} ({', '.join(columns)})")
    transposed = list(zip(*data, strict=True)) if width else []
    return from_table(columns, [as_column(list(c), bools=bools) for c in transposed], signature, "'dataframe_split'")
