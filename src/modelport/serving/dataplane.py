"""The transport-free data plane: route, decode, predict, encode, mirror, capture.

Every invocation route — SageMaker's ``/endpoints/{name}/invocations``, the
container contract's ``/invocations``, the Open Inference Protocol ``/v2``,
the SDK and the CLI in-process — calls :meth:`DataPlane.invoke` or
:meth:`DataPlane.infer_v2`.  Transports only translate bytes and headers, and
render errors in their own envelope.

Model calls run in a thread pool under a deadline, so a slow model never
blocks the event loop; shadow variants run after the live answer is ready,
off the request path, and their failures are only counted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelport.endpoints.config import Variant
from modelport.errors import DeadlineExceeded, ModelFailure, ModelportError
from modelport.metrics import LatencyTally, Metrics
from modelport.runtimes.base import Runtime
from modelport.serving.batching import DEFAULT_MAX_BATCH_SIZE, AdaptiveBatcher
from modelport.serving.capture import CaptureEvent, CaptureWriter
from modelport.serving.codecs.content_encoding import Inflater, coding
from modelport.serving.codecs.request import decode_request
from modelport.serving.codecs.response import encode_response
from modelport.serving.codecs.v2 import build_infer_response, parse_infer_body, v2_inputs_to_batch
from modelport.serving.ids import RequestIds
from modelport.serving.manager import EndpointManager, LiveEndpoint, LiveVariant
from modelport.signature import Batch, Signature, batch_rows

log = logging.getLogger("modelport.dataplane")

#: bodies larger than this are decoded in a worker thread, not on the event loop
DECODE_INLINE_BYTES = 64 * 1024
#: a compressed body is inflated this far on the event loop; the rest (if any) in a worker thread
INFLATE_INLINE_BYTES = 64 * 1024
#: the default largest body, inflated (servers pass MODELPORT_MAX_REQUEST_BYTES)
MAX_REQUEST_BYTES = 6 * 1024 * 1024
#: mirrored calls in flight per shadow variant; beyond this copies are dropped (and counted),
#: so one slow shadow cannot starve another or pile up memory
MAX_PENDING_PER_SHADOW = 4
#: how often what the hot path tallied is added to the Prometheus metrics (and before every scrape)
METRICS_FLUSH_S = 0.25


@dataclass(frozen=True)
class _VariantMetrics:
    ok: Any
    latency: Any
    model_latency: Any
    rows: Any
    bytes_in: Any
    bytes_out: Any


class _Tally:
    """One variant's successful invocations since the last flush, as plain numbers."""

    __slots__ = ("bytes_in", "bytes_out", "latency", "model_latency", "ok", "rows")

    def __init__(self) -> None:
        self.ok = self.rows = self.bytes_in = self.bytes_out = 0
        self.latency = LatencyTally()
        self.model_latency = LatencyTally()


@dataclass
class InvokeRequest:
    endpoint: str
    body: bytes
    content_type: str | None = None
    accept: str | None = None
    target_variant: str | None = None
    inference_id: str | None = None
    sniff_missing: bool = True
    #: the request's ``Content-Encoding`` (gzip, deflate; None = identity)
    content_encoding: str | None = None


@dataclass
class InvokeResult:
    body: bytes
    content_type: str
    variant: str
    inference_id: str
    request_id: str = ""


class Predictors:
    """The threads models run on, and the adaptive batcher that feeds each variant's calls to them.

    :meth:`batcher` is what :class:`EndpointManager` wraps every loaded runtime
    with (its ``wrap``), so the manager is built with it rather than patched.
    """

    def __init__(self, threads: int = 16) -> None:
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="modelport-predict")
        # Shadows get threads of their own: a slow shadow must never queue live calls behind it.
        self.shadow_executor = ThreadPoolExecutor(max(8, threads // 2), thread_name_prefix="modelport-shadow")

    def batcher(self, spec: Variant, runtime: Runtime) -> AdaptiveBatcher:
        return AdaptiveBatcher(
            runtime.predict,
            self.shadow_executor if spec.shadow else self.executor,
            max_batch_size=spec.max_batch_size or DEFAULT_MAX_BATCH_SIZE,
            max_wait_ms=spec.max_batch_wait_ms or 0.0,
        )

    def close(self) -> None:
        self.shadow_executor.shutdown(wait=False, cancel_futures=True)
        self.executor.shutdown(wait=True, cancel_futures=False)


class DataPlane:
    def __init__(
        self,
        manager: EndpointManager,
        metrics: Metrics,
        predictors: Predictors,
        *,
        capture: CaptureWriter | None = None,
        timeout_s: float = 60.0,
        rng: random.Random | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        self.manager = manager
        self.max_request_bytes = max_request_bytes
        self.metrics = metrics
        self.capture = capture
        self.timeout_s = timeout_s
        self.rng = rng or random.Random()
        self.predictors = predictors
        self.executor = predictors.executor
        self.shadow_executor = predictors.shadow_executor
        self._shadow_tasks: set[asyncio.Task[None]] = set()
        self._shadow_pending: dict[tuple[str, str], int] = {}
        self._metric_children: dict[tuple[str, str], _VariantMetrics] = {}
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flush_handle: asyncio.TimerHandle | None = None
        self.request_ids = RequestIds()
        metrics.before_collect.append(self.flush_metrics)

    def _m(self, endpoint: str, variant: str) -> _VariantMetrics:
        """Prometheus children per variant, looked up once (labels() costs µs per call)."""
        key = (endpoint, variant)
        found = self._metric_children.get(key)
        if found is None:
            m = self.metrics
            found = _VariantMetrics(
                ok=m.invocations.labels(endpoint, variant, "200"),
                latency=m.invocation_latency.labels(endpoint, variant),
                model_latency=m.model_latency.labels(endpoint, variant),
                rows=m.rows.labels(endpoint, variant),
                bytes_in=m.payload_bytes.labels(endpoint, "in"),
                bytes_out=m.payload_bytes.labels(endpoint, "out"),
            )
            self._metric_children[key] = found
        return found

    def _tally(self, endpoint: str, variant: str) -> _Tally:
        key = (endpoint, variant)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _Tally()
        if self._flush_handle is None:
            loop = self._loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(METRICS_FLUSH_S, self._drain_tallies)
        return tally

    def _drain_tallies(self) -> None:
        """Add the tallies to the Prometheus metrics; runs on the event loop's thread, like the updates."""
        self._flush_handle = None
        for key, t in self._tallies.items():
            m = self._m(*key)
            if t.ok:
                m.ok.inc(t.ok)
            if t.rows:
                m.rows.inc(t.rows)
            if t.bytes_in:
                m.bytes_in.inc(t.bytes_in)
            if t.bytes_out:
                m.bytes_out.inc(t.bytes_out)
            t.ok = t.rows = t.bytes_in = t.bytes_out = 0
            t.latency.drain_into(m.latency)
            t.model_latency.drain_into(m.model_latency)

    def flush_metrics(self) -> None:
        """Bring the Prometheus metrics up to date (before a scrape), from any thread."""
        loop = self._loop
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if loop is None or here is loop or not loop.is_running():
            self._drain_tallies()
            return
        done: concurrent.futures.Future[None] = concurrent.futures.Future()

        def drain() -> None:
            try:
                self._drain_tallies()
            finally:
                done.set_result(None)

        loop.call_soon_threadsafe(drain)
        done.result(timeout=5)

    def close(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
        self._drain_tallies()  # also clears the handle, so later tallies schedule a flush again
        self.predictors.close()

    # -- the core ---------------------------------------------------------------

    def choose(self, ep: LiveEndpoint, target: str | None = None, version: int | None = None) -> LiveVariant:
        if target:
            variant = ep.variants.get(target)
            if variant is None:
                from modelport.errors import InvalidArgument

                raise InvalidArgument(
                    f"endpoint {ep.name!r} has no variant {target!r}; variants: {', '.join(ep.variants)}",
                    details={"field": "target_variant"},
                )
            return variant
        if version is not None:
            return ep.variant_for_version(version)
        return ep.variants[ep.router.pick(self.rng)]

    async def _inflate(self, body: bytes, content_encoding: str | None) -> bytes:
        """The body before its ``Content-Encoding``, refused past ``max_request_bytes`` inflated.

        A first step runs here; a body that inflates further (a large
        request, or a decompression bomb) finishes in a worker thread, so the
        event loop never spends more than a moment on it.
        """
        encoding = coding(content_encoding)
        if encoding is None:
            return body
        inflater = Inflater(body, encoding, self.max_request_bytes)
        if inflater.run(INFLATE_INLINE_BYTES):
            return inflater.result()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.executor, inflater.run)
        return inflater.result()

    async def _decode(
        self, decode: Callable[[Signature], Batch], variant: LiveVariant, size: int, executor: Executor | None = None
    ) -> Batch:
        if size <= DECODE_INLINE_BYTES:
            return decode(variant.signature)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor or self.executor, decode, variant.signature)

    async def _predict(self, ep: LiveEndpoint, variant: LiveVariant, batch: Batch) -> Batch:
        start = time.perf_counter()
        try:
            if variant.enqueue is not None:  # straight into the batcher, which counts what it holds
                outputs = await variant.enqueue(batch, self.timeout_s)
            else:
                outputs = await variant.predict(batch, self.timeout_s)
        except TimeoutError:
            raise DeadlineExceeded(
                f"the model of variant {variant.name!r} did not answer within {self.timeout_s:g} s"
            ) from None
        except ModelportError:
            raise
        except Exception as exc:  # the model's own bug: the caller gets MODEL_ERROR, the log gets the trace
            log.exception("variant %s of %s failed", variant.name, ep.name)
            raise ModelFailure(f"the model of variant {variant.name!r} failed: {type(exc).__name__}: {exc}") from None
        t = self._tally(ep.name, variant.name)
        t.model_latency.observe(time.perf_counter() - start)
        t.rows += batch_rows(batch)
        return outputs

    async def invoke(self, req: InvokeRequest) -> InvokeResult:
        """A REST invocation: body in any supported type, reply by Accept."""
        start = time.perf_counter()
        ep = self.manager.get(req.endpoint)
        variant = self.choose(ep, req.target_variant)
        size = len(req.body)
        body_in = req.body

        def decode(sig: Signature) -> Batch:
            return decode_request(body_in, req.content_type, sig, sniff_missing=req.sniff_missing)

        try:
            if req.content_encoding is not None:
                body_in = await self._inflate(req.body, req.content_encoding)
                size = len(body_in)
            if size <= DECODE_INLINE_BYTES:  # the common case, without a coroutine round trip
                batch = decode(variant.signature)
            else:
                batch = await self._decode(decode, variant, size)
            outputs = await self._predict(ep, variant, batch)
            body, content_type = encode_response(outputs, req.accept, variant.classes)
        except ModelportError as exc:
            exc.details.setdefault("served_by", variant.name)
            self._observe(ep.name, variant.name, exc.code, start, size, 0)
            raise
        except Exception:  # a cancelled call (shutdown) is not an invocation error
            self._observe(ep.name, variant.name, "INTERNAL", start, size, 0)
            raise
        self._observe(ep.name, variant.name, "200", start, size, len(body))
        request_id = self.request_ids.next()
        inference_id = req.inference_id or request_id
        if ep.shadows:
            self._mirror(ep, variant, decode, outputs, size)
        if self.capture is not None and ep.config.capture.enabled:
            self._capture(ep, variant, body_in, req.content_type, body, content_type, inference_id)
        return InvokeResult(
            body=body, content_type=content_type, variant=variant.name, inference_id=inference_id, request_id=request_id
        )

    async def infer_v2(
        self, endpoint: str, version: int | None, body: bytes, headers: Mapping[str, str]
    ) -> tuple[bytes, dict[str, str], LiveVariant, str]:
        """An Open Inference Protocol infer call: the body, its extra headers, the variant and the inference id.

        The inference id is the request's ``id``, else a generated one (the one data capture records).
        """
        start = time.perf_counter()
        ep = self.manager.get(endpoint)
        variant = self.choose(ep, version=version)
        try:
            body = await self._inflate(body, headers.get("content-encoding"))
            if len(body) <= DECODE_INLINE_BYTES:
                request = parse_infer_body(body, headers)
            else:
                request = await asyncio.get_running_loop().run_in_executor(
                    self.executor, parse_infer_body, body, headers
                )

            def decode(sig: Signature) -> Batch:
                return v2_inputs_to_batch(request, sig)

            batch = await self._decode(decode, variant, len(body))
            outputs = await self._predict(ep, variant, batch)
            reply, extra = build_infer_response(
                endpoint, str(variant.version.version), request.id, outputs, request
            )
        except ModelportError as exc:
            exc.details.setdefault("served_by", variant.name)
            self._observe(ep.name, variant.name, exc.code, start, len(body), 0)
            raise
        except Exception:  # a cancelled call (shutdown) is not an invocation error
            self._observe(ep.name, variant.name, "INTERNAL", start, len(body), 0)
            raise
        self._observe(ep.name, variant.name, "200", start, len(body), len(reply))
        self._mirror(ep, variant, decode, outputs, len(body))
        ctype = headers.get("content-type") or "application/json"
        inference_id = request.id or self.request_ids.next()
        self._capture(ep, variant, body, ctype, reply, "application/json", inference_id)
        return reply, extra, variant, inference_id

    def _observe(self, endpoint: str, variant: str, code: str, start: float, size: int, reply: int) -> None:
        t = self._tally(endpoint, variant)
        if code == "200":
            t.ok += 1
        else:
            self.metrics.invocations.labels(endpoint, variant, code).inc()
        t.latency.observe(time.perf_counter() - start)
        t.bytes_in += size
        t.bytes_out += reply

    # -- shadows ----------------------------------------------------------------

    def _mirror(
        self, ep: LiveEndpoint, live: LiveVariant, decode: Callable[[Signature], Batch], outputs: Batch, size: int
    ) -> None:
        for shadow in ep.shadows:
            if shadow.spec.sample_percent < 100 and self.rng.random() * 100 >= shadow.spec.sample_percent:
                continue
            key = (ep.name, shadow.name)
            if self._shadow_pending.get(key, 0) >= MAX_PENDING_PER_SHADOW:
                self.metrics.shadow_failures.labels(*key).inc()
                continue
            self._shadow_pending[key] = self._shadow_pending.get(key, 0) + 1
            task = asyncio.create_task(self._shadow(ep, shadow, decode, outputs, size))
            self._shadow_tasks.add(task)
            task.add_done_callback(self._shadow_tasks.discard)
            task.add_done_callback(functools.partial(self._release_shadow, key))

    def _release_shadow(self, key: tuple[str, str], _task: object = None) -> None:
        self._shadow_pending[key] -= 1

    async def _shadow(
        self, ep: LiveEndpoint, shadow: LiveVariant, decode: Callable[[Signature], Batch], live: Batch, size: int
    ) -> None:
        labels = (ep.name, shadow.name)
        try:
            batch = await self._decode(decode, shadow, size, self.shadow_executor)
            outputs = await self._predict(ep, shadow, batch)
        except Exception as exc:  # a failing shadow is counted, never surfaced
            self.metrics.shadow_failures.labels(*labels).inc()
            log.debug("shadow %s of %s failed: %s", shadow.name, ep.name, exc)
            return
        rows, matches, diff = compare_outputs(live, outputs)
        self.metrics.shadow_rows.labels(*labels).inc(rows)
        if matches is not None:
            self.metrics.shadow_label_matches.labels(*labels).inc(matches)
        if diff is not None:
            self.metrics.shadow_abs_diff.labels(*labels).inc(diff)

    async def drain_shadows(self) -> None:
        if self._shadow_tasks:
            await asyncio.gather(*list(self._shadow_tasks), return_exceptions=True)

    # -- capture ----------------------------------------------------------------

    def _capture(
        self,
        ep: LiveEndpoint,
        variant: LiveVariant,
        body: bytes,
        content_type: str | None,
        reply: bytes,
        reply_type: str,
        inference_id: str,
    ) -> None:
        cfg = ep.config.capture
        if self.capture is None or not cfg.enabled:
            return
        if cfg.sampling_percent < 100 and self.rng.random() * 100 >= cfg.sampling_percent:
            return
        self.capture.submit(
            CaptureEvent(ep.name, variant.name, cfg, body, content_type, reply, reply_type, inference_id, time.time())
        )


def compare_outputs(live: Batch, shadow: Batch) -> tuple[int, int | None, float | None]:
    """Rows compared, rows whose labels agree, and the summed per-row mean |diff| of numeric outputs."""
    rows = batch_rows(live)
    matches = None
    if "label" in live and "label" in shadow and np.shape(live["label"]) == np.shape(shadow["label"]):
        matches = int(np.sum(np.asarray(live["label"]).astype(str) == np.asarray(shadow["label"]).astype(str)))
    diffs = []
    for name, value in live.items():
        other = shadow.get(name)
        a = np.asarray(value)
        if other is None or name == "label" or a.dtype.kind not in "fiu":
            continue
        b = np.asarray(other)
        if b.shape != a.shape or b.dtype.kind not in "fiu":
            continue
        d = np.abs(a.astype(np.float64) - b.astype(np.float64)).reshape(rows, -1).mean(axis=1)
        diffs.append(d)
    diff = float(np.sum(np.mean(diffs, axis=0))) if diffs else None
    return rows, matches, diff


