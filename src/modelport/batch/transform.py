"""One block through the model: parse, input filter, predict, join, output filter.

The fast path handles a whole block in one parse and one model call.  When
something in the block is bad — a record that does not parse, a value the
signature refuses, a model that raises — the block is retried record by
record to name the culprits; the good records still go through, in order.
Whether bad records fail the job or are skipped is the caller's decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelport.batch.blocks import count_lines
from modelport.batch.formats import PARSE_ERRORS, blank_lines, encode, isolate_bad_lines, parse_text
from modelport.batch.plan import Plan
from modelport.batch.reader import RawBlock
from modelport.errors import Internal, ModelportError
from modelport.frames import outputs_to_columns
from modelport.scoring import LoadedModel
from modelport.signature import Batch


@dataclass
class BlockOutput:
    """What one block produced: its output rows and what the job records about it."""

    obj: int
    index: int
    records: int
    lines: int
    """Physical lines (text) or rows (Parquet) the block spans: turns block-relative numbers into file rows."""
    bad: list[tuple[int, str]]
    """(line or row index within the block, reason) per bad record."""
    table: pa.Table
    in_bytes: int

    def record(self, out_bytes: int) -> dict[str, Any]:
        """The block's committed record (its staging ``.json``)."""
        return {
            "records": self.records,
            "lines": self.lines,
            "rows": self.table.num_rows,
            "bad": [[i, reason] for i, reason in self.bad],
            "in_bytes": self.in_bytes,
            "out_bytes": out_bytes,
        }


@dataclass
class ParsedBlock:
    """A block's records as a table; its raw bytes are let go once parsed (flat memory)."""

    obj: int
    index: int
    in_bytes: int
    table: pa.Table
    lines: int
    bad: list[tuple[int, str]] = field(default_factory=list)
    skipped_lines: list[int] | None = None
    """Lines holding no record of ``table`` (blank or bad), ascending; None for Parquet (row = record)."""

    def line_of(self, record: int) -> int:
        """Record index (in ``table``) → line index in the block."""
        line = record
        for skipped in self.skipped_lines or ():
            if skipped > line:
                break
            line += 1
        return line


class BlockProcessor:
    """Turns raw blocks into output blocks for one plan and one loaded model (thread-safe)."""

    def __init__(self, plan: Plan, model: LoadedModel) -> None:
        self.plan = plan
        self.model = model

    def run(self, raw: RawBlock) -> BlockOutput:
        return self.process(self.parse(raw))

    def encode(self, out: BlockOutput) -> bytes:
        return encode(out.table, self.plan.layout.fmt)

    # -- parse ------------------------------------------------------------------

    def parse(self, raw: RawBlock) -> ParsedBlock:
        plan = self.plan

        def parsed(table: pa.Table, lines: int, bad: list[tuple[int, str]], skipped: list[int] | None) -> ParsedBlock:
            return ParsedBlock(
                obj=raw.obj, index=raw.index, in_bytes=raw.in_bytes, table=table, lines=lines, bad=bad, skipped_lines=skipped
            )

        if raw.data is None:
            return parsed(raw.table.select(plan.schema.names), raw.table.num_rows, [], None)
        data = raw.data
        lines = count_lines(data)
        try:
            table = parse_text(data, plan.input_format, plan.schema, json_rows=plan.json_rows)
            # a record per line: no blank line to find (the scan costs as much as parsing a CSV block)
            return parsed(table, lines, [], [] if table.num_rows == lines else blank_lines(data))
        except PARSE_ERRORS:
            good, good_lines, bad = isolate_bad_lines(data, plan.input_format, plan.schema, json_rows=plan.json_rows)
            table = parse_text(good, plan.input_format, plan.schema, json_rows=plan.json_rows)
            kept = set(good_lines)
            return parsed(table, lines, bad, [i for i in range(lines) if i not in kept])

    # -- predict ----------------------------------------------------------------

    def process(self, parsed: ParsedBlock) -> BlockOutput:
        plan = self.plan
        table = parsed.table
        bad = list(parsed.bad)
        records = table.num_rows + len(bad)
        preds = None
        if table.num_rows:
            preds, keep, rejected = self._predict(table.select(plan.model_columns))
            if rejected:
                bad.extend((parsed.line_of(i), reason) for i, reason in rejected)
                bad.sort()
                table = table.take(pa.array(keep, type=pa.int64()))
        if preds is not None:
            if plan.join_input:
                joined = pa.Table.from_arrays(
                    [*table.columns, *preds.columns], names=[*table.column_names, *plan.prediction_names]
                )
            else:
                joined = preds
            out = joined.select(plan.output_select)
        else:
            out = plan.output_schema.empty_table()
        return BlockOutput(
            obj=parsed.obj,
            index=parsed.index,
            records=records,
            lines=parsed.lines,
            bad=bad,
            table=out,
            in_bytes=parsed.in_bytes,
        )

    def _predict(self, model_in: pa.Table) -> tuple[pa.Table | None, list[int], list[tuple[int, str]]]:
        """Predictions for the block's records: (table, kept record indices, (record, reason) per rejected one)."""
        frame = self._frame(model_in)
        n = model_in.num_rows
        if not self.plan.single_record:
            try:
                return self._table(self.model.predict_batch(self.model.to_batch(frame))), list(range(n)), []
            except ModelportError:
                pass  # find the records at fault, one by one
        return self._one_by_one(frame, n)

    def _one_by_one(self, frame: Any, n: int) -> tuple[pa.Table | None, list[int], list[tuple[int, str]]]:
        model = self.model
        keep: list[int] = []
        outs: list[Batch] = []
        rejected: list[tuple[int, str]] = []
        for i in range(n):
            try:
                outs.append(model.predict_batch(model.to_batch(frame.iloc[i : i + 1])))
                keep.append(i)
            except ModelportError as exc:
                rejected.append((i, exc.message.replace(" at row 0", "")))  # the job names the file's row
        if not outs:
            return None, keep, rejected
        merged = {name: np.concatenate([o[name] for o in outs]) for name in outs[0]}
        return self._table(merged), keep, rejected

    def _frame(self, model_in: pa.Table) -> Any:
        import pandas as pd

        if self.plan.list_input:
            col = model_in.column(0).combine_chunks()
            lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
            if len(lengths) and (lengths == lengths[0]).all():
                values = pc.list_flatten(col).to_numpy(zero_copy_only=False)
                return pd.DataFrame(values.reshape(len(col), -1))
            return pd.DataFrame(list(col.to_pylist()))  # ragged rows: the model's validation names them
        return model_in.to_pandas()

    def _table(self, outputs: Batch) -> pa.Table:
        cols = outputs_to_columns(outputs, self.model.classes)
        names = self.plan.prediction_names
        if len(cols) != len(names):
            raise Internal(f"the model returned the columns {', '.join(cols)}; the job expected {len(names)}")
        return pa.Table.from_arrays([pa.array(v) for v in cols.values()], names=names)
