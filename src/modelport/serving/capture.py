"""Data capture: sampled request/response records in SageMaker's JSONL shape.

Records go through a bounded deque to one background writer thread, so a
request never waits on storage: when the deque is full the record is dropped
and counted.  The writer groups records by ``endpoint/variant/yyyy/mm/dd/hh``
and writes one JSONL object per group every ``flush_interval`` seconds (or
when a group reaches ``max_records``), atomically, through the artifact
store (a local folder or S3).  ``close()`` drains the queue and flushes, so a
clean shutdown loses nothing.
"""

from __future__ import annotations

import base64
import collections
import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from modelport.endpoints.config import CaptureConfig

log = logging.getLogger("modelport.capture")


@dataclass(slots=True)
class CaptureEvent:
    """What a request hands the writer: the bodies as they were, everything else decided in the writer."""

    endpoint: str
    variant: str
    config: CaptureConfig
    input_body: bytes
    input_type: str | None
    output_body: bytes
    output_type: str | None
    inference_id: str | None
    time: float
    """Seconds since the epoch (``time.time()``)."""
    propensity: float = 1.0
    """The chance this variant was chosen for this request (its share of the live weights; 1 if the caller chose)."""
    assignment: str = "weighted"
    """How the variant was chosen: ``weighted`` (a random draw), ``unit`` (the unit id's hash), ``forced`` (by the caller)."""
    experiment: str | None = None
    """The experiment that set the endpoint's weights, if any."""


class _Encodings:
    """Per capture config: content type → CSV / JSON / BASE64 (PROTOCOLS.md §5), remembered."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, str | None], str] = {}

    def __call__(self, config: CaptureConfig, content_type: str | None) -> str:
        key = (id(config), content_type)
        enc = self._known.get(key)
        if enc is None:
            base = (content_type or "").split(";")[0].strip().lower()
            csv = {t.lower() for t in config.csv_content_types}
            enc = (
                "CSV" if base in csv else "JSON" if base in {t.lower() for t in config.json_content_types} else "BASE64"
            )
            if len(self._known) > 4096:  # configs come and go with endpoint revisions
                self._known.clear()
            self._known[key] = enc
        return enc


class _Stamps:
    """Formatted times, cached per second: strftime per record was a tenth of the writer's time."""

    def __init__(self) -> None:
        self._second: tuple[int, str, str] = (-1, "", "")

    def _at(self, when: float) -> tuple[str, str]:
        second = int(when)
        if second != self._second[0]:
            at = datetime.fromtimestamp(second, UTC)
            self._second = (second, at.strftime("%Y-%m-%dT%H:%M:%SZ"), at.strftime("%Y/%m/%d/%H"))
        return self._second[1], self._second[2]

    def iso(self, when: float) -> str:
        return self._at(when)[0]

    def hour(self, when: float) -> str:
        return self._at(when)[1]


class RecordEncoder:
    """Capture events → lines of a capture file (PROTOCOLS.md §5), written as bytes.

    ``eventMetadata`` holds SageMaker's keys (``eventId``, ``inferenceTime``,
    ``inferenceId``) and modelport's: ``propensity`` and ``assignment`` (how
    the variant was chosen, for off-policy evaluation) and ``experiment``
    when one owns the endpoint's weights.

    Built in the writer thread of the process that serves, so the event ids'
    random prefix is never shared with a forked sibling.  A line costs ~3 µs
    (a dict through orjson plus ``uuid4()`` cost ~9 µs).
    """

    def __init__(self) -> None:
        self._stamps = _Stamps()
        self._encodings = _Encodings()
        self._prefix = str(uuid.uuid4())[:24]
        self._count = itertools.count()
        self._types: dict[str | None, bytes] = {}
        self._routing: dict[tuple[float, str, str | None], bytes] = {}

    def hour(self, event: CaptureEvent) -> str:
        return self._stamps.hour(event.time)

    def _payload(self, body: bytes, content_type: str | None, mode: bytes, enc: str) -> bytes:
        observed = self._types.get(content_type)
        if observed is None:
            observed = self._types[content_type] = orjson.dumps(content_type or "")
            if len(self._types) > 4096:
                self._types.clear()
        data = base64.b64encode(body).decode() if enc == "BASE64" else body.decode("utf-8", errors="replace")
        return b"".join(
            (b'{"observedContentType":', observed, b',"mode":"', mode, b'","data":', orjson.dumps(data),
             b',"encoding":"', enc.encode(), b'"}')
        )  # fmt: skip

    def line(self, event: CaptureEvent) -> bytes:
        config = event.config
        parts = [b'{"captureData":{']
        if config.capture_input:
            enc = self._encodings(config, event.input_type)
            parts += (b'"endpointInput":', self._payload(event.input_body, event.input_type, b"INPUT", enc))
        if config.capture_output:
            enc = self._encodings(config, event.output_type)
            if len(parts) > 1:
                parts.append(b",")
            parts += (b'"endpointOutput":', self._payload(event.output_body, event.output_type, b"OUTPUT", enc))
        event_id = self._prefix + format(next(self._count), "012x")
        parts += (b'},"eventMetadata":{"eventId":"', event_id.encode(), b'","inferenceTime":"')
        parts.append(self._stamps.iso(event.time).encode())
        if event.inference_id:
            parts += (b'","inferenceId":', orjson.dumps(event.inference_id))
        else:
            parts.append(b'"')
        parts += (self._assignment(event), b'},"eventVersion":"0"}')
        return b"".join(parts)

    def _assignment(self, event: CaptureEvent) -> bytes:
        """``,"propensity":…,"assignment":…[,"experiment":…]``: few distinct values, encoded once each."""
        key = (event.propensity, event.assignment, event.experiment)
        found = self._routing.get(key)
        if found is None:
            extra = {"propensity": event.propensity, "assignment": event.assignment}
            if event.experiment is not None:
                extra["experiment"] = event.experiment
            found = b"," + orjson.dumps(extra)[1:-1]
            if len(self._routing) > 4096:  # weights move (a bandit): forget old ones
                self._routing.clear()
            self._routing[key] = found
        return found


def record(event: CaptureEvent) -> dict[str, Any]:
    """One line of a capture file, parsed."""
    return orjson.loads(RecordEncoder().line(event))


class CaptureWriter:
    """A bounded, non-blocking sink for capture events.

    A request only appends its event to a deque (no lock, no wake-up); the
    writer thread drains it every ``drain_interval`` seconds and encodes the
    records in bulk.  Waking the thread per event cost ~40% of an endpoint's
    throughput at 64 clients (the GIL handed back and forth on every request);
    draining in bulk costs a few percent (bench/RESULTS.md, "capture").
    """

    def __init__(
        self,
        write: Callable[[str, str, bytes], None],
        *,
        max_queue: int = 10_000,
        flush_interval: float = 1.0,
        max_records: int = 1000,
        drain_interval: float = 0.05,
        on_written: Callable[[str, str, int], None] | None = None,
        on_dropped: Callable[[str, str], None] | None = None,
    ) -> None:
        self._write = write
        self._pending: collections.deque[CaptureEvent] = collections.deque()
        self.max_queue = max_queue
        self.flush_interval = flush_interval
        self.max_records = max_records
        self.drain_interval = min(drain_interval, flush_interval)
        self.on_written = on_written
        self.on_dropped = on_dropped
        self.written = 0
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="modelport-capture", daemon=True)
        self._thread.start()

    def submit(self, event: CaptureEvent) -> bool:
        """Queue an event without waiting; False (and counted) when ``max_queue`` events wait already."""
        if len(self._pending) >= self.max_queue or self._stop.is_set():
            self.dropped += 1
            if self.on_dropped:
                self.on_dropped(event.endpoint, event.variant)
            return False
        self._pending.append(event)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Flush everything queued, then stop the writer."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        groups: dict[tuple[str, str, str | None, str], list[bytes]] = {}
        last_flush = time.monotonic()
        encoder = RecordEncoder()
        while True:
            stopping = self._stop.wait(self.drain_interval)
            pending = self._pending
            for _ in range(len(pending)):
                event = pending.popleft()
                key = (event.endpoint, event.variant, event.config.destination, encoder.hour(event))
                lines = groups.get(key)
                if lines is None:
                    lines = groups[key] = []
                lines.append(encoder.line(event))
                if len(lines) >= self.max_records:
                    self._flush({key: lines})
                    del groups[key]
            if stopping or time.monotonic() - last_flush >= self.flush_interval:
                self._flush(groups)
                groups.clear()
                last_flush = time.monotonic()
            if stopping:
                return

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
