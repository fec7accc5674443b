"""The in-process services behind every interface, built from settings.

The CLI, the SDK's local mode and the server's app factory each build one
:class:`Services` and pass it down; nothing below reads settings itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelport.auth import TokenStore
from modelport.batch.jobs import JobStore
from modelport.batch.service import TransformService
from modelport.db.database import Database
from modelport.endpoints.service import EndpointService
from modelport.endpoints.store import EndpointStore
from modelport.registry.service import Registry
from modelport.registry.store import RegistryStore
from modelport.server_key import KEY_FILE, ServerKey
from modelport.settings import Settings
from modelport.store import ArtifactStore


@dataclass
class Services:
    settings: Settings
    db: Database
    artifacts: ArtifactStore
    registry: Registry
    tokens: TokenStore
    endpoints: EndpointService
    transforms: TransformService

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
        endpoint_store = EndpointStore(db)
        registry = Registry(
            RegistryStore(db),
            artifacts,
            user=settings.user,
            served=endpoint_store.models_in_use,
            allow_pickle=settings.allow_pickle,
        )
        return cls(
            settings=settings,
            db=db,
            artifacts=artifacts,
            registry=registry,
            tokens=TokenStore(db, server_key(settings)),
            endpoints=EndpointService(endpoint_store, registry),
            transforms=TransformService(JobStore(db), registry, settings),
        )

    def close(self) -> None:
        self.db.dispose()


def server_key(settings: Settings) -> ServerKey:
    secret = settings.secret_key.get_secret_value() if settings.secret_key is not None else ""
    return ServerKey(settings.home / KEY_FILE, secret or None)
