"""``client.monitors``: drift and data-quality monitors on endpoints, in-process or on a server."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelport.errors import InvalidArgument
from modelport.monitoring.monitor import DatasetBaseline, Monitor, MonitorDetails, MonitorRun

ConfigLike = Mapping[str, Any] | str | Path | None


def load_config(config: ConfigLike) -> dict[str, Any]:
    """A monitor config: a mapping, or the path of a monitor.yaml (or .json)."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    path = Path(config)
    if not path.is_file():
        raise InvalidArgument(f"config file {str(path)!r} does not exist")
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"config file {path.name!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidArgument(f"config file {path.name!r} must hold a mapping of settings")
    return data


def load_json(value: Mapping[str, Any] | str | Path | None, what: str) -> dict[str, Any] | None:
    """A JSON document given as a mapping or a file path."""
    if value is None or isinstance(value, Mapping):
        return dict(value) if value is not None else None
    import orjson

    path = Path(value)
    if not path.is_file():
        raise InvalidArgument(f"{what} file {str(path)!r} does not exist")
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"{what} file {path.name!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"{what} file {path.name!r} must hold a JSON object")
    return data


class MonitorsAPI(ABC):
    """``client.monitors``: the verbs of ``modelport monitors``."""

    @abstractmethod
    def create(
        self,
        name: str,
        endpoint: str,
        *,
        variant: str | None = None,
        every: str | None = None,
        cron: str | None = None,
        window: str | None = None,
        config: ConfigLike = None,
    ) -> Monitor:
        """Watch an endpoint's captured traffic: ``every="1h"`` or ``cron="0 * * * *"`` (UTC) for scheduled
        runs inside the server; ``window`` (default the interval, else 1h); ``config``: thresholds (a mapping
        or a monitor.yaml path)."""

    @abstractmethod
    def list(self) -> builtins.list[Monitor]: ...

    @abstractmethod
    def get(self, name: str) -> Monitor: ...

    @abstractmethod
    def show(self, name: str, *, runs: int = 10) -> MonitorDetails:
        """The monitor, its last runs (per-feature results, violations) and its alerts."""

    @abstractmethod
    def runs(self, name: str, *, limit: int = 20) -> builtins.list[MonitorRun]: ...

    @abstractmethod
    def delete(self, name: str) -> None: ...

    @abstractmethod
    def run(
        self,
        name: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        engine: str = "local",
        scheduler: str | None = None,
    ) -> MonitorRun:
        """Judge ``[since, until)`` now (default: the monitor's window up to now; cut to whole minutes).

        A failed run is recorded, and its error raised.
        """

    @abstractmethod
    def baseline(
        self,
        model: str,
        *,
        data: str | Path | None = None,
        statistics: Mapping[str, Any] | str | Path | None = None,
        constraints: Mapping[str, Any] | str | Path | None = None,
        config: ConfigLike = None,
    ) -> DatasetBaseline:
        """A baseline for a model version from a dataset (CSV, JSON Lines, Parquet), or imported from SageMaker's
        statistics.json (and constraints.json); monitors compare with the newest one."""


class LocalMonitors(MonitorsAPI):
    def __init__(self, services: Any, user: str) -> None:
        self._services = services
        self._user = user

    @property
    def _svc(self) -> Any:
        return self._services.monitors

    @property
    def _store(self) -> Any:
        """For the read verbs: the store alone (the service imports the capture decoders, NumPy and pandas)."""
        from modelport.monitoring.store import MonitorStore

        return MonitorStore(self._services.db)

    def create(self, name, endpoint, *, variant=None, every=None, cron=None, window=None, config=None):  # type: ignore[no-untyped-def]
        return self._svc.create(
            name,
            endpoint=endpoint,
            variant=variant,
            every=every,
            cron=cron,
            window=window,
            config=load_config(config),
            created_by=self._user,
        )

    def list(self) -> builtins.list[Monitor]:
        return self._store.list()  # type: ignore[no-any-return]

    def get(self, name: str) -> Monitor:
        return self._store.get(name)  # type: ignore[no-any-return]

    def show(self, name: str, *, runs: int = 10) -> MonitorDetails:
        store = self._store
        return MonitorDetails(monitor=store.get(name), runs=store.runs(name, limit=runs), alerts=store.alerts(name))

    def runs(self, name: str, *, limit: int = 20) -> builtins.list[MonitorRun]:
        return self._store.runs(name, limit=limit)  # type: ignore[no-any-return]

    def delete(self, name: str) -> None:
        self._store.delete(name)

    def run(self, name, *, since=None, until=None, engine="local", scheduler=None):  # type: ignore[no-untyped-def]
        return self._svc.run(name, since=since, until=until, engine=engine, scheduler=scheduler)

    def baseline(self, model, *, data=None, statistics=None, constraints=None, config=None):  # type: ignore[no-untyped-def]
        return self._svc.baseline(
            model,
            data=data,
            statistics=load_json(statistics, "statistics"),
            constraints=load_json(constraints, "constraints"),
            config=load_config(config) or None,
            created_by=self._user,
        )


class RemoteMonitors(MonitorsAPI):
    def __init__(self, http: Any, models: Any) -> None:
        self._http = http
        self._models = models

    def create(self, name, endpoint, *, variant=None, every=None, cron=None, window=None, config=None):  # type: ignore[no-untyped-def]
        body = {
            "name": name,
            "endpoint": endpoint,
            "variant": variant,
            "every": None if every is None else str(every),
            "cron": cron,
            "window": None if window is None else str(window),
            "config": load_config(config),
        }
        return Monitor.model_validate(self._http.json("POST", "/api/v1/monitors", json=body))

    def list(self) -> builtins.list[Monitor]:
        return [Monitor.model_validate(m) for m in self._http.json("GET", "/api/v1/monitors")]

    def get(self, name: str) -> Monitor:
        return self.show(name, runs=1).monitor

    def show(self, name: str, *, runs: int = 10) -> MonitorDetails:
        data = self._http.json("GET", f"/api/v1/monitors/{_q(name)}", params={"runs": runs})
        return MonitorDetails.model_validate(data)

    def runs(self, name: str, *, limit: int = 20) -> builtins.list[MonitorRun]:
        data = self._http.json("GET", f"/api/v1/monitors/{_q(name)}/runs", params={"limit": limit})
        return [MonitorRun.model_validate(r) for r in data]

    def delete(self, name: str) -> None:
        self._http.request("DELETE", f"/api/v1/monitors/{_q(name)}")

    def run(self, name, *, since=None, until=None, engine="local", scheduler=None):  # type: ignore[no-untyped-def]
        body = {
            "since": since.isoformat() if since is not None else None,
            "until": until.isoformat() if until is not None else None,
            "engine": engine,
            "scheduler": scheduler,
        }
        return MonitorRun.model_validate(self._http.json("POST", f"/api/v1/monitors/{_q(name)}/runs", json=body))

    def baseline(self, model, *, data=None, statistics=None, constraints=None, config=None):  # type: ignore[no-untyped-def]
        body: dict[str, Any] = {
            "model": model,
            "statistics": load_json(statistics, "statistics"),
            "constraints": load_json(constraints, "constraints"),
            "config": load_config(config) or None,
        }
        if data is not None:
            from modelport.frames import table_format

            path = Path(data)
            if not path.is_file():
                raise InvalidArgument(f"dataset {str(path)!r} does not exist or is not a file")
            table_format(path)
            body.update(data_sha256=self._models.upload(path)["sha256"], data_filename=path.name)
        return DatasetBaseline.model_validate(self._http.json("POST", "/api/v1/monitors/baselines", json=body))


def _q(part: str) -> str:
    return quote(part, safe="")
