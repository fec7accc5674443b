"""One run of a job, engine-agnostic: what is done, what is left, finishing objects and the job.

Engines (the local pipeline, Dask) read and score blocks; they report each
committed block here.  A JobRun knows which blocks of which object are
committed, writes an object's output as soon as all its blocks are in
(one output per object) or all outputs at the end (one assembled output),
counts, reports progress, and turns a bad record into the job's failure
when bad records are not to be skipped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from modelport.batch.blocks import count_lines
from modelport.batch.formats import csv_header, read_ipc
from modelport.batch.job import JobProgress
from modelport.batch.outputs import write_errors, write_output, write_parquet_output, write_text_output
from modelport.batch.plan import Plan
from modelport.batch.reader import RawBlock, read_object
from modelport.batch.staging import Staging
from modelport.errors import InvalidArgument


class Cancelled(Exception):
    """The job was asked to stop (``jobs cancel``)."""


#: how often progress is written to the job record (and a cancel request noticed)
BEAT_INTERVAL_S = 1.0


class Reporter:
    """Sends progress to the job record about once a second and learns about cancel requests."""

    def __init__(
        self,
        beat: Callable[[JobProgress], bool],
        *,
        on_progress: Callable[[JobProgress], None] | None = None,
    ) -> None:
        self._beat = beat
        self._on_progress = on_progress
        self._last = -BEAT_INTERVAL_S
        self._last_shown = -1.0
        self.cancelled = False

    def update(self, progress: JobProgress, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._on_progress is not None and (force or now - self._last_shown >= 0.1):
            self._last_shown = now
            self._on_progress(progress)
        if force or now - self._last >= BEAT_INTERVAL_S:
            self._last = now
            if self._beat(progress):
                self.cancelled = True


class JobRun:
    def __init__(
        self,
        plan: Plan,
        staging: Staging,
        reporter: Reporter,
        *,
        s3_endpoint_url: str | None = None,
        previous_seconds: float = 0.0,
    ) -> None:
        self.plan = plan
        self.staging = staging
        self.reporter = reporter
        self.s3_endpoint_url = s3_endpoint_url
        self._started = time.monotonic()
        self._previous = previous_seconds
        self._lock = threading.Lock()
        self.done: dict[int, dict[str, Any]] = staging.done()
        self.records: dict[int, dict[int, dict[str, Any]]] = {}
        self.expected: dict[int, int] = {}
        for obj in range(len(plan.objects)):
            if obj not in self.done:
                self.records[obj] = staging.committed(obj)
        self.progress = self._initial_progress()

    # -- what is left -----------------------------------------------------------

    def todo(self) -> list[int]:
        return [o for o in range(len(self.plan.objects)) if o not in self.done]

    def skip(self, obj: int) -> frozenset[int]:
        return frozenset(self.records.get(obj, {}))

    @property
    def cancelled(self) -> bool:
        return self.reporter.cancelled

    # -- engines report here ----------------------------------------------------

    def check(self, obj: int, index: int, bad: list[tuple[int, str]]) -> None:
        """Fail the job on a bad record, unless bad records are skipped."""
        if bad and self.plan.on_error == "fail":
            line, reason = bad[0]
            row = self.header_lines() + self._lines_before(obj, index) + line + 1
            raise InvalidArgument(
                f"{self.plan.objects[obj].name} row {row}: {reason} (use --on-error skip to leave bad records out)"
            )

    def commit(self, obj: int, index: int, data: bytes, record: dict[str, Any]) -> None:
        self.staging.commit_block(obj, index, data, record)
        self.on_block(obj, index, record)

    def on_block(self, obj: int, index: int, record: dict[str, Any]) -> None:
        with self._lock:
            self.records.setdefault(obj, {})[index] = record
            p = self.progress
            p.blocks_done += 1
            p.records += record["records"]
            p.bad_records += len(record["bad"])
            p.rows_written += record["rows"]
            p.bytes_done += record["in_bytes"]
            self._maybe_finish_object(obj)
            self._report()

    def on_end(self, obj: int, blocks: int) -> None:
        with self._lock:
            self.expected[obj] = blocks
            self._maybe_finish_object(obj)
            self._report()

    def _report(self, force: bool = False) -> None:
        self.progress.run_seconds = self._previous + (time.monotonic() - self._started)
        self.reporter.update(self.progress.model_copy(), force=force)

    # -- objects ----------------------------------------------------------------

    def _maybe_finish_object(self, obj: int) -> None:
        n = self.expected.get(obj)
        records = self.records.get(obj, {})
        if obj in self.done or n is None or len(records) < n:  # records are keyed by block index 0..n-1
            return
        if self.plan.layout.mode == "objects":
            info = self.plan.objects[obj]
            self._write(self.plan.layout.target(info), [obj])
        summary = {
            "blocks": n,
            "records": sum(records[k]["records"] for k in range(n)),
            "lines": sum(records[k]["lines"] for k in range(n)),
            "bad": sum(len(records[k]["bad"]) for k in range(n)),
            "rows": sum(records[k]["rows"] for k in range(n)),
            "bad_blocks": [k for k in range(n) if records[k]["bad"]],
        }
        self.staging.mark_done(obj, summary)
        if self.plan.layout.mode == "objects":
            self.staging.drop_parts(obj, list(range(n)))
        self.done[obj] = summary
        self.progress.inputs_done += 1
        # The object's bytes are done, however the blocks' shares were estimated.
        self.progress.bytes_done += self.plan.objects[obj].size - sum(records[k]["in_bytes"] for k in range(n))

    def _parts(self, objects: list[int]) -> Iterator[bytes]:
        for obj in objects:
            for k in range(self.done[obj]["blocks"] if obj in self.done else self.expected[obj]):
                yield self.staging.read_part(obj, k)

    def _write(self, url: str, objects: list[int]) -> None:
        plan = self.plan
        layout = plan.layout
        if layout.fmt == "parquet":
            tables = (read_ipc(part) for part in self._parts(objects))
            write_output(url, self.s3_endpoint_url, lambda sink: write_parquet_output(sink, tables, plan.output_schema))
            return
        header = csv_header(plan.output_schema.names) if layout.fmt == "csv" and plan.output_header else b""
        parts = self._parts(objects)
        write_output(
            url, self.s3_endpoint_url, lambda sink: write_text_output(sink, parts, header=header, gzipped=layout.gzip)
        )

    # -- the end ----------------------------------------------------------------

    def finish(self) -> JobProgress:
        """Write the assembled output and the errors file (every object is done)."""
        missing = self.todo()
        if missing:
            raise InvalidArgument(f"internal: inputs {missing[:5]} are not finished")  # pragma: no cover
        if self.plan.layout.mode == "single":
            self._write(self.plan.layout.root, list(range(len(self.plan.objects))))
        if self.progress.bad_records:
            rows = self._bad_rows()
            write_output(self.plan.layout.errors_url, self.s3_endpoint_url, lambda sink: write_errors(sink, rows))
        self._report(force=True)
        return self.progress

    def _bad_rows(self) -> Iterator[tuple[str, int, str]]:
        head = self.header_lines()
        for obj, summary in sorted(self.done.items()):
            if not summary["bad"]:
                continue
            records = self.records.get(obj) or self.staging.committed(obj)
            before = 0
            for k in range(summary["blocks"]):
                for line, reason in records[k]["bad"]:
                    yield self.plan.objects[obj].name, head + before + line + 1, reason
                before += records[k]["lines"]

    def header_lines(self) -> int:
        return 1 if self.plan.header and self.plan.input_format == "csv" else 0

    def _lines_before(self, obj: int, index: int) -> int:
        records = self.records.get(obj, {})
        if all(k in records for k in range(index)):
            return sum(records[k]["lines"] for k in range(index))
        total = 0  # blocks before this one are not all known (Dask): count them
        for item in read_object(self.plan, obj, stop=index, s3_endpoint_url=self.s3_endpoint_url):
            if isinstance(item, RawBlock):
                total += count_lines(item.data) if item.data is not None else item.table.num_rows
        return total

    def _initial_progress(self) -> JobProgress:
        p = JobProgress(inputs=len(self.plan.objects), bytes_total=sum(o.size for o in self.plan.objects))
        for obj, summary in self.done.items():
            p.inputs_done += 1
            p.blocks_done += summary["blocks"]
            p.records += summary["records"]
            p.bad_records += summary["bad"]
            p.rows_written += summary["rows"]
            p.bytes_done += self.plan.objects[obj].size
        for records in self.records.values():
            for record in records.values():
                p.blocks_done += 1
                p.records += record["records"]
                p.bad_records += len(record["bad"])
                p.rows_written += record["rows"]
                p.bytes_done += record["in_bytes"]
        p.run_seconds = self._previous
        return p
