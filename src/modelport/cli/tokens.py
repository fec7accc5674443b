"""``modelport tokens …``"""

from __future__ import annotations

from typing import Annotated

import typer

from modelport.cli.common import HomeOpt, JsonOpt, console, err_console, open_client, print_json, table, when

app = typer.Typer(help="API tokens (stored hashed, and sealed with the server key for AWS SigV4; the secret is printed once).", no_args_is_help=True)


@app.command()
def create(
    scope: Annotated[str, typer.Option("--scope", help="admin | invoke | read")],
    name: Annotated[str | None, typer.Option("--name", help="A label to recognise it by.")] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a token and print its secret (once: it cannot be shown again)."""
    with open_client(home) as client:
        new = client.tokens.create(scope, name)
    if as_json:
        print_json(new)
        return
    err_console.print(f"Created {new.token.scope} token {new.token.name!r} (id {new.token.id}). Store it now:")
    # The secret alone on stdout, so `export MODELPORT_TOKEN=$(modelport tokens create …)` works.
    typer.echo(new.secret)


@app.command("list")
def list_(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List tokens (never their secrets)."""
    with open_client(home) as client:
        tokens = client.tokens.list()
    if as_json:
        print_json(tokens)
        return
    table(
        "Tokens",
        ["id", "name", "scope", "prefix", "sigv4", "created", "last used"],
        [
            (t.id, t.name, t.scope, t.prefix + "…", "yes" if t.sigv4 else "no", when(t.created_at), when(t.last_used_at))
            for t in tokens
        ],
    )


@app.command()
def revoke(token_id: Annotated[str, typer.Argument(help="Token id (see `tokens list`).")], home: HomeOpt = None) -> None:
    """Revoke a token."""
    with open_client(home) as client:
        client.tokens.revoke(token_id)
    console.print(f"Revoked token {token_id}")
