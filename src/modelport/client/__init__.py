"""``modelport.Client``: one object, in-process or against a server."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport.settings import Settings

if TYPE_CHECKING:  # the CLI imports this module: each noun's API is imported when it is built
    from modelport.batch.job import TransformJob
    from modelport.client.base import ModelsAPI, TokensAPI
    from modelport.client.endpoints import EndpointsAPI, InvocationResult
    from modelport.client.jobs import JobsAPI


class Client:
    """The modelport SDK.

    ``Client()`` works in-process on ``MODELPORT_HOME`` (or a remote server if
    ``MODELPORT_URL`` is set); ``Client(url=..., token=...)`` talks to a server.
    Both raise the same :mod:`modelport.errors` and return the same objects.
    """

    models: ModelsAPI
    tokens: TokensAPI
    endpoints: EndpointsAPI
    jobs: JobsAPI

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        home: str | Path | None = None,
        settings: Settings | None = None,
        http_client: Any = None,
    ) -> None:
        base = settings or Settings.from_env()
        self.settings = base.with_overrides(url=url, token=token, home=home)
        self._closers: list[Any] = []
        if self.settings.url or http_client is not None:
            from modelport.client.http import HttpTransport
            from modelport.client.remote import RemoteModels, RemoteTokens
            from modelport.registry.service import default_user

            secret = self.settings.token.get_secret_value() if self.settings.token else None
            http = HttpTransport(
                self.settings.url or "http://testserver",
                secret,
                user=self.settings.user or default_user(),
                client=http_client,
            )
            self._closers.append(http.close)
            from modelport.client.endpoints import RemoteEndpoints

            self.models = RemoteModels(http, self.settings.home / "cache")
            self.tokens = RemoteTokens(http)
            self.endpoints = RemoteEndpoints(http)
            from modelport.client.jobs import RemoteJobs

            self.jobs = RemoteJobs(http)
            self.remote = True
        else:
            from modelport.client.local import LocalModels, LocalTokens
            from modelport.services import Services

            services = Services.open(self.settings)
            self.services = services
            self._closers.append(services.close)
            from modelport.client.endpoints import LocalEndpoints
            from modelport.registry.service import default_user

            self.models = LocalModels(services)
            self.tokens = LocalTokens(services)
            local_endpoints = LocalEndpoints(services, self.settings.user or default_user())
            self.endpoints = local_endpoints
            self._closers.append(local_endpoints.close)
            from modelport.client.jobs import LocalJobs

            self.jobs = LocalJobs(services, self.settings.user or default_user())
            self.remote = False
        self.models.runtime_options = self.settings.runtime_options()

    def invoke(self, endpoint: str, data: Any, **options: Any) -> InvocationResult:
        """Call an endpoint (same as ``client.endpoints.invoke``)."""
        return self.endpoints.invoke(endpoint, data, **options)

    def transform(self, model: str, input: str, output: str, **options: Any) -> TransformJob:
        """Score files with a model version as a batch transform job (same as ``client.jobs.transform``)."""
        return self.jobs.transform(model, input, output, **options)

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.settings.url if self.remote else str(self.settings.home)
        return f"Client({where!r})"
