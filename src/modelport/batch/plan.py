"""A job's plan: everything decided once, when the job is created, and kept with it.

The input objects, the input schema (column names and the Arrow types every
block is parsed with), which columns feed the model, the prediction and
output columns, where outputs go.  Every engine and every resumed run works
from the same plan, which is what keeps their outputs byte-identical.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from modelport.batch.blocks import open_stream, read_first_line
from modelport.batch.filters import parse_filter
from modelport.batch.formats import arrow_type, schema_from_text, schema_to_text
from modelport.batch.inputs import InputObject, filesystem
from modelport.batch.outputs import OutputLayout
from modelport.batch.spec import TransformSpec, media_format, suffix_format
from modelport.errors import InvalidArgument, ModelportError
from modelport.frames import outputs_to_columns
from modelport.runtimes.base import first_line
from modelport.scoring import LoadedModel
from modelport.signature import Signature, synthesize_batch

SAMPLE_BYTES = 1 << 20


@dataclass
class Plan:
    """The fixed decisions of one job (stored as JSON with the job)."""

    objects: list[InputObject]
    input_format: str
    header: bool
    json_rows: bool
    schema: pa.Schema
    """Input columns as every block is parsed (model columns take the signature's types)."""
    model_columns: list[int]
    """Indices (into ``schema``) of the columns the input filter sends to the model."""
    list_input: bool
    """The model input is one list column (``$.features``) expanded into a matrix."""
    prediction_names: list[str]
    output_schema: pa.Schema
    """The written columns, after the join and the output filter."""
    output_select: list[int]
    layout: OutputLayout
    block_bytes: int
    max_payload: int
    """Bytes one request may hold with ``split=none`` (0 = no limit)."""
    split: str
    on_error: str
    single_record: bool
    join_input: bool

    @property
    def output_header(self) -> bool:
        return self.header if self.input_format == "csv" else True

    def to_dict(self) -> dict[str, Any]:
        return {
            "objects": [o.to_dict() for o in self.objects],
            "input_format": self.input_format,
            "header": self.header,
            "json_rows": self.json_rows,
            "schema": schema_to_text(self.schema),
            "model_columns": self.model_columns,
            "list_input": self.list_input,
            "prediction_names": self.prediction_names,
            "output_schema": schema_to_text(self.output_schema),
            "output_select": self.output_select,
            "layout": self.layout.to_dict(),
            "block_bytes": self.block_bytes,
            "max_payload": self.max_payload,
            "split": self.split,
            "on_error": self.on_error,
            "single_record": self.single_record,
            "join_input": self.join_input,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            objects=[InputObject.from_dict(o) for o in data["objects"]],
            input_format=data["input_format"],
            header=data["header"],
            json_rows=data["json_rows"],
            schema=schema_from_text(data["schema"]),
            model_columns=list(data["model_columns"]),
            list_input=data["list_input"],
            prediction_names=list(data["prediction_names"]),
            output_schema=schema_from_text(data["output_schema"]),
            output_select=list(data["output_select"]),
            layout=OutputLayout.from_dict(data["layout"]),
            block_bytes=int(data["block_bytes"]),
            max_payload=int(data["max_payload"]),
            split=data["split"],
            on_error=data["on_error"],
            single_record=data["single_record"],
            join_input=data["join_input"],
        )


def make_plan(
    spec: TransformSpec, model: LoadedModel, objects: list[InputObject], *, s3_endpoint_url: str | None = None
) -> Plan:
    """Decide formats, schema, model columns and outputs; every mistake is an InvalidArgument saying what to fix."""
    fmt = _input_format(spec, objects)
    header = spec.header
    if fmt == "csv" and spec.content_type and header is None:
        header = media_format(spec.content_type)[1]
    first = objects[0]
    json_rows = False
    if fmt == "parquet":
        import pyarrow.parquet as pq

        fs, path = filesystem(first.url, s3_endpoint_url)
        with fs.open(path, "rb") as fh:
            schema = pq.read_schema(fh)
        header = True
    else:
        head = _read_head(first, s3_endpoint_url)
        if fmt == "csv":
            schema, header = _csv_schema(head, header, model.signature)
        else:
            schema, json_rows = _json_schema(head, first.name)
            header = False
    names = schema.names
    model_columns = parse_filter(spec.input_filter, "input filter").select(names, "input filter")
    schema, list_input = _model_types(schema, model_columns, model.signature, fmt)
    prediction_names, prediction_types = _prediction_columns(model, set(names) if spec.join_input else set())
    joined = [*names, *prediction_names] if spec.join_input else list(prediction_names)
    joined_types = [*schema.types, *prediction_types] if spec.join_input else list(prediction_types)
    output_select = parse_filter(spec.output_filter, "output filter").select(joined, "output filter")
    output_schema = pa.schema([pa.field(joined[i], joined_types[i]) for i in output_select])
    layout = OutputLayout.decide(spec.output, input_format=fmt, accept=spec.output_format, objects=objects)
    return Plan(
        objects=objects,
        input_format=fmt,
        header=bool(header),
        json_rows=json_rows,
        schema=schema,
        model_columns=model_columns,
        list_input=list_input,
        prediction_names=prediction_names,
        output_schema=output_schema,
        output_select=output_select,
        layout=layout,
        block_bytes=spec.block_bytes,
        max_payload=int(spec.max_payload_mb * 1024 * 1024),
        split=spec.split,
        on_error=spec.on_error,
        single_record=spec.batch_strategy == "single",
        join_input=spec.join_input,
    )


def _input_format(spec: TransformSpec, objects: list[InputObject]) -> str:
    if spec.input_format:
        return spec.input_format
    found: dict[str, str] = {}
    for obj in objects:
        fmt = suffix_format(obj.name)
        if fmt is None:
            raise InvalidArgument(
                f"cannot tell the format of input {obj.name!r} from its name: pass --content-type "
                "(text/csv, application/jsonlines or application/x-parquet)"
            )
        found.setdefault(fmt, obj.name)
    if len(found) > 1:
        listing = ", ".join(f"{name} ({fmt})" for fmt, name in found.items())
        raise InvalidArgument(f"the inputs mix formats ({listing}): one job reads one format")
    return next(iter(found))


def _read_head(obj: InputObject, s3_endpoint_url: str | None) -> bytes:
    fs, path = filesystem(obj.url, s3_endpoint_url)
    with fs.open(path, "rb") as raw:
        stream = open_stream(raw, obj.gzip)
        try:
            data = stream.read(SAMPLE_BYTES)
            if len(data) == SAMPLE_BYTES:
                data += stream.readline()
        except OSError as exc:  # gzip.BadGzipFile and friends
            raise InvalidArgument(f"cannot read input {obj.name!r}: {first_line(exc)}") from None
    cut = data.rfind(b"\n")
    return data if cut < 0 else data[: cut + 1]


def _csv_schema(head: bytes, header: bool | None, signature: Signature) -> tuple[pa.Schema, bool]:
    import io

    stream = io.BytesIO(head)
    first, _, _ = read_first_line(stream, True)
    second = stream.readline().rstrip(b"\r\n")
    try:
        fields = next(csv.reader([first.decode("utf-8")]), [])
        following = next(csv.reader([second.decode("utf-8")]), [])
    except UnicodeDecodeError:
        raise InvalidArgument("the CSV input is not UTF-8 text") from None
    if not fields:
        raise InvalidArgument("the first CSV input is empty: cannot tell its columns")
    if header is None:
        header = _looks_like_header(fields, following, signature)
    names = fields if header else [str(i) for i in range(len(fields))]
    if len(set(names)) != len(names):
        raise InvalidArgument(f"the CSV header names a column twice: {', '.join(names)}")
    # Columns that do not feed the model stay text, exactly as written.
    return pa.schema([pa.field(n, pa.string()) for n in names]), header


def _looks_like_header(fields: list[str], following: list[str], signature: Signature) -> bool:
    """A header names the model's columns, or is all text above a row with numbers."""
    names = set(signature.input_names)
    if names and names <= set(fields):
        return True
    if any(_NUMBER.match(f) for f in fields):
        return False
    return not following or any(_NUMBER.match(f) for f in following)


_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")


def _json_schema(head: bytes, name: str) -> tuple[pa.Schema, bool]:
    """Fields (and their types) from the first records that parse; a bad one among them is skipped here."""
    records = []
    for line in head.splitlines():
        if line.strip():
            try:
                records.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                continue
        if len(records) >= 1000:
            break
    if not records:
        raise InvalidArgument(f"the first JSON Lines input {name!r} has no JSON record to tell its fields from")
    first = records[0]
    if isinstance(first, list):
        columns = {str(i): [r[i] for r in records if isinstance(r, list) and len(r) == len(first)] for i in range(len(first))}
        return pa.schema([pa.field(n, _infer(v)) for n, v in columns.items()]), True
    if not isinstance(first, dict):
        raise InvalidArgument(f"the records of {name!r} must be JSON objects or arrays, not {type(first).__name__}")
    values: dict[str, list[Any]] = {}
    for record in records:
        if isinstance(record, dict):
            for key, value in record.items():
                values.setdefault(key, []).append(value)
    return pa.schema([pa.field(n, _infer(v)) for n, v in values.items()]), False


def _infer(values: list[Any]) -> pa.DataType:
    """The Arrow type of a field's sample values (text when they disagree)."""
    try:
        t = pa.array(values).type
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pa.string()
    return pa.string() if pa.types.is_null(t) else t


def _model_types(schema: pa.Schema, selected: list[int], signature: Signature, fmt: str) -> tuple[pa.Schema, bool]:
    """Check the selected columns can feed the model, and parse them with its types."""
    inputs = signature.inputs
    names = [schema.names[i] for i in selected]
    if not inputs:
        return schema, False
    types: dict[int, pa.DataType] = {}
    list_input = False
    if len(inputs) == 1 and len(inputs[0].shape) == 2 and inputs[0].name not in names:
        spec = inputs[0]
        width = spec.shape[1]
        if len(selected) == 1 and pa.types.is_list(schema.field(selected[0]).type):
            list_input = True
            types[selected[0]] = pa.list_(arrow_type(spec.dtype))
        elif width not in (-1, len(selected)):
            raise InvalidArgument(
                f"the model's input {spec.name!r} takes {width} values per record; the input filter selects "
                f"{len(selected)} column(s) ({', '.join(names[:12])}): choose {width} with --input-filter"
            )
        else:
            types = {i: arrow_type(spec.dtype) for i in selected}
    elif all(n in names for n in signature.input_names):
        by_name = {s.name: s for s in inputs}
        types = {i: arrow_type(by_name[schema.names[i]].dtype) for i in selected if schema.names[i] in by_name}
    elif len(selected) == len(inputs):
        types = {i: arrow_type(s.dtype) for i, s in zip(selected, inputs, strict=True)}
    else:
        raise InvalidArgument(
            f"the model takes {len(inputs)} input column(s) ({', '.join(signature.input_names[:12])}); the input "
            f"filter selects {len(selected)} ({', '.join(names[:12])}): name them in the header or choose them "
            "with --input-filter"
        )
    if fmt == "parquet":
        return schema, list_input  # typed already; the model's validation converts
    # the column's own dtype rides along, for messages about a value that does not parse (formats.bad_column)
    dtypes = {i: by_spec.dtype for i, by_spec in _specs_of(selected, names, signature).items()}
    fields = [
        pa.field(f.name, types.get(i, f.type), metadata={"dtype": dtypes[i]} if i in dtypes else None)
        for i, f in enumerate(schema)
    ]
    return pa.schema(fields), list_input


def _specs_of(selected: list[int], names: list[str], signature: Signature) -> dict[int, Any]:
    """The input spec each selected column feeds (a lone tensor input: every one of them)."""
    inputs = signature.inputs
    if len(inputs) == 1 and len(inputs[0].shape) == 2 and inputs[0].name not in names:
        return dict.fromkeys(selected, inputs[0])
    by_name = {s.name: s for s in inputs}
    if all(n in names for n in signature.input_names):
        return {i: by_name[n] for i, n in zip(selected, names, strict=True) if n in by_name}
    return dict(zip(selected, inputs, strict=True))


def _prediction_columns(model: LoadedModel, taken: set[str]) -> tuple[list[str], list[pa.DataType]]:
    """Names and types of the prediction columns, from one synthetic record; clashes with inputs get ``_pred``.

    A model that refuses the made-up record (an encoder that rejects a category it never saw) is
    described by its signature's declared outputs instead: the real records show what it refuses.
    """
    try:
        outputs = model.predict_batch(synthesize_batch(model.signature, rows=1))
    except ModelportError:
        declared = declared_outputs(model.signature)
        if declared is None:
            raise
        outputs = declared
    cols = outputs_to_columns(outputs, model.classes)
    names, types = [], []
    for name, values in cols.items():
        out = name
        while out in taken:
            out = f"{out}_pred"
        names.append(out)
        types.append(pa.array(values).type)
    return names, types


def declared_outputs(signature: Signature) -> dict[str, np.ndarray] | None:
    """One row of the signature's outputs, as the model would return it (None when a shape is open)."""
    out: dict[str, np.ndarray] = {}
    for spec in signature.outputs:
        if any(d <= 0 for d in spec.shape[1:]):
            return None
        shape = (1, *spec.shape[1:])
        out[spec.name] = np.full(shape, "", dtype=object) if spec.dtype == "string" else np.zeros(shape, spec.dtype)
    return out or None
