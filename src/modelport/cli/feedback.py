"""``modelport feedback send``: ground truth for an endpoint's captured predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelport.cli.common import HomeOpt, JsonOpt, console, open_client, print_json

app = typer.Typer(help="Ground truth: labels for captured predictions, joined by inference id.", no_args_is_help=True)


@app.command()
def send(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    file: Annotated[Path, typer.Option("--file", "-f", help="CSV, JSON (a list of records) or JSON lines file.")],
    id_column: Annotated[
        str, typer.Option("--id-column", help="Column (or key) holding the inference id.")
    ] = "inference_id",
    label_column: Annotated[str, typer.Option("--label-column", help="Column (or key) holding the label.")] = "label",
    timestamp_column: Annotated[
        str | None,
        typer.Option(
            "--timestamp-column",
            help="Column with when the prediction was made (ISO 8601 or epoch seconds); default 'timestamp' if present.",
        ),
    ] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send labels by inference id (the id every invocation returns): to a server when MODELPORT_URL is set.

    A label is a value, or a JSON list with one label per row of a multi-row request.
    A label sent again for the same id replaces the earlier one; ids matching no
    captured prediction are kept and counted as unmatched in quality reports.
    """
    with open_client(home) as client:
        receipt = client.feedback.send(
            endpoint, file, id_column=id_column, label_column=label_column, timestamp_column=timestamp_column
        )
    if as_json:
        print_json({"endpoint": endpoint, **receipt.to_json()})
        return
    replaced = f" ({receipt.updated:,} replaced earlier labels)" if receipt.updated else ""
    console.print(f"Sent {receipt.received:,} labels for endpoint {endpoint}{replaced}", highlight=False)
