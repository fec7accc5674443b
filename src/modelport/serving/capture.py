"""Data capture: sampled request/response records in SageMaker's JSONL shape.

Records go through a bounded queue to one background writer thread, so a
request never waits on storage: when the queue is full the record is dropped
and counted.  The writer groups records by ``endpoint/variant/yyyy/mm/dd/hh``
and writes one JSONL object per group every ``flush_interval`` seconds (or
when a group reaches ``max_records``), atomically, through the artifact
store (a local folder or S3).  ``close()`` drains the queue and flushes, so a
clean shutdown loses nothing.
"""

from __future__ import annotations

import base64
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

log = logging.getLogger("modelport.capture")


@dataclass(frozen=True)
class CaptureEvent:
    endpoint: str
    variant: str
    destination: str | None
    input_body: bytes | None
    input_type: str | None
    output_body: bytes | None
    output_type: str | None
    inference_id: str | None
    time: datetime
    csv_types: tuple[str, ...] = ("text/csv",)
    json_types: tuple[str, ...] = ("application/json",)


def _encoding(content_type: str | None, csv_types: tuple[str, ...], json_types: tuple[str, ...]) -> str:
    base = (content_type or "").split(";")[0].strip().lower()
    if base in csv_types:
        return "CSV"
    if base in json_types:
        return "JSON"
    return "BASE64"


def _payload(body: bytes, content_type: str | None, mode: str, event: CaptureEvent) -> dict[str, Any]:
    enc = _encoding(content_type, event.csv_types, event.json_types)
    data = base64.b64encode(body).decode() if enc == "BASE64" else body.decode("utf-8", errors="replace")
    return {"observedContentType": content_type or "", "mode": mode, "data": data, "encoding": enc}


def record(event: CaptureEvent) -> dict[str, Any]:
    """One line of a capture file (PROTOCOLS.md §5)."""
    capture: dict[str, Any] = {}
    if event.input_body is not None:
        capture["endpointInput"] = _payload(event.input_body, event.input_type, "INPUT", event)
    if event.output_body is not None:
        capture["endpointOutput"] = _payload(event.output_body, event.output_type, "OUTPUT", event)
    meta: dict[str, Any] = {
        "eventId": str(uuid.uuid4()),
        "inferenceTime": event.time.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if event.inference_id:
        meta["inferenceId"] = event.inference_id
    return {"captureData": capture, "eventMetadata": meta, "eventVersion": "0"}


class CaptureWriter:
    """A bounded, non-blocking sink for capture events."""

    def __init__(
        self,
        write: Callable[[str, str, bytes], None],
        *,
        max_queue: int = 10_000,
        flush_interval: float = 1.0,
        max_records: int = 1000,
        on_written: Callable[[str, str, int], None] | None = None,
        on_dropped: Callable[[str, str], None] | None = None,
    ) -> None:
        self._write = write
        self._queue: queue.Queue[CaptureEvent | None] = queue.Queue(max_queue)
        self.flush_interval = flush_interval
        self.max_records = max_records
        self.on_written = on_written
        self.on_dropped = on_dropped
        self.written = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="modelport-capture", daemon=True)
        self._thread.start()

    def submit(self, event: CaptureEvent) -> bool:
        """Queue an event without waiting; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(event)
            return True
        except queue.Full:
            self.dropped += 1
            if self.on_dropped:
                self.on_dropped(event.endpoint, event.variant)
            return False

    def close(self, timeout: float = 30.0) -> None:
        """Flush everything queued, then stop the writer."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        groups: dict[tuple[str, str, str | None, str], list[bytes]] = {}
        last_flush = time.monotonic()
        stopping = False
        while not stopping:
            timeout = max(0.0, self.flush_interval - (time.monotonic() - last_flush))
            try:
                event = self._queue.get(timeout=timeout)
            except queue.Empty:
                event = "tick"  # type: ignore[assignment]
            if event is None:
                stopping = True
            elif event != "tick":
                key = (event.endpoint, event.variant, event.destination, event.time.strftime("%Y/%m/%d/%H"))
                lines = groups.setdefault(key, [])
                lines.append(orjson.dumps(record(event)))
                if len(lines) < self.max_records:
                    continue
            if stopping or time.monotonic() - last_flush >= self.flush_interval or any(
                len(v) >= self.max_records for v in groups.values()
            ):
                self._flush(groups)
                last_flush = time.monotonic()

    def _flush(self, groups: dict[tuple[str, str, str | None, str], list[bytes]]) -> None:
        for (endpoint, variant, destination, hour), lines in list(groups.items()):
            if not lines:
                continue
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            path = f"{endpoint}/{variant}/{hour}/{stamp}-{uuid.uuid4().hex[:8]}.jsonl"
            try:
                self._write(destination or "", path, b"\n".join(lines) + b"\n")
                self.written += len(lines)
                if self.on_written:
                    self.on_written(endpoint, variant, len(lines))
            except Exception:  # storage trouble must not kill the writer: count and go on
                log.exception("could not write %d capture records to %s", len(lines), path)
                self.dropped += len(lines)
                if self.on_dropped:
                    for _ in lines:
                        self.on_dropped(endpoint, variant)
        groups.clear()
