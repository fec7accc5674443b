"""Captured requests → input columns, many records at a time, by the data plane's own codecs.

One ``decode_request`` per captured record costs tens to hundreds of
microseconds of set-up (pandas' parser, validation) for a row or two: a
million records would take minutes.  So records are grouped by what their
body is (:func:`~modelport.monitoring.payloads.group_bodies`), and each
group is decoded at once:

- CSV without a header (SageMaker's usual body), or with the same header:
  the bodies are joined and decoded by one ``decode_request``;
- JSON rows of numbers for a model of several float inputs
  (``{"instances": [[…]]}``, ``{"inputs": [[…]]}``: the SDK's and
  SageMaker's usual body, which the codec itself reads as one matrix): the
  bodies that are plainly that shape (a regular expression of JSON's
  grammar) are parsed together, their numbers as CSV by Arrow, into one
  matrix (no Python float per value), each record's rows checked (width,
  finite values) and the matrix fitted to the columns' dtype by the codec's
  own :func:`~modelport.serving.codecs.columns.fit_block`.  Its numbers are
  those the codec parses (both parse correctly rounded); a body not plainly
  that shape, or whose rows do not check, takes the next way;
- other JSON rows, records (``dataframe_records``, lists of objects, one
  record keyed by the input names) and ``dataframe_split`` of the same
  columns: all bodies are parsed by one ``orjson`` call, their rows
  concatenated and passed through the codec's ``from_rows`` /
  ``from_records`` / ``dataframe_split`` and ``validate_batch`` once;
- anything else (XML, Parquet, named columns, the v2 protocol, BASE64 bodies
  of other types): one ``decode_request`` per record.

A group that fails to decode (or whose row count does not add up) is halved
until the records that fail stand alone: a bad record costs about ``log2(n)``
extra decodes, never its group.  A record that fails alone is reported with
the codec's message, so what counts as a valid request stays the data
plane's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelport.errors import ModelportError
from modelport.monitoring.payloads import (
    BodyGroup,
    CountMismatch,
    Invalid,
    Payloads,
    after_first_line,
    buffer_bytes,
    group_bodies,
    joined_lines,
    message,
    parse_all,
    positions,
)
from modelport.serving.codecs.columns import fit_block, from_records, from_rows, tensor_input
from modelport.serving.codecs.csv_body import _first_row, _is_number
from modelport.serving.codecs.json_body import _dataframe_split
from modelport.serving.codecs.request import decode_request
from modelport.signature import (
    Batch,
    BlockBatch,
    Signature,
    batch_rows,
    input_name_set,
    input_order,
    uniform_dtype,
    validate_batch,
)

#: records decoded together at most (halving starts from here)
GROUP_RECORDS = 65536
#: a group of bodies Arrow's CSV reader refuses is halved down to this size, then decoded the general way
READER_MIN = 64
_WS = r"[ \t\r\n]*"
#: a JSON number, except the integer -0 (orjson reads it as the integer 0, so the codec's value is +0.0)
_NUMBER = r"(?:-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)|0|-?[1-9][0-9]*)"
_ROW = rf"\[{_WS}{_NUMBER}{_WS}(?:,{_WS}{_NUMBER}{_WS})*\]"
#: a body that is plainly ``{"instances": [[numbers…], …]}`` (or ``inputs``): JSON, no other key, nothing but
#: numbers in rows (no string, null, boolean, NaN or Infinity)
_NUMERIC_ROWS = (
    rf'^{_WS}\{{{_WS}"(?:instances|inputs)"{_WS}:{_WS}\[{_WS}{_ROW}{_WS}(?:,{_WS}{_ROW}{_WS})*\]{_WS}\}}{_WS}$'
)

#: magnitudes from which a float64 is an integer that the float parser and the integer parser may round apart
_EXACT_INTEGERS = 2.0**53

Chunk = tuple[np.ndarray, Batch, list[int]]
"""Records, their rows decoded as one batch, and each record's number of rows."""


def halving(
    group: BodyGroup,
    members: np.ndarray,
    decode: Callable[[np.ndarray], tuple[Batch, list[int] | None]],
    failures: dict[int, str],
) -> list[Chunk]:
    """Decode a group's ``members`` (positions) together, halving a part that fails until its bad records stand
    alone.  ``decode`` returns the batch and each record's rows (None for a single record: the batch's rows)."""
    done: list[Chunk] = []
    stack = [members[i : i + GROUP_RECORDS] for i in range(0, len(members), GROUP_RECORDS)][::-1]
    while stack:
        part = stack.pop()
        try:
            batch, counts = decode(part)
            rows = batch_rows(batch)
            if counts is None:
                counts = [rows]
            elif sum(counts) != rows:
                raise CountMismatch()
            done.append((group.records[part], batch, counts))
        except Exception as exc:  # a record's body is the caller's data: count it, never stop the others
            if len(part) == 1:
                failures[int(group.records[part[0]])] = message(exc)
            else:
                half = len(part) // 2
                stack.append(part[half:])
                stack.append(part[:half])
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
        # rows of numbers the codec reads as one matrix (json_body.decode_json → columns.numeric_rows)
        order = input_order(signature) if signature.inputs else ()
        dtype = uniform_dtype(signature) if signature.inputs else None
        plain = len(order) >= 2 and dtype is not None and dtype.kind == "f"
        self._block_dtype = dtype if plain and not {"instances", "inputs"} & self.name_set else None
        self._order = order

    def decode(self, payloads: Payloads) -> DecodedInputs:
        failures: dict[int, str] = {}
        chunks: list[Chunk] = []
        singles: list[tuple[BodyGroup, np.ndarray, list[str]]] = []  # decoded one by one, with their Content-Type
        for group in group_bodies(payloads, failures, "request"):
            everyone = np.arange(len(group), dtype=np.int64)
            if group.encoding != "BINARY":
                group, empty = _without_empty(group)
                if empty is not None:  # the codec refuses them before it parses anything
                    singles.append((empty, np.arange(len(empty), dtype=np.int64), empty.content_types.to_pylist()))
                everyone = np.arange(len(group), dtype=np.int64)
                if not len(group):
                    continue
            if group.encoding == "BINARY":
                singles.append((group, everyone, [group.media] * len(group)))
            elif group.media == "text/csv" and group.header in ("", "present", "absent"):
                chunks += self._csv_chunks(group, failures, singles)
            elif group.media == "application/json" and not group.header:
                chunks += self._json_chunks(group, failures, singles)
            else:
                singles.append((group, everyone, group.content_types.to_pylist()))
        for group, members, types in singles:
            for p, body, ctype in zip(members.tolist(), group.texts(members), types, strict=True):
                record = int(group.records[p])
                try:
                    batch = self._decode_one(body.encode("utf-8") if isinstance(body, str) else body, ctype)
                    chunks.append((group.records[p : p + 1], batch, [batch_rows(batch)]))
                except Exception as exc:  # the caller's data: counted, never fatal
                    failures[record] = message(exc)
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

    def _maybe_headers(self, group: BodyGroup) -> np.ndarray:
        """Positions of the bodies whose first character could start a header line: only those are looked at."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if group.header == "present" or not self.names:
            return np.arange(len(group), dtype=np.int64)
        first = pc.utf8_slice_codeunits(group.bodies, 0, 1)
        if self._numeric_tensor:
            data = pc.is_in(first, value_set=pa.array(list("0123456789-+.")))
            maybe = pc.and_(pc.invert(data), pc.not_equal(first, ""))
        else:
            maybe = pc.is_in(first, value_set=pa.array(sorted(self._initials)))
        return np.flatnonzero(maybe.to_numpy(zero_copy_only=False))

    def _csv_chunks(
        self, group: BodyGroup, failures: dict[int, str], singles: list[tuple[BodyGroup, np.ndarray, list[str]]]
    ) -> list[Chunk]:
        everyone = np.arange(len(group), dtype=np.int64)
        by_header: dict[str | None, np.ndarray] = {None: everyone}
        if group.header != "absent":
            maybe = self._maybe_headers(group)
            headers = {
                p: h
                for p, h in zip(
                    maybe.tolist(), (self._csv_header(t, group.header) for t in group.texts(maybe)), strict=True
                )
                if h is not None
            }
            if headers:
                lists: dict[str | None, list[int]] = {}
                for p in everyone.tolist():
                    lists.setdefault(headers.get(p), []).append(p)
                by_header = {h: np.asarray(members, dtype=np.int64) for h, members in lists.items()}
        chunks: list[Chunk] = []
        for header, members in by_header.items():

            def decode(part: np.ndarray, header: str | None = header) -> tuple[Batch, list[int] | None]:
                return self._decode_csv(group.bodies.take(part), header)

            chunks += halving(group, members, decode, failures)
        return [kept for chunk in chunks for kept in _column_free(chunk, group, singles)]

    def _decode_csv(self, texts: Any, header: str | None) -> tuple[Batch, list[int] | None]:
        import pyarrow as pa
        import pyarrow.compute as pc

        if header is not None:
            texts = pa.array([after_first_line(t) for t in texts.to_pylist()], pa.string())
        trimmed = pc.utf8_rtrim(texts, characters="\r\n")
        joined = joined_lines(trimmed)
        # one line each (the usual body) unless a body holds more
        if joined.count(b"\n") == len(trimmed):
            counts = [1] * len(trimmed)
        else:
            counts = (pc.count_substring(trimmed, "\n").to_numpy() + 1).tolist()
        if header is not None:
            body, ctype = header.encode() + b"\n" + joined, "text/csv; header=present"
        else:
            body, ctype = joined, "text/csv; header=absent"
        batch = decode_request(body, ctype, self.signature, sniff_missing=False)
        return batch, (counts if len(texts) > 1 else None)

    # -- JSON -----------------------------------------------------------------

    def _json_chunks(
        self, group: BodyGroup, failures: dict[int, str], singles: list[tuple[BodyGroup, np.ndarray, list[str]]]
    ) -> list[Chunk]:
        chunks: list[Chunk] = []
        rest = np.arange(len(group), dtype=np.int64)
        if self._block_dtype is not None:
            chunks, rest = self._numeric_rows(group)
        if len(rest):
            chunks += self._json_documents(group, rest, failures, singles)
        return chunks

    def _numeric_rows(self, group: BodyGroup) -> tuple[list[Chunk], np.ndarray]:
        """Bodies of rows of numbers, read into one matrix; the positions it did not take.

        A body that matches ``_NUMERIC_ROWS`` is JSON of that shape: its
        numbers, one row a line, are CSV, which Arrow's CSV reader parses
        correctly rounded (as orjson, the codec's parser, does) — a few times
        faster than a JSON reader, and without a Python float per value.
        """
        import pyarrow.compute as pc

        plain = pc.match_substring_regex(group.bodies, _NUMERIC_ROWS).to_numpy(zero_copy_only=False)
        rest = [np.flatnonzero(~plain)]
        chunks: list[Chunk] = []
        stack = [np.flatnonzero(plain)]
        while stack:
            part = stack.pop()
            if not len(part):
                continue
            read = self._read_rows(group.bodies.take(part))
            if read is None:  # rows of different widths that add up, a number beyond float64: halve
                if len(part) <= READER_MIN:
                    rest.append(part)
                else:
                    stack += [part[len(part) // 2 :], part[: len(part) // 2]]
                continue
            took, chunk = read
            if chunk is not None:
                records, batch, counts = chunk
                chunks.append((group.records[part[records]], batch, counts))
            rest.append(part[~took])
        return chunks, np.sort(np.concatenate(rest))

    def _read_rows(self, bodies: Any) -> tuple[np.ndarray, tuple[np.ndarray, Batch, list[int]] | None] | None:
        """Bodies that match ``_NUMERIC_ROWS`` as one validated batch of the records whose rows check (each of k
        finite numbers): ``(taken, (record positions, batch, rows per record))``; None when the reader refuses
        the text."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.csv as pcsv

        k = len(self._order)
        n = len(bodies)
        raw = buffer_bytes(bodies)
        if any(c in raw for c in (b" ", b"\n", b"\t", b"\r")):
            bodies = pc.replace_substring_regex(bodies, "[ \t\r\n]+", "")  # JSON's whitespace; no string but the key
        core = None
        for prefix in ('{"instances":[[', '{"inputs":[['):
            if pc.all(pc.starts_with(bodies, prefix)).as_py():
                core = pc.utf8_slice_codeunits(bodies, len(prefix), -3)  # "1,2],[3,4": less the key and "]]}"
                break
        if core is None:  # both keys
            core = pc.replace_substring(bodies, '{"instances":[[', "", max_replacements=1)
            core = pc.utf8_slice_codeunits(pc.replace_substring(core, '{"inputs":[[', "", max_replacements=1), 0, -3)
        rows = pc.replace_substring(core, "],[", "\n")  # a row a line
        text = joined_lines(rows)
        # each record's rows: the line ends up to its own last one
        record_ends = np.cumsum(pc.binary_length(rows).to_numpy(zero_copy_only=False).astype(np.int64) + 1) - 1
        line_ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == ord("\n"))
        counts = np.diff(np.searchsorted(line_ends, record_ends, side="right"), prepend=0)
        try:
            table = pcsv.read_csv(
                pa.BufferReader(text),
                read_options=pcsv.ReadOptions(column_names=[str(i) for i in range(k)], use_threads=False),
                parse_options=pcsv.ParseOptions(quote_char=False, escape_char=False),
                convert_options=pcsv.ConvertOptions(
                    column_types=dict.fromkeys(map(str, range(k)), pa.float64()), null_values=[]
                ),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None  # a row of another width
        if table.num_rows != int(counts.sum()):
            return None
        block = np.empty((table.num_rows, k), dtype=np.float64)
        for j in range(k):
            block[:, j] = table.column(j).to_numpy()
        finite = np.isfinite(block).all(axis=1)
        took = np.ones(n, dtype=bool)
        if not finite.all():  # inf (a number beyond float64): the codec says which
            took[np.repeat(np.arange(n), counts)[~finite]] = False
            block = block[np.repeat(took, counts)]
        if not took.any():
            return took, None
        assert self._block_dtype is not None
        fitted = fit_block(block, self._block_dtype, True)
        if fitted is None:  # a value beyond a narrower column's range: the codec says which
            return np.zeros(n, dtype=bool), None
        batch = validate_batch(self.signature, BlockBatch(fitted[0], self._order, nan_free=fitted[1]))
        return took, (np.flatnonzero(took), batch, counts[took].tolist())

    def _json_documents(
        self,
        group: BodyGroup,
        members: np.ndarray,
        failures: dict[int, str],
        singles: list[tuple[BodyGroup, np.ndarray, list[str]]],
    ) -> list[Chunk]:
        texts = dict(zip(members.tolist(), group.texts(members), strict=True))
        docs = parse_all(list(texts.values()))
        groups: dict[tuple[str, str, Any], list[int]] = {}
        items: dict[int, Any] = {}
        fast = _uniform_instances(docs, self.name_set)
        if fast is not None:
            items = dict(zip(texts, fast, strict=True))
            groups[("rows", "'instances'", None)] = list(texts)
        else:
            other: list[int] = []
            for p, doc in zip(texts, docs, strict=True):
                if isinstance(doc, Invalid):
                    failures[int(group.records[p])] = doc.message
                    continue
                kind, where, key, rows = self._json_shape(doc)
                if kind == "record" and ("true" in texts[p] or "false" in texts[p]):
                    kind = "other"  # a lone true/false the codec reads as a column of one: its own way
                if kind == "other":
                    other.append(p)
                    continue
                items[p] = rows
                groups.setdefault(("records" if kind == "record" else kind, where, key), []).append(p)
            if other:
                singles.append((group, np.asarray(other, dtype=np.int64), ["application/json"] * len(other)))
        chunks: list[Chunk] = []
        for (kind, where, key), members_ in groups.items():

            def decode(
                part: np.ndarray, kind: str = kind, where: str = where, key: Any = key
            ) -> tuple[Batch, list[int] | None]:
                # numpy reads true/false among numbers as 1/0: bodies that may hold one keep them visible to
                # validation, as the codec does for each body (so a part is read as its bodies would be alone)
                bools = any("true" in texts[p] or "false" in texts[p] for p in part.tolist())
                return self._decode_json(kind, where, key, [items[p] for p in part.tolist()], bools)

            chunks += halving(group, np.asarray(members_, dtype=np.int64), decode, failures)
        return chunks

    def _json_shape(self, doc: Any) -> tuple[str, str, Any, Any]:
        """``(kind, where, key, rows)`` as ``json_body.decode_json`` reads the document: ``rows``, ``records``,
        ``split`` (a dataframe_split's rows; key: its columns), ``record`` (one keyed by the input names), or
        ``other`` (decoded alone); ``where`` is how the codec names the field in its messages."""
        if type(doc) is list:
            if doc and type(doc[0]) is dict:
                return "records", "the JSON list", None, doc
            if doc and dict not in set(map(type, doc)):
                return "rows", "the JSON list", None, doc
            return "other", "", None, None
        if type(doc) is not dict:
            return "other", "", None, None
        size = len(doc)
        if size == 1 or (size == 2 and "params" in doc and type(doc["params"]) is dict):
            key = next(k for k in doc if k != "params")
            value = doc[key]
            if key in self.name_set:
                pass
            elif key in ("instances", "inputs") and type(value) is list and value:
                if type(value[0]) is dict:
                    if "datatype" in value[0]:
                        return "other", "", None, None  # the v2 protocol
                    return "records", repr(key), None, value
                if dict not in set(map(type, value)):
                    return "rows", repr(key), None, value
                return "other", "", None, None
            elif key == "dataframe_records" and type(value) is list and value and type(value[0]) is dict:
                return "records", "'dataframe_records'", None, value
            elif key == "dataframe_split" and type(value) is dict and set(value) <= {"columns", "data"}:
                rows, columns = value.get("data"), value.get("columns")
                if type(rows) is list and rows:
                    if columns is None:
                        return "rows", "'dataframe_split.data'", None, rows
                    if type(columns) is list and all(type(c) is str for c in columns):
                        return "split", "", tuple(columns), rows
        if self.name_set and doc.keys() == self.name_set and not any(type(v) in (list, dict) for v in doc.values()):
            return "record", "'dataframe_records'", None, [doc]
        return "other", "", None, None

    def _decode_json(
        self, kind: str, where: str, key: Any, items: list[list[Any]], bools: bool
    ) -> tuple[Batch, list[int] | None]:
        rows = list(itertools.chain.from_iterable(items))
        counts = list(map(len, items))
        if kind == "rows":
            columns = from_rows(rows, self.signature, where, bools=bools)
        elif kind == "records":
            columns = from_records(rows, self.signature, where, bools=bools)
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
        rows = np.concatenate([positions(c) for _, _, c in chunks])
        names = list(dict.fromkeys(n for _, b, _ in chunks for n in b))
        columns: dict[str, np.ndarray] = {}
        for name in names:
            parts = []
            for _, batch, counts in chunks:
                value = batch.get(name)
                parts.append(np.asarray(value) if value is not None else np.full(sum(counts), np.nan))
            columns[name] = parts[0] if len(parts) == 1 else np.concatenate(parts)
        return DecodedInputs(records, rows, columns, failures)


def _column_free(chunk: Chunk, group: BodyGroup, singles: list[tuple[BodyGroup, np.ndarray, list[str]]]) -> list[Chunk]:
    """A chunk of joined CSV bodies less the records whose numbers may depend on the other bodies: pandas reads a
    column of integers as integers (exact, then made floats) and a column with a fraction by its float parser,
    which reads -0 as -0.0 and may round integers past 2**53 otherwise.  Those records (a zero with a sign, a
    magnitude from 2**53) are decoded alone, as the data plane decoded them."""
    records, batch, counts = chunk
    flagged: np.ndarray | None = None
    for value in batch.values():
        column = np.asarray(value)
        if column.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                bad = ((column == 0) & np.signbit(column)) | (np.abs(column) >= _EXACT_INTEGERS)
        elif column.dtype.kind in "iu":
            bad = (column >= _EXACT_INTEGERS) | (column <= -_EXACT_INTEGERS)
        else:
            continue
        bad = bad.reshape(len(bad), -1).any(axis=1) if bad.ndim > 1 else bad
        flagged = bad if flagged is None else flagged | bad
    if flagged is None or not flagged.any():
        return [chunk]
    record_of_row = np.repeat(np.arange(len(records), dtype=np.int64), counts)
    apart = np.zeros(len(records), dtype=bool)
    apart[record_of_row[flagged]] = True
    positions = np.searchsorted(group.records, records[apart])
    singles.append((group, positions, group.content_types.take(positions).to_pylist()))
    if apart.all():
        return []
    rows = ~apart[record_of_row]
    kept: Batch = {name: np.asarray(value)[rows] for name, value in batch.items()}
    return [(records[~apart], kept, np.asarray(counts)[~apart].tolist())]


def _without_empty(group: BodyGroup) -> tuple[BodyGroup, BodyGroup | None]:
    """The group less its empty (or blank) bodies, and those apart."""
    import pyarrow as pa
    import pyarrow.compute as pc

    blank = pc.or_(pc.equal(group.bodies, ""), pc.ascii_is_space(group.bodies)).to_numpy(zero_copy_only=False)
    if not blank.any():
        return group, None

    def part(mask: np.ndarray) -> BodyGroup:
        chosen = pa.array(np.flatnonzero(mask))
        return BodyGroup(
            group.media,
            group.header,
            group.encoding,
            group.records[mask],
            group.bodies.take(chosen),
            group.content_types.take(chosen),
        )

    return part(~blank), part(blank)


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
    if dict in {type(r) for v in items for r in v}:
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
