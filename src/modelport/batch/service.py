"""The transform service: create, run, resume, cancel and look up batch transform jobs.

``create`` does everything that can refuse a job before it starts — the
model exists, the inputs exist and agree on a format, the filters name real
columns — so a mistake is an immediate, clear error and leaves no job
behind.  ``run`` claims the job (one runner at a time, recorded with its
host and process id), scores it with the chosen engine, and records the
outcome.  A job whose runner died (``kill -9``, a lost machine) is resumed
by running it again: committed blocks are kept, the rest is done, and the
output is what an uninterrupted run would have written.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelport.batch.job import JobProgress, TransformJob
from modelport.batch.jobs import JobStore
from modelport.batch.spec import TransformSpec
from modelport.batch.staging import Staging
from modelport.domain import ModelVersion
from modelport.errors import Conflict, Internal, MissingExtra, ModelportError
from modelport.processes import process_alive
from modelport.registry.service import Registry
from modelport.settings import Settings

if TYPE_CHECKING:  # the engine (Arrow, pandas) is imported when a job runs, not with every CLI command
    from modelport.batch.plan import Plan
    from modelport.batch.runner import JobRun
    from modelport.scoring import LoadedModel

log = logging.getLogger(__name__)

#: a running job whose runner has not beaten for this long is presumed dead (other hosts)
STALE_AFTER_S = 30.0

ProgressCallback = Callable[[TransformJob], None]


class TransformService:
    def __init__(self, store: JobStore, registry: Registry, settings: Settings) -> None:
        self.store = store
        self.registry = registry
        self.settings = settings
        self.host = socket.gethostname()

    # -- reads ------------------------------------------------------------------

    def get(self, job_id: str) -> TransformJob:
        return self.store.get(job_id)

    def list(self, **filters: Any) -> Any:
        return self.store.list(**filters)

    # -- create -----------------------------------------------------------------

    def create(self, spec: TransformSpec, *, created_by: str) -> TransformJob:
        """Check and plan a job; it is ``pending`` until run."""
        from modelport.batch.inputs import list_inputs
        from modelport.batch.plan import make_plan

        version = self.registry.get_version(spec.model)
        if spec.engine == "dask":
            try:
                import distributed  # noqa: F401
            except ImportError:
                raise MissingExtra.for_extra("dask", "--engine dask") from None
        objects = list_inputs(spec.input, s3_endpoint_url=self.settings.s3_endpoint_url, compression=spec.compression)
        # planning reads the signature and one synthetic row: no tree kernel to build
        model = self._load(version, {**self.settings.runtime_options(threads=1), "native_trees": False})
        try:
            plan = make_plan(spec, model, objects, s3_endpoint_url=self.settings.s3_endpoint_url)
        finally:
            model.close()
        progress = JobProgress(inputs=len(objects), bytes_total=sum(o.size for o in objects))
        job_id = f"tj-{uuid.uuid4().hex[:12]}"
        return self.store.create(
            job_id, model=version.ref, spec=spec, plan=plan.to_dict(), progress=progress, created_by=created_by
        )

    # -- run --------------------------------------------------------------------

    def run(self, job_id: str, *, progress: ProgressCallback | None = None) -> TransformJob:
        """Run (or resume) a job in this thread until it completes, fails or is cancelled."""
        return self._execute(self.claim(job_id), progress)

    def start(self, job_id: str, *, progress: ProgressCallback | None = None) -> TransformJob:
        """Claim a job and run it in a background thread (the server's way); returns at once."""
        job = self.claim(job_id)
        threading.Thread(target=self._execute, args=(job, progress), name=f"modelport-{job_id}", daemon=True).start()
        return job

    def claim(self, job_id: str) -> TransformJob:
        job = self.store.get(job_id)
        if job.status == "completed":
            raise Conflict(f"job {job_id} already completed")
        if job.status == "cancelled":
            raise Conflict(f"job {job_id} was cancelled; start a new job")
        if job.status == "running" and self._runner_alive(job):
            host, pid = self.store.runner(job_id)
            raise Conflict(f"job {job_id} is running (process {pid} on {host}): wait for it or cancel it")
        return self.store.claim(job_id, seen=job, host=self.host, pid=os.getpid())

    def cancel(self, job_id: str) -> TransformJob:
        """Stop a job: a live runner stops within about a second; otherwise (pending, failed,
        interrupted) it is cancelled now and its committed blocks are discarded."""
        job = self.store.get(job_id)
        if job.status == "completed":
            raise Conflict(f"job {job_id} already completed")
        if job.status == "cancelled":
            return job
        if job.status == "running" and self._runner_alive(job):
            return self.store.request_cancel(job_id)
        self._staging(job, self._plan(job_id)).remove()
        return self.store.finish(job_id, "cancelled")

    def _runner_alive(self, job: TransformJob) -> bool:
        host, pid = self.store.runner(job.id)
        if host == self.host and pid is not None:
            return process_alive(pid)
        return (datetime.now(UTC) - job.updated_at).total_seconds() < STALE_AFTER_S

    def _execute(self, job: TransformJob, on_progress: ProgressCallback | None) -> TransformJob:
        from modelport.batch.pipeline import run_local
        from modelport.batch.runner import Cancelled, JobRun, Reporter
        from modelport.batch.transform import BlockProcessor

        plan = self._plan(job.id)
        spec = job.spec
        s3 = self.settings.s3_endpoint_url
        staging = self._staging(job, plan)
        pid = os.getpid()
        shown = (lambda p: on_progress(job.model_copy(update={"progress": p}))) if on_progress else None
        reporter = Reporter(lambda p: self.store.heartbeat(job.id, p, pid=pid), on_progress=shown)
        run: JobRun | None = None
        try:
            run = JobRun(plan, staging, reporter, s3_endpoint_url=s3, previous_seconds=job.progress.run_seconds)
            version = self.registry.get_version(job.model)
            threads = spec.threads or os.cpu_count() or 1
            if spec.engine == "dask":
                from modelport.batch.dask_engine import ModelPayload, run_dask

                path = self.registry.model_path(version)
                payload = ModelPayload(
                    version=version.model_dump(mode="json"),
                    data=path.read_bytes(),
                    sha256=version.file("model").sha256 if version.files else version.sha256,
                    options=self.settings.runtime_options(threads=1),
                )
                run_dask(run, payload, staging_url=staging.url, scheduler=spec.scheduler, threads=threads, s3_endpoint_url=s3)
            else:
                # parallel blocks, one thread per model call
                model = self._load(version, self.settings.runtime_options(threads=1))
                try:
                    run_local(run, BlockProcessor(plan, model), workers=threads, s3_endpoint_url=s3)
                finally:
                    model.close()
            progress = run.finish()
            final = self.store.finish(job.id, "completed", progress=progress)
            staging.remove()
            return final
        except Cancelled:
            staging.remove()
            return self.store.finish(job.id, "cancelled", progress=run.progress if run else None)
        except ModelportError as exc:
            return self._failed(job, run, exc.code, exc.message)
        except KeyboardInterrupt:
            self._failed(job, run, "CANCELLED", f"interrupted; resume with `modelport jobs resume {job.id}`")
            raise
        except Exception as exc:
            log.exception("transform job %s failed", job.id)
            return self._failed(job, run, Internal.code, f"unexpected {type(exc).__name__}: {exc}")

    def _failed(self, job: TransformJob, run: JobRun | None, code: str, reason: str) -> TransformJob:
        return self.store.finish(job.id, "failed", progress=run.progress if run else None, code=code, reason=reason)

    # -- helpers ----------------------------------------------------------------

    def _plan(self, job_id: str) -> Plan:
        from modelport.batch.plan import Plan

        return Plan.from_dict(self.store.plan(job_id))

    def _load(self, version: ModelVersion, shared: dict[str, Any]) -> LoadedModel:
        from modelport.scoring import LoadedModel

        return LoadedModel.from_path(version, self.registry.model_path(version), shared=shared)

    def _staging(self, job: TransformJob, plan: Plan) -> Staging:
        """Beside the home for local runs; beside the outputs when remote Dask workers must reach it."""
        if job.spec.engine == "dask" and job.spec.scheduler:
            url = f"{plan.layout.folder}/.modelport-{job.id}"
        else:
            url = str(self.settings.home / "jobs" / job.id)
        return Staging(url, self.settings.s3_endpoint_url)
