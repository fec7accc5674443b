"""The in-process services behind every interface, built from settings.

The CLI, the SDK's local mode and the server's app factory each build one
:class:`Services` and pass it down; nothing below reads settings itself.
The endpoint, batch, monitoring and experiment services are built on first use, so a command that
never touches them (``modelport models list``) never imports their modules.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelport.auth import TokenStore
from modelport.db.database import Database
from modelport.registry.service import Registry
from modelport.registry.store import RegistryStore
from modelport.server_key import KEY_FILE, ServerKey
from modelport.settings import Settings
from modelport.store import ArtifactStore

if TYPE_CHECKING:
    from modelport.async_inference.service import AsyncInferenceService
    from modelport.batch.service import TransformService
    from modelport.endpoints.service import EndpointService
    from modelport.experiments.service import ExperimentService
    from modelport.monitoring.feedback import FeedbackService
    from modelport.monitoring.service import MonitorService
    from modelport.sagemaker.control import ControlPlane
    from modelport.tuning.service import TuningService


@dataclass
class Services:
    settings: Settings
    db: Database
    artifacts: ArtifactStore
    registry: Registry
    tokens: TokenStore

    @classmethod
    def open(cls, settings: Settings, *, ensure_schema: bool = True) -> Services:
        db = Database(settings.resolved_database_url)
        try:
            if ensure_schema:
                db.ensure_schema()
            artifacts = ArtifactStore(
                settings.resolved_artifacts,
                cache_dir=settings.home / "cache",
                s3_endpoint_url=settings.s3_endpoint_url,
                spool_dir=settings.spool_dir,
            )
        except BaseException:
            db.dispose()
            raise
        registry = Registry(
            RegistryStore(db),
            artifacts,
            user=settings.user,
            served=functools.partial(_models_in_use, db),
            allow_pickle=settings.allow_pickle,
        )
        return cls(
            settings=settings,
            db=db,
            artifacts=artifacts,
            registry=registry,
            tokens=TokenStore(db, server_key(settings)),
        )

    @functools.cached_property
    def endpoints(self) -> EndpointService:
        from modelport.endpoints.service import EndpointService
        from modelport.endpoints.store import EndpointStore

        return EndpointService(EndpointStore(self.db), self.registry)

    @functools.cached_property
    def transforms(self) -> TransformService:
        from modelport.batch.jobs import JobStore
        from modelport.batch.service import TransformService

        return TransformService(JobStore(self.db), self.registry, self.settings)

    @functools.cached_property
    def monitors(self) -> MonitorService:
        from modelport.monitoring.feedback import FeedbackStore
        from modelport.monitoring.service import MonitorService
        from modelport.monitoring.store import MonitorStore

        return MonitorService(
            MonitorStore(self.db), self.endpoints, self.registry, self.artifacts, FeedbackStore(self.db)
        )

    @functools.cached_property
    def feedback(self) -> FeedbackService:
        from modelport.monitoring.feedback import FeedbackService, FeedbackStore

        return FeedbackService(FeedbackStore(self.db), self.endpoints, self.registry)

    @functools.cached_property
    def experiments(self) -> ExperimentService:
        from modelport.experiments.service import ExperimentService
        from modelport.experiments.store import ExperimentStore

        return ExperimentService(
            ExperimentStore(self.db), self.endpoints, self.registry, functools.partial(_arm_reader, self)
        )

    @functools.cached_property
    def tuning(self) -> TuningService:
        from modelport.tuning.service import TuningService
        from modelport.tuning.store import TuningStore

        return TuningService(TuningStore(self.db), self.registry, self.settings)

    @functools.cached_property
    def sagemaker(self) -> ControlPlane:
        from modelport.sagemaker.control import ControlPlane

        return ControlPlane(self)

    @functools.cached_property
    def async_inference(self) -> AsyncInferenceService:
        from modelport.async_inference.service import AsyncInferenceService

        return AsyncInferenceService(self)

    def close(self) -> None:
        self.db.dispose()


def _models_in_use(db: Database) -> dict[str, list[str]]:
    """``name:N`` → endpoints serving it (the registry refuses to delete those)."""
    from modelport.endpoints.store import EndpointStore

    return EndpointStore(db).models_in_use()


def _arm_reader(services: Services) -> Any:
    """What experiments read each arm's numbers with (capture, feedback, the data plane's counters)."""
    from modelport.endpoints.counters import ArmCounters
    from modelport.experiments.readings import ArmReader
    from modelport.monitoring.feedback import FeedbackStore
    from modelport.monitoring.store import MonitorStore

    return ArmReader(
        services.registry,
        services.artifacts,
        MonitorStore(services.db),
        FeedbackStore(services.db),
        counters=ArmCounters(services.db).totals,
    )


def server_key(settings: Settings) -> ServerKey:
    secret = settings.secret_key.get_secret_value() if settings.secret_key is not None else ""
    return ServerKey(settings.home / KEY_FILE, secret or None)
