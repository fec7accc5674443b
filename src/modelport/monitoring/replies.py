"""Captured replies → per-row labels, regression values and class probabilities, many records at a time.

Read from what ``serving/codecs/response.py`` writes: JSON ``{"predictions":
…}`` (one output's values, or one record per row), CSV (``label,proba_<class>…``,
with or without a header), XML, and v2 responses.

JSON replies of one shape (the data plane writes every reply of a model
alike) are parsed together by Arrow's JSON reader, without a Python object per
value, when their fields are of types whose reading is the same either way
(text and integer labels, numbers, lists of numbers); otherwise all are parsed
by one ``orjson`` call, and a reply that does not fit alone.  CSV replies are
joined and parsed by one call of pandas' parser.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelport.errors import ModelportError
from modelport.monitoring.payloads import (
    BodyGroup,
    CountMismatch,
    Invalid,
    Payloads,
    after_first_line,
    framed_json,
    group_bodies,
    joined_lines,
    message,
    parse_all,
    positions,
)
from modelport.signature import Signature


@dataclass
class DecodedOutputs:
    """Per row of every reply: its record, its row in the request, label, regression value, class probabilities."""

    chunks: list[tuple[np.ndarray, np.ndarray, Any, Any, Any]] = field(default_factory=list)
    failures: dict[int, str] = field(default_factory=dict)

    def extend(self, records: Any, counts: Any, labels: Any, values: Any, scores: Any) -> None:
        """The rows of several replies (``counts``: each record's rows, in order); a field may be None."""
        import pyarrow as pa

        counts = np.asarray(counts, dtype=np.int64)
        n = int(counts.sum())
        arrays = (_label_array(labels), _value_array(values), _score_array(scores))
        for name, column in zip(("labels", "values", "scores"), arrays, strict=True):
            if column is not None and len(column) != n:
                raise ValueError(f"the reply's {name} have {len(column)} rows, expected {n}")
        label, value, score = (
            column if column is not None else pa.nulls(n, kind)
            for column, kind in zip(arrays, (pa.string(), pa.float64(), pa.list_(pa.float64())), strict=True)
        )
        records_per_row = np.repeat(np.asarray(records, dtype=np.int64), counts)
        self.chunks.append((records_per_row, positions(counts), label, value, score))

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
    import pyarrow.compute as pc

    if values is None:
        return None
    if isinstance(values, pa.Array):  # read by Arrow: text, or integers (whose text is Python's)
        return values if values.type == pa.string() else pc.cast(values, pa.string())
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
    if isinstance(values, pa.Array):  # read by Arrow: numbers, no nulls
        values = values.to_numpy(zero_copy_only=False)
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
    import pyarrow.compute as pc

    if values is None:
        return None
    kind = pa.list_(pa.float64())
    if isinstance(values, pa.Array):  # read by Arrow: lists of numbers, no nulls
        widths = pc.list_value_length(values).to_numpy(zero_copy_only=False)
        numbers = values.flatten().to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        if len(widths) and (widths == widths[0]).all():
            values = numbers.reshape(len(widths), int(widths[0]))
        else:
            return pa.ListArray.from_arrays(
                pa.array(np.concatenate([[0], np.cumsum(widths)]), pa.int32()), pa.array(numbers, pa.float64())
            )
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

    def __init__(self, signature: Signature, *, arrow: bool = True) -> None:
        """``arrow``: JSON replies of one shape are read by Arrow's reader (False: each by orjson, the way
        Arrow's reading is checked against)."""
        self.arrow = arrow
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
        for group in group_bodies(payloads, out.failures, "reply", required=False):
            if group.encoding == "BINARY":
                for i, ctype in zip(group.records.tolist(), group.content_types.to_pylist(), strict=True):
                    out.failures[i] = f"replies of type {ctype!r} are not read"
            elif group.media == "application/json":
                self._json(out, group)
            elif group.media == "text/csv":
                self._csv(out, group)
            elif group.media in ("application/xml", "text/xml"):
                for i, text in zip(group.records.tolist(), group.texts(), strict=True):
                    self._xml(out, i, text)
            else:
                for i, ctype in zip(group.records.tolist(), group.content_types.to_pylist(), strict=True):
                    out.failures[i] = f"replies of type {ctype!r} are not read"
        return out

    def _add(self, out: DecodedOutputs, records: Any, counts: Any, columns: dict[str, Any]) -> None:
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

    def _json(self, out: DecodedOutputs, group: BodyGroup) -> None:
        if self.arrow and self._json_alike(out, group):
            return
        indices = group.records.tolist()
        docs = parse_all(group.texts())
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
                if isinstance(doc, Invalid):
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

    def _json_alike(self, out: DecodedOutputs, group: BodyGroup) -> bool:
        """Replies ``{"predictions": [...]}`` all of one shape, read by Arrow; False (nothing added) when they
        are not, or hold a field whose value Arrow would read otherwise than orjson and Python do (a float or a
        boolean label, a string value, a null)."""
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.json as pj

        data = framed_json(group.bodies)
        if b"NaN" in data or b"Infinity" in data:  # tokens Arrow's reader takes and JSON has not (or words in text)
            return False
        try:
            table = pj.read_json(
                pa.BufferReader(data),
                read_options=pj.ReadOptions(use_threads=False, block_size=max(len(data), 1 << 20)),
                parse_options=pj.ParseOptions(newlines_in_values=True),
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        if table.num_rows != len(group) or not pa.types.is_struct(table.schema.field("b").type):
            return False
        bodies = table.column("b").combine_chunks()
        if bodies.type.get_field_index("predictions") < 0:
            return False
        preds = pc.struct_field(bodies, "predictions")
        if preds.null_count or not pa.types.is_list(preds.type):
            return False
        rows = preds.flatten()
        if not len(rows) or rows.null_count:
            return False
        if pa.types.is_struct(rows.type):
            columns = {f.name: pc.struct_field(rows, f.name) for f in rows.type}
        elif len(self.outputs) == 1:
            columns = {self.outputs[0]: rows}
        else:
            return False
        labels, values, scores = columns.get("label"), columns.get("prediction"), columns.get("probabilities")
        if labels is None and values is None and scores is None and len(columns) == 1:
            (only,) = columns.values()
            if _numbers(only.type):
                values = only
            else:
                labels = only
        if labels is not None and labels.type not in (pa.string(), pa.int64()):
            return False
        if values is not None and not _numbers(values.type):
            return False
        if scores is not None and not (pa.types.is_list(scores.type) and _numbers(scores.type.value_type)):
            return False
        if any(
            c is not None and (c.null_count or (pa.types.is_list(c.type) and c.flatten().null_count))
            for c in (labels, values, scores)
        ):
            return False
        counts = pc.list_value_length(preds).to_numpy(zero_copy_only=False)
        out.extend(group.records, counts, labels, values, scores)
        return True

    # -- CSV ------------------------------------------------------------------

    def _csv(self, out: DecodedOutputs, group: BodyGroup) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        texts = group.bodies
        header = self.csv_header
        if header is not None and pc.any(pc.starts_with(texts, header)).as_py():
            texts = pa.array(
                [after_first_line(t) if t.startswith(header) else t for t in texts.to_pylist()], pa.string()
            )
        try:  # all replies in one parse
            self._csv_many(out, group.records, texts)
            return
        except (ValueError, TypeError, CountMismatch):
            pass
        for i, text in zip(group.records.tolist(), texts.to_pylist(), strict=True):
            try:
                self._csv_many(out, [i], pa.array([text], pa.string()))
            except (ValueError, TypeError, CountMismatch) as exc:
                out.failures[i] = f"unreadable CSV reply: {message(exc)}"

    def _csv_many(self, out: DecodedOutputs, records: Any, texts: Any) -> None:
        import io

        import pandas as pd
        import pyarrow.compute as pc

        trimmed = pc.utf8_rtrim(texts, characters="\r\n")
        empty = pc.equal(trimmed, "").to_numpy(zero_copy_only=False)
        inner = pc.count_substring(trimmed, "\n").to_numpy(zero_copy_only=False)
        counts = np.where(empty, 0, inner + 1) if (inner.any() or empty.any()) else np.ones(len(texts), dtype=np.int64)
        if empty.all():
            out.extend(records, counts, None, None, None)
            return
        body = joined_lines(trimmed.filter(pc.invert(pc.equal(trimmed, ""))) if empty.any() else trimmed)
        try:
            frame = pd.read_csv(io.BytesIO(body), header=None, keep_default_na=False, na_values=[""], engine="c")
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ValueError(str(exc).strip().splitlines()[0]) from None
        if len(frame) != counts.sum():
            raise CountMismatch()
        names = self._csv_names(frame.shape[1])
        if names is None:
            raise ValueError(
                f"{frame.shape[1]} values a row do not match the model's outputs {', '.join(self.outputs)}"
            )
        columns: dict[str, Any] = {}
        by_output: dict[str, list[int]] = {}
        for j, (_, output) in enumerate(names):
            by_output.setdefault(output, []).append(j)
        for output, places in by_output.items():
            if len(places) == 1 and output != "probabilities":
                column = frame.iloc[:, places[0]]
                if output == "label" or column.dtype.kind not in "iuf":
                    missing = column.isna().to_numpy()
                    text = column.astype(str).to_numpy(dtype=object)
                    text[missing] = None
                    columns[output] = text
                else:
                    columns[output] = column.to_numpy()
            else:
                columns[output] = frame.iloc[:, places].to_numpy(dtype=np.float64)
        self._add(out, records, counts, columns)

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
            out.failures[i] = f"unreadable XML reply: {message(exc)}"


def _numbers(kind: Any) -> bool:
    import pyarrow as pa

    return kind in (pa.float64(), pa.int64())


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
