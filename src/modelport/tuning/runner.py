"""One run of a tuning job: ask the study, hand trials to the engine, record what comes back.

The runner is the job's only writer: workers send their results here and
this thread records them, so parallel trials on SQLite never race for the
database.  A trial counts once its end is recorded.  A run that is killed
leaves rows ``running``: the next run reruns exactly them, with the same
numbers and parameters; a trial handed out but not yet recorded is asked
again as a new trial — none is ever counted twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.tuning.engines import Engine, Report
from modelport.tuning.job import FINISHED, Trial, TuningJob
from modelport.tuning.spec import TuningSpec
from modelport.tuning.store import TrialStart, TuningStore
from modelport.tuning.study import add_trials, create_study, distributions, grid_size, optuna_module
from modelport.tuning.trials import TrialResult, TrialTask

#: the runner records that it is alive (and reads stop requests) this often
BEAT_S = 1.0


@dataclass
class RunProgress:
    """What the progress bar shows."""

    total: int
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    best: float | None = None
    objective: str = ""

    @property
    def done(self) -> int:
        return self.complete + self.pruned + self.failed


@dataclass
class _Running:
    trial: Any  # optuna.Trial
    params: dict[str, Any]
    intermediate: dict[str, float] = field(default_factory=dict)


class TuningRun:
    def __init__(
        self,
        job: TuningJob,
        store: TuningStore,
        engine: Engine,
        *,
        trials_dir: Path,
        warm: list[Trial] | None = None,
        pid: int,
        on_progress: Callable[[RunProgress], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.job = job
        self.spec: TuningSpec = job.spec
        self.store = store
        self.engine = engine
        self.trials_dir = trials_dir
        self.warm = warm or []
        self.pid = pid
        self.on_progress = on_progress
        self.clock = clock
        self.budget = min(self.spec.trials, grid_size(self.spec)) if self.spec.strategy == "grid" else self.spec.trials

    def run(self) -> tuple[str, dict[str, Any], str | None]:
        """Run to the end; returns (status, outcome, failure reason)."""
        optuna = optuna_module()
        spec = self.spec
        study = create_study(spec)
        dists = distributions(spec)
        add_trials(study, spec, self.warm)
        done = [t for t in self.job.trials if t.state in FINISHED]
        add_trials(study, spec, done)
        reruns = [t for t in self.job.trials if t.state not in FINISHED]
        counts = {"complete": 0, "pruned": 0, "failed": 0}
        for t in done:
            counts[t.state] += 1
        next_number = max((t.number for t in self.job.trials), default=-1) + 1
        running: dict[int, _Running] = {}
        progress = RunProgress(total=self.budget, objective=spec.objectives[0].metric, **counts)
        best = self._best_value(done)
        progress.best = best
        since_best = 0
        started = self.clock()
        previous_s = float(self.job.outcome.get("run_seconds", 0.0))
        last_beat = 0.0
        reason: str | None = None  # why no more trials start
        killed = False
        last_failure: str | None = None
        job_id = self.store.job_id(self.job.name)
        ended: list[TrialResult] = []
        self._show(progress, running)
        while True:
            now = self.clock()
            if now - last_beat >= BEAT_S:
                last_beat = now
                if self.store.heartbeat(self.job.name, pid=self.pid) and reason is None:
                    reason, killed = "stopped", True
            if reason is None:
                if spec.timeout_s is not None and previous_s + now - started >= spec.timeout_s:
                    reason, killed = "timeout", True
                elif spec.max_failed is not None and counts["failed"] >= spec.max_failed:
                    reason = "max_failed"
                elif progress.done >= self.budget:
                    reason = "budget"
            if killed and running:
                why = "the job was stopped" if reason == "stopped" else f"the job's timeout ({spec.timeout_s:g}s) passed"
                for number in list(running):
                    self.engine.stop(number, why)
            starts: list[TrialStart] = []
            while reason is None and self.engine.free() > len(starts) and progress.done + len(running) < self.budget:
                rerun = bool(reruns)
                if rerun:
                    old = reruns.pop(0)
                    study.enqueue_trial(old.params, skip_if_exists=False)
                    number = old.number
                else:
                    number = next_number
                    next_number += 1
                otrial = study.ask(dists)
                params = dict(otrial.params)
                running[number] = _Running(otrial, params)
                starts.append(TrialStart(number, params, rerun))
            # Workers first, then one transaction for the turn (the trials that ended, those just
            # started), written while the new trials run.  A trial counts once its end is recorded:
            # after a kill, one recorded running is rerun under its number, one never recorded is
            # asked again as a new trial — none is counted twice.
            for start in starts:
                self.engine.submit(self._task(start.number, start.params))
            if starts or ended:
                self.store.record(job_id, ended=ended, started=starts)
                ended = []
            if not running and (reason is not None or progress.done >= self.budget):
                break
            self._show(progress, running)
            for event in self.engine.poll(0.2):
                if isinstance(event, Report):
                    r = running.get(event.number)
                    prune = False
                    if r is not None:
                        r.intermediate[str(event.step)] = event.value
                        if not spec.multi_objective:  # Optuna prunes single-objective studies only
                            r.trial.report(event.value, event.step)
                            prune = bool(r.trial.should_prune())
                    self.engine.reply(event.number, prune)
                    continue
                r = running.pop(event.number, None)
                if r is None:
                    continue
                values = self._tell(study, optuna, r, event)
                ended.append(event)
                counts[event.state] += 1
                setattr(progress, event.state, counts[event.state])
                if event.state == "failed":
                    last_failure = f"trial {event.number}: {event.reason}"
                if values is not None and self._feasible(event):
                    v = values[0]
                    if best is None or (v > best if spec.objectives[0].direction == "maximize" else v < best):
                        best, since_best = v, 0
                    else:
                        since_best += 1
                    if reason is None and spec.target is not None and spec.target.met(event.metrics.get(spec.target.metric, float("nan"))):
                        reason = "target"
                elif values is not None:
                    since_best += 1
                progress.best = best
                if reason is None and spec.not_improving and since_best >= spec.not_improving:
                    reason = "not_improving"
        if ended:
            self.store.record(job_id, ended=ended, started=[])
        self._show(progress, running)
        outcome = {
            "reason": reason or "budget",
            "run_seconds": round(previous_s + self.clock() - started, 3),
        }
        if reason == "stopped":
            return "stopped", outcome, None
        if reason == "max_failed":
            return "failed", outcome, f"{counts['failed']} trials failed (--max-failed {spec.max_failed}); last: {last_failure}"
        if counts["complete"] == 0:
            return "failed", outcome, f"no trial completed; last: {last_failure or 'none ran'}"
        return "completed", outcome, None

    # -- helpers ----------------------------------------------------------------------------

    def _task(self, number: int, params: dict[str, Any]) -> TrialTask:
        spec = self.spec
        return TrialTask(
            job=self.job.name,
            number=number,
            params=params,
            objectives=tuple(o.metric for o in spec.objectives if o.metric not in spec.serving_metrics),
            trial=spec.trial,
            command=spec.command,
            metric_definitions=tuple((m.name, m.regex) for m in spec.metric_definitions),
            workdir=spec.workdir,
            out_dir=str(self.trials_dir / f"trial-{number}"),
            serving=tuple(spec.serving_metrics),
            to_onnx=spec.to_onnx,
        )

    def _tell(self, study: Any, optuna: Any, r: _Running, result: TrialResult) -> list[float] | None:
        """Tell the study how a trial ended; returns the objective values of a complete trial."""
        state = optuna.trial.TrialState
        result.intermediate = {**r.intermediate, **result.intermediate}
        values = None
        if result.state == "complete":
            values = [result.metrics[o.metric] for o in self.spec.objectives]
            r.trial.set_user_attr("metrics", result.metrics)
            study.tell(r.trial, values)
        elif result.state == "pruned":
            study.tell(r.trial, state=state.PRUNED)
        else:
            study.tell(r.trial, state=state.FAIL)
        result.values = values
        return values

    def _feasible(self, result: TrialResult) -> bool:
        return all(c.metric in result.metrics and c.met(result.metrics[c.metric]) for c in self.spec.constraints)

    def _best_value(self, trials: list[Trial]) -> float | None:
        from modelport.tuning.front import best_trial, mark

        best = best_trial(self.spec, mark(self.spec, trials))
        return best.values[0] if best is not None and best.values else None

    def _show(self, progress: RunProgress, running: dict[int, _Running]) -> None:
        progress.running = len(running)
        if self.on_progress is not None:
            self.on_progress(progress)
