"""Captured request and reply bodies → columns, many records at a time, by the data plane's own codecs.

One ``decode_request`` per captured record costs tens to hundreds of
microseconds of set-up (pandas' parser, validation) for a row or two: a
million records would take minutes.  So records are grouped by what their
body is, and each group is decoded in one call of the codec functions the
data plane itself uses:

- CSV without a header (SageMaker's usual body), or with the same header:
  the bodies are concatenated and decoded once (``decode_request``);
- JSON rows (``{"instances": [[…]]}``, ``{"inputs": [[…]]}``, a bare list),
  records (``dataframe_records``, lists of objects, one record keyed by the
  input names) and ``dataframe_split`` of the same columns: all bodies are
  parsed by one ``orjson`` call, their rows concatenated and passed through
  the codec's ``from_rows`` / ``from_records`` / ``dataframe_split`` and
  ``validate_batch`` once;
- anything else (XML, Parquet, named columns, the v2 protocol, BASE64 bodies
  of other types): one ``decode_request`` per record.

A group that fails to decode (or whose row count does not add up) is halved
until the records that fail stand alone: a bad record costs about ``log2(n)``
extra decodes, never its group.  A record that fails alone is reported with
the codec's message.

Replies (:class:`OutputDecoder`) become per-row labels, regression values
and class probabilities, read from what ``serving/codecs/response.py``
writes: JSON ``{"predictions": …}`` (one output's values, or one record per
row), CSV (``label,proba_<class>…``, with or without a header), XML, and v2
responses.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from modelport.errors import ModelportError
from modelport.serving.codecs.columns import from_records, from_rows, tensor_input
from modelport.serving.codecs.csv_body import _first_row, _is_number
from modelport.serving.codecs.json_body import _dataframe_split, parse
from modelport.serving.codecs.request import decode_request
from modelport.signature import Batch, Signature, batch_rows, input_name_set, validate_batch

#: records decoded together at most (halving starts from here)
GROUP_RECORDS = 65536


@dataclass
class Payloads:
    """The captured bodies of many records, field by field (``data`` None: the record has none)."""

    data: list[str | None]
    content_types: list[str]
    encodings: list[str]

    def __len__(self) -> int:
        return len(self.data)


class _CountMismatch(Exception):
    """The concatenated bodies gave another number of rows than their parts announce."""


def _message(exc: BaseException) -> str:
    if isinstance(exc, ModelportError):
        return exc.message
    if isinstance(exc, _CountMismatch):
        return "the body's rows could not be counted"
    return f"{type(exc).__name__}: {exc}"


def _media(content_type: str) -> tuple[str, str]:
    """``(type, header parameter)`` of a Content-Type, lower case."""
    head, _, rest = content_type.partition(";")
    header = ""
    for part in rest.split(";"):
        name, _, value = part.partition("=")
        if name.strip().lower() == "header":
            header = value.strip().strip('"').lower()
    return head.strip().lower(), header


def _groups(
    payloads: Payloads, failures: dict[int, str], what: str, *, required: bool = True
) -> dict[tuple[str, str, str], list[int]]:
    """Record indices by (media type, header parameter, encoding); BASE64 bodies decoded in place (``TEXT`` or
    ``BINARY``).  A record without a body is a failure when ``required`` (requests), else skipped (replies:
    capture of outputs can be off)."""
    data = payloads.data
    types, encodings = set(payloads.content_types), set(payloads.encodings)
    out: dict[tuple[str, str, str], list[int]] = {}
    if len(types) == len(encodings) == 1 and None not in data:  # the usual file: one type, every record captured
        ((ctype,), (encoding,)) = (types, encodings)
        out[(*_media(ctype), encoding)] = list(range(len(data)))
    else:
        keys = list(zip(payloads.content_types, payloads.encodings, strict=True))
        distinct = set(keys)
        for key in distinct:
            ctype, encoding = key
            members = [i for i, k in enumerate(keys) if k == key and data[i] is not None]
            if members:
                out.setdefault((*_media(ctype), encoding), []).extend(members)
        for i, body in enumerate(data):
            if body is None and required:
                failures[i] = f"the record holds no captured {what}"
        for members in out.values():
            members.sort()
    for encoded in [k for k in out if k[2] == "BASE64"]:
        for i in out.pop(encoded):
            try:
                blob = base64.b64decode(data[i], validate=True)  # type: ignore[arg-type]
            except (binascii.Error, ValueError):
                failures[i] = f"the captured {what} is not valid BASE64"
                continue
            try:
                data[i] = blob.decode("utf-8")
                out.setdefault((encoded[0], encoded[1], "TEXT"), []).append(i)
            except UnicodeDecodeError:
                data[i] = blob  # type: ignore[call-overload]
                out.setdefault((encoded[0], encoded[1], "BINARY"), []).append(i)
    return out


# -- decoding many records at once ---------------------------------------------

Chunk = tuple[list[int], Batch, list[int]]


def _halving(
    indices: list[int], decode: Callable[[list[int]], tuple[Batch, list[int] | None]], failures: dict[int, str]
) -> list[Chunk]:
    """Decode ``indices`` together, halving a group that fails until its bad records stand alone.

    ``decode`` returns the batch and each record's rows (None for a single
    record: the batch's rows).
    """
    done: list[Chunk] = []
    stack = [indices[i : i + GROUP_RECORDS] for i in range(0, len(indices), GROUP_RECORDS)][::-1]
    while stack:
        group = stack.pop()
        try:
            batch, counts = decode(group)
            rows = batch_rows(batch)
            if counts is None:
                counts = [rows]
            elif sum(counts) != rows:
                raise _CountMismatch()
            done.append((group, batch, counts))
        except Exception as exc:  # a record's body is the caller's data: count it, never stop the others
            if len(group) == 1:
                failures[group[0]] = _message(exc)
            else:
                half = len(group) // 2
                stack.append(group[half:])
                stack.append(group[:half])
    return done


@dataclass
class DecodedInputs:
    """Rows of many records: for each row its record and its position in that record's request."""

    records: np.ndarray
    rows: np.ndarray
    columns: dict[str, np.ndarray]
    failures: dict[int, str]
    """Record → why its request could not be decoded."""


class InputDecoder:
    """Decodes captured request bodies with a signature, as the data plane decoded them when it answered."""

    def __init__(self, signature: Signature) -> None:
        self.signature = signature
        self.names = signature.input_names
        self.name_set = input_name_set(signature) if signature.inputs else frozenset()
        self.tensor = tensor_input(signature)
        self._numeric_tensor = self.tensor is not None and self.tensor.dtype not in ("string", "bool")
        # the characters a header line can start with: a line starting otherwise is data, no parsing needed
        self._initials = frozenset({n[:1] for n in self.names} | {'"', " ", "\t", "\r", "\n", "\ufeff"})

    def decode(self, payloads: Payloads) -> DecodedInputs:
        failures: dict[int, str] = {}
        data = payloads.data
        chunks: list[Chunk] = []
        singles: list[int] = []
        types: dict[int, str] = {}
        for (media, flag, encoding), indices in _groups(payloads, failures, "request").items():
            if encoding == "BINARY":
                singles += indices
                types.update(dict.fromkeys(indices, media))
            elif media == "text/csv" and flag in ("", "present", "absent"):
                chunks += self._csv_chunks(indices, data, flag, failures)  # type: ignore[arg-type]
            elif media == "application/json" and not flag:
                chunks += self._json_chunks(indices, data, singles, types, failures)  # type: ignore[arg-type]
            else:
                singles += indices
                for i in indices:
                    types[i] = payloads.content_types[i]

        def one(group: list[int]) -> tuple[Batch, list[int] | None]:
            body = data[group[0]]
            raw = body.encode("utf-8") if isinstance(body, str) else body
            return self._decode_one(raw, types[group[0]]), None  # type: ignore[arg-type]

        for i in singles:
            chunks += _halving([i], one, failures)
        return self._assemble(chunks, failures)

    # -- CSV ------------------------------------------------------------------

    def _csv_header(self, text: str, flag: str) -> str | None:
        """The header line of a CSV body, as ``decode_csv`` recognises one; None when it has none."""
        body = text.lstrip(" \t\r\n\ufeff")
        end = body.find("\n")
        line = (body if end < 0 else body[:end]).rstrip("\r")
        if flag == "present" or not self.names:
            return line
        if self._numeric_tensor:
            return None if all(_is_number(c) for c in _first_row(line)) else line
        cells = _first_row(line)
        return line if len(cells) == len(self.names) and set(cells) == self.name_set else None

    def _csv_chunks(self, indices: list[int], data: list[str], flag: str, failures: dict[int, str]) -> list[Chunk]:
        groups: dict[str | None, list[int]] = {None: indices}
        if flag != "absent":
            # only bodies whose first character could start a header are looked at closer
            if flag == "present" or not self.names:
                maybe = indices
            elif self._numeric_tensor:
                maybe = [i for i in indices if data[i][:1] not in "0123456789-+."]
            else:
                initials = self._initials
                maybe = [i for i in indices if data[i][:1] in initials]
            if maybe:
                headers = {i: self._csv_header(data[i], flag) for i in maybe}
                groups = {}
                for i in indices:
                    groups.setdefault(headers.get(i), []).append(i)
        chunks: list[Chunk] = []
        for header, members in groups.items():

            def decode(group: list[int], header: str | None = header) -> tuple[Batch, list[int] | None]:
                return self._decode_csv([data[i] for i in group], header)

            chunks += _halving(members, decode, failures)
        return chunks

    def _decode_csv(self, texts: list[str], header: str | None) -> tuple[Batch, list[int] | None]:
        if header is not None:
            texts = [_after_first_line(t) for t in texts]
        trimmed = [t.rstrip("\r\n") for t in texts]
        joined = "\n".join(trimmed) + "\n"
        # one line each (the usual body) unless the joined text has more lines than bodies
        counts = [1] * len(trimmed) if joined.count("\n") == len(trimmed) else [t.count("\n") + 1 for t in trimmed]
        if header is not None:
            body, ctype = (header + "\n" + joined).encode(), "text/csv; header=present"
        else:
            body, ctype = joined.encode(), "text/csv; header=absent"
        batch = decode_request(body, ctype, self.signature, sniff_missing=False)
        return batch, (counts if len(texts) > 1 else None)

    # -- JSON -----------------------------------------------------------------

    def _json_chunks(
        self, indices: list[int], data: list[str], singles: list[int], types: dict[int, str], failures: dict[int, str]
    ) -> list[Chunk]:
        docs = _parse_all([data[i] for i in indices])
        groups: dict[tuple[str, Any], list[int]] = {}
        items: dict[int, Any] = {}
        fast = _uniform_instances(docs, self.name_set)
        if fast is not None:
            items = dict(zip(indices, fast, strict=True))
            groups[("rows", None)] = indices
        else:
            for i, doc in zip(indices, docs, strict=True):
                if isinstance(doc, _Invalid):
                    failures[i] = doc.message
                    continue
                kind, key, rows = self._json_shape(doc)
                if kind == "other":
                    singles.append(i)
                    types[i] = "application/json"
                    continue
                items[i] = rows
                groups.setdefault((kind, key), []).append(i)
        chunks: list[Chunk] = []
        for (kind, key), members in groups.items():
            # numpy reads true/false among numbers as 1/0: such bodies keep them visible to validation, as the codec does
            bools = any("true" in data[i] or "false" in data[i] for i in members)

            def decode(
                g: list[int], kind: str = kind, key: Any = key, bools: bool = bools
            ) -> tuple[Batch, list[int] | None]:
                return self._decode_json(kind, key, [items[i] for i in g], bools)

            chunks += _halving(members, decode, failures)
        return chunks

    def _json_shape(self, doc: Any) -> tuple[str, Any, Any]:
        """``(kind, key, rows)``: rows, records, a dataframe_split's rows (key: its columns), or ``other``."""
        if type(doc) is list:
            if doc:
                return ("records" if type(doc[0]) is dict else "rows"), None, doc
            return "other", None, None
        if type(doc) is not dict:
            return "other", None, None
        size = len(doc)
        if size == 1 or (size == 2 and "params" in doc):
            key = next(k for k in doc if k != "params")
            value = doc[key]
            if key in self.name_set:
                pass
            elif key in ("instances", "inputs") and type(value) is list and value:
                first = value[0]
                if type(first) is dict:
                    if "datatype" in first:
                        return "other", None, None  # the v2 protocol
                    return "records", None, value
                return "rows", None, value
            elif key == "dataframe_records" and type(value) is list and value and type(value[0]) is dict:
                return "records", None, value
            elif key == "dataframe_split" and type(value) is dict and set(value) <= {"columns", "data"}:
                rows, columns = value.get("data"), value.get("columns")
                if type(rows) is list and rows:
                    if columns is None:
                        return "rows", None, rows
                    if type(columns) is list and all(type(c) is str for c in columns):
                        return "split", tuple(columns), rows
        if self.name_set and doc.keys() == self.name_set and not any(type(v) in (list, dict) for v in doc.values()):
            return "records", None, [doc]
        return "other", None, None

    def _decode_json(self, kind: str, key: Any, items: list[list[Any]], bools: bool) -> tuple[Batch, list[int] | None]:
        rows = list(itertools.chain.from_iterable(items))
        counts = list(map(len, items))
        if kind == "rows":
            columns = from_rows(rows, self.signature, "'instances'", bools=bools)
        elif kind == "records":
            columns = from_records(rows, self.signature, "'dataframe_records'", bools=bools)
        else:
            columns = _dataframe_split({"columns": list(key), "data": rows}, self.signature, bools)
        return validate_batch(self.signature, columns), counts

    # -- one at a time ----------------------------------------------------------

    def _decode_one(self, body: bytes, content_type: str) -> Batch:
        try:
            return decode_request(body, content_type or None, self.signature, sniff_missing=True)
        except ModelportError:
            batch = self._v2(body, content_type)
            if batch is None:
                raise
            return batch

    def _v2(self, body: bytes, content_type: str) -> Batch | None:
        """A body captured from the v2 protocol's infer route (its JSON form)."""
        if body.lstrip()[:1] != b"{" or b'"datatype"' not in body:
            return None
        from modelport.serving.codecs.v2 import parse_infer_body, v2_inputs_to_batch

        return v2_inputs_to_batch(parse_infer_body(body, {"content-type": content_type}), self.signature)

    @staticmethod
    def _assemble(chunks: list[Chunk], failures: dict[int, str]) -> DecodedInputs:
        if not chunks:
            empty = np.empty(0, dtype=np.int64)
            return DecodedInputs(empty, empty, {}, failures)
        records = np.concatenate([np.repeat(np.asarray(g, dtype=np.int64), c) for g, _, c in chunks])
        rows = np.concatenate([_positions(c) for _, _, c in chunks])
        names = list(dict.fromkeys(n for _, b, _ in chunks for n in b))
        columns: dict[str, np.ndarray] = {}
        for name in names:
            parts = []
            for _, batch, counts in chunks:
                value = batch.get(name)
                parts.append(np.asarray(value) if value is not None else np.full(sum(counts), np.nan))
            columns[name] = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return DecodedInputs(records, rows, columns, failures)


def _positions(counts: list[int]) -> np.ndarray:
    """0..n-1 for each record of n rows, concatenated."""
    sizes = np.asarray(counts, dtype=np.int64)
    total = int(sizes.sum())
    if total == len(sizes):
        return np.zeros(total, dtype=np.int64)
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.arange(total, dtype=np.int64) - starts


def _after_first_line(text: str) -> str:
    body = text.lstrip(" \t\r\n\ufeff")
    end = body.find("\n")
    return "" if end < 0 else body[end + 1 :]


@dataclass(frozen=True)
class _Invalid:
    message: str


def _parse_all(texts: list[str]) -> list[Any]:
    """Each body's JSON document: one orjson call for all; else each alone (NaN tokens allowed, as the codec)."""
    try:
        docs = orjson.loads("[" + ",".join(texts) + "]")
        if len(docs) == len(texts):
            return docs  # type: ignore[no-any-return]
    except orjson.JSONDecodeError:
        pass
    out: list[Any] = []
    for text in texts:
        try:
            out.append(parse(text.encode("utf-8"))[0])
        except (orjson.JSONDecodeError, RecursionError) as exc:
            out.append(_Invalid(f"invalid JSON: {exc}"))
    return out


def _uniform_instances(docs: list[Any], names: frozenset[str]) -> list[Any] | None:
    """Every document ``{"instances": [[…], …]}`` (the SDK's and SageMaker's usual body): their rows; else None."""
    if "instances" in names:
        return None
    try:
        if {type(d) for d in docs} != {dict} or {len(d) for d in docs} != {1}:
            return None
        items = [d["instances"] for d in docs]
    except (KeyError, TypeError):
        return None
    if {type(v) for v in items} != {list} or not all(items):
        return None
    if dict in {type(v[0]) for v in items}:
        return None
    return items


def feature_columns(
    columns: dict[str, np.ndarray], features: Sequence[str], signature: Signature
) -> dict[str, np.ndarray]:
    """The decoded inputs as the baseline's features.

    By name; a model whose one input is a tensor (``X`` of shape ``[-1, k]``,
    its baseline made from a sample of k named columns) gives its columns in
    the sample's order.
    """
    tensor = tensor_input(signature)
    if tensor is not None and tensor.name in columns and tensor.name not in features:
        block = np.asarray(columns[tensor.name])
        block = block.reshape(len(block), -1)
        return {name: block[:, i] for i, name in enumerate(features) if i < block.shape[1]}
    return {name: columns[name] for name in features if name in columns}


# -- replies ------------------------------------------------------------------------


@dataclass
class DecodedOutputs:
    """Per row of every reply: its record, its row in the request, label, regression value, class probabilities."""

    chunks: list[tuple[np.ndarray, np.ndarray, Any, Any, Any]] = field(default_factory=list)
    failures: dict[int, str] = field(default_factory=dict)

    def extend(self, records: list[int], counts: list[int], labels: Any, values: Any, scores: Any) -> None:
        """The rows of several replies (``counts``: each record's rows, in order); a field may be None."""
        import pyarrow as pa

        n = sum(counts)
        arrays = (_label_array(labels), _value_array(values), _score_array(scores))
        for name, column in zip(("labels", "values", "scores"), arrays, strict=True):
            if column is not None and len(column) != n:
                raise ValueError(f"the reply's {name} have {len(column)} rows, expected {n}")
        label, value, score = (
            column if column is not None else pa.nulls(n, kind)
            for column, kind in zip(arrays, (pa.string(), pa.float64(), pa.list_(pa.float64())), strict=True)
        )
        records_per_row = np.repeat(np.asarray(records, dtype=np.int64), counts)
        self.chunks.append((records_per_row, _positions(list(counts)), label, value, score))

    def table(self) -> tuple[np.ndarray, np.ndarray, Any, Any, Any] | None:
        """``(records, rows, labels, values, scores)`` of every row, or None when no reply was read."""
        import pyarrow as pa

        if not self.chunks:
            return None
        records, rows, labels, values, scores = zip(*self.chunks, strict=True)
        return (
            np.concatenate(records),
            np.concatenate(rows),
            pa.concat_arrays(labels),
            pa.concat_arrays(values),
            pa.concat_arrays(scores),
        )


def _label_array(values: Any) -> Any:
    import pyarrow as pa

    if values is None:
        return None
    if isinstance(values, np.ndarray) and values.dtype == object:
        return pa.array(values, pa.string(), from_pandas=True)
    kinds = set(map(type, values))
    if kinds <= {str, int}:  # the usual labels: one pass in C
        return pa.array(values if kinds <= {str} else list(map(str, values)), pa.string())
    return pa.array([v if type(v) is str else None if v is None else _text(v) for v in values], pa.string())


def _text(value: Any) -> str:
    """As the CSV reply writes it: ``0``, ``1.5``, ``True``, ``setosa``."""
    if type(value) is list and len(value) == 1:
        return _text(value[0])
    return str(value)


def _value_array(values: Any) -> Any:
    import pyarrow as pa

    if values is None:
        return None
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return pa.array(values.astype(np.float64, copy=False), pa.float64(), from_pandas=True)
    try:
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    except (TypeError, ValueError):
        pass
    out: list[float | None] = []
    for v in values:
        if type(v) is list and len(v) == 1:
            v = v[0]
        try:
            out.append(None if v is None or v == "" else float(v))
        except (TypeError, ValueError):
            out.append(None)
    return pa.array(out, pa.float64())


def _score_array(values: Any) -> Any:
    import pyarrow as pa

    if values is None:
        return None
    kind = pa.list_(pa.float64())
    block = values if isinstance(values, np.ndarray) else None
    if block is None and None not in values:
        try:
            block = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            block = None
    if block is not None and block.ndim == 2:
        flat = pa.array(block.ravel(), pa.float64(), from_pandas=False)
        return pa.FixedSizeListArray.from_arrays(flat, block.shape[1]).cast(kind)
    return pa.array([None if v is None else [float("nan") if x is None else float(x) for x in v] for v in values], kind)


class OutputDecoder:
    """Reads what the data plane answered: ``label`` / ``prediction`` / ``probabilities`` per row."""

    def __init__(self, signature: Signature) -> None:
        self.outputs = [o.name for o in signature.outputs]
        self.classes = [str(c) for c in signature.extra.get("classes") or []]
        self.widths = {o.name: (o.shape[1] if len(o.shape) == 2 else 1) for o in signature.outputs}
        names = self._csv_names(None)
        #: the header line a CSV reply with ``header=present`` starts with (as ``encode_csv`` writes it)
        self.csv_header = ",".join(n for n, _ in names) if names is not None else None

    def _csv_names(self, width: int | None) -> list[tuple[str, str]] | None:
        """``(CSV column, output)`` of the flattened outputs (``label``, ``proba_0`` …) when they fit ``width`` cells."""
        out: list[tuple[str, str]] = []
        known = sum(w for w in self.widths.values() if w != -1)
        unknown = [o for o, w in self.widths.items() if w == -1]
        for name in self.outputs:
            w = self.widths[name]
            if w == -1:
                if len(unknown) != 1 or width is None:
                    return None
                w = width - known
            if w == 1 and name != "probabilities":
                out.append((name, name))
            elif name == "probabilities" and len(self.classes) == w:
                out += [(f"proba_{c}", name) for c in self.classes]
            else:
                out += [(f"{name}_{i}", name) for i in range(w)]
        return out if width is None or len(out) == width else None

    def decode(self, payloads: Payloads) -> DecodedOutputs:
        out = DecodedOutputs()
        data = payloads.data
        for (media, _flag, encoding), indices in _groups(payloads, out.failures, "reply", required=False).items():
            if encoding == "BINARY":
                for i in indices:
                    out.failures[i] = f"replies of type {payloads.content_types[i]!r} are not read"
            elif media == "application/json":
                self._json(out, indices, [data[i] for i in indices])  # type: ignore[misc]
            elif media == "text/csv":
                self._csv(out, indices, [data[i] for i in indices])  # type: ignore[misc]
            elif media in ("application/xml", "text/xml"):
                for i in indices:
                    self._xml(out, i, data[i])  # type: ignore[arg-type]
            else:
                for i in indices:
                    out.failures[i] = f"replies of type {payloads.content_types[i]!r} are not read"
        return out

    def _add(self, out: DecodedOutputs, records: list[int], counts: list[int], columns: dict[str, Any]) -> None:
        """A model's outputs by name → label, value, probabilities; a lone output of another name is read as
        a value when it holds numbers, else as a label."""
        labels, values, scores = columns.get("label"), columns.get("prediction"), columns.get("probabilities")
        if labels is None and values is None and scores is None and len(columns) == 1:
            (only,) = columns.values()
            if isinstance(only, np.ndarray):
                numeric = only.dtype.kind in "iuf"
            else:
                numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in only if v is not None)
            if numeric:
                values = only
            else:
                labels = only
        out.extend(records, counts, labels, values, scores)

    # -- JSON -----------------------------------------------------------------

    def _json(self, out: DecodedOutputs, indices: list[int], texts: list[str]) -> None:
        docs = _parse_all(texts)
        try:  # the usual replies, all alike: one pass for all
            preds = [d["predictions"] for d in docs]
            if {type(p) for p in preds} == {list}:
                counts = list(map(len, preds))
                rows = list(itertools.chain.from_iterable(preds))
                kinds = {type(r) for r in rows}
                if kinds == {dict}:
                    names = list(dict.fromkeys(itertools.chain.from_iterable(rows)))
                    self._add(out, indices, counts, {n: [r.get(n) for r in rows] for n in names})
                    return
                if rows and dict not in kinds and len(self.outputs) == 1:
                    self._add(out, indices, counts, {self.outputs[0]: rows})
                    return
        except (KeyError, TypeError, ValueError):
            pass
        for i, doc in zip(indices, docs, strict=True):  # one by one: each reply's trouble is its own
            try:
                if isinstance(doc, _Invalid):
                    raise ValueError(doc.message)
                if type(doc) is dict and type(doc.get("predictions")) is list:
                    preds = doc["predictions"]
                    if preds and type(preds[0]) is dict:
                        names = list(dict.fromkeys(k for r in preds for k in r))
                        self._add(out, [i], [len(preds)], {n: [r.get(n) for r in preds] for n in names})
                    else:
                        name = self.outputs[0] if len(self.outputs) == 1 else "output"
                        self._add(out, [i], [len(preds)], {name: preds})
                elif type(doc) is dict and type(doc.get("outputs")) is list:
                    columns = _v2_outputs(doc["outputs"])
                    size = len(next(iter(columns.values()))) if columns else 0
                    self._add(out, [i], [size], columns)
                else:
                    raise ValueError("the reply is neither {'predictions': …} nor a v2 response")
            except (ValueError, TypeError) as exc:
                out.failures[i] = f"unreadable reply: {exc}"

    # -- CSV ------------------------------------------------------------------

    def _csv(self, out: DecodedOutputs, indices: list[int], texts: list[str]) -> None:
        header = self.csv_header
        if header is not None:
            texts = [_after_first_line(t) if t.startswith(header) else t for t in texts]
        try:  # all replies in one parse
            self._csv_many(out, indices, texts)
            return
        except (ValueError, TypeError, _CountMismatch):
            pass
        for i, text in zip(indices, texts, strict=True):
            try:
                self._csv_many(out, [i], [text])
            except (ValueError, TypeError, _CountMismatch) as exc:
                out.failures[i] = f"unreadable CSV reply: {_message(exc)}"

    def _csv_many(self, out: DecodedOutputs, indices: list[int], texts: list[str]) -> None:
        import io

        import pandas as pd

        trimmed = [t.rstrip("\r\n") for t in texts]
        body = "\n".join(t for t in trimmed if t)
        if body.count("\n") == len(trimmed) - 1 and all(trimmed):
            counts = [1] * len(trimmed)  # one line each, the usual reply
        else:
            counts = [t.count("\n") + 1 if t else 0 for t in trimmed]
        if not body:
            out.extend(indices, counts, None, None, None)
            return
        try:
            frame = pd.read_csv(io.StringIO(body), header=None, keep_default_na=False, na_values=[""], engine="c")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ValueError(str(exc).strip().splitlines()[0]) from None
        if len(frame) != sum(counts):
            raise _CountMismatch()
        names = self._csv_names(frame.shape[1])
        if names is None:
            raise ValueError(
                f"{frame.shape[1]} values a row do not match the model's outputs {', '.join(self.outputs)}"
            )
        columns: dict[str, Any] = {}
        by_output: dict[str, list[int]] = {}
        for j, (_, output) in enumerate(names):
            by_output.setdefault(output, []).append(j)
        for output, positions in by_output.items():
            if len(positions) == 1 and output != "probabilities":
                column = frame.iloc[:, positions[0]]
                if output == "label" or column.dtype.kind not in "iuf":
                    missing = column.isna().to_numpy()
                    text = column.astype(str).to_numpy(dtype=object)
                    text[missing] = None
                    columns[output] = text
                else:
                    columns[output] = column.to_numpy()
            else:
                columns[output] = frame.iloc[:, positions].to_numpy(dtype=np.float64)
        self._add(out, indices, counts, columns)

    # -- XML ------------------------------------------------------------------

    def _xml(self, out: DecodedOutputs, i: int, text: str) -> None:
        from modelport.serving.codecs.xml_body import parse_xml

        try:
            root = parse_xml(text.encode("utf-8"))
            rows = [{child.tag: (child.text or "") for child in element} for element in root]
            names = self._csv_names(len(rows[0])) if rows else None
            columns: dict[str, list[Any]] = {}
            if names is not None:
                for output in dict.fromkeys(o for _, o in names):
                    tags = [c for c, o in names if o == output]
                    if len(tags) == 1 and output != "probabilities":
                        columns[output] = [r.get(tags[0]) or None for r in rows]
                    else:
                        columns[output] = [[float(r[t]) if r.get(t) else float("nan") for t in tags] for r in rows]
            self._add(out, [i], [len(rows)], columns)
        except (ModelportError, ValueError, TypeError, KeyError) as exc:
            out.failures[i] = f"unreadable XML reply: {_message(exc)}"


def _v2_outputs(outputs: list[Any]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {}
    for tensor in outputs:
        name, shape, data = tensor.get("name"), tensor.get("shape") or [], tensor.get("data")
        if not isinstance(name, str) or not isinstance(data, list):
            raise ValueError("a v2 output lacks its name or data")
        rows = int(shape[0]) if shape else len(data)
        width = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        if rows * width != len(data):
            raise ValueError(f"v2 output {name!r} has {len(data)} values for shape {shape}")
        if width == 1 and name != "probabilities":
            columns[name] = data
        else:
            columns[name] = [data[r * width : (r + 1) * width] for r in range(rows)]
    return columns
