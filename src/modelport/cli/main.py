"""The CLI root: parses arguments, calls public functions, turns errors into one line.

Exit codes: 0 success; 1 a user or environment error (``error: …`` on
stderr, never a traceback); 2 a usage error (click's own message).

Each subcommand's module is imported only when that subcommand runs, and
of a group only the subcommand that runs is built (typer reads every
command's options up front): ``modelport models list`` never imports the
batch, scoring or server commands (nor what they import).  Anything else
(``--help``, a mistyped command) gets the whole tree, so help and usage
errors read as before.
"""

from __future__ import annotations

import copy
import importlib
import sys
from collections.abc import Sequence
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
    "monitors": ("modelport.cli.monitors", "app"),
    "feedback": ("modelport.cli.feedback", "app"),
    "experiments": ("modelport.cli.experiments", "app"),
    "tune": ("modelport.cli.tuning", "app"),
    "async": ("modelport.cli.async_inference", "app"),
    "k8s": ("modelport.cli.k8s", "app"),
}
COMMANDS: dict[str, tuple[str, str]] = {
    "server": ("modelport.cli.server", "server"),
    "wait-ready": ("modelport.cli.server", "wait_ready"),
    "predict": ("modelport.cli.scoring", "predict"),
    "convert": ("modelport.cli.scoring", "convert"),
    "invoke": ("modelport.cli.endpoints", "invoke"),
    "serve": ("modelport.cli.endpoints", "serve"),
    "transform": ("modelport.cli.batch", "transform"),
    "gc": ("modelport.cli.db", "gc"),
    "build": ("modelport.cli.containers", "build"),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelport {__version__}")
        raise typer.Exit()


def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """modelport command line."""


def build_app(path: Sequence[str] = ()) -> typer.Typer:
    """The command tree, or just the branch ``path`` names (``["models", "list"]``) when it names one."""
    app = typer.Typer(
        name="modelport",
        help="Self-hosted ML deployment: register models, serve endpoints, score files.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        rich_markup_mode=None,
    )
    command = path[0] if path else None
    if command in GROUPS:
        group = _load(GROUPS[command])
        app.add_typer(_only(group, path[1]) if len(path) > 1 else group, name=command)
    elif command in COMMANDS:
        app.command(command)(_load(COMMANDS[command]))
    else:
        for name, target in GROUPS.items():
            app.add_typer(_load(target), name=name)
        for name, target in COMMANDS.items():
            app.command(name)(_load(target))
    app.callback()(root)
    return app


def _only(group: typer.Typer, name: str) -> typer.Typer:
    """``group`` with just its subcommand ``name`` (typer builds every command's options: ~10 ms for `models`).

    A name the group does not have leaves it whole, so the usage error lists what it has.
    """
    commands = [c for c in group.registered_commands if _name(c) == name]
    groups = [g for g in group.registered_groups if g.name == name]
    if not commands and not groups:
        return group
    pruned = copy.copy(group)
    pruned.registered_commands, pruned.registered_groups = commands, groups
    return pruned


def _name(command: Any) -> str:
    return command.name or typer.main.get_command_name(command.callback.__name__)


def _load(target: tuple[str, str]) -> Any:
    module, attr = target
    return getattr(importlib.import_module(module), attr)


def _command_path(argv: list[str]) -> list[str]:
    """The command and, for a group, the subcommand: the first two words, if no option comes before them."""
    words = []
    for arg in argv[:2]:
        if arg.startswith("-"):  # `models --help list`: the group itself must be whole
            break
        words.append(arg)
    return words


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
        build_app(_command_path(sys.argv[1:]))()
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
