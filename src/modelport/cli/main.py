"""The CLI root: parses arguments, calls public functions, turns errors into one line.

Exit codes: 0 success; 1 a user or environment error (``error: …`` on
stderr, never a traceback); 2 a usage error (click's own message).
"""

from __future__ import annotations

import sys

import typer

from modelport import __version__
from modelport.cli import batch, db, endpoints, models, scoring, server, tokens
from modelport.cli.common import err_console

app = typer.Typer(
    name="modelport",
    help="Self-hosted ML deployment: register models, serve endpoints, score files.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(models.app, name="models")
app.add_typer(tokens.app, name="tokens")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(db.app, name="db")
app.add_typer(batch.app, name="jobs")
app.command("server")(server.server)
app.command("wait-ready")(server.wait_ready)
app.command("predict")(scoring.predict)
app.command("convert")(scoring.convert)
app.command("invoke")(endpoints.invoke)
app.command("serve")(endpoints.serve)
app.command("transform")(batch.transform)
app.command("gc")(db.gc)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelport {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """modelport command line."""


def fail(message: str) -> None:
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    sys.exit(1)


def main() -> None:
    from modelport.errors import ModelportError

    try:
        app()
    except ModelportError as exc:
        fail(exc.message)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename}" if getattr(exc, "filename", None) else str(exc))
    except Exception as exc:  # a bug: still one line, never a traceback
        fail(f"unexpected {type(exc).__name__}: {exc} (please report this)")


if __name__ == "__main__":
    main()
