"""``client.jobs`` and ``client.transform``: batch transform jobs, in-process or on a server.

In-process, a job runs in the calling thread (``wait=True``) or in a
background thread; against a server, the server runs it and the client
polls.  Either way a job that fails raises the same error class with the
same message, and ``progress`` is called with the job as it advances.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from modelport.batch.job import TransformJob
from modelport.batch.spec import TransformSpec
from modelport.domain import Page
from modelport.errors import error_from_code

Progress = Callable[[TransformJob], None]


def raise_if_failed(job: TransformJob) -> TransformJob:
    """A failed job becomes its error (same class and message locally and remotely)."""
    if job.status == "failed":
        raise error_from_code(
            job.failure_code or "INTERNAL", f"transform job {job.id} failed: {job.failure_reason}", {"job": job.id}
        )
    return job


class JobsAPI(ABC):
    """``client.jobs``: the verbs of ``modelport jobs`` and ``modelport transform``."""

    def transform(
        self,
        model: str,
        input: str,
        output: str,
        *,
        wait: bool = True,
        progress: Progress | None = None,
        **options: Any,
    ) -> TransformJob:
        """Score files with a model version: a batch transform job (see TransformSpec for ``options``).

        ``wait=True`` returns the finished job (and raises if it failed);
        ``wait=False`` returns as soon as it started.
        """
        spec = TransformSpec.build(model=model, input=input, output=output, **options)
        return self.submit(spec, wait=wait, progress=progress)

    @abstractmethod
    def submit(self, spec: TransformSpec, *, wait: bool = True, progress: Progress | None = None) -> TransformJob:
        """Create a job from a spec and start it."""

    @abstractmethod
    def list(self, *, status: str | None = None, limit: int = 100, page_token: str | None = None) -> Page[TransformJob]:
        """One page of jobs, newest first."""

    @abstractmethod
    def show(self, job_id: str) -> TransformJob: ...

    @abstractmethod
    def cancel(self, job_id: str) -> TransformJob:
        """Ask a running job to stop (it does within about a second), or cancel a stopped one now."""

    @abstractmethod
    def resume(self, job_id: str, *, wait: bool = True, progress: Progress | None = None) -> TransformJob:
        """Finish a failed or interrupted job from its last committed block."""

    def wait(self, job_id: str, *, timeout: float | None = None, progress: Progress | None = None) -> TransformJob:
        """Poll until the job is done; raise if it failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.show(job_id)
            if progress is not None:
                progress(job)
            if job.done or (deadline is not None and time.monotonic() >= deadline):
                return raise_if_failed(job)
            time.sleep(0.25)


class LocalJobs(JobsAPI):
    def __init__(self, services: Any, user: str) -> None:
        self._services = services
        self._user = user

    @property
    def _svc(self) -> Any:
        return self._services.transforms

    def submit(self, spec: TransformSpec, *, wait: bool = True, progress: Progress | None = None) -> TransformJob:
        job = self._svc.create(spec, created_by=self._user)
        if progress is not None:
            progress(job)
        return self._go(job.id, wait, progress)

    def _go(self, job_id: str, wait: bool, progress: Progress | None) -> TransformJob:
        if wait:
            return raise_if_failed(self._svc.run(job_id, progress=progress))
        return self._svc.start(job_id, progress=progress)  # type: ignore[no-any-return]

    def list(self, *, status: str | None = None, limit: int = 100, page_token: str | None = None) -> Page[TransformJob]:
        return self._svc.list(status=status, limit=limit, page_token=page_token)  # type: ignore[no-any-return]

    def show(self, job_id: str) -> TransformJob:
        return self._svc.get(job_id)  # type: ignore[no-any-return]

    def cancel(self, job_id: str) -> TransformJob:
        return self._svc.cancel(job_id)  # type: ignore[no-any-return]

    def resume(self, job_id: str, *, wait: bool = True, progress: Progress | None = None) -> TransformJob:
        return self._go(job_id, wait, progress)


class RemoteJobs(JobsAPI):
    def __init__(self, http: Any) -> None:
        self._http = http

    def submit(self, spec: TransformSpec, *, wait: bool = True, progress: Progress | None = None) -> TransformJob:
        job = TransformJob.model_validate(self._http.json("POST", "/api/v1/jobs", json=spec.model_dump(mode="json")))
        if progress is not None:
            progress(job)
        return self.wait(job.id, progress=progress) if wait else job

    def list(self, *, status: str | None = None, limit: int = 100, page_token: str | None = None) -> Page[TransformJob]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if page_token:
            params["page_token"] = page_token
        return Page[TransformJob].model_validate(self._http.json("GET", "/api/v1/jobs", params=params))

    def show(self, job_id: str) -> TransformJob:
        return TransformJob.model_validate(self._http.json("GET", f"/api/v1/jobs/{_q(job_id)}"))

    def cancel(self, job_id: str) -> TransformJob:
        return TransformJob.model_validate(self._http.json("POST", f"/api/v1/jobs/{_q(job_id)}/cancel"))

    def resume(self, job_id: str, *, wait: bool = True, progress: Progress | None = None) -> TransformJob:
        job = TransformJob.model_validate(self._http.json("POST", f"/api/v1/jobs/{_q(job_id)}/resume"))
        return self.wait(job.id, progress=progress) if wait else job


def _q(part: str) -> str:
    return quote(part, safe="")
