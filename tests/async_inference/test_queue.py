"""The asynchronous inference queue on SQLite and PostgreSQL: leases, TTL, retries, dead letter, idempotency, cancel."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from modelport.async_inference.queue import AsyncQueue
from modelport.db.tables import utcnow
from modelport.errors import Conflict, InvalidArgument
from modelport.services import Services

ROWS = "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n5.9,3.0,4.2,1.5\n"


@pytest.fixture
def svc(services: Services, model_file: Path, tmp_path: Path) -> Services:
    services.registry.register(model_file, "iris")
    services.endpoints.create(
        "iris", [{"name": "a", "requested": "iris:1"}],
        async_inference={"output_path": str(tmp_path / "out"), "failure_path": str(tmp_path / "failed")},
        created_by="me",
    )  # fmt: skip
    services.endpoints.create("sync", [{"name": "a", "requested": "iris:1"}], created_by="me")
    return services


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text(ROWS)
    return path


def test_a_request_is_queued_once_per_inference_id(svc: Services, data: Path, tmp_path: Path) -> None:
    first, new = svc.async_inference.submit("iris", str(data), inference_id="req-1", content_type="text/csv")
    assert new and first.status == "queued"
    assert (first.output_location, first.failure_location) == (
        f"{tmp_path}/out/req-1.out", f"{tmp_path}/failed/req-1-error.out"
    )
    again, new = svc.async_inference.submit("iris", str(data), inference_id="req-1", content_type="text/csv")
    assert not new and again == first
    assert svc.async_inference.list(endpoint="iris").items == [first]
    svc.endpoints.update("sync", async_inference={}, created_by="me")
    with pytest.raises(Conflict, match="inference id 'req-1' is already used by endpoint 'iris'"):
        svc.async_inference.submit("sync", str(data), inference_id="req-1")


def test_bad_submissions_are_refused_at_once(svc: Services, data: Path) -> None:
    with pytest.raises(InvalidArgument, match="endpoint 'sync' is not configured for asynchronous inference"):
        svc.async_inference.submit("sync", str(data))
    with pytest.raises(InvalidArgument, match="RequestTTLSeconds must be 60-86400 seconds, got 5"):
        svc.async_inference.submit("iris", str(data), ttl_s=5)
    with pytest.raises(InvalidArgument, match="InvocationTimeoutSeconds must be 1-3600 seconds, got 7200"):
        svc.async_inference.submit("iris", str(data), timeout_s=7200)
    with pytest.raises(InvalidArgument, match="invalid inference id"):
        svc.async_inference.submit("iris", str(data), inference_id="a/b")
    assert svc.async_inference.list().items == []


def test_one_holder_at_a_time_and_a_dead_holders_lease_runs_out(svc: Services, data: Path) -> None:
    queue = svc.async_inference.queue
    svc.async_inference.submit("iris", str(data), inference_id="r1")
    first = queue.claim("w1", lease_s=30)
    assert first is not None and (first.status, first.lease_holder, first.attempts) == ("running", "w1", 1)
    assert queue.claim("w2", lease_s=30) is None  # held
    assert queue.heartbeat("r1", "w2", 30) is None  # not w2's
    assert queue.finish("r1", "w2", "completed") is None
    later = utcnow() + timedelta(seconds=31)
    again = queue.claim("w2", lease_s=30, now=later)  # w1 stopped renewing: w2 takes over
    assert again is not None and (again.lease_holder, again.attempts) == ("w2", 2)
    assert queue.finish("r1", "w1", "completed") is None  # w1 woke up: its outcome does not count
    assert queue.finish("r1", "w2", "completed") is not None
    assert queue.get("r1").status == "completed"


def test_concurrent_claims_never_share_a_request(svc: Services, data: Path) -> None:
    for i in range(12):
        svc.async_inference.submit("iris", str(data), inference_id=f"r{i}")
    claimed: list[str] = []
    lock = threading.Lock()

    def grab(holder: str) -> None:
        queue = AsyncQueue(svc.db)
        while (item := queue.claim(holder, lease_s=60)) is not None:
            with lock:
                claimed.append(item.id)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(f"r{i}" for i in range(12))


def test_a_request_runs_through_the_batch_engine(svc: Services, data: Path, tmp_path: Path) -> None:
    svc.async_inference.submit("iris", str(data), inference_id="ok", content_type="text/csv")
    queue = svc.async_inference.queue
    done = svc.async_inference.process(queue.claim("w", 30), "w")  # type: ignore[arg-type]
    assert done is not None and done.status == "completed", done
    assert done.result["rows"] == 3
    out = (tmp_path / "out" / "ok.out").read_text().splitlines()
    assert len(out) == 3


def test_unreadable_input_is_a_failure_written_to_the_failure_location(svc: Services, tmp_path: Path) -> None:
    svc.async_inference.submit("iris", str(tmp_path / "nope.csv"), inference_id="bad")
    queue = svc.async_inference.queue
    done = svc.async_inference.process(queue.claim("w", 30), "w")  # type: ignore[arg-type]
    assert done is not None and (done.status, done.error_code) == ("failed", "NOT_FOUND")
    failure = orjson.loads((tmp_path / "failed" / "bad-error.out").read_bytes())
    assert failure["Message"] == f"input '{tmp_path}/nope.csv' does not exist"
    assert not (tmp_path / "out" / "bad.out").exists()


def test_a_request_not_started_within_its_ttl_expires(svc: Services, data: Path, tmp_path: Path) -> None:
    svc.async_inference.submit("iris", str(data), inference_id="old", ttl_s=60)
    queue = svc.async_inference.queue
    item = queue.claim("w", 30, now=utcnow() + timedelta(seconds=61))
    assert item is not None
    item = item.model_copy(update={"expires_at": utcnow() - timedelta(seconds=1)})
    done = svc.async_inference.process(item, "w")
    assert done is not None and done.status == "expired"
    assert orjson.loads((tmp_path / "failed" / "old-error.out").read_bytes())["ErrorCode"] == "EXPIRED"


def test_passing_failures_are_retried_with_backoff_then_dead_lettered(svc: Services, data: Path) -> None:
    svc.async_inference.submit("iris", str(data), inference_id="flaky")
    service, queue = svc.async_inference, svc.async_inference.queue
    backoff = svc.settings.async_retry_backoff_s
    now = utcnow()
    for attempt in range(1, svc.settings.async_max_attempts + 1):
        item = queue.claim("w", 30, now=now)
        assert item is not None and item.attempts == attempt
        after = service._failed(item, "w", "UNAVAILABLE", "the store is away")
        assert after is not None
        if attempt < svc.settings.async_max_attempts:
            assert after.status == "queued"
            delay = (after.not_before - utcnow()).total_seconds()
            assert delay == pytest.approx(backoff * 2 ** (attempt - 1), abs=2)
            assert queue.claim("w", 30, now=now) is None  # not due yet
            now = after.not_before + timedelta(seconds=1)
    final = queue.get("flaky")
    assert (final.status, final.error_code) == ("dead_letter", "UNAVAILABLE")
    assert final.error == "gave up after 3 attempts; last error: the store is away"


def test_cancel(svc: Services, data: Path) -> None:
    service = svc.async_inference
    service.submit("iris", str(data), inference_id="c1")
    assert service.cancel("c1").status == "cancelled"
    assert service.cancel("c1").status == "cancelled"  # again: a no-op
    assert service.queue.claim("w", 30) is None
    service.submit("iris", str(data), inference_id="c2")
    running = service.queue.claim("w", 30)
    assert running is not None
    assert service.cancel("c2").cancel_requested
    done = service.process(service.queue.get("c2"), "w")
    assert done is not None and done.status == "cancelled"
    service.submit("iris", str(data), inference_id="c3")
    service.process(service.queue.claim("w", 30), "w")  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="async inference c3 already ended: completed"):
        service.cancel("c3")


def test_the_webhook_secret_is_never_shown(svc: Services, data: Path) -> None:
    svc.endpoints.update(
        "sync", async_inference={"notification": {"success_url": "https://hooks.example/T0/secret-path", "secret": "s3cr3t"}},
        created_by="me",
    )  # fmt: skip
    item, _ = svc.async_inference.submit("sync", str(data))
    shown = item.model_dump_json()
    assert "s3cr3t" not in shown and "secret-path" not in shown
    assert item.request["notification"]["secret"] == "s3cr3t"  # the worker signs with it


def test_a_request_running_past_its_timeout_is_stopped_and_failed(
    svc: Services, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transforms = svc.transforms

    def never_ends(job_id: str, **_: object) -> object:  # a model call that hangs until the job is stopped
        for _ in range(200):
            if transforms.get(job_id).status == "cancelled":
                break
            time.sleep(0.05)
        return transforms.get(job_id)

    monkeypatch.setattr(transforms, "run", never_ends)
    svc.async_inference.submit("iris", str(data), inference_id="slow", timeout_s=1)
    started = time.monotonic()
    done = svc.async_inference.process(svc.async_inference.queue.claim("w", 30), "w")  # type: ignore[arg-type]
    assert done is not None and (done.status, done.error_code) == ("failed", "TIMEOUT")
    assert done.error == "the inference did not finish within InvocationTimeoutSeconds (1 s)"
    assert time.monotonic() - started < 5
    assert orjson.loads((tmp_path / "failed" / "slow-error.out").read_bytes())["ErrorCode"] == "TIMEOUT"


def test_an_input_over_the_size_limit_fails_without_being_read(svc: Services, data: Path, tmp_path: Path) -> None:
    service = svc.async_inference
    service.settings = svc.settings.with_overrides(async_max_input_bytes=10)
    service.submit("iris", str(data), inference_id="huge")
    done = service.process(service.queue.claim("w", 30), "w")  # type: ignore[arg-type]
    assert done is not None and (done.status, done.error_code) == ("failed", "INVALID_ARGUMENT")
    assert done.error == f"input '{data}' is {len(ROWS)} bytes, over the limit of 10 bytes"
    assert done.job_id is None


def test_a_worker_for_one_endpoint_takes_only_its_requests_and_counts_as_its_worker(svc: Services, data: Path) -> None:
    from modelport.async_inference.worker import AsyncWorker

    svc.endpoints.update("sync", async_inference={}, created_by="me")
    svc.async_inference.submit("iris", str(data), inference_id="for-iris")
    svc.async_inference.submit("sync", str(data), inference_id="for-sync")
    long_host = "pod-" + "x" * 80 + ":1234:abcd"  # k8s pod names are long: the lease name must still fit
    worker = AsyncWorker(svc.async_inference, holder=long_host, endpoint="sync")
    assert worker.tick() == ["for-sync"]
    assert svc.async_inference.get("for-iris").status == "queued"
    assert svc.async_inference.get("for-sync").status == "completed"
    assert svc.async_inference.queue.workers() == {"sync": 1}
    backlog = svc.async_inference.queue.backlog()
    assert [(b.endpoint, b.queued, b.running) for b in backlog] == [("iris", 1, 0)]
    worker.stop()
    assert svc.async_inference.queue.workers() == {}
