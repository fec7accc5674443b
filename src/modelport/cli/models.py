"""``modelport models …``"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from modelport.cli.common import (
    HomeOpt,
    JsonOpt,
    console,
    kv,
    open_client,
    parse_metrics,
    parse_pairs,
    print_json,
    table,
    when,
)
from modelport.domain import ModelRef, ModelVersion
from modelport.errors import InvalidArgument

app = typer.Typer(help="Register, list, show and delete model versions; move aliases.", no_args_is_help=True)
alias_app = typer.Typer(help="Aliases: movable names for versions (churn@champion).", no_args_is_help=True)
app.add_typer(alias_app, name="alias")

TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE (repeatable).")]


def _print_version(mv: ModelVersion) -> None:
    rows = [
        ("version", mv.ref),
        ("format", mv.format),
        ("aliases", ", ".join(f"@{a}" for a in mv.aliases)),
        ("sha256", mv.sha256),
        ("size", f"{mv.size:,} bytes"),
        ("artifact", mv.artifact_uri),
        ("metrics", kv(mv.metrics)),
        ("params", kv(mv.params)),
        ("tags", kv(mv.tags)),
        ("description", mv.description),
        ("created", f"{when(mv.created_at)} by {mv.created_by}"),
    ]
    if len(mv.files) > 1:
        rows.append(("files", ", ".join(f"{f.role}: {f.filename}" for f in mv.files)))
    if mv.signature:
        for direction in ("inputs", "outputs"):
            cols = mv.signature.get(direction) or []
            shown = ", ".join(_col(c) for c in cols)
            rows.append((direction, shown))
        if mv.signature.get("classes") is not None:
            rows.append(("classes", ", ".join(map(str, mv.signature["classes"]))))
        for column, values in (mv.signature.get("categories") or {}).items():
            rows.append((f"categories of {column}", _categories(values)))
    if mv.conversion:
        parity = mv.conversion.get("parity", {})
        verdict = "ok" if parity.get("ok") else ("FORCED past a failed check" if mv.conversion.get("forced") else "failed")
        rows.append(("conversion", f"{mv.conversion.get('from')} → {mv.conversion.get('to')}, parity {verdict} on {parity.get('rows')} rows"))
    if mv.baseline:
        rows.append(("baseline", f"{mv.baseline.get('item_count')} rows, {len(mv.baseline.get('features', []))} features"))
    table(None, ["field", "value"], rows)


def _col(c: dict[str, Any]) -> str:
    shape = c.get("shape", [-1])
    dims = "" if list(shape) == [-1] else "[" + ",".join("N" if d == -1 else str(d) for d in shape) + "]"
    return f"{c['name']}:{c['dtype']}{dims}{'?' if c.get('nullable') else ''}"


def _categories(values: list[Any], limit: int = 30) -> str:
    """A column's categories in code order; a long list is cut (``--json`` has them all)."""
    shown = ", ".join(map(str, values[:limit]))
    return shown + (f", … ({len(values)} in all)" if len(values) > limit else "")


def print_parity(report: dict[str, Any], title: str) -> None:
    """The parity report as a table: every output's max difference, label agreement."""
    rows = []
    for o in report.get("outputs", []):
        diff = "" if o.get("max_abs_diff") is None else f"{o['max_abs_diff']:.3g}"
        rel = "" if o.get("max_rel_diff") is None else f"{o['max_rel_diff']:.3g}"
        agree = "" if o.get("agreement") is None else f"{o['agreement']:.2%}"
        rows.append((o["name"], diff, rel, agree, "ok" if o.get("ok") else "FAIL"))
    table(
        f"Parity {title} on {report.get('rows')} {report.get('source', 'sample')} rows (tolerance {report.get('atol'):g})",
        ["output", "max |diff|", "max rel diff", "label agreement", ""],
        rows,
    )


@app.command()
def register(
    path: Annotated[Path, typer.Argument(help="The model file (joblib, onnx, pmml, pfa, …).")],
    name: Annotated[str, typer.Option("--name", "-n", help="Model name; created on first registration.")],
    format: Annotated[str | None, typer.Option("--format", help="Override format detection.")] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    metric: Annotated[list[str] | None, typer.Option("--metric", help="NAME=NUMBER (repeatable).")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="NAME=VALUE hyperparameter (repeatable).")] = None,
    tag: TagOpt = None,
    signature: Annotated[Path | None, typer.Option("--signature", help="JSON file overriding the signature.")] = None,
    sample: Annotated[
        Path | None, typer.Option("--sample", help="CSV/JSONL/Parquet rows: signature names + dtypes, baseline statistics.")
    ] = None,
    to_onnx: Annotated[bool, typer.Option("--to-onnx", help="Convert to ONNX (parity-checked); serve the ONNX.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Register even if the conversion fails its parity check.")] = False,
    atol: Annotated[float, typer.Option("--atol", help="Parity tolerance on probabilities (relative for regression).")] = 1e-4,
    trust: Annotated[
        bool, typer.Option("--trust", help="Load a pickle that imports code beyond scikit-learn/NumPy/SciPy/pandas/XGBoost/LightGBM (only if you trust its author).")
    ] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a model file as the next version of NAME (format detected from its bytes)."""
    sig = None
    if signature is not None:
        try:
            sig = json.loads(signature.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"cannot read signature file {str(signature)!r}: {exc}") from None
    with open_client(home) as client:
        mv = client.models.register(
            path,
            name,
            format=format,
            description=description,
            metrics=parse_metrics(metric),
            params=parse_pairs(param, "--param"),
            tags=parse_pairs(tag, "--tag"),
            signature=sig,
            sample=sample,
            to_onnx=to_onnx,
            force=force,
            atol=atol,
            trust=trust,
        )
    if as_json:
        print_json(mv)
        return
    if mv.conversion:
        print_parity(mv.conversion["parity"], f"{mv.conversion['from']} → onnx")
    console.print(f"Registered [bold]{mv.ref}[/bold] ({mv.format}, {mv.size:,} bytes, sha256 {mv.sha256[:12]}…)")


@app.command("list")
def list_(
    limit: Annotated[int, typer.Option(help="Page size.")] = 100,
    page_token: Annotated[str | None, typer.Option("--page-token", help="From the previous page.")] = None,
    name_contains: Annotated[str | None, typer.Option("--name-contains")] = None,
    tag: TagOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List models."""
    with open_client(home) as client:
        page = client.models.list(
            limit=limit, page_token=page_token, name_contains=name_contains, tags=parse_pairs(tag, "--tag")
        )
    if as_json:
        print_json(page)
        return
    table(
        "Models",
        ["name", "latest", "aliases", "tags", "description", "updated"],
        [
            (
                m.name,
                m.latest_version,
                ", ".join(f"@{a}→{v}" for a, v in sorted(m.aliases.items())),
                kv(m.tags),
                m.description,
                when(m.updated_at),
            )
            for m in page.items
        ],
    )
    if page.next_page_token:
        console.print(f"more: --page-token {page.next_page_token}")


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION, NAME@ALIAS or NAME (latest).")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one model version."""
    with open_client(home) as client:
        mv = client.models.show(ref)
    if as_json:
        print_json(mv)
    else:
        _print_version(mv)


@app.command()
def versions(
    name: Annotated[str, typer.Argument(help="Model name.")],
    limit: Annotated[int, typer.Option(help="Page size.")] = 100,
    page_token: Annotated[str | None, typer.Option("--page-token")] = None,
    format: Annotated[str | None, typer.Option("--format", help="Only this format.")] = None,
    tag: TagOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a model's versions, newest first."""
    with open_client(home) as client:
        page = client.models.versions(
            name, limit=limit, page_token=page_token, format=format, tags=parse_pairs(tag, "--tag")
        )
    if as_json:
        print_json(page)
        return
    table(
        f"Versions of {name}",
        ["version", "format", "aliases", "metrics", "size", "created", "by"],
        [
            (
                v.version,
                v.format,
                ", ".join(f"@{a}" for a in v.aliases),
                kv(v.metrics),
                f"{v.size:,}",
                when(v.created_at),
                v.created_by,
            )
            for v in page.items
        ],
    )
    if page.next_page_token:
        console.print(f"more: --page-token {page.next_page_token}")


@app.command()
def update(
    name: Annotated[str, typer.Argument(help="Model name.")],
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    tag: TagOpt = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a model's description or tags."""
    with open_client(home) as client:
        model = client.models.update(name, description=description, tags=parse_pairs(tag, "--tag") or None)
    if as_json:
        print_json(model)
    else:
        console.print(f"Updated model [bold]{model.name}[/bold]")


@app.command()
def delete(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION (one version) or NAME (the model and every version).")],
    force: Annotated[bool, typer.Option("--force", help="Also delete aliases that point at it.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before deleting a whole model.")] = False,
    home: HomeOpt = None,
) -> None:
    """Delete a version (refused while an alias points at it, unless --force)."""
    target = ModelRef.parse(ref)
    if target.version is None and target.alias is None and not yes:
        typer.confirm(f"Delete model {target.name!r} and all its versions?", abort=True)
    with open_client(home) as client:
        deleted = client.models.delete(ref, force=force)
    for mv in deleted:
        console.print(f"Deleted {mv.ref}")
    if not deleted:
        console.print(f"Deleted model {target.name} (it had no versions)")


@app.command()
def download(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION, NAME@ALIAS or NAME.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File or folder.")] = Path("."),
    role: Annotated[str, typer.Option("--role", help="model (served) or original (before conversion).")] = "model",
    home: HomeOpt = None,
) -> None:
    """Download a version's file, verified by sha256."""
    with open_client(home) as client:
        path = client.models.download(ref, output, role=role)
    console.print(f"Wrote {path}")


def _alias_ref(ref: str) -> ModelRef:
    parsed = ModelRef.parse(ref)
    if parsed.alias is None:
        raise InvalidArgument(f"expected NAME@ALIAS, got {ref!r}")
    return parsed


@alias_app.command("set")
def alias_set(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS")],
    version: Annotated[int, typer.Argument(help="Version number it should point at.")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or move an alias."""
    parsed = _alias_ref(ref)
    with open_client(home) as client:
        alias = client.models.set_alias(parsed.name, parsed.alias or "", version)
    if as_json:
        print_json(alias)
    else:
        console.print(f"{alias.name}@{alias.alias} → {alias.name}:{alias.version}")


@alias_app.command("delete")
def alias_delete(ref: Annotated[str, typer.Argument(help="NAME@ALIAS")], home: HomeOpt = None) -> None:
    """Remove an alias (the version stays)."""
    parsed = _alias_ref(ref)
    with open_client(home) as client:
        client.models.delete_alias(parsed.name, parsed.alias or "")
    console.print(f"Deleted alias {parsed}")
