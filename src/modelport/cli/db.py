"""``modelport db …``: schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from modelport.cli.common import HomeOpt, console, settings_for

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
