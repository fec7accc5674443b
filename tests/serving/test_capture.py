"""The capture writer: SageMaker's record shape, nothing lost on close, a full queue drops and counts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import orjson

from modelport.endpoints.config import CaptureConfig
from modelport.serving.capture import CaptureEvent, CaptureWriter

AT = datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC).timestamp()


def event(
    n: int, *, config: CaptureConfig | None = None, at: float = AT, inference_id: str | None = "inf"
) -> CaptureEvent:
    cfg = config or CaptureConfig(enabled=True)
    return CaptureEvent(
        "churn", "a", cfg, b"1,2,%d\n" % n, "text/csv", b'{"predictions":[1]}', "application/json", inference_id, at
    )


class Files:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.written: dict[str, bytes] = {}

    def __call__(self, root: str, path: str, data: bytes) -> None:
        with self.lock:
            self.written[f"{root}|{path}"] = data

    def records(self) -> list[dict]:
        return [orjson.loads(line) for data in self.written.values() for line in data.splitlines()]


def test_close_writes_every_queued_record_in_sagemakers_shape() -> None:
    files = Files()
    writer = CaptureWriter(files, flush_interval=60.0, max_records=7)
    for n in range(20):
        assert writer.submit(event(n, at=AT + (n % 2)))  # two hours: 23:59:59 and 00:00:00 the next day
    writer.close()
    records = files.records()
    assert writer.written == 20 and writer.dropped == 0
    assert sorted(r["captureData"]["endpointInput"]["data"] for r in records) == sorted(f"1,2,{n}\n" for n in range(20))
    first = records[0]
    assert first["captureData"]["endpointInput"]["encoding"] == "CSV"
    assert first["captureData"]["endpointOutput"] == {
        "observedContentType": "application/json",
        "mode": "OUTPUT",
        "data": '{"predictions":[1]}',
        "encoding": "JSON",
    }
    assert first["eventMetadata"]["inferenceId"] == "inf" and first["eventVersion"] == "0"
    assert len({r["eventMetadata"]["eventId"] for r in records}) == 20
    hours = {key.split("|")[1].rsplit("/", 1)[0] for key in files.written}
    assert hours == {"churn/a/2026/12/06/23", "churn/a/2026/12/07/00"}
    assert all(data.count(b"\n") <= 7 for data in files.written.values())  # max_records per file
    times = {r["eventMetadata"]["inferenceTime"] for r in records}
    assert times == {"2026-12-06T23:59:59Z", "2026-12-07T00:00:00Z"}


def test_capture_options_and_content_types_follow_the_config() -> None:
    files = Files()
    writer = CaptureWriter(files)
    only_input = CaptureConfig(enabled=True, capture_output=False, csv_content_types=[], destination="s3://b/c")
    writer.submit(event(1, config=only_input, inference_id=None))
    writer.close()
    [(key, data)] = files.written.items()
    assert key.startswith("s3://b/c|churn/a/")
    record = orjson.loads(data)
    assert list(record["captureData"]) == ["endpointInput"]
    assert record["captureData"]["endpointInput"]["encoding"] == "BASE64"  # text/csv not listed: base64
    assert "inferenceId" not in record["eventMetadata"]


def test_a_full_queue_drops_and_counts_instead_of_waiting() -> None:
    dropped: list[tuple[str, str]] = []
    gate = threading.Event()

    def slow_write(root: str, path: str, data: bytes) -> None:
        gate.wait(10)

    writer = CaptureWriter(
        slow_write,
        max_queue=5,
        drain_interval=60.0,
        flush_interval=60.0,
        on_dropped=lambda e, v: dropped.append((e, v)),
    )
    accepted = [writer.submit(event(n)) for n in range(8)]
    assert accepted == [True] * 5 + [False] * 3
    assert writer.dropped == 3 and dropped == [("churn", "a")] * 3
    gate.set()
    writer.close()
    assert writer.written == 5


def test_storage_failure_is_counted_and_the_writer_goes_on() -> None:
    calls: list[str] = []

    def flaky(root: str, path: str, data: bytes) -> None:
        calls.append(path)
        if len(calls) == 1:
            raise OSError("disk full")

    writer = CaptureWriter(flaky, max_records=1, flush_interval=60.0)
    writer.submit(event(1))
    writer.submit(event(2))
    writer.close()
    assert (writer.dropped, writer.written, len(calls)) == (1, 1, 2)


def test_event_metadata_carries_the_assignment_next_to_sagemakers_keys() -> None:
    from dataclasses import replace

    from modelport.serving.capture import record

    plain = record(event(1))["eventMetadata"]
    assert set(plain) == {"eventId", "inferenceTime", "inferenceId", "propensity", "assignment"}
    assert (plain["propensity"], plain["assignment"]) == (1.0, "weighted")
    sticky = record(replace(event(2), propensity=0.25, assignment="unit", experiment="exp-1"))
    assert sticky["eventMetadata"]["propensity"] == 0.25
    assert sticky["eventMetadata"]["assignment"] == "unit" and sticky["eventMetadata"]["experiment"] == "exp-1"
    assert sticky["eventMetadata"]["inferenceId"] == "inf" and sticky["eventVersion"] == "0"
    unnamed = record(replace(event(3, inference_id=None), propensity=0.5))["eventMetadata"]
    assert "inferenceId" not in unnamed and unnamed["propensity"] == 0.5
