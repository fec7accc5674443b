"""Options every command shares, and how results are printed."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import BaseModel

from modelport.errors import InvalidArgument
from modelport.logs import LogLevel

if TYPE_CHECKING:
    from rich.console import Console


class LazyConsole:
    """A rich ``Console`` made on first use: ``--json`` output never imports rich (~25 ms of start-up).

    ``console.print(…)`` and any other attribute reach the console itself (``.rich``).
    """

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    @property
    def rich(self) -> Console:
        if self._console is None:
            from rich.console import Console

            stream = sys.stderr if self._stderr else sys.stdout
            # Piped output (scripts, CI logs) gets wide tables instead of rich's 80-column default.
            self._console = Console(stderr=self._stderr, width=None if stream.isatty() else 160)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich, name)


console = LazyConsole()
err_console = LazyConsole(stderr=True)

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="modelport home folder (default $MODELPORT_HOME or ~/.modelport).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
LogLevelOpt = Annotated[
    LogLevel | None,
    typer.Option(
        "--log-level",
        case_sensitive=False,
        help="Server log level (default info, or $MODELPORT_LOG_LEVEL).",
        show_default=False,
    ),
]
AccessLogOpt = Annotated[
    bool | None,
    typer.Option(
        "--access-log/--no-access-log",
        help="One log line per request: method, path, status, latency, endpoint, variant, inference id (default on).",
        show_default=False,
    ),
]


def settings_for(home: Path | None):  # type: ignore[no-untyped-def]
    from modelport.settings import Settings

    return Settings.from_env(home=home)


def open_client(home: Path | None):  # type: ignore[no-untyped-def]
    from modelport.client import Client

    return Client(settings=settings_for(home))


def parse_pairs(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"invalid {what} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def parse_metrics(items: Sequence[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in parse_pairs(items, "--metric").items():
        try:
            out[key] = float(value)
        except ValueError:
            raise InvalidArgument(f"invalid --metric {key}={value!r}: the value must be a number") from None
    return out


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    typer.echo(json.dumps(to_jsonable(value), indent=2, sort_keys=False))


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, show_lines=False, header_style="bold")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console.print(t)


def kv(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items())


def when(dt: Any) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else ""
