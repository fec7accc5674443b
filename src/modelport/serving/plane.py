"""One process's serving, wired one way: endpoint manager, data plane, capture and arm counters.

The server (``api/app.py``) and the in-process client (``modelport invoke``
without ``--url``, ``client.endpoints.invoke``) both build a :class:`Serving`,
so capture, batching and runtime settings behave the same whichever serves.
"""

from __future__ import annotations

from collections.abc import Iterable

from modelport.endpoints.counters import ArmCounters
from modelport.metrics import Metrics
from modelport.services import Services
from modelport.serving.arms import ArmBook
from modelport.serving.capture import CaptureWriter
from modelport.serving.dataplane import DataPlane, Predictors
from modelport.serving.manager import EndpointManager


class Serving:
    """The endpoints ``only`` names (all when None) loaded, answered and captured.

    Build it, ``await start()`` on the event loop that will serve, and
    ``await stop()`` there: stopping drains shadows, unloads the models and
    flushes the capture still queued and the arm counts not yet written.
    """

    def __init__(
        self,
        services: Services,
        metrics: Metrics,
        *,
        only: Iterable[str] | None = None,
        threads: int | None = None,
    ) -> None:
        settings = services.settings
        self.services = services
        predictors = Predictors(threads or settings.predict_threads)
        self.manager = EndpointManager(
            services,
            only=only,
            poll_interval=settings.sync_interval_s,
            runtime_options=settings.runtime_options(),
            wrap=predictors.batcher,
        )
        self.capture = CaptureWriter(
            self._write_capture,
            on_written=lambda ep, v, n: metrics.capture_records.labels(ep, v, "written").inc(n),
            on_dropped=lambda ep, v: metrics.capture_records.labels(ep, v, "dropped").inc(),
            flush_interval=settings.capture_flush_s,
        )
        self.arms = ArmBook(ArmCounters(services.db), flush_interval=settings.arm_counters_flush_s)
        self.dataplane = DataPlane(
            self.manager,
            metrics,
            predictors,
            capture=self.capture,
            arms=self.arms,
            timeout_s=settings.request_timeout_s,
            max_request_bytes=settings.max_request_bytes,
        )

    def _write_capture(self, root: str, path: str, data: bytes) -> None:
        artifacts = self.services.artifacts
        artifacts.write_object(path, data, root=root or f"{artifacts.root}/capture")

    async def start(self) -> None:
        await self.manager.start()
        self.arms.start()

    async def stop(self) -> None:
        await self.dataplane.drain_shadows()
        await self.manager.stop()
        self.capture.close()
        self.dataplane.close()  # hands what it tallied to the arm counts, which are written last
        self.arms.close()
