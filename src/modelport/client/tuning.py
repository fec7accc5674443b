"""``client.tuning``: hyperparameter tuning jobs, in-process or on a server.

In-process, a job runs in the calling thread (``wait=True``) or a background
thread; against a server, the server runs it (the trial module and the
command's folder are the server's) and the client polls.  ``progress`` is
called with a :class:`~modelport.tuning.runner.RunProgress` either way.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelport.domain import ModelVersion, Page
from modelport.errors import error_from_code
from modelport.tuning.job import TuningJob
from modelport.tuning.runner import RunProgress
from modelport.tuning.spec import TuningSpec

Progress = Callable[[RunProgress], None]


def raise_if_failed(job: TuningJob) -> TuningJob:
    if job.status == "failed":
        raise error_from_code(job.failure_code or "INTERNAL", f"tuning job {job.name} failed: {job.failure_reason}", {"job": job.name})
    return job


def progress_of(job: TuningJob) -> RunProgress:
    c = job.counts()
    best = job.best.values[0] if job.best is not None and job.best.values else None
    budget = job.spec.trials
    return RunProgress(
        total=budget, complete=c["complete"], pruned=c["pruned"], failed=c["failed"], running=c["running"], best=best,
        objective=job.spec.objectives[0].metric,
    )  # fmt: skip


class TuningAPI(ABC):
    """``client.tuning``: the verbs of ``modelport tune``."""

    def run(self, *, wait: bool = True, progress: Progress | None = None, **fields: Any) -> TuningJob:
        """Create and run a job from spec fields (``objectives=["val_auc:max"], params=["max_depth=int:2:12"], trial="train:objective"``)."""
        return self.submit(TuningSpec.build(**fields), wait=wait, progress=progress)

    @abstractmethod
    def submit(self, spec: TuningSpec, *, wait: bool = True, progress: Progress | None = None) -> TuningJob:
        """Create a job from a spec and start it; ``wait=True`` returns it finished (and raises if it failed)."""

    @abstractmethod
    def list(self, *, status: str | None = None, limit: int = 100, page_token: str | None = None) -> Page[TuningJob]: ...

    @abstractmethod
    def show(self, name: str, *, importances: bool = True) -> TuningJob:
        """A job with its trials, best trial, Pareto marks and (``importances``) parameter importances."""

    @abstractmethod
    def stop(self, name: str) -> TuningJob:
        """Stop a job: its running trials are killed within about a second."""

    @abstractmethod
    def resume(self, name: str, *, wait: bool = True, progress: Progress | None = None) -> TuningJob:
        """Run an interrupted, failed or stopped job on: finished trials are kept, unfinished ones rerun."""

    @abstractmethod
    def export(self, name: str, path: str | Path, *, format: str = "csv") -> Path:
        """Write the trials table to ``path`` (csv or parquet)."""

    @abstractmethod
    def register(
        self, name: str, *, trial: int | None = None, model_name: str | None = None, alias: str | None = None, to_onnx: bool | None = None
    ) -> ModelVersion:
        """Register a trial's model (the best unless ``trial``) as a version with its params, metrics and lineage."""

    def wait(self, name: str, *, timeout: float | None = None, progress: Progress | None = None) -> TuningJob:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.show(name, importances=False)
            if progress is not None:
                progress(progress_of(job))
            if job.done or (deadline is not None and time.monotonic() >= deadline):
                return raise_if_failed(job)
            time.sleep(0.5)


class LocalTuning(TuningAPI):
    def __init__(self, services: Any, user: str) -> None:
        self._services = services
        self._user = user

    @property
    def _svc(self) -> Any:
        return self._services.tuning

    def submit(self, spec: TuningSpec, *, wait: bool = True, progress: Progress | None = None) -> TuningJob:
        job = self._svc.create(spec, created_by=self._user)
        return self._go(job.name, wait, progress)

    def _go(self, name: str, wait: bool, progress: Progress | None) -> TuningJob:
        if wait:
            return raise_if_failed(self._svc.run(name, progress=progress))
        return self._svc.start(name, progress=progress)  # type: ignore[no-any-return]

    def list(self, *, status: str | None = None, limit: int = 100, page_token: str | None = None) -> Page[TuningJob]:
        return self._svc.list(status=status, limit=limit, page_token=page_token)  # type: ignore[no-any-return]

    def show(self, name: str, *, importances: bool = True) -> TuningJob:
        return self._svc.get(name, importances=importances)  # type: ignore[no-any-return]

    def stop(self, name: str) -> TuningJob:
        return self._svc.stop(name)  # type: ignore[no-any-return]

    def resume(self, name: str, *, wait: bool = True, progress: Progress | None = None) -> TuningJob:
        return self._go(name, wait, progress)

    def export(self, name: str, path: str | Path, *, format: str = "csv") -> Path:
        return self._svc.export(name, path, format=format)  # type: ignore[no-any-return]

    def register(
        self, name: str, *, trial: int | None = None, model_name: str | None = None, alias: str | None = None, to_onnx: bool | None = None
    ) -> ModelVersion:
        return self._svc.register(name, trial=trial, model_name=model_name, alias=alias, to_onnx=to_onnx)  # type: ignore[no-any-return]


class RemoteTuning(TuningAPI):
    def __init__(self, http: Any) -> None:
        self._http = http

    def submit(self, spec: TuningSpec, *, wait: bool = True, progress: Progress | None = None) -> TuningJob:
        job = TuningJob.model_validate(self._http.json("POST", "/api/v1/tuning-jobs", json=spec.model_dump(mode="json")))
        return self.wait(job.name, progress=progress) if wait else job

    def list(self, *, status: str | None = None, limit: int = 100, page_token: str | None = None) -> Page[TuningJob]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if page_token:
            params["page_token"] = page_token
        return Page[TuningJob].model_validate(self._http.json("GET", "/api/v1/tuning-jobs", params=params))

    def show(self, name: str, *, importances: bool = True) -> TuningJob:
        params = {"importances": "true" if importances else "false"}
        return TuningJob.model_validate(self._http.json("GET", f"/api/v1/tuning-jobs/{_q(name)}", params=params))

    def stop(self, name: str) -> TuningJob:
        return TuningJob.model_validate(self._http.json("POST", f"/api/v1/tuning-jobs/{_q(name)}/stop"))

    def resume(self, name: str, *, wait: bool = True, progress: Progress | None = None) -> TuningJob:
        job = TuningJob.model_validate(self._http.json("POST", f"/api/v1/tuning-jobs/{_q(name)}/resume"))
        return self.wait(job.name, progress=progress) if wait else job

    def export(self, name: str, path: str | Path, *, format: str = "csv") -> Path:
        from modelport.tuning.job import write_trials

        return write_trials(self.show(name, importances=False), path, format=format)

    def register(
        self, name: str, *, trial: int | None = None, model_name: str | None = None, alias: str | None = None, to_onnx: bool | None = None
    ) -> ModelVersion:
        body = {"trial": trial, "name": model_name, "alias": alias, "to_onnx": to_onnx}
        return ModelVersion.model_validate(self._http.json("POST", f"/api/v1/tuning-jobs/{_q(name)}/register", json=body))


def _q(part: str) -> str:
    return quote(part, safe="")
