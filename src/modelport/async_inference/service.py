"""Asynchronous inference: accept requests, run them through the batch engine, write and notify.

:meth:`AsyncInferenceService.submit` checks what can be checked at once
(the endpoint exists and takes asynchronous requests, the numbers are sane),
pins the variant and model version, and queues the request: it answers in
milliseconds whatever the input's size.  :meth:`process` (a worker's side)
runs one claimed request as a transform job — streamed in blocks, never held
in memory — that writes ``OUTPUT_PATH/ID.out`` atomically; a failure writes
``FAILURE_PATH/ID-error.out``; both end with a signed webhook when the
endpoint asks for one.
"""

from __future__ import annotations

import base64
import logging
import os
import random
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from modelport.async_inference.queue import AsyncInference, AsyncQueue
from modelport.batch.job import ASYNC_JOB_CREATOR
from modelport.db.tables import utcnow
from modelport.endpoints.config import AsyncInferenceConfig
from modelport.errors import Conflict, InvalidArgument, ModelportError, NotFound, PermissionDenied, Unavailable

if TYPE_CHECKING:
    from modelport.batch.job import TransformJob
    from modelport.services import Services

log = logging.getLogger("modelport.async")

INLINE_LIMIT = 128 * 1024
"""Outputs up to this size are inlined in the notification (SageMaker's SNS rule)."""
ID_MAX = 64
_GLOB = frozenset("*?[")
UPLOADS = "async/inputs"
"""Where uploaded inputs go in the artifact store."""
MAX_BACKOFF_S = 600.0
#: failures worth another try: the store, the database or the network was away; the worker died
RETRYABLE = frozenset({"UNAVAILABLE", "INTERNAL", "WORKER_LOST", "CONFLICT"})


def check_inference_id(value: str) -> str:
    if not 1 <= len(value) <= ID_MAX or not value.isascii() or not value.isprintable() or "/" in value:
        raise InvalidArgument(
            f"invalid inference id {value[:80]!r}: use 1-{ID_MAX} printable ASCII characters without '/'"
        )
    return value


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *(p.strip("/") for p in parts if p)])


class AsyncInferenceService:
    def __init__(self, services: Services, queue: AsyncQueue | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.queue = queue or AsyncQueue(services.db)

    # -- submit -----------------------------------------------------------------------------

    def config_of(self, endpoint: str) -> AsyncInferenceConfig:
        ep = self.services.endpoints.get(endpoint)
        if ep.config.async_inference is None:
            raise InvalidArgument(
                f"endpoint {endpoint!r} is not configured for asynchronous inference: "
                f"`modelport endpoints update {endpoint} --async-output PATH` turns it on"
            )
        return ep.config.async_inference

    def submit(
        self,
        endpoint: str,
        input_location: str,
        *,
        inference_id: str | None = None,
        content_type: str | None = None,
        accept: str | None = None,
        custom_attributes: str | None = None,
        ttl_s: float | None = None,
        timeout_s: float | None = None,
        output_extension: str | None = None,
        filename: str | None = None,
        created_by: str = "",
        may_read_files: bool = True,
    ) -> tuple[AsyncInference, bool]:
        """Queue one request; the same ``inference_id`` again returns the first (``False``: not new).

        ``may_read_files``: the caller may name any file the server can read (auth off, admin tokens);
        otherwise only ``s3://`` and inputs uploaded to the store (:meth:`upload`).
        """
        if not input_location or not input_location.strip():
            raise InvalidArgument("InputLocation is required: s3://bucket/key or a file the server can read")
        input_location = input_location.strip()
        if not may_read_files and not self._may_read(input_location):
            raise PermissionDenied(
                "reading the server's files needs an admin token: use s3:// or upload the input "
                "(POST /api/v1/async-inputs, what `modelport invoke --async --file` does)"
            )
        inference_id = check_inference_id(inference_id) if inference_id else str(uuid.uuid4())
        try:
            existing = self.queue.get(inference_id)
        except NotFound:
            pass
        else:
            if existing.endpoint != endpoint:
                raise Conflict(f"inference id {inference_id!r} is already used by endpoint {existing.endpoint!r}")
            return existing, False
        ep = self.services.endpoints.get(endpoint)
        config = self.config_of(endpoint)
        ttl = self._seconds(ttl_s, "RequestTTLSeconds", self.settings.async_default_ttl_s, 60, 6 * 3600 * 4)
        timeout = self._seconds(
            timeout_s, "InvocationTimeoutSeconds", self.settings.async_default_timeout_s, 1,
            self.settings.async_max_timeout_s,
        )  # fmt: skip
        if content_type is not None:
            from modelport.batch.spec import media_format

            media_format(content_type)
        if accept is not None:
            from modelport.batch.spec import media_format

            media_format(accept, "accept type")
        live = [v for v in ep.config.live if v.weight > 0]
        variant = random.choices(live, weights=[v.weight for v in live])[0]
        output_root = config.output_path or self.services.artifacts.key(f"async/{endpoint}/output")
        failure_root = config.failure_path or output_root
        if filename is not None and ("/" in filename or not filename.strip()):
            raise InvalidArgument(f"invalid Filename {filename!r}: a file name without '/'")
        output = _join(output_root, output_extension or "", filename or f"{inference_id}.out")
        failure = _join(failure_root, output_extension or "", f"{inference_id}-error.out")
        now = utcnow()
        request: dict[str, Any] = {
            "content_type": content_type,
            "accept": accept,
            "custom_attributes": custom_attributes,
            "notification": config.notification.model_dump(mode="json", context={"secrets": True}),
        }
        return self.queue.enqueue(
            {
                "id": inference_id,
                "endpoint": endpoint,
                "variant": variant.name,
                "model": variant.model,
                "input_location": input_location.strip(),
                "output_location": output,
                "failure_location": failure,
                "request": request,
                "max_attempts": self.settings.async_max_attempts,
                "timeout_s": timeout,
                "expires_at": now + timedelta(seconds=ttl),
                "created_by": created_by,
            }
        )

    def _may_read(self, location: str) -> bool:
        if location.startswith("s3://"):
            return True
        artifacts = self.services.artifacts
        uploads = artifacts.key(UPLOADS) + "/"
        if artifacts.is_local:
            return os.path.abspath(location).startswith(uploads)
        return location.startswith(uploads)

    def store_input(self, local: Path) -> str:
        """Move a spooled upload to the store's ``async/inputs/``; its location (what ``submit`` reads)."""
        artifacts = self.services.artifacts
        location = artifacts.key(f"{UPLOADS}/{uuid.uuid4().hex}")
        if artifacts.is_local:
            os.makedirs(os.path.dirname(location), exist_ok=True)
            shutil.move(local, location)
        else:
            artifacts.fs.put_file(str(local), location)
        return location

    @staticmethod
    def _seconds(value: float | None, name: str, default: float, low: float, high: float) -> float:
        if value is None:
            return min(default, high)
        if not low <= value <= high:
            raise InvalidArgument(f"{name} must be {low:g}-{high:g} seconds, got {value:g}")
        return float(value)

    # -- reads and cancel -------------------------------------------------------------------

    def get(self, inference_id: str) -> AsyncInference:
        """A request, with its transform job's progress."""
        item = self.queue.get(inference_id)
        if item.job_id is None:
            return item
        try:
            job = self.services.transforms.get(item.job_id)
        except NotFound:
            return item
        p = job.progress
        progress = {
            "fraction": p.fraction, "records": p.records, "bytes_done": p.bytes_done, "bytes_total": p.bytes_total,
            "seconds": round(p.run_seconds, 3),
        }  # fmt: skip
        return item.model_copy(update={"progress": progress})

    def list(self, **filters: Any) -> Any:
        return self.queue.list(**filters)

    def cancel(self, inference_id: str) -> AsyncInference:
        found = self.queue.cancel(inference_id)
        if found.status == "running" and found.job_id:
            # the worker sees the flag on its next heartbeat; asking the job too stops it sooner
            try:
                self.services.transforms.cancel(found.job_id)
            except ModelportError:
                pass
        return found

    # -- the worker's side -----------------------------------------------------------------

    def process(
        self,
        item: AsyncInference,
        holder: str,
        *,
        keepalive: Callable[[], object] | None = None,
        abandon: Callable[[], bool] | None = None,
    ) -> AsyncInference | None:
        """Run one claimed request to its end (or its next retry); None when the lease was lost or
        ``abandon()`` said to stop (the server is shutting down: the request is resumed by the next worker).

        ``keepalive`` is called on every lease renewal (the worker renews its own leases).
        """
        lease = self.settings.async_lease_s
        if item.cancel_requested:
            return self._end(item, holder, "cancelled", "CANCELLED", "cancelled while it ran")
        if item.attempts == 1 and utcnow() > item.expires_at:
            return self._end(
                item, holder, "expired", "EXPIRED", "the request waited in the queue past its RequestTTLSeconds"
            )
        transforms = self.services.transforms
        job: TransformJob | None = None
        if item.job_id is not None:
            try:
                job = transforms.get(item.job_id)
            except NotFound:
                job = None
        if job is not None and job.status == "completed":  # finished before the worker died: never run again
            return self._completed(item, holder, job)
        if item.attempts > item.max_attempts:
            return self._end(
                item, holder, "dead_letter", item.error_code or "WORKER_LOST",
                f"gave up after {item.max_attempts} attempts; last error: {item.error or 'the worker stopped'}",
            )  # fmt: skip
        try:
            if job is None:
                job = self._create_job(item)
                if self.queue.heartbeat(item.id, holder, lease, job_id=job.id) is None:
                    return None
            outcome = self._run(item, holder, job.id, keepalive, abandon)
        except ModelportError as exc:
            return self._failed(item, holder, exc.code, exc.message)
        if outcome is None:
            return None
        if outcome.status == "completed":
            return self._completed(item, holder, outcome)
        if outcome.status == "cancelled":
            latest = self.queue.get(item.id)
            if latest.cancel_requested:
                return self._end(item, holder, "cancelled", "CANCELLED", "cancelled while it ran")
            return self._end(
                item, holder, "failed", "TIMEOUT",
                f"the inference did not finish within InvocationTimeoutSeconds ({item.timeout_s:g} s)",
            )  # fmt: skip
        return self._failed(item, holder, outcome.failure_code or "INTERNAL", outcome.failure_reason or "failed")

    def _create_job(self, item: AsyncInference) -> TransformJob:
        from modelport.batch.inputs import filesystem, list_inputs
        from modelport.batch.spec import TransformSpec
        from modelport.s3 import s3_errors

        location = item.input_location
        if not _GLOB.intersection(location):  # one object: say it is missing rather than "no input files match"
            fs, path = filesystem(location, self.settings.s3_endpoint_url)
            try:
                with s3_errors(f"input {location}"):
                    exists = fs.exists(path)
            except OSError as exc:
                raise Unavailable(f"cannot read input {location!r}: {exc}") from None
            if not exists:
                raise NotFound(f"input {location!r} does not exist")
            if fs.isfile(path):
                try:
                    with s3_errors(f"input {location}"), fs.open(path, "rb") as fh:
                        fh.read(1)
                except PermissionError as exc:
                    raise InvalidArgument(f"input {location!r} is not readable: {exc.strerror or exc}") from None
        objects = list_inputs(location, s3_endpoint_url=self.settings.s3_endpoint_url)
        if len(objects) != 1:
            raise InvalidArgument(
                f"input {item.input_location!r} names {len(objects)} objects: an asynchronous inference reads one"
            )
        size, limit = objects[0].size, self.settings.async_max_input_bytes
        if size > limit:
            raise InvalidArgument(f"input {item.input_location!r} is {size} bytes, over the limit of {limit} bytes")
        spec = TransformSpec.build(
            model=item.model,
            input=item.input_location,
            output=item.output_location,
            content_type=item.request.get("content_type"),
            accept=item.request.get("accept"),
            max_payload_mb=6.0,
        )
        return self.services.transforms.create(spec, created_by=f"{ASYNC_JOB_CREATOR}{item.id}")

    def _run(
        self,
        item: AsyncInference,
        holder: str,
        job_id: str,
        keepalive: Callable[[], object] | None,
        abandon: Callable[[], bool] | None,
    ) -> TransformJob | None:
        """Run the job in a thread; renew the lease, watch for cancel and timeout.  None: lease lost."""
        transforms = self.services.transforms
        lease = self.settings.async_lease_s
        outcome: list[Any] = []

        def run() -> None:
            try:
                outcome.append(transforms.run(job_id))
            except BaseException as exc:
                outcome.append(exc)

        worker = threading.Thread(target=run, name=f"modelport-async-{item.id[:16]}", daemon=True)
        started = time.monotonic()
        worker.start()
        stopping = False
        while worker.is_alive():
            worker.join(min(lease / 3, 2.0))
            if not worker.is_alive():
                break
            latest = self.queue.heartbeat(item.id, holder, lease)
            if latest is None or (abandon is not None and abandon()):
                # Another worker holds the request now (this one stalled past its lease), or this server is
                # shutting down: leave the job be.  It runs on while this process does, and whoever holds the
                # request next resumes it (or finds it completed) — it is never started over.
                log.info("async %s: left to the next worker (job %s)", item.id, job_id)
                return None
            if keepalive is not None:
                keepalive()
            too_long = time.monotonic() - started > item.timeout_s
            if (latest.cancel_requested or too_long) and not stopping:
                stopping = True
                try:
                    transforms.cancel(job_id)
                except ModelportError as exc:
                    log.warning("async %s: cannot stop job %s: %s", item.id, job_id, exc.message)
        result = outcome[0] if outcome else None
        if isinstance(result, ModelportError):
            raise result
        if isinstance(result, BaseException) or result is None:
            from modelport.errors import Internal

            raise Internal(f"unexpected {type(result).__name__}: {result}")
        return result  # type: ignore[no-any-return]

    def _completed(self, item: AsyncInference, holder: str, job: TransformJob) -> AsyncInference | None:
        p = job.progress
        result = {
            "job": job.id, "rows": p.rows_written, "records": p.records, "input_bytes": p.bytes_total,
            "seconds": round(p.run_seconds, 3),
        }  # fmt: skip
        done = self.queue.finish(item.id, holder, "completed", result=result)
        if done is not None:
            self._notify(done, success=True)
        return done

    def _failed(self, item: AsyncInference, holder: str, code: str, message: str) -> AsyncInference | None:
        if code in RETRYABLE:
            if item.attempts < item.max_attempts:
                delay = min(self.settings.async_retry_backoff_s * 2 ** (item.attempts - 1), MAX_BACKOFF_S)
                log.info("async %s: attempt %d failed (%s), retrying in %g s", item.id, item.attempts, message, delay)
                return self.queue.retry(item.id, holder, delay_s=delay, error_code=code, error=message)
            return self._end(
                item, holder, "dead_letter", code, f"gave up after {item.attempts} attempts; last error: {message}"
            )
        return self._end(item, holder, "failed", code, message)

    def _end(self, item: AsyncInference, holder: str, status: str, code: str, message: str) -> AsyncInference | None:
        """A final status other than completed: the error goes to the failure location, then the webhook."""
        body = orjson.dumps(
            {"InferenceId": item.id, "Status": status, "ErrorCode": code, "Message": message}, option=orjson.OPT_INDENT_2
        )
        written: str | None = item.failure_location
        try:
            from modelport.batch.outputs import atomic_writer

            with atomic_writer(item.failure_location, self.settings.s3_endpoint_url) as fh:
                fh.write(body + b"\n")
        except Exception as exc:
            log.warning("async %s: cannot write the failure to %s: %s", item.id, item.failure_location, exc)
            written = None
            message = f"{message} (and the failure location could not be written: {exc})"
        done = self.queue.finish(
            item.id, holder, status, error_code=code, error=message, result={"failure_written": written is not None}
        )
        if done is not None:
            self._notify(done, success=False)
        return done

    # -- notifications ----------------------------------------------------------------------

    def _notify(self, item: AsyncInference, *, success: bool) -> None:
        notification = item.request.get("notification") or {}
        url = notification.get("success_url" if success else "error_url")
        if not url:
            return
        kind = "success" if success else "error"
        event = self.event(item, inline=kind in notification.get("include_inference_response_in", []))
        from modelport.monitoring.alerts import AlertsConfig, WebhookSender

        delivery = WebhookSender().deliver(
            url, orjson.dumps(event), secret=notification.get("secret"), config=AlertsConfig(webhook=url)
        )
        result = {
            **item.result,
            "notification": {"ok": delivery.ok, "attempts": delivery.attempts, "status": delivery.status,
                             "error": delivery.error},
        }  # fmt: skip
        if not delivery.ok:
            log.warning("async %s: notification not delivered: %s", item.id, delivery.error)
        self.queue.update_result(item.id, result)

    def event(self, item: AsyncInference, *, inline: bool) -> dict[str, Any]:
        """The notification body: SageMaker's asynchronous inference event, in JSON."""
        ok = item.status == "completed"
        event: dict[str, Any] = {
            "awsRegion": "modelport",
            "eventTime": _iso(item.finished_at),
            "receivedTime": _iso(item.created_at),
            "invocationStatus": "Completed" if ok else "Failed",
            "status": item.status,
            "requestParameters": {
                "endpointName": item.endpoint,
                "inputLocation": item.input_location,
                "contentType": item.request.get("content_type"),
                "accept": item.request.get("accept"),
                "customAttributes": item.request.get("custom_attributes"),
            },
            "responseParameters": {
                "contentType": item.request.get("accept") or item.request.get("content_type"),
                "outputLocation": item.output_location if ok else None,
                "failureLocation": None if ok else item.failure_location,
            },
            "inferenceId": item.id,
            "variant": item.variant,
            "model": item.model,
            "eventVersion": "1.0",
            "eventSource": "modelport:async-inference",
            "eventName": "InferenceResult",
        }
        if not ok:
            event["failureReason"] = f"{item.error_code}: {item.error}"
        if inline:
            content = self._small_object(item.output_location if ok else item.failure_location)
            if content is not None:
                event["responseBody"] = {"content": base64.b64encode(content).decode(), "encoding": "BASE64"}
        return event

    def _small_object(self, url: str) -> bytes | None:
        from modelport.batch.inputs import filesystem

        try:
            fs, path = filesystem(url, self.settings.s3_endpoint_url)
            if fs.size(path) > INLINE_LIMIT:
                return None
            with fs.open(path, "rb") as fh:
                data: bytes = fh.read(INLINE_LIMIT + 1)
        except Exception as exc:
            log.warning("async: cannot read %s to inline it: %s", url, exc)
            return None
        return data if len(data) <= INLINE_LIMIT else None


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
