"""``modelport.Client``: one object, in-process or against a server."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport.settings import Settings

if TYPE_CHECKING:  # the CLI imports this module: each noun's API is imported when it is built
    from modelport.batch.job import TransformJob
    from modelport.client.async_inference import AsyncAPI
    from modelport.client.base import ModelsAPI, TokensAPI
    from modelport.client.endpoints import EndpointsAPI, InvocationResult
    from modelport.client.experiments import ExperimentsAPI
    from modelport.client.feedback import FeedbackAPI
    from modelport.client.jobs import JobsAPI
    from modelport.client.local import LocalHome
    from modelport.client.monitors import MonitorsAPI
    from modelport.client.tuning import TuningAPI
    from modelport.monitoring.feedback import FeedbackReceipt
    from modelport.services import Services


class Client:
    """The modelport SDK.

    ``Client()`` works in-process on ``MODELPORT_HOME`` (or a remote server if
    ``MODELPORT_URL`` is set); ``Client(url=..., token=...)`` talks to a server.
    Both raise the same :mod:`modelport.errors` and return the same objects.
    """

    models: ModelsAPI
    tokens: TokensAPI
    _home: LocalHome  # in-process only

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        home: str | Path | None = None,
        settings: Settings | None = None,
        http_client: Any = None,
    ) -> None:
        from modelport.settings import default_user

        base = settings or Settings.from_env()
        self.settings = base.with_overrides(url=url, token=token, home=home)
        self._closers: list[Any] = []
        self._user = self.settings.user or default_user()
        if self.settings.url or http_client is not None:
            from modelport.client.http import HttpTransport
            from modelport.client.remote import RemoteModels, RemoteTokens

            secret = self.settings.token.get_secret_value() if self.settings.token else None
            http = HttpTransport(self.settings.url or "http://testserver", secret, user=self._user, client=http_client)
            self._http = http
            self._closers.append(http.close)
            self.models = RemoteModels(http, self.settings.home / "cache")
            self.tokens = RemoteTokens(http)
            self.remote = True
        else:
            from modelport.client.local import LocalHome, LocalModels, LocalTokens

            self._home = LocalHome(self.settings)
            self._closers.append(self._home.close)
            self.models = LocalModels(self._home)
            self.tokens = LocalTokens(self._home)
            self.remote = False
        self.models.runtime_options = self.settings.runtime_options()

    # endpoints, jobs, monitors and experiments are built on first use: `modelport models list` never imports them.

    @property
    def services(self) -> Services:
        """The in-process services (opened on first use: reads of a SQLite home do without them)."""
        if self.remote:
            raise AttributeError("a remote Client has no in-process services")
        return self._home.services

    @functools.cached_property
    def endpoints(self) -> EndpointsAPI:
        """``client.endpoints``: create, change and call endpoints."""
        if self.remote:
            from modelport.client.endpoints import RemoteEndpoints

            return RemoteEndpoints(self._http)
        from modelport.client.endpoints import LocalEndpoints

        local = LocalEndpoints(self._home, self._user)
        self._closers.append(local.close)
        return local

    @functools.cached_property
    def jobs(self) -> JobsAPI:
        """``client.jobs``: batch transform jobs."""
        from modelport.client.jobs import LocalJobs, RemoteJobs

        return RemoteJobs(self._http) if self.remote else LocalJobs(self.services, self._user)

    @functools.cached_property
    def async_inference(self) -> AsyncAPI:
        """``client.async_inference``: queued requests of any size, SageMaker's asynchronous inference."""
        from modelport.client.async_inference import LocalAsync, RemoteAsync

        return RemoteAsync(self._http) if self.remote else LocalAsync(self.services, self._user)

    @functools.cached_property
    def monitors(self) -> MonitorsAPI:
        """``client.monitors``: drift and data-quality monitors on endpoints."""
        from modelport.client.monitors import LocalMonitors, RemoteMonitors

        return RemoteMonitors(self._http, self.models) if self.remote else LocalMonitors(self.services, self._user)

    @functools.cached_property
    def experiments(self) -> ExperimentsAPI:
        """``client.experiments``: A/B tests and bandits between an endpoint's variants."""
        from modelport.client.experiments import LocalExperiments, RemoteExperiments

        return RemoteExperiments(self._http) if self.remote else LocalExperiments(self.services, self._user)

    @functools.cached_property
    def tuning(self) -> TuningAPI:
        """``client.tuning``: hyperparameter tuning jobs."""
        from modelport.client.tuning import LocalTuning, RemoteTuning

        return RemoteTuning(self._http) if self.remote else LocalTuning(self.services, self._user)

    @functools.cached_property
    def feedback(self) -> FeedbackAPI:
        """``client.feedback``: ground truth (labels) for an endpoint's predictions."""
        from modelport.client.feedback import LocalFeedback, RemoteFeedback

        return RemoteFeedback(self._http) if self.remote else LocalFeedback(self.services)

    def send_feedback(self, endpoint: str, data: Any, **options: Any) -> FeedbackReceipt:
        """Send labels by inference id (same as ``client.feedback.send``): a file, DataFrame or records."""
        return self.feedback.send(endpoint, data, **options)

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
