"""``modelport tune …``: hyperparameter tuning jobs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from modelport.cli.common import HomeOpt, JsonOpt, console, err_console, open_client, print_json, table, when
from modelport.errors import InvalidArgument

app = typer.Typer(help="Hyperparameter tuning jobs: run, show, list, stop, resume, export, register.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="The tuning job's name.")]


@app.command()
def run(
    spec_file: Annotated[Path | None, typer.Argument(help="A YAML spec (modelport's keys or SageMaker's HyperParameterTuningJobConfig); flags override it.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="The job's name (default: tune- and 8 random hex digits).")] = None,
    objective: Annotated[list[str] | None, typer.Option("--objective", help="METRIC:max or METRIC:min; repeat for a multi-objective run.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="NAME=int:MIN:MAX, NAME=float:MIN:MAX[:log|:step=S], NAME=cat:A,B (repeatable).")] = None,
    trials: Annotated[int | None, typer.Option("--trials", help="Trials to run (default 20).")] = None,
    parallel: Annotated[int | None, typer.Option("--parallel", help="Trials at once (default 1).")] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help="bayesian (TPE), random, grid or hyperband.")] = None,
    sampler: Annotated[str | None, typer.Option("--sampler", help="Bayesian search's model: tpe (default) or gp (a Gaussian process; needs torch).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Sampler seed: the same seed gives the same trial sequence.")] = None,
    timeout: Annotated[str | None, typer.Option("--timeout", help="Stop after this long: 90s, 30m, 1h.")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Stop once a trial reaches it: val_auc>=0.95.")] = None,
    early_stop: Annotated[str | None, typer.Option("--early-stop", help="median: prune trials whose reported values trail the median; off.")] = None,
    trial: Annotated[str | None, typer.Option("--trial", help="module:function, called as function(params, report), importable from this folder.")] = None,
    command: Annotated[str | None, typer.Option("--command", help="A command template: 'python train.py --max-depth {max_depth}'; metrics from stdout.")] = None,
    metric_regex: Annotated[list[str] | None, typer.Option("--metric-regex", help="NAME=REGEX: a metric read from the command's output (group 1).")] = None,
    max_failed: Annotated[int | None, typer.Option("--max-failed", help="Stop the job (failed) once this many trials failed.")] = None,
    constraint: Annotated[list[str] | None, typer.Option("--constraint", help="METRIC<=VALUE or METRIC>=VALUE that the best trial must meet (repeatable).")] = None,
    register_best: Annotated[str | None, typer.Option("--register-best", help="Register the best trial's model as a version of this model.")] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="Point this alias at the registered version.")] = None,
    to_onnx: Annotated[bool | None, typer.Option("--to-onnx/--no-onnx", help="Convert to ONNX (parity-checked) to register and to measure latency.")] = None,
    warm_start: Annotated[str | None, typer.Option("--warm-start", help="Earlier jobs (N1,N2) whose trials seed the sampler.")] = None,
    engine: Annotated[str | None, typer.Option("--engine", help="local (worker processes) or dask.")] = None,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Dask scheduler address (default: a local cluster).")] = None,
    heartbeat_timeout: Annotated[float | None, typer.Option("--heartbeat-timeout", help="Fail a trial whose worker is silent this many seconds (default 60).")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="With a server: return once the job started.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a tuning job: Optuna searches the parameters, trials run in parallel, the best can be registered."""
    from modelport.tuning.spec import MetricDefinition, TuningSpec

    definitions = []
    for item in metric_regex or []:
        key, sep, rx = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"invalid --metric-regex {item!r}: expected NAME=REGEX")
        definitions.append(MetricDefinition(name=key, regex=rx))
    flags: dict[str, Any] = {
        "name": name,
        "objectives": objective,
        "params": param,
        "trials": trials,
        "parallel": parallel,
        "strategy": strategy,
        "sampler": sampler,
        "seed": seed,
        "timeout_s": timeout,
        "target": target,
        "early_stop": early_stop,
        "trial": trial,
        "command": command,
        "metric_definitions": definitions or None,
        "max_failed": max_failed,
        "constraints": constraint,
        "register_best": register_best,
        "alias": alias,
        "to_onnx": to_onnx,
        "warm_start": warm_start,
        "engine": engine,
        "scheduler": scheduler,
        "heartbeat_timeout_s": heartbeat_timeout,
    }
    spec = TuningSpec.from_file(spec_file, **flags) if spec_file is not None else TuningSpec.build(**flags)
    with open_client(home) as client:
        if detach and not client.remote:
            raise InvalidArgument("--detach needs a server (MODELPORT_URL): an in-process job ends with this command")
        with _progress(as_json or detach) as shown:
            job = client.tuning.submit(spec, wait=not detach, progress=shown)
        if not detach:
            job = client.tuning.show(job.name)
    _describe(job, as_json)


@app.command()
def show(
    name: NameArg,
    plots: Annotated[Path | None, typer.Option("--plots", help="Write plots (HTML with SVG) to this folder.")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A job: its trials (params, metrics, state, duration), the best trial, parameter importances, the Pareto front."""
    with open_client(home) as client:
        job = client.tuning.show(name)
    if plots is not None:
        from modelport.tuning.plots import write_plots

        written = write_plots(job, plots)
        if not as_json:
            for path in written:
                err_console.print(f"plot: {path}", markup=False, highlight=False)
    _describe(job, as_json)


@app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option("--status", help="pending, running, completed, failed or stopped.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 50,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tuning jobs, newest first."""
    with open_client(home) as client:
        page = client.tuning.list(status=status, limit=limit)
    if as_json:
        print_json([j.model_copy(update={"trials": []}) for j in page.items])
        return
    rows = []
    for j in page.items:
        c = j.counts()
        best = f"{j.best.values[0]:.6g} (trial {j.best.number})" if j.best and j.best.values else ""
        rows.append((j.name, j.status, _objectives(j), f"{j.finished_trials}/{j.spec.trials}", c["failed"], best, when(j.created_at)))
    table(None, ["job", "status", "objective", "trials", "failed", "best", "created"], rows)


@app.command()
def stop(name: NameArg, home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Stop a job; its running trials are killed (``tune resume`` goes on later)."""
    with open_client(home) as client:
        job = client.tuning.stop(name)
    if as_json:
        print_json(job.model_copy(update={"trials": []}))
    elif job.done:
        console.print(f"tuning job {job.name}: {job.status}")
    else:
        console.print(f"tuning job {job.name}: stop requested; its runner stops within a second")


@app.command()
def resume(
    name: NameArg,
    detach: Annotated[bool, typer.Option("--detach", help="With a server: return once the job restarted.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run an interrupted, failed or stopped job on: finished trials are kept, unfinished ones rerun with the same numbers."""
    with open_client(home) as client:
        if detach and not client.remote:
            raise InvalidArgument("--detach needs a server (MODELPORT_URL): an in-process job ends with this command")
        with _progress(as_json or detach) as shown:
            job = client.tuning.resume(name, wait=not detach, progress=shown)
        if not detach:
            job = client.tuning.show(job.name)
    _describe(job, as_json)


@app.command()
def export(
    name: NameArg,
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The file (default NAME-trials.csv|parquet).")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the trials table: number, state, params.*, metrics.*, duration."""
    path = output or Path(f"{name}-trials.{format}")
    with open_client(home) as client:
        written = client.tuning.export(name, path, format=format)
    if as_json:
        print_json({"path": str(written)})
    else:
        console.print(str(written), markup=False, highlight=False)


@app.command()
def register(
    name: NameArg,
    trial: Annotated[int | None, typer.Option("--trial", help="The trial's number (default: the best).")] = None,
    model: Annotated[str | None, typer.Option("--name", help="The model to register it as (default: the job's --register-best).")] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="Point this alias at the new version.")] = None,
    to_onnx: Annotated[bool | None, typer.Option("--to-onnx/--no-onnx", help="Convert to ONNX, parity-checked (default: as the job).")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a trial's model as a version, with its parameters, metrics and lineage (job, trial, data sample)."""
    with open_client(home) as client:
        version = client.tuning.register(name, trial=trial, model_name=model, alias=alias, to_onnx=to_onnx)
    if as_json:
        print_json(version)
    else:
        console.print(f"registered {version.ref} ({version.format}) from {name} trial {version.source.get('trial')}")


# -- display ----------------------------------------------------------------------------------


@contextmanager
def _progress(quiet: bool) -> Iterator[Any]:
    """A progress bar on stderr: trials done/running/failed and the best value so far."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]trials[/bold]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[running]} running  {task.fields[failed]} failed  {task.fields[pruned]} pruned  best {task.fields[best]}"),
        TimeElapsedColumn(),
        console=err_console.rich,
        transient=True,
        disable=quiet or not err_console.is_terminal,
    )
    state: dict[str, Any] = {}

    def shown(p: Any) -> None:
        best = "-" if p.best is None else f"{p.objective}={p.best:.6g}"
        fields = {"running": p.running, "failed": p.failed, "pruned": p.pruned, "best": best}
        if "task" not in state:
            state["task"] = bar.add_task("trials", total=p.total, **fields)
        bar.update(state["task"], completed=p.done, total=p.total, **fields)

    with bar:
        yield shown


def _objectives(job: Any) -> str:
    return ", ".join(f"{o.metric}:{'max' if o.direction == 'maximize' else 'min'}" for o in job.spec.objectives)


def _describe(job: Any, as_json: bool) -> None:
    if as_json:
        print_json(job)
        return
    spec = job.spec
    c = job.counts()
    rows = [
        ("job", job.name),
        ("status", job.status + (" (stop requested)" if job.stop_requested and not job.done else "")),
        ("objective", _objectives(job) + "".join(f"; {b}" for b in spec.constraints)),
        ("strategy", f"{spec.strategy}" + (f" ({spec.sampler})" if spec.sampler != "tpe" else "") + (f", seed {spec.seed}" if spec.seed is not None else "") + (f", early stop {spec.early_stop}" if spec.early_stop != "off" else "")),
        ("trials", f"{job.finished_trials}/{spec.trials} ({c['complete']} complete, {c['pruned']} pruned, {c['failed']} failed, {c['running']} running); {spec.parallel} at once on {spec.engine}"),
        ("ended by", str(job.outcome.get("reason", ""))),
        ("time", f"{job.outcome.get('run_seconds', 0.0):.1f}s ({job.runs} run(s))"),
    ]
    if job.best is not None:
        rows.append(("best", f"trial {job.best.number}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in job.best.params.items())))
        rows.append(("best metrics", ", ".join(f"{k}={_fmt(v)}" for k, v in job.best.metrics.items())))
    if job.importances:
        rows.append(("importance", ", ".join(f"{k} {v:.2f}" for k, v in job.importances.items())))
    if job.outcome.get("registered_versions"):
        rows.append(("registered", ", ".join(job.outcome["registered_versions"])))
    if job.failure_reason:
        rows.append(("failure", f"{job.failure_code}: {job.failure_reason}"))
    table(None, ["", ""], rows)
    if not job.trials:
        return
    params = [p.name for p in spec.params]
    metrics = sorted({m for t in job.trials for m in t.metrics})
    objective_names = [o.metric for o in spec.objectives]
    metrics = objective_names + [m for m in metrics if m not in objective_names]
    marks = "pareto" if spec.multi_objective else "best"
    cols = ["#", "state", *params, *metrics, "time", marks, "reason"]
    out = []
    for t in job.trials:
        mark = ("★" if t.pareto else "") if spec.multi_objective else ("★" if job.best and t.number == job.best.number else "")
        if t.state == "complete" and not t.feasible:
            mark = "infeasible"
        out.append(
            (
                t.number,
                t.state,
                *(_fmt(t.params.get(p)) for p in params),
                *(_fmt(t.metrics.get(m)) for m in metrics),
                "" if t.duration_s is None else f"{t.duration_s:.2f}s",
                mark,
                t.reason or "",
            )
        )
    table(None, cols, out)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
