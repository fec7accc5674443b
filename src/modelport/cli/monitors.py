"""``modelport monitors …``: drift and data quality of endpoints' captured traffic against their baselines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from modelport.cli.common import HomeOpt, JsonOpt, console, open_client, print_json, table, when
from modelport.errors import InvalidArgument

app = typer.Typer(
    help="Watch endpoints' captured traffic for drift and data-quality problems against the baseline.",
    no_args_is_help=True,
)


def parse_time(text: str | None, option: str) -> datetime | None:
    """ISO 8601 (``2024-05-01T10:00``, ``…Z``; no zone = UTC), ``now``, or ``-2h`` (that long ago)."""
    if text is None:
        return None
    value = text.strip()
    if value.lower() == "now":
        return datetime.now(UTC)
    if value.startswith("-"):
        from modelport.monitoring.schedule import parse_duration

        return datetime.now(UTC) - timedelta(seconds=parse_duration(value[1:], option))
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(
            f"invalid {option} {text!r}: expected a time like 2024-05-01T10:00 (UTC), 'now' or -2h"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _schedule(monitor: Any) -> str:
    from modelport.monitoring.schedule import describe, format_duration

    return f"{describe(monitor.schedule)}, window {format_duration(monitor.window_s)}"


def print_run(run: Any) -> None:
    """Per variant: each feature's deciding statistic against its threshold, then the violations."""
    window = f"{run.since:%Y-%m-%d %H:%M} to {run.until:%Y-%m-%d %H:%M} UTC"
    if run.status == "failed":
        console.print(
            f"run {run.id} of [bold]{run.monitor}[/bold] ({window}) [red]failed[/red]: {run.error}", highlight=False
        )
        return
    for variant, section in run.result.get("variants", {}).items():
        files = section.get("files", {})
        console.print(
            f"[bold]{run.monitor}[/bold] run {run.id}, variant [bold]{variant}[/bold] ({section.get('model')}), {window}: "
            f"{section.get('rows', 0):,} rows, {section.get('undecodable', 0):,} undecodable records; "
            f"files {files.get('folded', 0)} folded, {files.get('reused', 0)} reused; status {section.get('status')}",
            highlight=False,
        )
        rows = []
        for f in section.get("features", []):
            statistic = f.get("decided_by")
            value = (
                (f.get("statistics") or {}).get("cramers_v" if statistic == "chi2" else statistic)
                if statistic
                else None
            )
            rows.append(
                (
                    f["name"],
                    f["kind"],
                    f"{f['n']:,}",
                    statistic or "",
                    _fmt(value),
                    _fmt(f.get("threshold")),
                    f["status"],
                )
            )
        table(None, ["feature", "kind", "n", "statistic", "value", "threshold", "status"], rows)
        violations = section.get("violations", [])
        if violations:
            table(
                "Violations",
                ["feature", "check", "description"],
                [(v["feature_name"], v["constraint_check_type"], v["description"]) for v in violations],
            )
        for message, n in (section.get("errors") or {}).items():
            console.print(f"  {n:,} x {message}", highlight=False, markup=False)
    if run.report_uri:
        console.print(f"report: {run.report_uri}", highlight=False)


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Monitor name.")],
    endpoint: Annotated[str, typer.Option("--endpoint", "-e", help="The endpoint whose captured traffic is judged.")],
    variant: Annotated[
        str | None, typer.Option("--variant", help="Only this variant (default: every live one).")
    ] = None,
    every: Annotated[str | None, typer.Option("--every", help="Run every so long inside the server: 1h, 30m.")] = None,
    cron: Annotated[str | None, typer.Option("--cron", help="Or on a cron expression, UTC: '0 * * * *'.")] = None,
    window: Annotated[
        str | None, typer.Option("--window", help="Capture a run judges (default --every, else 1h).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="monitor.yaml: thresholds per feature.")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a monitor on an endpoint that captures data."""
    with open_client(home) as client:
        monitor = client.monitors.create(
            name, endpoint, variant=variant, every=every, cron=cron, window=window, config=config
        )
    if as_json:
        print_json(monitor)
        return
    nxt = (
        f"; next run {when(monitor.next_run_at)} UTC"
        if monitor.next_run_at
        else "; run it with `modelport monitors run`"
    )
    console.print(
        f"Created monitor [bold]{monitor.name}[/bold] on {monitor.endpoint}: {_schedule(monitor)}{nxt}", highlight=False
    )


@app.command()
def run(
    name: Annotated[str, typer.Argument(help="Monitor name.")],
    since: Annotated[str | None, typer.Option("--since", help="Window start: 2024-05-01T10:00 (UTC), -2h.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Window end (default now); cut to the minute.")] = None,
    engine: Annotated[str, typer.Option("--engine", help="local, or dask: fold capture on a Dask cluster.")] = "local",
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="Dask scheduler address (default: a local cluster).")
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a monitor now: prints each feature's result and writes the report (exit 0 with violations too)."""
    with open_client(home) as client:
        result = client.monitors.run(
            name,
            since=parse_time(since, "--since"),
            until=parse_time(until, "--until"),
            engine=engine,
            scheduler=scheduler,
        )
    if as_json:
        print_json(result)
    else:
        print_run(result)


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Monitor name.")],
    runs: Annotated[int, typer.Option("--runs", help="How many recent runs.", min=1)] = 10,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A monitor: its schedule, last runs, the latest results per feature, violations and alerts."""
    with open_client(home) as client:
        details = client.monitors.show(name, runs=runs)
    if as_json:
        print_json(details)
        return
    m = details.monitor
    console.print(
        f"[bold]{m.name}[/bold] on {m.endpoint}{'/' + m.variant if m.variant else ''}: {_schedule(m)}"
        + (f"; next run {when(m.next_run_at)} UTC" if m.next_run_at else ""),
        highlight=False,
    )
    table(
        "Runs",
        ["run", "status", "trigger", "window (UTC)", "rows", "violations", "finished"],
        [
            (
                r.id,
                r.status,
                r.trigger,
                f"{r.since:%Y-%m-%d %H:%M} to {r.until:%H:%M}",
                f"{sum(v.get('rows', 0) for v in r.result.get('variants', {}).values()):,}",
                r.violations if r.status == "completed" else r.error,
                when(r.finished_at),
            )
            for r in details.runs
        ],
    )
    latest = next((r for r in details.runs if r.status == "completed"), None)
    if latest is not None:
        print_run(latest)
    if details.alerts:
        table(
            "Alerts",
            ["alert", "state", "since", "last", "delivered", "attempts"],
            [
                (a.key, a.state, when(a.first_at), when(a.last_at), when(a.delivered_at), a.attempts)
                for a in details.alerts
            ],
        )


@app.command("list")
def list_(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List monitors."""
    with open_client(home) as client:
        monitors = client.monitors.list()
    if as_json:
        print_json(monitors)
        return
    table(
        "Monitors",
        ["name", "endpoint", "variant", "schedule", "next run (UTC)"],
        [(m.name, m.endpoint, m.variant or "(all live)", _schedule(m), when(m.next_run_at)) for m in monitors],
    )


@app.command()
def delete(
    name: Annotated[str, typer.Argument(help="Monitor name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    home: HomeOpt = None,
) -> None:
    """Delete a monitor and its runs (reports already written stay in the store)."""
    if not yes:
        typer.confirm(f"Delete monitor {name!r} and its runs?", abort=True)
    with open_client(home) as client:
        client.monitors.delete(name)
    console.print(f"Deleted monitor {name}")


@app.command()
def baseline(
    model: Annotated[str, typer.Argument(help="NAME:VERSION, NAME@ALIAS or NAME.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="Dataset (CSV, JSON Lines, Parquet) to take the baseline of.")
    ] = None,
    statistics: Annotated[
        Path | None, typer.Option("--statistics", help="Or import SageMaker's statistics.json …")
    ] = None,
    constraints: Annotated[Path | None, typer.Option("--constraints", help="… and its constraints.json.")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="monitor.yaml: thresholds for the constraints.json.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder to write statistics.json and constraints.json to.")
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a version's baseline from a dataset (SageMaker's suggest_baseline) or import SageMaker's files."""
    with open_client(home) as client:
        made = client.monitors.baseline(model, data=data, statistics=statistics, constraints=constraints, config=config)
    if output is not None:
        import json

        output.mkdir(parents=True, exist_ok=True)
        (output / "statistics.json").write_text(json.dumps(made.statistics, indent=2))
        (output / "constraints.json").write_text(json.dumps(made.constraints, indent=2))
    if as_json:
        print_json(made)
        return
    features = made.statistics.get("features", [])
    rows = made.statistics.get("dataset", {}).get("item_count")
    console.print(
        f"Baseline {made.id} of [bold]{made.ref}[/bold] from {made.source}: {len(features)} features"
        + (f", {rows:,} rows" if isinstance(rows, int) else "")
        + "; monitors compare with it from their next run",
        highlight=False,
    )
    if output is not None:
        console.print(f"wrote {output / 'statistics.json'} and {output / 'constraints.json'}", highlight=False)
