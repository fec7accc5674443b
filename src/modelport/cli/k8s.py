"""``modelport k8s render``: Kubernetes (or KServe) manifests for an endpoint's image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modelport.cli.common import HomeOpt, JsonOpt, console, print_json, settings_for

app = typer.Typer(help="Manifests that run an endpoint's image on a Kubernetes cluster.", no_args_is_help=True)


@app.command()
def render(
    target: Annotated[str, typer.Argument(help="An endpoint, or a model version NAME:VERSION / NAME@ALIAS.")],
    replicas: Annotated[int, typer.Option("--replicas", help="Pods, without autoscaling.", min=1)] = 1,
    hpa_min: Annotated[int | None, typer.Option("--hpa-min", help="Autoscaling: fewest pods (default 1).",
                                                show_default=False)] = None,
    hpa_max: Annotated[int | None, typer.Option("--hpa-max", help="Autoscaling: most pods (turns autoscaling on).",
                                                show_default=False)] = None,
    hpa_cpu: Annotated[int | None, typer.Option("--hpa-cpu", help="Autoscaling target: CPU utilisation percent "
                                                "(default 70).", show_default=False)] = None,
    hpa_rps: Annotated[float | None, typer.Option("--hpa-rps", help="Autoscaling target: requests a second per pod "
                                                  "(a metrics adapter serves it).", show_default=False)] = None,
    use_kserve: Annotated[bool, typer.Option("--kserve", help="A KServe ServingRuntime + InferenceService instead.")] = False,
    image: Annotated[str | None, typer.Option("--image", help="The image (default what `modelport build` tags).",
                                              show_default=False)] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write one YAML file a kind here; default: "
                                                "print them.", show_default=False)] = None,
    home: HomeOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deployment, Service, HPA and PodDisruptionBudget (or, with --kserve, ServingRuntime + InferenceService)."""
    import yaml

    from modelport.containers import bundle as bundles
    from modelport.containers import k8s
    from modelport.containers.build import default_tag
    from modelport.services import Services

    services = Services.open(settings_for(home))
    try:
        bundle = bundles.resolve(services, target)
    finally:
        services.close()
    version = bundle.versions[0].version if bundles.is_version_target(target) else None
    image = image or default_tag(bundle.endpoint, version)
    scaling = k8s.Scaling(replicas=replicas, hpa_min=hpa_min, hpa_max=hpa_max, hpa_cpu=hpa_cpu, hpa_rps=hpa_rps)
    manifests = k8s.render(bundle.endpoint, image, scaling, use_kserve=use_kserve)
    files: list[str] = []
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        for manifest in manifests:
            path = output / k8s.file_name(manifest)
            path.write_text(yaml.safe_dump(manifest, sort_keys=False))
            files.append(str(path))
    if as_json:
        print_json({"image": image, "files": files, "manifests": manifests})
    elif output is None:
        typer.echo(yaml.safe_dump_all(manifests, sort_keys=False), nl=False)
    else:
        kinds = ", ".join(m["kind"] for m in manifests)
        console.print(f"wrote {kinds} for {image} to {output}", highlight=False, soft_wrap=True)
        console.print(f"apply them with: kubectl apply -f {output}", highlight=False, soft_wrap=True)
