"""``modelport experiments …``: A/B tests and bandits between an endpoint's variants."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelport.cli.common import HomeOpt, JsonOpt, console, open_client, print_json, table, when

app = typer.Typer(
    help="Compare two variants of an endpoint: statistics that allow peeking, guardrails, promote and rollback.",
    no_args_is_help=True,
)


def _fmt(value: Any, *, signed: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:+.4g}" if signed else f"{value:.4g}"
    return str(value)


def _interval(ci: Any) -> str:
    if not ci or (ci[0] is None and ci[1] is None):
        return ""
    low = "-inf" if ci[0] is None else f"{ci[0]:.4g}"
    high = "inf" if ci[1] is None else f"{ci[1]:.4g}"
    return f"{low} to {high}"


def _headline(e: Any) -> str:
    spec = e.spec
    better = "higher" if spec.direction == "increase" else "lower"
    span = (
        f"since {when(e.started_at)} UTC"
        if e.status == "running"
        else f"{when(e.started_at)} to {when(e.ended_at)} UTC"
    )
    return (
        f"[bold]{e.name}[/bold] on {e.endpoint}: {e.control} (control) vs {e.treatment} (treatment), "
        f"{spec.metric} ({better} is better), {spec.mode}, alpha {spec.alpha:g}; {e.status} {span}, by {e.created_by}"
    )


def print_experiment(details: Any) -> None:
    e = details.experiment
    result = e.result or {}
    console.print(_headline(e), highlight=False)
    reason = e.stop_reason if e.status == "ended" else result.get("reason")
    console.print(f"decision: [bold]{e.decision}[/bold]" + (f" ({reason})" if reason else ""), highlight=False)
    arms = result.get("arms") or {}
    if arms:
        table(
            None,
            ["arm", "role", "share", "n", e.spec.metric, "95% interval"],
            [
                (
                    arm,
                    a.get("role"),
                    "" if a.get("share") is None else f"{a['share']:.0%}",
                    f"{a.get('n', 0):,}",
                    _fmt(a.get("value")),
                    _interval(a.get("ci")),
                )
                for arm, a in arms.items()
            ],
        )
    lift = result.get("lift") or {}
    if lift.get("absolute") is not None:
        relative = lift.get("relative")
        console.print(
            f"lift {_fmt(lift['absolute'], signed=True)}"
            + (f" ({relative:+.2%})" if relative is not None else "")
            + f", {int((1 - e.spec.alpha) * 100)}% confidence sequence {_interval(lift.get('ci'))}; "
            + f"always-valid p = {_fmt(result.get('p_value'))}"
            + (f"; max samples per arm {result['max_samples']:,}" if result.get("max_samples") else ""),
            highlight=False,
        )
    srm = result.get("srm")
    if srm:
        counts = ", ".join(f"{arm} {n:,}" for arm, n in (srm.get("observed") or {}).items())
        status = "[red]MISMATCH[/red]" if srm.get("flagged") else "ok"
        console.print(
            f"sample ratio: {status} (requests by weight {counts}; anytime-valid p = "
            f"{_fmt(srm.get('sequential_p_value'))}, chi-square p = {_fmt(srm.get('p_value'))})",
            highlight=False,
        )
    guardrails = result.get("guardrails") or []
    if guardrails:
        table(
            "Guardrails",
            ["guardrail", "status", "control", "treatment", "treatment - control", "interval", "bound", "n"],
            [
                (
                    g["guardrail"],
                    g["status"],
                    _fmt(g.get("control_value")),
                    _fmt(g.get("treatment_value")),
                    _fmt(g.get("estimate"), signed=True),
                    _interval(g.get("ci")),
                    _fmt(g.get("bound"), signed=True),
                    f"{g.get('n_control', 0):,} / {g.get('n_treatment', 0):,}",
                )
                for g in guardrails
            ],
        )
    if result.get("shadow"):
        from modelport.cli.endpoints import _print_shadows
        from modelport.endpoints.shadow_report import ShadowReport

        _print_shadows([ShadowReport.model_validate(result["shadow"])])
    for note in result.get("notes") or ():
        console.print(f"note: {note}", highlight=False, markup=False)
    if details.events:
        table(
            "Events",
            ["time (UTC)", "event", "detail"],
            [(when(ev.at), ev.kind, _event_detail(ev)) for ev in details.events],
        )


def _event_detail(event: Any) -> str:
    d = event.detail
    if "weights" in d:
        total = sum(d["weights"].values()) or 1
        shares = ", ".join(f"{arm} {w / total:.0%}" for arm, w in d["weights"].items())
        return f"{shares}" + (f" (endpoint revision {d['revision']})" if "revision" in d else "")
    for key in ("reason", "message", "alias"):
        if key in d:
            return str(d[key])
    return ", ".join(f"{k}={v}" for k, v in d.items() if k != "spec")


@app.command()
def start(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    endpoint: Annotated[str, typer.Option("--endpoint", "-e", help="The endpoint whose variants are compared.")],
    control: Annotated[str, typer.Option("--control", help="The variant to compare against.")],
    treatment: Annotated[str, typer.Option("--treatment", help="The variant being tried.")],
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="accuracy, error, reward (feedback); error_rate, latency; output:prediction, "
            "output:probabilities[1] (default error_rate); a shadow treatment: error_rate, latency.",
        ),
    ] = None,
    direction: Annotated[
        str | None,
        typer.Option("--direction", help="increase or decrease: which way is better (default: the metric's)."),
    ] = None,
    mode: Annotated[str, typer.Option("--mode", help="sequential (peek any time), fixed, or bandit.")] = "sequential",
    alpha: Annotated[float, typer.Option("--alpha", help="False-positive rate.")] = 0.05,
    mde: Annotated[
        str | None, typer.Option("--mde", help="Smallest difference worth finding, in the metric's units: 0.02 or 2pp.")
    ] = None,
    max_samples: Annotated[
        int | None, typer.Option("--max-samples", help="Samples per arm after which no decision means no difference.")
    ] = None,
    guardrails: Annotated[
        list[str] | None,
        typer.Option("--guardrail", help="How much worse the treatment may be: error_rate:+0.5pp, latency_p99:+20%."),
    ] = None,
    on_win: Annotated[str, typer.Option("--on-win", help="promote: all traffic to the winner; none.")] = "none",
    on_breach: Annotated[
        str, typer.Option("--on-breach", help="rollback: all traffic to the control when a guardrail breaks; none.")
    ] = "rollback",
    unit: Annotated[
        str | None, typer.Option("--unit", help="header:X-User-Id: the same unit always gets the same arm.")
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="CONTROL/TREATMENT weights, e.g. 90/10 (default 50/50).")
    ] = None,
    min_share: Annotated[float, typer.Option("--min-share", help="Bandit: least share of traffic per arm.")] = 0.05,
    promote_alias: Annotated[
        str | None, typer.Option("--promote-alias", help="On promotion, also move this alias of the winner's model.")
    ] = None,
    srm: Annotated[
        str,
        typer.Option(
            "--srm", help="What flags a sample-ratio mismatch: chi-square (p < 0.001) or sequential (anytime-valid)."
        ),
    ] = "chi-square",
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start an experiment: checks everything, then takes the endpoint's weights between the two arms."""
    with open_client(home) as client:
        experiment = client.experiments.start(
            name,
            endpoint,
            control,
            treatment,
            metric=metric,
            direction=direction,
            mode=mode,
            alpha=alpha,
            mde=mde,
            max_samples=max_samples,
            guardrails=guardrails or [],
            on_win=on_win,
            on_breach=on_breach,
            unit=unit,
            split=split,
            min_share=min_share,
            promote_alias=promote_alias,
            srm=srm,
        )
    if as_json:
        print_json(experiment)
        return
    console.print(
        f"Started experiment [bold]{experiment.name}[/bold] on {experiment.endpoint}: "
        f"{experiment.control} vs {experiment.treatment} on {experiment.spec.metric} ({experiment.spec.mode}); "
        f"see `modelport experiments show {experiment.name}`",
        highlight=False,
    )


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    events: Annotated[int, typer.Option("--events", help="How many recent events.", min=1)] = 20,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per arm n, metric and interval; lift, always-valid p-value, sample ratio, guardrails, decision, events."""
    with open_client(home) as client:
        details = client.experiments.show(name, events=events)
    if as_json:
        print_json(details)
    else:
        print_experiment(details)


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option("--status", help="running or ended.")] = None,
    endpoint: Annotated[str | None, typer.Option("--endpoint", "-e", help="Only this endpoint's.")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List experiments, newest first."""
    with open_client(home) as client:
        experiments = client.experiments.list(status=status, endpoint=endpoint)
    if as_json:
        print_json(experiments)
        return
    table(
        "Experiments",
        ["name", "endpoint", "control", "treatment", "metric", "mode", "status", "decision", "started (UTC)"],
        [
            (
                e.name,
                e.endpoint,
                e.control,
                e.treatment,
                e.spec.metric,
                e.spec.mode,
                e.status,
                e.decision,
                when(e.started_at),
            )
            for e in experiments
        ],
    )


@app.command()
def stop(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (recorded).")] = None,
    restore: Annotated[
        bool, typer.Option("--restore", help="Put the arms' weights back as they were before the experiment.")
    ] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop a running experiment (the weights stay as they are unless --restore)."""
    with open_client(home) as client:
        experiment = client.experiments.stop(name, reason=reason, restore=restore)
    if as_json:
        print_json(experiment)
        return
    console.print(
        f"Stopped experiment [bold]{experiment.name}[/bold]"
        + ("; the arms' weights are back as before it" if restore else "; the endpoint's weights stay as they are"),
        highlight=False,
    )
