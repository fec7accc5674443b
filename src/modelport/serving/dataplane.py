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
import bisect
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
from modelport.endpoints.counters import ABS_DIFF_BUCKETS, FAILURE_CODES, LATENCY_BUCKETS_MS, ArmCounts, ShadowCounts
from modelport.errors import DeadlineExceeded, InvalidArgument, ModelFailure, ModelportError
from modelport.metrics import LatencyTally, Metrics
from modelport.runtimes.base import Runtime
from modelport.serving.arms import ArmBook
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

#: how a request's variant was chosen: a random draw on the weights, its unit id's hash, or by the caller
WEIGHTED, UNIT, FORCED = 0, 1, 2
ASSIGNMENTS = ("weighted", "unit", "forced")
#: live failures a shadow is still asked about (the request was fine: would the shadow have failed too?)
MIRRORED_FAILURES = frozenset({"MODEL_ERROR", "DEADLINE_EXCEEDED"})


@dataclass(frozen=True)
class _VariantMetrics:
    ok: Any
    latency: Any
    model_latency: Any
    rows: Any
    bytes_in: Any
    bytes_out: Any


class _Tally:
    """One loaded variant's invocations since the last flush, as plain numbers (Prometheus and the arm counters).

    One per :class:`LiveVariant` (a revision's), so the arm counters know the
    model it served and the experiment its endpoint's routing named.
    """

    __slots__ = (
        "bytes_in", "bytes_out", "endpoint", "experiment", "failures", "forced", "latency", "model",
        "model_latency", "ok", "rejected", "rows", "seconds", "shadow", "unit", "variant",
    )  # fmt: skip

    def __init__(self, endpoint: str, variant: str, model: str, experiment: str) -> None:
        self.endpoint, self.variant, self.model, self.experiment = endpoint, variant, model, experiment
        self.ok = self.rows = self.bytes_in = self.bytes_out = 0
        self.failures = self.rejected = self.unit = self.forced = 0
        self.latency = LatencyTally()
        self.model_latency = LatencyTally()
        #: each successful request's latency, binned for the arm counters when drained (an append here)
        self.seconds: list[float] = []
        self.shadow: ShadowCounts | None = None

    def arm_counts(self) -> ArmCounts | None:
        """What the arm counters take of this tally (None: nothing happened); call before the reset."""
        errors = self.failures + self.rejected
        requests = self.ok + errors
        if not (requests or self.rows or self.shadow):
            return None
        hist: dict[int, int] = {}
        edges = LATENCY_BUCKETS_MS
        for s in self.seconds:
            i = bisect.bisect_left(edges, s * 1000.0)
            hist[i] = hist.get(i, 0) + 1
        counts = ArmCounts(
            requests=requests,
            errors=errors,
            failures=self.failures,
            unit_requests=self.unit,
            forced_requests=self.forced,
            rows=self.rows,
            latency_sum_ms=sum(self.seconds) * 1000.0,
            latency=hist,
        )
        if self.shadow is not None:
            counts.shadow = self.shadow
        return counts

    def reset_arms(self) -> None:
        self.failures = self.rejected = self.unit = self.forced = 0
        self.seconds = []
        self.shadow = None


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
    #: the request's headers (lower-case names), for the endpoint's unit header (sticky assignment)
    headers: Mapping[str, str] | None = None


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
        arms: ArmBook | None = None,
        timeout_s: float = 60.0,
        rng: random.Random | None = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        """``arms``: where per-minute arm counts go (the server's writes them to the database)."""
        self.manager = manager
        self.arms = arms
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
        self._tallies: dict[LiveVariant, _Tally] = {}
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

    def _tally(self, ep: LiveEndpoint, variant: LiveVariant) -> _Tally:
        tally = self._tallies.get(variant)  # by identity: one per loaded revision's variant
        if tally is None:
            tally = self._tallies[variant] = _Tally(ep.name, variant.name, variant.spec.model, ep.experiment or "")
        if self._flush_handle is None:
            loop = self._loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(METRICS_FLUSH_S, self._drain_tallies)
        return tally

    def _drain_tallies(self) -> None:
        """Add the tallies to the Prometheus metrics; runs on the event loop's thread, like the updates."""
        self._flush_handle = None
        arms = self.arms
        idle = []
        for key, t in self._tallies.items():
            counts = t.arm_counts()
            if counts is None and not (t.bytes_in or t.bytes_out):
                idle.append(key)  # a retired revision's variant, or a quiet one: made again when used
                continue
            if arms is not None and counts is not None:
                arms.add(t.endpoint, t.variant, counts, model=t.model, experiment=t.experiment)
            t.reset_arms()
            m = self._m(t.endpoint, t.variant)
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
        for key in idle:
            del self._tallies[key]

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

    @staticmethod
    def target(ep: LiveEndpoint, name: str) -> LiveVariant:
        """The variant a caller named (the target variant header): any variant, shadows too."""
        variant = ep.variants.get(name)
        if variant is None:
            raise InvalidArgument(
                f"endpoint {ep.name!r} has no variant {name!r}; variants: {', '.join(ep.variants)}",
                details={"field": "target_variant"},
            )
        return variant

    def assign(self, ep: LiveEndpoint, headers: Mapping[str, str] | None) -> tuple[LiveVariant, int]:
        """A live variant for a request the caller did not direct, and how it was chosen (WEIGHTED or UNIT).

        With a unit header configured and present, the unit id's hash picks
        (:meth:`Router.for_unit`); otherwise a random draw on the weights.
        """
        header = ep.unit_header
        if header is not None and headers is not None:
            unit = headers.get(header)
            if unit:
                return ep.variants[ep.router.for_unit(ep.salt, unit)], UNIT
        return ep.variants[ep.router.pick(self.rng)], WEIGHTED

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

    async def _predict(self, ep: LiveEndpoint, variant: LiveVariant, batch: Batch) -> tuple[Batch, float]:
        """The variant's outputs, and the seconds the model took (with the batch queue)."""
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
        seconds = time.perf_counter() - start
        t = self._tally(ep, variant)
        t.model_latency.observe(seconds)
        t.rows += batch_rows(batch)
        return outputs, seconds

    async def invoke(self, req: InvokeRequest) -> InvokeResult:
        """A REST invocation: body in any supported type, reply by Accept."""
        start = time.perf_counter()
        ep = self.manager.get(req.endpoint)
        if req.target_variant:
            variant, assignment = self.target(ep, req.target_variant), FORCED
        elif ep.unit_header is None:  # the common case: by weight, without looking at headers
            variant, assignment = ep.variants[ep.router.pick(self.rng)], WEIGHTED
        else:
            variant, assignment = self.assign(ep, req.headers)
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
            outputs, seconds = await self._predict(ep, variant, batch)
            body, content_type = encode_response(outputs, req.accept, variant.classes)
        except ModelportError as exc:
            exc.details.setdefault("served_by", variant.name)
            self._observe(ep, variant, exc.code, start, size, 0, assignment)
            if ep.shadows and exc.code in MIRRORED_FAILURES:
                self._mirror(ep, variant, decode, None, size, None)
            raise
        except Exception:  # a cancelled call (shutdown) is not an invocation error
            self._observe(ep, variant, "INTERNAL", start, size, 0, assignment)
            raise
        self._observe(ep, variant, "200", start, size, len(body), assignment)
        request_id = self.request_ids.next()
        inference_id = req.inference_id or request_id
        if ep.shadows:
            self._mirror(ep, variant, decode, outputs, size, seconds)
        if self.capture is not None and ep.config.capture.enabled:
            self._capture(ep, variant, body_in, req.content_type, body, content_type, inference_id, assignment)
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
        if version is not None:
            variant, assignment = ep.variant_for_version(version), FORCED
        else:
            variant, assignment = self.assign(ep, headers)
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
            outputs, seconds = await self._predict(ep, variant, batch)
            reply, extra = build_infer_response(
                endpoint, str(variant.version.version), request.id, outputs, request
            )
        except ModelportError as exc:
            exc.details.setdefault("served_by", variant.name)
            self._observe(ep, variant, exc.code, start, len(body), 0, assignment)
            if ep.shadows and exc.code in MIRRORED_FAILURES:  # raised by the model only: ``decode`` is set
                self._mirror(ep, variant, decode, None, len(body), None)
            raise
        except Exception:  # a cancelled call (shutdown) is not an invocation error
            self._observe(ep, variant, "INTERNAL", start, len(body), 0, assignment)
            raise
        self._observe(ep, variant, "200", start, len(body), len(reply), assignment)
        if ep.shadows:
            self._mirror(ep, variant, decode, outputs, len(body), seconds)
        ctype = headers.get("content-type") or "application/json"
        inference_id = request.id or self.request_ids.next()
        self._capture(ep, variant, body, ctype, reply, "application/json", inference_id, assignment)
        return reply, extra, variant, inference_id

    def _observe(
        self,
        ep: LiveEndpoint,
        variant: LiveVariant,
        code: str,
        start: float,
        size: int,
        reply: int,
        assignment: int = WEIGHTED,
    ) -> None:
        t = self._tally(ep, variant)
        seconds = time.perf_counter() - start
        if code == "200":
            t.ok += 1
            t.seconds.append(seconds)
        else:
            self.metrics.invocations.labels(ep.name, variant.name, code).inc()
            if code in FAILURE_CODES:
                t.failures += 1
            else:
                t.rejected += 1
        if assignment:
            if assignment == UNIT:
                t.unit += 1
            else:
                t.forced += 1
        t.latency.observe(seconds)
        t.bytes_in += size
        t.bytes_out += reply

    # -- shadows ----------------------------------------------------------------

    def _mirror(
        self,
        ep: LiveEndpoint,
        live: LiveVariant,
        decode: Callable[[Signature], Batch],
        outputs: Batch | None,
        size: int,
        live_seconds: float | None,
    ) -> None:
        """Send a copy of the request to each shadow; ``outputs`` None: the live variant failed (by its fault)."""
        for shadow in ep.shadows:
            if shadow.spec.sample_percent < 100 and self.rng.random() * 100 >= shadow.spec.sample_percent:
                continue
            key = (ep.name, shadow.name)
            if self._shadow_pending.get(key, 0) >= MAX_PENDING_PER_SHADOW:
                self.metrics.shadow_failures.labels(*key).inc()
                self._shadow_counts(ep, shadow).dropped += 1
                continue
            self._shadow_pending[key] = self._shadow_pending.get(key, 0) + 1
            task = asyncio.create_task(self._shadow(ep, shadow, decode, outputs, size, live_seconds))
            self._shadow_tasks.add(task)
            task.add_done_callback(self._shadow_tasks.discard)
            task.add_done_callback(functools.partial(self._release_shadow, key))

    def _release_shadow(self, key: tuple[str, str], _task: object = None) -> None:
        self._shadow_pending[key] -= 1

    def _shadow_counts(self, ep: LiveEndpoint, shadow: LiveVariant) -> ShadowCounts:
        t = self._tally(ep, shadow)
        if t.shadow is None:
            t.shadow = ShadowCounts()
        return t.shadow

    async def _shadow(
        self,
        ep: LiveEndpoint,
        shadow: LiveVariant,
        decode: Callable[[Signature], Batch],
        live: Batch | None,
        size: int,
        live_seconds: float | None,
    ) -> None:
        labels = (ep.name, shadow.name)
        try:
            batch = await self._decode(decode, shadow, size, self.shadow_executor)
            outputs, seconds = await self._predict(ep, shadow, batch)
        except Exception as exc:  # a failing shadow is counted, never surfaced
            self.metrics.shadow_failures.labels(*labels).inc()
            log.debug("shadow %s of %s failed: %s", shadow.name, ep.name, exc)
            counts = self._shadow_counts(ep, shadow)
            counts.pairs += 1
            counts.shadow_failures += 1
            if live is None:
                counts.live_failures += 1
                counts.both_failures += 1
            return
        counts = self._shadow_counts(ep, shadow)
        counts.pairs += 1
        if live is None:
            counts.live_failures += 1
            return
        rows, matches, diffs = compare_rows(live, outputs)
        self.metrics.shadow_rows.labels(*labels).inc(rows)
        counts.rows += rows
        if matches is not None:
            self.metrics.shadow_label_matches.labels(*labels).inc(matches)
            counts.labelled += rows
            counts.agreements += matches
        if diffs is not None:
            self.metrics.shadow_abs_diff.labels(*labels).inc(float(np.sum(diffs)))
            finite = diffs[np.isfinite(diffs)]
            counts.diffed += int(finite.size)
            counts.abs_diff_sum += float(np.sum(finite))
            counts.abs_diff_sq += float(np.sum(finite * finite))
            found = np.bincount(np.searchsorted(ABS_DIFF_BUCKETS, finite, side="left"))
            hist = counts.abs_diff
            for i in np.flatnonzero(found).tolist():
                hist[i] = hist.get(i, 0) + int(found[i])
        if live_seconds is not None:
            shadow_ms, live_ms = seconds * 1000.0, live_seconds * 1000.0
            counts.latency_pairs += 1
            i, j = bisect.bisect_left(LATENCY_BUCKETS_MS, shadow_ms), bisect.bisect_left(LATENCY_BUCKETS_MS, live_ms)
            counts.latency[i] = counts.latency.get(i, 0) + 1
            counts.live_latency[j] = counts.live_latency.get(j, 0) + 1
            delta = shadow_ms - live_ms
            counts.delta_sum_ms += delta
            counts.delta_sq_ms += delta * delta

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
        assignment: int = WEIGHTED,
    ) -> None:
        cfg = ep.config.capture
        if self.capture is None or not cfg.enabled:
            return
        if cfg.sampling_percent < 100 and self.rng.random() * 100 >= cfg.sampling_percent:
            return
        # The chance this variant was chosen for this request: its share of the live weights (for a
        # unit's hash too: over units, that is how often it is chosen); 1 when the caller chose it.
        propensity = 1.0 if assignment == FORCED else ep.router.shares.get(variant.name, 1.0)
        self.capture.submit(
            CaptureEvent(
                ep.name, variant.name, cfg, body, content_type, reply, reply_type, inference_id, time.time(),
                propensity, ASSIGNMENTS[assignment], ep.experiment,
            )
        )  # fmt: skip


def compare_rows(live: Batch, shadow: Batch) -> tuple[int, int | None, np.ndarray | None]:
    """Rows compared, rows whose labels agree (None: no labels), and each row's mean |diff| of numeric outputs."""
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
    return rows, matches, (np.mean(diffs, axis=0) if diffs else None)

