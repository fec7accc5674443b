"""``modelport async``: asynchronous inference requests — list, show, cancel (``modelport invoke --async`` submits)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from modelport.cli.common import HomeOpt, JsonOpt, console, err_console, open_client, print_json, table, when

app = typer.Typer(help="Asynchronous inference requests: list, show, cancel.", no_args_is_help=True)


@app.command("list")
def list_requests(
    endpoint: Annotated[str | None, typer.Option("--endpoint", "-e", help="Only this endpoint's.")] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="queued, running, completed, failed, expired, cancelled or dead_letter."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 50,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Asynchronous inference requests, newest first."""
    with open_client(home) as client:
        page = client.async_inference.list(endpoint=endpoint, status=status, limit=limit)
    if as_json:
        print_json(page.items)
        return
    table(
        None,
        ["inference id", "endpoint", "variant", "status", "attempts", "created", "finished", "output or error"],
        [
            (
                i.id, i.endpoint, i.variant, i.status, str(i.attempts), when(i.created_at), when(i.finished_at),
                i.output_location if i.status != "failed" and not i.error else f"{i.error_code}: {i.error}",
            )
            for i in page.items
        ],
    )  # fmt: skip


@app.command()
def show(
    inference_id: Annotated[str, typer.Argument(help="The inference id.")], home: HomeOpt = None, as_json: JsonOpt = False
) -> None:
    """One request: where its input and output are, where it stands, what went wrong."""
    with open_client(home) as client:
        item = client.async_inference.show(inference_id)
    if as_json:
        print_json(item)
        return
    describe(item)


@app.command()
def cancel(
    inference_id: Annotated[str, typer.Argument(help="The inference id.")], home: HomeOpt = None, as_json: JsonOpt = False
) -> None:
    """Cancel a queued request now, or stop a running one (within seconds)."""
    with open_client(home) as client:
        item = client.async_inference.cancel(inference_id)
    if as_json:
        print_json(item)
    elif item.status == "cancelled":
        console.print(f"async inference {item.id}: cancelled")
    else:
        console.print(f"async inference {item.id}: cancel requested; it stops within seconds")


def describe(item: Any) -> None:
    rows = [
        ("inference id", item.id),
        ("endpoint", f"{item.endpoint} (variant {item.variant}, model {item.model})"),
        ("status", item.status + (" (cancel requested)" if item.cancel_requested and not item.final else "")),
        ("input", item.input_location),
        ("output", item.output_location),
        ("failure", item.failure_location),
        ("attempts", f"{item.attempts} of {item.max_attempts}"),
        ("created", f"{when(item.created_at)} by {item.created_by or '-'}"),
        ("started", when(item.started_at)),
        ("finished", when(item.finished_at)),
    ]
    if item.progress:
        p = item.progress
        rows.append(("progress", f"{p['fraction']:.0%} of {p['bytes_total']:,} bytes, {p['records']:,} records"))
    if item.error:
        rows.append(("error", f"{item.error_code}: {item.error}"))
    note = (item.result or {}).get("notification")
    if note:
        rows.append(("notification", "delivered" if note.get("ok") else f"not delivered: {note.get('error')}"))
    table(None, ["", ""], rows)


@contextmanager
def progress_bar(quiet: bool) -> Iterator[Any]:
    """A progress bar on stderr fed with the request as it advances (bytes of input scored)."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("[bold]{task.description}[/bold]"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[status]}  {task.fields[records]} records"),
        TimeRemainingColumn(),
        console=err_console.rich,
        transient=True,
        disable=quiet or not err_console.is_terminal,
    )
    state: dict[str, Any] = {}

    def shown(item: Any) -> None:
        if "task" not in state:
            state["task"] = bar.add_task(item.id[:36], total=1000, status=item.status, records="0")
        p = item.progress or {}
        bar.update(
            state["task"],
            completed=int((1.0 if item.status == "completed" else p.get("fraction", 0.0)) * 1000),
            status=item.status,
            records=f"{p.get('records', 0):,}",
        )

    with bar:
        yield shown
