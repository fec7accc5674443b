"""The CLI root: parses arguments, calls public functions, turns errors into one line.

Exit codes: 0 success; 1 a user or environment error (``error: …`` on
stderr, never a traceback); 2 a usage error (click's own message).

Each subcommand's module is imported only when that subcommand runs:
``modelport models list`` never imports the batch, scoring or server
commands (nor what they import).  Anything else (``--help``, a mistyped
command) gets the whole tree, so help and usage errors read as before.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

from modelport import __version__

#: command name → (module, attribute): a Typer group (app) or a command function, in help order
GROUPS: dict[str, tuple[str, str]] = {
    "models": ("modelport.cli.models", "app"),
    "tokens": ("modelport.cli.tokens", "app"),
    "endpoints": ("modelport.cli.endpoints", "app"),
    "db": ("modelport.cli.db", "app"),
    "jobs": ("modelport.cli.batch", "app"),
}
COMMANDS: dict[str, tuple[str, str]] = {
    "server": ("modelport.cli.server", "server"),
    "predict": ("modelport.cli.scoring", "predict"),
    "convert": ("modelport.cli.scoring", "convert"),
    "invoke": ("modelport.cli.endpoints", "invoke"),
    "serve": ("modelport.cli.endpoints", "serve"),
    "transform": ("modelport.cli.batch", "transform"),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelport {__version__}")
        raise typer.Exit()


def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """modelport command line."""


def build_app(only: str | None = None) -> typer.Typer:
    """The command tree; with ``only`` a known command name, just that command (and the root options)."""
    app = typer.Typer(
        name="modelport",
        help="Self-hosted ML deployment: register models, serve endpoints, score files.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,
    )
    wanted = [only] if only in GROUPS or only in COMMANDS else [*GROUPS, *COMMANDS]
    for name in wanted:
        if name in GROUPS:
            app.add_typer(_load(GROUPS[name]), name=name)
        else:
            app.command(name)(_load(COMMANDS[name]))
    app.callback()(root)
    return app


def _load(target: tuple[str, str]) -> Any:
    module, attr = target
    return getattr(importlib.import_module(module), attr)


def _command_name(argv: list[str]) -> str | None:
    # The root takes no option with a value, so the first word not starting with '-' is the command.
    return next((arg for arg in argv if not arg.startswith("-")), None)


def __getattr__(name: str) -> Any:
    # `from modelport.cli.main import app`: the whole tree (docs, completion, tests walk it).
    if name == "app":
        app = build_app()
        globals()["app"] = app
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fail(message: str) -> None:
    from modelport.cli.common import err_console

    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(1)


def main() -> None:
    from modelport.errors import ModelportError

    try:
        build_app(_command_name(sys.argv[1:]))()
    except ModelportError as exc:
        fail(exc.message)
    except KeyboardInterrupt:
        from modelport.cli.common import err_console

        err_console.print("interrupted")
        sys.exit(130)
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename}" if getattr(exc, "filename", None) else str(exc))
    except Exception as exc:  # a bug: still one line, never a traceback
        fail(f"unexpected {type(exc).__name__}: {exc} (please report this)")


if __name__ == "__main__":
    main()
