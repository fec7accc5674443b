"""``modelport db …`` (schema migrations) and ``modelport gc`` (unreferenced blobs): operator commands."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import typer

from modelport.cli.common import HomeOpt, JsonOpt, console, print_json, settings_for, table
from modelport.errors import InvalidArgument

app = typer.Typer(help="Registry database schema.", no_args_is_help=True)


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    home: HomeOpt = None,
) -> None:
    """Apply schema migrations (safe to run again)."""
    from modelport.db.database import Database

    settings = settings_for(home)
    db = Database(settings.resolved_database_url)
    try:
        before = db.current_revision()
        after = db.upgrade(revision)
    finally:
        db.dispose()
    console.print(f"{db.display_url}: schema {before or 'empty'} → {after}")


@app.command()
def current(home: HomeOpt = None) -> None:
    """Show the schema revision and the one this modelport needs."""
    from modelport.db.database import Database

    settings = settings_for(home)
    db = Database(settings.resolved_database_url)
    try:
        console.print(f"{db.display_url}: at {db.current_revision() or 'empty'}, head {db.head_revision()}")
    finally:
        db.dispose()


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``1h``, ``2d`` → seconds."""
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:])
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise InvalidArgument(f"invalid duration {text!r}: expected e.g. 90s, 30m, 1h or 2d") from None
    if seconds < 0:
        raise InvalidArgument(f"invalid duration {text!r}: it cannot be negative")
    return seconds


def gc(
    grace: Annotated[str, typer.Option("--grace", help="Spare blobs uploaded more recently than this (90s, 30m, 1h, 2d).")] = "1h",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be deleted.")] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete stored blobs no model version references (failed uploads, deleted versions, samples).

    Safe while registrations run: a blob uploaded within the grace period is kept,
    and each candidate is checked against the registry again before it goes.
    """
    from modelport.services import Services

    seconds = parse_duration(grace)
    services = Services.open(settings_for(home))
    try:
        report = services.registry.collect_garbage(grace_s=seconds, dry_run=dry_run)
    finally:
        services.close()
    if as_json:
        print_json(dataclasses.asdict(report))
        return
    verb = "would delete" if dry_run else "deleted"
    table(
        "Garbage collection" + (" (dry run)" if dry_run else ""),
        ["blobs", "referenced", "within grace", verb, "bytes freed"],
        [(report.blobs, report.referenced, report.kept, len(report.deleted), f"{report.freed_bytes:,}")],
    )
