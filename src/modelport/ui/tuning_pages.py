"""Tuning (P12): the jobs with their best value and trial count; a job's optimisation history, parallel
coordinates of its top trials, parameter importance, Pareto front and trials table; stop and resume (admin).

Everything is computed by the tuning package (``TuningStore`` marks feasibility, the Pareto front and the
best trial; ``front.best_so_far``; ``study.importances``; the SVG of ``plots``) once per change of the job:
``TuningViews`` keeps the result, keyed by ``TuningStore.changes`` (one cheap query), so a page over a job
with 10,000 trials reads one row and slices lists. fANOVA importances take seconds to minutes on thousands
of trials: they are computed off the request, in a child process (its CPU never holds the server's GIL,
so predictions are not slowed), on an evenly spread sample, at most every ``IMPORTANCE_EVERY_S`` per job,
and shown once ready.
"""

from __future__ import annotations

import bisect
import logging
import multiprocessing
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from markupsafe import Markup
from starlette.responses import Response

from modelport.errors import InvalidArgument
from modelport.tuning.front import best_so_far
from modelport.tuning.job import Trial, TuningJob
from modelport.tuning.plots import importance_svg, parallel_svg, pareto_svg
from modelport.tuning.service import TuningService
from modelport.tuning.study import IMPORTANCE_SAMPLE, evenly
from modelport.ui.charts import MAX_POINTS, downsample_indices
from modelport.ui.console import action, page, render, router, services_of
from modelport.ui.session import Viewer

log = logging.getLogger("modelport.ui")

PAGE_SIZE = 50
#: job views kept (each holds its job's trials)
KEEP = 16
#: a view is rebuilt at most this often while only its job's trials change (its status is always current)
REFRESH_S = 3.0
#: the part of ``TuningStore.changes`` that is the job's own row (status, stop asked, runs, end, outcome)
STATUS = 6
#: a running job's importances are computed again at most this often
IMPORTANCE_EVERY_S = 30.0
STATES = ("complete", "pruned", "failed", "running")


@dataclass(frozen=True)
class Importance:
    values: dict[str, float]
    sample: int  # complete trials it was computed from
    complete: int  # complete trials the job had then
    at: float = 0.0  # time.monotonic() when computed


@dataclass(frozen=True)
class JobView:
    """A job as its pages show it, computed once per change of the job."""

    job: TuningJob
    counts: dict[str, int]
    numbers: list[int]  # trial numbers in order, for cursor paging
    history: dict[str, Any] | None  # uPlot series: objective per complete trial and the best so far (≤ MAX_POINTS)
    parallel: Markup
    pareto: Markup | None
    pareto_points: int
    front: int  # trials on the Pareto front
    complete: int

    @property
    def best_value(self) -> str:
        best = self.job.best
        return ", ".join(f"{v:.6g}" for v in best.values) if best is not None and best.values else "—"


def build_view(job: TuningJob) -> JobView:
    complete = [t for t in job.trials if t.state == "complete" and t.values]
    objective = job.spec.objectives[0]
    history = None
    if complete:
        values = [(t.values or [0.0])[0] for t in complete]
        best = best_so_far(values, objective.direction == "maximize")
        keep = downsample_indices(values, MAX_POINTS)
        history = {
            "x": [complete[i].number for i in keep],
            "series": [
                {"label": objective.metric, "y": [values[i] for i in keep], "scatter": True},
                {"label": "best so far", "y": [best[i] for i in keep]},
            ],
            "time": False,
            "xlabel": "trial",
            "ylabel": f"{objective.metric} ({objective.direction})",
            "height": 260,
        }
    pareto, shown = None, 0
    if job.spec.multi_objective:
        chosen = scatter_sample(complete, MAX_POINTS)
        shown = len(chosen)
        pareto = Markup(pareto_svg(job.model_copy(update={"trials": chosen})))
    return JobView(
        job=job,
        counts=job.counts(),
        numbers=[t.number for t in job.trials],
        history=history,
        parallel=Markup(parallel_svg(job)),
        pareto=pareto,
        pareto_points=shown,
        front=sum(1 for t in job.trials if t.pareto),
        complete=len(complete),
    )


def scatter_sample(trials: list[Trial], limit: int) -> list[Trial]:
    """At most ``limit`` trials for a scatter: the whole Pareto front first, then the others evenly spread."""
    if len(trials) <= limit:
        return trials
    front = [t for t in trials if t.pareto][:limit]
    rest = [t for t in trials if not t.pareto]
    room = limit - len(front)
    spread = [rest[i * len(rest) // room] for i in range(room)] if room > 0 else []
    return sorted(front + spread, key=lambda t: t.number)


@dataclass
class TuningViews:
    """The console's memory of tuning jobs (in the app's state): views by job, importances by job."""

    views: OrderedDict[str, tuple[tuple[Any, ...], JobView, float]] = field(default_factory=OrderedDict)
    importances: dict[str, Importance] = field(default_factory=dict)
    computing: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def view(self, service: TuningService, name: str) -> JobView:
        """The job's view, rebuilt when it changed; while only its trials move (a running job), at most every
        ``REFRESH_S`` (a job of 10,000 trials takes about a second to read, and trials may end many times a second)."""
        changes = service.store.changes(name)
        now = time.monotonic()
        with self.lock:
            found = self.views.get(name)
            if found is not None and (found[0] == changes or (found[0][:STATUS] == changes[:STATUS] and now - found[2] < REFRESH_S)):
                self.views.move_to_end(name)
                return found[1]
        view = build_view(service.store.get(name))
        with self.lock:
            self.views[name] = (changes, view, now)
            self.views.move_to_end(name)
            while len(self.views) > KEEP:
                self.views.popitem(last=False)
        return view

    def importance(self, view: JobView) -> Importance | None:
        """The last importances computed for this job; a newer computation starts in the background when trials
        completed since (one at a time per job)."""
        name = view.job.name
        with self.lock:
            known = self.importances.get(name)
            stale = known is None or (known.complete != view.complete and time.monotonic() - known.at >= IMPORTANCE_EVERY_S)
            start = stale and view.complete >= 2 and name not in self.computing
            if start:
                self.computing.add(name)
        if start:
            threading.Thread(target=self._compute, args=(view,), name=f"modelport-ui-importance-{name}", daemon=True).start()
        return known

    def _compute(self, view: JobView) -> None:
        from modelport.tuning.study import importances

        name = view.job.name
        try:
            sample = evenly([t for t in view.job.trials if t.state == "complete" and t.values], IMPORTANCE_SAMPLE)
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                values = pool.submit(importances, view.job.spec, sample).result()
            with self.lock:
                self.importances[name] = Importance(values, len(sample), view.complete, time.monotonic())
        except Exception:  # a page shows "not available"; the log says why
            log.exception("parameter importances of tuning job %s", name)
            with self.lock:
                self.importances[name] = Importance({}, 0, view.complete, time.monotonic())
        finally:
            with self.lock:
                self.computing.discard(name)


_views_lock = threading.Lock()


def views_of(request: Request) -> TuningViews:
    state = request.app.state
    with _views_lock:
        views = getattr(state, "console_tuning_views", None)
        if views is None:
            views = TuningViews()
            state.console_tuning_views = views
    return views  # type: ignore[no-any-return]


# -- pages ----------------------------------------------------------------------------------------


@router.get("/tuning")
@page
def tuning(request: Request, viewer: Viewer) -> Response:
    cursor = request.query_params.get("cursor") or None
    status = request.query_params.get("status") or None
    service = services_of(request).tuning
    listed = service.store.list(status=status, limit=PAGE_SIZE, page_token=cursor, trials=False)
    views = views_of(request)
    rows = [(job, views.view(service, job.name)) for job in listed.items]
    return render(request, "tuning.html", viewer=viewer, rows=rows, next_cursor=listed.next_page_token, status=status or "")


@router.get("/tuning/{name}")
@page
def tuning_job(request: Request, viewer: Viewer, name: str) -> Response:
    service = services_of(request).tuning
    views = views_of(request)
    view = views.view(service, name)
    state = request.query_params.get("state") or ""
    if state and state not in STATES:
        raise InvalidArgument(f"invalid trial state {state!r}: expected one of {', '.join(STATES)}")
    after = request.query_params.get("after") or ""
    if after and not re.fullmatch(r"-?[0-9]{1,18}", after):
        raise InvalidArgument("invalid cursor: follow the page's own Next link")
    trials, next_after = trial_page(view, state=state or None, after=int(after) if after else None)
    job = view.job
    metrics = metric_columns(job, trials)
    importance = views.importance(view)
    return render(
        request,
        "tuning_job.html",
        viewer=viewer,
        job=job,
        view=view,
        trials=trials,
        state=state,
        after=after,
        next_after=next_after,
        metrics=metrics,
        params=[p.name for p in job.spec.params],
        importance=importance,
        importance_chart=Markup(importance_svg(importance.values)) if importance and importance.values else None,
    )


def trial_page(view: JobView, *, state: str | None, after: int | None, limit: int = PAGE_SIZE) -> tuple[list[Trial], int | None]:
    """Trials after the cursor (a trial number) in number order, of one state if given; the next cursor."""
    trials = view.job.trials
    start = bisect.bisect_right(view.numbers, after) if after is not None else 0
    out: list[Trial] = []
    for t in trials[start:]:
        if state is None or t.state == state:
            if len(out) == limit:
                return out, out[-1].number
            out.append(t)
    return out, None


def metric_columns(job: TuningJob, trials: list[Trial]) -> list[str]:
    """The objectives and constraints first, then whatever else the trials on the page reported."""
    first = [o.metric for o in job.spec.objectives] + [c.metric for c in job.spec.constraints]
    seen = dict.fromkeys(first)
    for t in trials:
        seen.update(dict.fromkeys(sorted(t.metrics)))
    return list(seen)


@router.post("/tuning/{name}/stop")
@action
def stop(request: Request, viewer: Viewer, form: dict[str, str], name: str) -> tuple[str, str]:
    job = services_of(request).tuning.stop(name)
    note = "stop requested: running trials end within about a second" if job.stop_requested and not job.done else f"job {job.status}"
    return f"/ui/tuning/{name}", note


@router.post("/tuning/{name}/resume")
@action
def resume(request: Request, viewer: Viewer, form: dict[str, str], name: str) -> tuple[str, str]:
    services_of(request).tuning.start(name)
    return f"/ui/tuning/{name}", "resumed: finished trials kept, unfinished ones run again"
