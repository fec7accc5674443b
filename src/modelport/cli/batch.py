"""``modelport transform`` and ``modelport jobs …``: batch transform jobs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from modelport.cli.common import HomeOpt, JsonOpt, console, err_console, open_client, print_json, table, when
from modelport.errors import InvalidArgument

app = typer.Typer(help="Batch transform jobs: list, show, cancel, resume.", no_args_is_help=True)


def transform(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION, NAME@ALIAS or NAME (pinned when the job starts).")],
    input: Annotated[str, typer.Option("--input", "-i", help="A file, folder, S3 prefix or glob (CSV, JSON Lines, Parquet; .gz).")],
    output: Annotated[str, typer.Option("--output", "-o", help="A folder (one NAME.out per input) or a file (one assembled output).")],
    content_type: Annotated[str | None, typer.Option("--content-type", help="Input format: text/csv, application/jsonlines, application/x-parquet.")] = None,
    accept: Annotated[str | None, typer.Option("--accept", help="Output format (default: from the output name, else the input's).")] = None,
    header: Annotated[bool | None, typer.Option("--header/--no-header", help="CSV inputs have a header row (default: detected).")] = None,
    compression: Annotated[str, typer.Option("--compression", help="Input compression: auto (.gz), gzip or none.")] = "auto",
    split: Annotated[str, typer.Option("--split", help="line: records are lines; none: each object is one request.")] = "line",
    batch_strategy: Annotated[str, typer.Option("--batch-strategy", help="multi: many records per model call; single: one.")] = "multi",
    max_payload: Annotated[float, typer.Option("--max-payload", help="MB of input per model call and per checkpoint (0: no limit).")] = 6.0,
    join_input: Annotated[bool, typer.Option("--join-input", help="Write each input record's columns before its predictions.")] = False,
    input_filter: Annotated[str | None, typer.Option("--input-filter", help="Columns sent to the model: '$[1:]', '1:', 'f1,f2'.")] = None,
    output_filter: Annotated[str | None, typer.Option("--output-filter", help="Columns written: 'id,label,proba_1', '$[0,-1]'.")] = None,
    on_error: Annotated[str, typer.Option("--on-error", help="fail: stop at a bad record; skip: leave it out, list it in an errors file.")] = "fail",
    engine: Annotated[str, typer.Option("--engine", help="local (a streaming pipeline) or dask.")] = "local",
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Dask scheduler address (default: a local cluster).")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="Model threads (default: all cores).")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="With a server: return once the job started.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score files with a model version: a batch transform job (SageMaker semantics), with progress and a summary."""
    from modelport.batch.spec import TransformSpec

    spec = TransformSpec.build(
        model=ref,
        input=input,
        output=output,
        content_type=content_type,
        accept=accept,
        header=header,
        compression=compression,
        split=split,
        batch_strategy=batch_strategy,
        max_payload_mb=max_payload,
        join_input=join_input,
        input_filter=input_filter,
        output_filter=output_filter,
        on_error=on_error,
        engine=engine,
        scheduler=scheduler,
        threads=threads,
    )
    _follow(home, as_json, detach, lambda jobs, progress: jobs.submit(spec, wait=not detach, progress=progress))


@app.command("list")
def list_jobs(
    status: Annotated[str | None, typer.Option("--status", help="pending, running, completed, failed or cancelled.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 50,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Transform jobs, newest first."""
    with open_client(home) as client:
        page = client.jobs.list(status=status, limit=limit)
    if as_json:
        print_json(page.items)
        return
    table(
        None,
        ["job", "status", "model", "input", "output", "records", "bad", "created", "time"],
        [
            (
                j.id,
                j.status,
                j.model,
                j.spec.input,
                j.spec.output,
                f"{j.progress.records:,}",
                f"{j.progress.bad_records:,}",
                when(j.created_at),
                _seconds(j.progress.run_seconds),
            )
            for j in page.items
        ],
    )


@app.command()
def show(job_id: Annotated[str, typer.Argument(help="Job id (tj-…).")], home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """One job: what it was asked, where it stands, what it wrote."""
    with open_client(home) as client:
        job = client.jobs.show(job_id)
    if as_json:
        print_json(job)
        return
    _describe(job)


@app.command()
def cancel(
    job_id: Annotated[str, typer.Argument(help="Job id (tj-…).")],
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for a running job to stop.")] = 30.0,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop a job; its partial outputs are discarded."""
    with open_client(home) as client:
        job = client.jobs.cancel(job_id)
        deadline = time.monotonic() + wait
        while not job.done and time.monotonic() < deadline:
            time.sleep(0.2)
            job = client.jobs.show(job_id)
    if as_json:
        print_json(job)
    elif job.done:
        console.print(f"job {job.id}: {job.status}")
    else:
        console.print(f"job {job.id}: cancel requested; it stops at its next block")


@app.command()
def resume(
    job_id: Annotated[str, typer.Argument(help="Job id (tj-…).")],
    detach: Annotated[bool, typer.Option("--detach", help="With a server: return once the job restarted.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Finish a failed or interrupted job from its last committed block; the output is as if it never stopped."""
    _follow(home, as_json, detach, lambda jobs, progress: jobs.resume(job_id, wait=not detach, progress=progress))


# -- display ----------------------------------------------------------------------


def _follow(home: Any, as_json: bool, detach: bool, start: Callable[[Any, Any], Any]) -> None:
    """Start or resume a job with a progress bar, then print its summary."""
    with open_client(home) as client:
        if detach and not client.remote:
            raise InvalidArgument("--detach needs a server (MODELPORT_URL): an in-process job ends with this command")
        if not client.remote:  # this process runs the job
            from modelport.batch.pipeline import limit_malloc_arenas

            limit_malloc_arenas()
        with _progress(as_json) as shown:
            job = start(client.jobs, shown)
    _report(job, as_json)


@contextmanager
def _progress(quiet: bool) -> Iterator[Any]:
    """A progress bar on stderr (rows, rows/s, ETA), fed with the job as it advances."""
    bar = Progress(
        TextColumn("[bold]{task.description}[/bold]"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]} rows  {task.fields[rate]} rows/s"),
        TimeRemainingColumn(),
        console=err_console.rich,
        transient=True,
        disable=quiet or not err_console.is_terminal,
    )
    state: dict[str, Any] = {}

    def shown(job: Any) -> None:
        if "task" not in state:
            state["task"] = bar.add_task(job.id, total=1000, rows="0", rate="0")
            if not err_console.is_terminal and not quiet:
                err_console.print(f"job {job.id}: {job.model} {job.spec.input} → {job.spec.output}", markup=False)
        p = job.progress
        bar.update(
            state["task"], completed=int(p.fraction * 1000), rows=f"{p.records:,}", rate=f"{job.rows_per_second:,.0f}"
        )

    with bar:
        yield shown


def _report(job: Any, as_json: bool) -> None:
    if as_json:
        print_json(job)
        return
    p = job.progress
    table(
        None,
        ["job", "model", "status", "inputs", "records", "bad", "written", "time", "rows/s"],
        [
            (
                job.id,
                job.model,
                job.status,
                f"{p.inputs_done}/{p.inputs}",
                f"{p.records:,}",
                f"{p.bad_records:,}",
                f"{p.rows_written:,}",
                _seconds(p.run_seconds),
                f"{job.rows_per_second:,.0f}",
            )
        ],
    )
    if job.status == "completed":
        shown = job.outputs if len(job.outputs) <= 5 else [*job.outputs[:5], f"… ({len(job.outputs)} outputs)"]
        for out in shown:
            console.print(f"output: {out}", markup=False, highlight=False)
        if job.errors_file:
            console.print(f"bad records: {job.errors_file}", markup=False, highlight=False)
    elif job.status == "running":
        console.print(f"running; follow it with `modelport jobs show {job.id}`")


def _describe(job: Any) -> None:
    p = job.progress
    s = job.spec
    rows = [
        ("job", job.id),
        ("status", job.status + (" (cancel requested)" if job.cancel_requested and not job.done else "")),
        ("model", job.model + (f"  ({s.model})" if s.model != job.model else "")),
        ("input", s.input),
        ("output", s.output),
        ("engine", s.engine + (f" @ {s.scheduler}" if s.scheduler else "")),
        ("options", _options(s)),
        ("inputs done", f"{p.inputs_done}/{p.inputs}"),
        ("records", f"{p.records:,} ({p.bad_records:,} bad, {p.rows_written:,} written)"),
        ("progress", f"{p.fraction:.0%} of {p.bytes_total:,} bytes"),
        ("time", f"{_seconds(p.run_seconds)} ({job.rows_per_second:,.0f} rows/s, {job.runs} run(s))"),
        ("created", f"{when(job.created_at)} by {job.created_by}"),
        ("started", when(job.started_at)),
        ("finished", when(job.finished_at)),
    ]
    if job.failure_reason:
        rows.append(("failure", f"{job.failure_code}: {job.failure_reason}"))
    if job.errors_file:
        rows.append(("bad records", job.errors_file))
    if job.status == "completed":
        rows.extend(("output file", o) for o in job.outputs[:20])
    table(None, ["", ""], rows)


def _options(spec: Any) -> str:
    parts = [f"split={spec.split}", f"batch={spec.batch_strategy}", f"max_payload={spec.max_payload_mb:g}MB"]
    for name in ("content_type", "accept", "input_filter", "output_filter"):
        value = getattr(spec, name)
        if value:
            parts.append(f"{name}={value}")
    if spec.join_input:
        parts.append("join_input")
    parts.append(f"on_error={spec.on_error}")
    return ", ".join(parts)


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f}s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"
