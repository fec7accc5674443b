"""``client.experiments``: A/B tests and bandits between an endpoint's variants, in-process or on a server."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from modelport.experiments.experiment import Experiment, ExperimentDetails


class ExperimentsAPI(ABC):
    """``client.experiments``: the verbs of ``modelport experiments``."""

    @abstractmethod
    def start(
        self,
        name: str,
        endpoint: str,
        control: str,
        treatment: str,
        *,
        metric: str | None = None,
        direction: str | None = None,
        mode: str = "sequential",
        alpha: float = 0.05,
        mde: float | str | None = None,
        max_samples: int | None = None,
        guardrails: Sequence[str] = (),
        on_win: str = "none",
        on_breach: str = "rollback",
        unit: str | None = None,
        split: Mapping[str, float] | str | None = None,
        min_share: float = 0.05,
        promote_alias: str | None = None,
        srm: str = "chi-square",
    ) -> Experiment:
        """Compare ``treatment`` with ``control`` (two live variants of ``endpoint``, or a live control and
        a shadow treatment, compared on the same requests) on ``metric``.

        Everything is checked before the endpoint changes; then the experiment takes the weights
        between the arms (``split``, default 50/50; a bandit sets its own) and the server's evaluator
        decides (``on_win="promote"``: all traffic to the winner; ``on_breach="rollback"``: all to the
        control when a guardrail such as ``"error_rate:+0.5pp"`` breaks).
        """

    @abstractmethod
    def list(self, *, status: str | None = None, endpoint: str | None = None) -> builtins.list[Experiment]:
        """Experiments, newest first (``status``: running or ended)."""

    @abstractmethod
    def get(self, name: str) -> Experiment: ...

    @abstractmethod
    def show(self, name: str, *, events: int = 100) -> ExperimentDetails:
        """The experiment with its latest look and its events."""

    @abstractmethod
    def stop(self, name: str, *, reason: str | None = None, restore: bool = False) -> Experiment:
        """End it now; the weights stay as they are unless ``restore``."""


class LocalExperiments(ExperimentsAPI):
    def __init__(self, services: Any, user: str) -> None:
        self._services = services
        self._user = user

    @property
    def _svc(self) -> Any:
        return self._services.experiments

    def start(self, name, endpoint, control, treatment, **options):  # type: ignore[no-untyped-def]
        return self._svc.start(
            name, endpoint=endpoint, control=control, treatment=treatment, created_by=self._user, **options
        )

    def list(self, *, status: str | None = None, endpoint: str | None = None) -> builtins.list[Experiment]:
        return self._svc.list(status=status, endpoint=endpoint)  # type: ignore[no-any-return]

    def get(self, name: str) -> Experiment:
        return self._svc.get(name)  # type: ignore[no-any-return]

    def show(self, name: str, *, events: int = 100) -> ExperimentDetails:
        return self._svc.show(name, events=events)  # type: ignore[no-any-return]

    def stop(self, name: str, *, reason: str | None = None, restore: bool = False) -> Experiment:
        return self._svc.stop(name, reason=reason, restore=restore, by=self._user)  # type: ignore[no-any-return]


class RemoteExperiments(ExperimentsAPI):
    def __init__(self, http: Any) -> None:
        self._http = http

    def start(self, name, endpoint, control, treatment, **options):  # type: ignore[no-untyped-def]
        body = {"name": name, "endpoint": endpoint, "control": control, "treatment": treatment}
        for key, value in options.items():
            if value is None:
                continue
            body[key] = list(value) if key == "guardrails" else dict(value) if isinstance(value, Mapping) else value
        return Experiment.model_validate(self._http.json("POST", "/api/v1/experiments", json=body))

    def list(self, *, status: str | None = None, endpoint: str | None = None) -> builtins.list[Experiment]:
        params = {k: v for k, v in (("status", status), ("endpoint", endpoint)) if v is not None}
        return [Experiment.model_validate(e) for e in self._http.json("GET", "/api/v1/experiments", params=params)]

    def get(self, name: str) -> Experiment:
        return self.show(name, events=1).experiment

    def show(self, name: str, *, events: int = 100) -> ExperimentDetails:
        data = self._http.json("GET", f"/api/v1/experiments/{_q(name)}", params={"events": events})
        return ExperimentDetails.model_validate(data)

    def stop(self, name: str, *, reason: str | None = None, restore: bool = False) -> Experiment:
        body = {"reason": reason, "restore": restore}
        return Experiment.model_validate(self._http.json("POST", f"/api/v1/experiments/{_q(name)}/stop", json=body))


def _q(part: str) -> str:
    return quote(part, safe="")
