"""``modelport endpoints …``, ``modelport invoke`` and ``modelport serve``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from modelport.cli.common import (
    AccessLogOpt,
    HomeOpt,
    JsonOpt,
    LogLevelOpt,
    console,
    err_console,
    open_client,
    print_json,
    settings_for,
    table,
    when,
)
from modelport.errors import InvalidArgument

app = typer.Typer(help="Serve model versions behind endpoints: variants, weights, shadows, capture.", no_args_is_help=True)

VariantOpt = Annotated[
    list[str] | None, typer.Option("--variant", help="NAME=MODEL[:VERSION|@ALIAS][:WEIGHT] (repeatable).")
]
ShadowOpt = Annotated[
    list[str] | None, typer.Option("--shadow", help="NAME=MODEL[:VERSION|@ALIAS][:PERCENT]: mirror traffic, compare, discard.")
]
UnitOpt = Annotated[
    str | None,
    typer.Option("--unit", help="header:NAME: the same header value always gets the same variant (sticky); 'off' to stop."),
]


def _routing(unit: str | None, current: Any = None) -> dict[str, Any] | None:
    """``--unit`` → the routing section to write (None: leave it); the experiment and salt are kept."""
    if unit is None:
        return None
    routing = current.model_dump(exclude_none=True) if current is not None else {}
    if unit.lower() in ("off", "none", ""):
        routing.pop("unit", None)
    else:
        routing["unit"] = unit
    return routing


def _capture(value: str | None) -> float | bool | None:
    if value is None:
        return None
    if value.lower() in ("off", "0", "false", "no"):
        return False
    try:
        percent = float(value.rstrip("%"))
    except ValueError:
        raise InvalidArgument(f"invalid --capture {value!r}: expected a percentage (0-100) or 'off'") from None
    return percent


def _print_endpoint(ep: Any, stats: dict[str, Any] | None = None, shadows: list[Any] | None = None) -> None:
    status = ep.status + (f" ({ep.failure_reason})" if ep.failure_reason else "")
    console.print(f"[bold]{ep.name}[/bold]  revision {ep.revision}  status {status}  updated {when(ep.updated_at)}")
    live_total = sum(v.weight for v in ep.config.variants if not v.shadow) or 1.0
    figures = (stats or {}).get("variants", {})
    rows = []
    for v in ep.config.variants:
        share = f"shadow {v.sample_percent:g}%" if v.shadow else f"{v.weight:g} ({v.weight / live_total:.0%})"
        f = figures.get(v.name, {})
        rows.append(
            (
                v.name,
                v.model + (f"  ({v.requested})" if v.requested and v.requested != v.model else ""),
                share,
                ep.variant_status.get(v.name, {}).get("status", ""),
                _num(f.get("requests")),
                _num(f.get("errors")),
                _ms(f.get("p50_ms")),
                _ms(f.get("p99_ms")),
                _agreement(f),
            )
        )
    table(None, ["variant", "model", "weight", "status", "requests", "errors", "p50", "p99", "shadow agreement"], rows)
    cap = ep.config.capture
    if cap.enabled:
        console.print(f"data capture: {cap.sampling_percent:g}% of requests → {cap.destination or 'artifact store capture/'}")
    async_config = getattr(ep.config, "async_inference", None)
    if async_config is not None:
        out = async_config.output_path or f"artifact store async/{ep.name}/output"
        console.print(f"asynchronous inference: outputs → {out}", markup=False, highlight=False)
    routing = ep.config.routing
    if routing.unit or routing.experiment:
        parts = [f"sticky by {routing.unit}" if routing.unit else "by weight"]
        if routing.experiment:
            parts.append(f"experiment {routing.experiment}")
        console.print("routing: " + ", ".join(parts))
    if stats is None:
        console.print("(no live figures: they come from a running server; set MODELPORT_URL)")
    if shadows:
        _print_shadows(shadows)


def _print_shadows(reports: list[Any]) -> None:
    """The shadow comparison report: each figure with its interval."""
    rows = []
    for r in reports:
        agreement = f"{_pct(r.agreement.rate)} [{_pct(r.agreement.interval[0])}, {_pct(r.agreement.interval[1])}]" if r.agreement else ""
        diff = ""
        if r.abs_diff:
            interval = f" [{r.abs_diff.interval[0]:.3g}, {r.abs_diff.interval[1]:.3g}]" if r.abs_diff.interval else ""
            diff = f"{r.abs_diff.mean:.3g}{interval}; p99 {r.abs_diff.p99:.3g}"
        latency = ""
        if r.latency:
            lat = r.latency
            interval = f" [{lat.interval[0]:+.2f}, {lat.interval[1]:+.2f}]" if lat.interval else ""
            latency = f"{_ms(lat.shadow_p50_ms)} vs {_ms(lat.live_p50_ms)}; Δ mean {lat.mean_delta_ms:+.2f} ms{interval}"
        failures = ""
        if r.failures:
            f = r.failures
            failures = f"{_pct(f.shadow_rate)} vs {_pct(f.live_rate)}; Δ [{_pct(f.interval[0])}, {_pct(f.interval[1])}]"
        compared = f"{r.pairs:,} requests, {r.rows:,} rows" + (f" ({r.dropped:,} dropped)" if r.dropped else "")
        rows.append((r.variant, r.model, when(r.since) if r.since else "", compared, agreement, diff, latency, failures))
    confidence = f"{reports[0].confidence:.0%}" if reports else ""
    table(
        f"Shadows vs live on the same requests ({confidence} intervals, every server)",
        ["shadow", "model", "since", "compared", "label agreement", "mean |diff|", "p50 latency (shadow vs live)", "failures (shadow vs live)"],
        rows,
    )


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.2f} ms"


def _agreement(f: dict[str, Any]) -> str:
    parts = []
    if "shadow_label_agreement" in f:
        parts.append(f"labels {f['shadow_label_agreement']:.1%}")
    if "shadow_mean_abs_diff" in f:
        parts.append(f"mean |diff| {f['shadow_mean_abs_diff']:.3g}")
    return ", ".join(parts)


AsyncOutputOpt = Annotated[
    str | None,
    typer.Option("--async-output", help="Take asynchronous invocations, writing outputs here (s3:// or a folder)."),
]
AsyncFailureOpt = Annotated[
    str | None, typer.Option("--async-failure", help="Where asynchronous errors go (default the output path).")
]
AsyncSuccessOpt = Annotated[str | None, typer.Option("--async-success-url", help="Webhook called on success.")]
AsyncErrorOpt = Annotated[str | None, typer.Option("--async-error-url", help="Webhook called on failure.")]
AsyncSecretOpt = Annotated[
    str | None, typer.Option("--async-secret-env", help="Environment variable holding the webhooks' HMAC secret.")
]
AsyncInlineOpt = Annotated[
    bool, typer.Option("--async-inline", help="Inline outputs and errors up to 128 KB in the webhooks.")
]


def _async_config(
    output: str | None, failure: str | None, success: str | None, error: str | None, secret_env: str | None, inline: bool
) -> dict[str, Any] | None:
    """The endpoint's asynchronous inference section from the --async-* options (None: none given)."""
    if not any((output, failure, success, error, secret_env, inline)):
        return None
    secret = None
    if secret_env is not None:
        secret = os.environ.get(secret_env)
        if not secret:
            raise InvalidArgument(f"--async-secret-env {secret_env}: the environment variable is not set")
    notification = {
        "success_url": success, "error_url": error, "secret": secret,
        "include_inference_response_in": ["success", "error"] if inline else [],
    }  # fmt: skip
    return {"output_path": output, "failure_path": failure, "notification": notification}


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    variant: VariantOpt = None,
    shadow: ShadowOpt = None,
    capture: Annotated[str | None, typer.Option("--capture", help="Capture this % of requests (SageMaker Data Capture format).")] = None,
    capture_dest: Annotated[str | None, typer.Option("--capture-dest", help="Folder or s3:// prefix (default the artifact store).")] = None,
    unit: UnitOpt = None,
    async_output: AsyncOutputOpt = None,
    async_failure: AsyncFailureOpt = None,
    async_success_url: AsyncSuccessOpt = None,
    async_error_url: AsyncErrorOpt = None,
    async_secret_env: AsyncSecretOpt = None,
    async_inline: AsyncInlineOpt = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an endpoint with one or more variants (aliases are pinned to their current version)."""
    if not variant:
        raise InvalidArgument("an endpoint needs at least one --variant NAME=MODEL[:VERSION][:WEIGHT]")
    with open_client(home) as client:
        ep = client.endpoints.create(
            name, variant, shadows=shadow or (), capture=_capture(capture), capture_destination=capture_dest,
            routing=_routing(unit),
            async_inference=_async_config(
                async_output, async_failure, async_success_url, async_error_url, async_secret_env, async_inline
            ),
        )
    if as_json:
        print_json(ep)
    else:
        console.print(f"Created endpoint [bold]{ep.name}[/bold] (revision {ep.revision}); a running server picks it up within a second")
        _print_endpoint(ep, {})


@app.command()
def update(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    weights: Annotated[str | None, typer.Option("--weights", help="NAME=W[,NAME=W…]")] = None,
    variant: VariantOpt = None,
    shadow: ShadowOpt = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="Variant to remove (repeatable).")] = None,
    capture: Annotated[str | None, typer.Option("--capture", help="Percentage, or 'off'.")] = None,
    capture_dest: Annotated[str | None, typer.Option("--capture-dest")] = None,
    unit: UnitOpt = None,
    async_output: AsyncOutputOpt = None,
    async_failure: AsyncFailureOpt = None,
    async_success_url: AsyncSuccessOpt = None,
    async_error_url: AsyncErrorOpt = None,
    async_secret_env: AsyncSecretOpt = None,
    async_inline: AsyncInlineOpt = False,
    no_async: Annotated[bool, typer.Option("--no-async", help="Stop taking asynchronous invocations.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an endpoint live: weights, swap or add a variant, shadows, capture, sticky routing. Makes a new revision."""
    from modelport.endpoints.config import parse_weights

    with open_client(home) as client:
        routing = None if unit is None else _routing(unit, client.endpoints.get(name).config.routing)
        ep = client.endpoints.update(
            name,
            weights=parse_weights(weights) if weights else None,
            variants=variant or (),
            shadows=shadow or (),
            remove=remove or (),
            capture=_capture(capture),
            capture_destination=capture_dest,
            routing=routing,
            async_inference=_async_config(
                async_output, async_failure, async_success_url, async_error_url, async_secret_env, async_inline
            ),
            remove_async=no_async,
        )
    if as_json:
        print_json(ep)
    else:
        console.print(f"Updated endpoint [bold]{ep.name}[/bold] → revision {ep.revision}")
        _print_endpoint(ep, {})


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    to: Annotated[int | None, typer.Option("--to", help="Revision to return to (default: the previous one).")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Return to the previous configuration (recorded as a new revision)."""
    with open_client(home) as client:
        ep = client.endpoints.rollback(name, to)
    if as_json:
        print_json(ep)
    else:
        console.print(f"Rolled back endpoint [bold]{ep.name}[/bold] → revision {ep.revision}: {ep.config.comment}")


@app.command("list")
def list_(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List endpoints."""
    with open_client(home) as client:
        eps = client.endpoints.list()
    if as_json:
        print_json(eps)
        return
    table(
        "Endpoints",
        ["name", "status", "revision", "variants", "updated"],
        [
            (
                e.name,
                e.status,
                e.revision,
                ", ".join(f"{v.name}={v.model}" + (" (shadow)" if v.shadow else f":{v.weight:g}") for v in e.config.variants),
                when(e.updated_at),
            )
            for e in eps
        ],
    )


@app.command()
def show(name: Annotated[str, typer.Argument(help="Endpoint name.")], home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Show an endpoint: variants, status, the recent figures of a running server and how its shadows compare."""
    with open_client(home) as client:
        ep = client.endpoints.get(name)
        stats = client.endpoints.stats(name)
        shadows = client.endpoints.shadow_report(name) if ep.config.shadows else []
    if as_json:
        print_json({"endpoint": ep, "stats": stats, "shadows": shadows})
    else:
        _print_endpoint(ep, stats, shadows)


@app.command()
def history(name: Annotated[str, typer.Argument(help="Endpoint name.")], home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Every configuration revision, newest first."""
    with open_client(home) as client:
        revisions = client.endpoints.history(name)
    if as_json:
        print_json(revisions)
        return
    table(
        f"History of {name}",
        ["revision", "action", "variants", "capture", "when", "by"],
        [
            (
                r.revision,
                r.action,
                ", ".join(f"{v.name}={v.model}" + (" shadow" if v.shadow else f":{v.weight:g}") for v in r.config.variants),
                f"{r.config.capture.sampling_percent:g}%" if r.config.capture.enabled else "off",
                when(r.created_at),
                r.created_by,
            )
            for r in revisions
        ],
    )


@app.command()
def delete(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    home: HomeOpt = None,
) -> None:
    """Delete an endpoint (servers stop serving it within a second)."""
    if not yes:
        typer.confirm(f"Delete endpoint {name!r}?", abort=True)
    with open_client(home) as client:
        client.endpoints.delete(name)
    console.print(f"Deleted endpoint {name}")


def invoke(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    file: Annotated[Path | None, typer.Option("--file", "-f", help="CSV, JSON, JSONL, Parquet or XML file.")] = None,
    json_body: Annotated[str | None, typer.Option("--json", help="A JSON request body.")] = None,
    content_type: Annotated[str | None, typer.Option("--content-type", help="Override the request Content-Type.")] = None,
    accept: Annotated[str, typer.Option("--accept", help="Reply type: application/json, text/csv, application/xml.")] = "application/json",
    variant: Annotated[str | None, typer.Option("--variant", help="Send to this variant (overrides weights).")] = None,
    inference_id: Annotated[str | None, typer.Option("--inference-id")] = None,
    use_async: Annotated[
        bool, typer.Option("--async", help="Queue the file as an asynchronous inference (any size; docs/async.md).")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="With --async: wait for the output, or print the inference id.")
    ] = True,
    input_location: Annotated[
        str | None, typer.Option("--input-location", help="With --async: s3://… or a file the server reads.")
    ] = None,
    ttl: Annotated[float | None, typer.Option("--ttl", help="With --async: seconds it may wait to start.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="With --async: seconds it may run.")] = None,
    home: HomeOpt = None,
) -> None:
    """Call an endpoint: through the server when MODELPORT_URL is set, else in-process."""
    if use_async:
        _invoke_async(
            name, file, input_location, content_type=content_type, accept=None if accept == "application/json" else accept,
            inference_id=inference_id, wait=wait, ttl=ttl, timeout=timeout, home=home,
        )  # fmt: skip
        return
    if (file is None) == (json_body is None):
        raise InvalidArgument("pass exactly one of --file or --json")
    if file is not None and not file.is_file():
        raise InvalidArgument(f"file {str(file)!r} does not exist")
    with open_client(home) as client:
        result = client.endpoints.invoke(
            name, file if file is not None else json_body, content_type=content_type, accept=accept,
            variant=variant, inference_id=inference_id,
        )
    err_console.print(f"variant {result.variant}, inference id {result.inference_id}", highlight=False)
    typer.echo(result.body.decode("utf-8", errors="replace").rstrip("\n"))


def _invoke_async(
    name: str, file: Path | None, input_location: str | None, *, wait: bool, home: Any, **options: Any
) -> None:
    from modelport.cli.async_inference import describe, progress_bar

    if (file is None) == (input_location is None):
        raise InvalidArgument("with --async, pass exactly one of --file or --input-location")
    if file is not None and options.get("content_type") is None:
        from modelport.batch.spec import suffix_format

        options["content_type"] = {"csv": "text/csv", "jsonl": "application/jsonlines", "parquet": "application/x-parquet"}.get(
            suffix_format(file.name) or ""
        )
    ttl, timeout = options.pop("ttl"), options.pop("timeout")
    with open_client(home) as client:
        item = client.async_inference.submit(
            name, input_location, file=file, ttl_s=ttl, timeout_s=timeout, **options
        )
        if not wait:
            typer.echo(item.id)
            return
        err_console.print(f"async inference {item.id} queued; output: {item.output_location}", highlight=False)
        with progress_bar(False) as shown:
            item = client.async_inference.wait(item.id, progress=shown)
    describe(item)
    if item.status != "completed":
        raise typer.Exit(1)


def serve(
    name: Annotated[str, typer.Argument(help="The endpoint to serve.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default 8080, or $SAGEMAKER_BIND_TO_PORT).")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    log_level: LogLevelOpt = None,
    access_log: AccessLogOpt = None,
    home: HomeOpt = None,
) -> None:
    """Serve one endpoint's data plane only (/ping, /invocations, /v2): what a container runs."""
    from modelport.server import serve as run

    if port is None:
        port = int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    settings = settings_for(home).with_overrides(serve_endpoint=name, log_level=log_level, access_log=access_log)
    run(settings, host=host, port=port, workers=workers)
