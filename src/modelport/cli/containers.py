"""``modelport build``: one image per endpoint (or version), or the control plane's (``--server``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelport.cli.common import HomeOpt, JsonOpt, console, print_json, settings_for


def _mb(size: int | None) -> str:
    return "?" if size is None else f"{size / 1e6:.1f} MB"


def build(
    target: Annotated[
        str | None,
        typer.Argument(help="An endpoint, or a model version NAME:VERSION / NAME@ALIAS.", show_default=False),
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option("--tag", "-t", help="Image tag (default modelport/NAME:VERSION, or :latest for an endpoint).",
                     show_default=False),
    ] = None,
    base: Annotated[str, typer.Option("--base", help="Base image; any with Python 3.11.")] = "python:3.11-slim",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the build context here (kept); default a temporary folder.",
                     show_default=False),
    ] = None,
    no_build: Annotated[
        bool, typer.Option("--no-build", help="Only write the build context (no engine needed).")
    ] = False,
    server: Annotated[
        bool, typer.Option("--server", help="Build the control-plane image (`modelport server`) instead.")
    ] = False,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build a slim container image serving TARGET on port 8080 (SageMaker, KServe v2, MLflow payloads).

    Wheels come from this environment at their installed versions, so the build needs no network.
    The engine is the one DOCKER_HOST names (default the local Docker socket).
    """
    from modelport.containers.build import build as run
    from modelport.services import Services

    if no_build and output is None:
        from modelport.errors import InvalidArgument

        raise InvalidArgument("--no-build needs --output DIR: where to write the build context")
    services = Services.open(settings_for(home))
    try:
        result = run(services, target, tag=tag, base=base, output=output, no_build=no_build, server=server)
    finally:
        services.close()
    if as_json:
        print_json(result.to_json())
        return
    say = console.print
    if result.image_id is None:
        say(f"build context for {result.tag} written to {result.context}", highlight=False, soft_wrap=True)
        say(f"build it with: docker build -t {result.tag} --build-arg BASE={result.base} {result.context}",
            highlight=False, soft_wrap=True)
        return
    say(f"built {result.tag}", highlight=False)
    say(f"  image id:   {result.image_id}", highlight=False)
    above = f" ({_mb(result.size_above_base)} above {result.base})" if result.size_above_base is not None else ""
    say(f"  size:       {_mb(result.size)}{above}", highlight=False)
    say(f"  build time: {result.build_seconds:.1f} s", highlight=False)
    if result.context:
        say(f"  context:    {result.context}", highlight=False)
    say(f"run it with: {result.run}", highlight=False, soft_wrap=True)
