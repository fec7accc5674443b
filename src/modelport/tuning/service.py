"""The tuning service: create, run, resume, stop, register and look up tuning jobs.

``create`` refuses everything it can before a trial runs (the spec's own
checks, a trial module that does not import, a warm start from a job that
does not exist).  ``run`` claims the job — one runner at a time, recorded
with its host and process id — and runs it in the calling thread; a job
whose runner died is resumed by running it again.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelport.domain import ModelVersion, Page
from modelport.errors import Conflict, FailedPrecondition, Internal, InvalidArgument, ModelportError
from modelport.processes import process_alive
from modelport.registry.service import Registry
from modelport.settings import Settings
from modelport.tuning.job import Trial, TuningJob
from modelport.tuning.runner import RunProgress
from modelport.tuning.spec import TuningSpec
from modelport.tuning.store import TuningStore

log = logging.getLogger(__name__)

#: a running job whose runner (on another host) has not beaten for this long is presumed dead
STALE_AFTER_S = 30.0

ProgressCallback = Callable[[RunProgress], None]


class TuningService:
    def __init__(self, store: TuningStore, registry: Registry, settings: Settings) -> None:
        self.store = store
        self.registry = registry
        self.settings = settings
        self.host = socket.gethostname()

    # -- reads ------------------------------------------------------------------------------

    def get(self, name: str, *, importances: bool = False) -> TuningJob:
        job = self.store.get(name)
        if importances:
            from modelport.tuning.study import importances as compute

            job = job.model_copy(update={"importances": compute(job.spec, job.trials)})
        return job

    def list(self, **filters: Any) -> Page[TuningJob]:
        return self.store.list(**filters)

    # -- create -----------------------------------------------------------------------------

    def create(self, spec: TuningSpec, *, created_by: str) -> TuningJob:
        """Check a job; it is ``pending`` until run."""
        from modelport.tuning.study import optuna_module

        optuna_module()
        if spec.name is None:
            spec = spec.model_copy(update={"name": f"tune-{uuid.uuid4().hex[:8]}"})
        if spec.trial is not None:
            from modelport.tuning.trials import load_callable

            if not Path(spec.workdir).is_dir():
                raise InvalidArgument(f"the trial's folder {spec.workdir!r} does not exist")
            load_callable(spec.trial, spec.workdir)
        if spec.engine == "dask":
            try:
                import distributed  # noqa: F401
            except ImportError:
                from modelport.errors import MissingExtra

                raise MissingExtra.for_extra("dask", "--engine dask") from None
        for parent in spec.warm_start:
            self.store.get(parent, trials=False)  # NotFound names it
        if spec.register_best:
            from modelport.domain import validate_name

            validate_name(spec.register_best)
        return self.store.create(spec, created_by=created_by)

    # -- run --------------------------------------------------------------------------------

    def run(self, name: str, *, progress: ProgressCallback | None = None) -> TuningJob:
        """Run (or resume) a job in this thread until it completes, fails or is stopped."""
        return self._execute(self.claim(name), progress, isolate=False)

    def start(self, name: str, *, progress: ProgressCallback | None = None) -> TuningJob:
        """Claim a job and run it in a background thread (the server's way); returns at once."""
        job = self.claim(name)
        # the server's way: the best trial's pickle is loaded for registration in a child process, never in this one
        threading.Thread(
            target=self._execute, args=(job, progress), kwargs={"isolate": True}, name=f"modelport-tune-{name}", daemon=True
        ).start()
        return job

    def claim(self, name: str) -> TuningJob:
        job = self.store.get(name)
        if job.status == "completed":
            raise Conflict(f"tuning job {name} already completed")
        if job.status == "running" and self._runner_alive(job):
            host, pid = self.store.runner(name)
            raise Conflict(f"tuning job {name} is running (process {pid} on {host}): wait for it or stop it")
        return self.store.claim(name, seen=job, host=self.host, pid=os.getpid())

    def stop(self, name: str) -> TuningJob:
        """Stop a job: a live runner kills its running trials within about a second; a stopped one stays stopped."""
        job = self.store.get(name)
        if job.done:
            return job
        if job.status == "running" and self._runner_alive(job):
            return self.store.request_stop(name)
        return self.store.finish(name, "stopped", outcome={**job.outcome, "reason": "stopped"})

    def _runner_alive(self, job: TuningJob) -> bool:
        host, pid = self.store.runner(job.name)
        if host == self.host and pid is not None:
            return process_alive(pid)
        return (datetime.now(UTC) - job.updated_at).total_seconds() < STALE_AFTER_S

    def _execute(self, job: TuningJob, on_progress: ProgressCallback | None, *, isolate: bool) -> TuningJob:
        from modelport.tuning.engines import make_engine
        from modelport.tuning.runner import TuningRun

        spec = job.spec
        try:
            warm = [t for parent in spec.warm_start for t in self.store.get(parent).trials]
            engine = make_engine(spec.engine, spec.parallel, scheduler=spec.scheduler, heartbeat_timeout_s=spec.heartbeat_timeout_s)
        except ModelportError as exc:
            return self.store.finish(job.name, "failed", code=exc.code, reason=exc.message)
        try:
            run = TuningRun(
                job, self.store, engine, trials_dir=self.trials_dir(job.name), warm=warm, pid=os.getpid(), on_progress=on_progress
            )
            status, outcome, reason = run.run()
        except ModelportError as exc:
            return self.store.finish(job.name, "failed", code=exc.code, reason=exc.message)
        except KeyboardInterrupt:
            self.store.finish(job.name, "failed", code="CANCELLED", reason=f"interrupted; resume with `modelport tune resume {job.name}`")
            raise
        except Exception as exc:
            log.exception("tuning job %s failed", job.name)
            return self.store.finish(job.name, "failed", code=Internal.code, reason=f"unexpected {type(exc).__name__}: {exc}")
        finally:
            engine.close()
        if status == "completed" and spec.register_best:
            try:
                version = self.register(job.name, model_name=spec.register_best, alias=spec.alias, isolate=isolate)
                outcome["registered"] = version.ref  # register() added it to the job's registered_versions
            except ModelportError as exc:
                return self.store.finish(job.name, "failed", outcome=outcome, code=exc.code, reason=f"registering the best trial: {exc.message}")
        code = "FAILED_PRECONDITION" if status == "failed" else None
        return self.store.finish(job.name, status, outcome=outcome, code=code, reason=reason)

    # -- registry ---------------------------------------------------------------------------

    def register(
        self,
        name: str,
        *,
        trial: int | None = None,
        model_name: str | None = None,
        alias: str | None = None,
        to_onnx: bool | None = None,
        isolate: bool = False,
    ) -> ModelVersion:
        """Register a trial's model (the best one unless ``trial``) with its parameters, metrics and lineage.

        ``isolate``: the model's pickle is loaded in a child process (the server's way).
        """
        job = self.store.get(name)
        model_name = model_name or job.spec.register_best
        if not model_name:
            raise InvalidArgument("name the model to register the trial as (--name MODEL)")
        chosen = self._trial(job, trial)
        if "model" not in chosen.artifacts:
            raise FailedPrecondition(
                f"trial {chosen.number} of {name} left no model: a trial function registers by returning (metrics, model)"
            )
        path = Path(chosen.artifacts["model"])
        if not path.is_file():
            raise FailedPrecondition(f"trial {chosen.number}'s model file {path} is gone")
        spec = job.spec
        source = {
            "tuning_job": job.name,
            "trial": chosen.number,
            "objectives": [f"{o.metric}:{'max' if o.direction == 'maximize' else 'min'}" for o in spec.objectives],
        }
        if "sample" in chosen.artifacts:
            source["data_sample"] = chosen.artifacts["sample"]
        version = self.registry.register(
            path,
            model_name,
            description=f"tuning job {job.name}, trial {chosen.number}",
            metrics=chosen.metrics,
            params=chosen.params,
            tags={"tuning_job": job.name, "tuning_trial": str(chosen.number)},
            source=source,
            sample=chosen.artifacts.get("sample"),
            to_onnx=spec.to_onnx if to_onnx is None else to_onnx,
            trust=True,  # the job's own trial wrote this file in a worker the user started
            isolate=isolate,
        )
        if alias:
            self.registry.set_alias(model_name, alias, version.version)
            version = self.registry.get_version(version.ref)
        registered = [*job.outcome.get("registered_versions", []), version.ref]
        self.store.set_outcome(name, {**job.outcome, "registered_versions": registered})
        return version

    @staticmethod
    def _trial(job: TuningJob, number: int | None) -> Trial:
        if number is None:
            if job.best is None:
                raise FailedPrecondition(f"tuning job {job.name} has no complete trial to register")
            return job.best
        for t in job.trials:
            if t.number == number:
                if t.state != "complete":
                    raise FailedPrecondition(f"trial {number} of {job.name} is {t.state}, not complete")
                return t
        raise InvalidArgument(f"tuning job {job.name} has no trial {number}")

    # -- export -----------------------------------------------------------------------------

    def export(self, name: str, path: str | Path, *, format: str = "csv") -> Path:
        """The trials as a table (CSV or Parquet): number, state, params.*, metrics.*, duration."""
        from modelport.tuning.job import write_trials

        return write_trials(self.store.get(name), path, format=format)

    def trials_dir(self, name: str) -> Path:
        return self.settings.home / "tuning" / name
