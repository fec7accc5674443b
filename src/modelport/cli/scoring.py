"""``modelport predict`` and ``modelport convert``: in-process scoring and conversion."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modelport.cli.common import HomeOpt, console, err_console, open_client, table
from modelport.cli.models import print_parity
from modelport.errors import FailedPrecondition


def predict(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION, NAME@ALIAS or NAME.")],
    input: Annotated[Path, typer.Option("--input", "-i", help="CSV, JSONL or Parquet (optionally .gz).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where predictions go (.csv, .jsonl, .parquet).")],
    no_header: Annotated[bool, typer.Option("--no-header", help="The CSV has no header row: columns by position.")] = False,
    home: HomeOpt = None,
) -> None:
    """Score a file in-process with a registered version (no server): labels and probabilities as columns."""
    from modelport.frames import read_table, write_table

    frame = read_table(input, header=not no_header)
    with open_client(home) as client:
        model = client.models.load(ref)
        with Progress(
            TextColumn("[bold]scoring[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err_console.rich, transient=True, disable=not err_console.is_terminal,
        ) as bar:
            task = bar.add_task("rows", total=len(frame))
            result = model.predict_frame(frame, progress=lambda n: bar.advance(task, n))
        model.close()
    write_table(result, output)
    table(
        None,
        ["version", "format", "rows", "columns", "output"],
        [(model.version.ref, model.version.format, f"{len(result):,}", ", ".join(result.columns), str(output))],
    )


def convert(
    path: Annotated[Path, typer.Argument(help="The model file.")],
    to: Annotated[str, typer.Option("--to", help="Target format.")] = "onnx",
    output: Annotated[Path, typer.Option("--output", "-o", help="Where the ONNX file goes.")] = Path("model.onnx"),
    sample: Annotated[Path | None, typer.Option("--sample", help="Rows for the signature and the parity check.")] = None,
    format: Annotated[str | None, typer.Option("--format", help="Override format detection.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Write the file even if parity fails.")] = False,
    atol: Annotated[float, typer.Option("--atol", help="Parity tolerance.")] = 1e-4,
    home: HomeOpt = None,
) -> None:
    """Convert a model to ONNX and print the parity report (nothing is registered)."""
    from modelport.domain import RegisterOptions
    from modelport.errors import InvalidArgument
    from modelport.formats import detect_format
    from modelport.frames import read_table
    from modelport.registration import prepare
    from modelport.store import ArtifactStore

    if to != "onnx":
        raise InvalidArgument(f"cannot convert to {to!r}: the only target is onnx")
    if not path.is_file():
        raise InvalidArgument(f"model file {str(path)!r} does not exist or is not a file")
    frame = read_table(sample) if sample is not None else None
    with tempfile.TemporaryDirectory(prefix="modelport-convert-") as tmp:
        # Pickles are loaded only from a verified content-addressed copy, as in the registry.
        store = ArtifactStore(str(Path(tmp) / "store"), cache_dir=Path(tmp) / "cache")
        staged = store.put_file(path)
        verified = store.local_path(staged.uri, staged.sha256)
        fmt = detect_format(verified, format, filename=path.name)
        options = RegisterOptions(to_onnx=True, force=True, atol=atol)
        prepared = prepare(verified, fmt, sample=frame, options=options)
    report = prepared.parity
    assert report is not None and prepared.onnx_bytes is not None
    print_parity(report.to_dict(), f"{fmt} → onnx")
    if not report.ok and not force:
        raise FailedPrecondition(f"parity check failed ({report.summary()}): nothing written; use --force to write anyway")
    output.write_bytes(prepared.onnx_bytes)
    console.print(f"Wrote {output} ({len(prepared.onnx_bytes):,} bytes)")
