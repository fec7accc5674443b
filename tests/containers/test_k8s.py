"""`modelport k8s render`: manifests that the Kubernetes API schema accepts (checked offline with the official client's models)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from modelport.containers import k8s
from modelport.errors import InvalidArgument
from tests.cli.conftest import cli  # noqa: F401 - the in-process CLI runner

KINDS = {
    ("apps/v1", "Deployment"): "V1Deployment",
    ("v1", "Service"): "V1Service",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2HorizontalPodAutoscaler",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
}


def validate(manifest: dict[str, Any], model: str) -> None:
    """Deserialize into the client's model (required fields, types) and back: a misspelt field would be dropped."""
    client = ApiClient()
    obj = client._ApiClient__deserialize(manifest, model)  # type: ignore[attr-defined]
    assert client.sanitize_for_serialization(obj) == manifest


def validate_kube(manifests: list[dict[str, Any]]) -> None:
    for m in manifests:
        validate(m, KINDS[(m["apiVersion"], m["kind"])])


def test_deployment_service_and_budget_are_valid_kubernetes_and_lock_the_pod_down() -> None:
    manifests = k8s.render("Iris_EP", "registry.local/iris:3", k8s.Scaling(replicas=3))
    assert [m["kind"] for m in manifests] == ["Deployment", "Service", "PodDisruptionBudget"]
    validate_kube(manifests)
    deployment, service, budget = manifests
    assert deployment["metadata"]["name"] == "iris-ep" and deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    (box,) = pod["containers"]
    assert box["image"] == "registry.local/iris:3" and box["args"] == ["serve"]
    assert box["readinessProbe"]["httpGet"]["path"] == "/readyz" and box["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert box["startupProbe"]["httpGet"]["path"] == "/readyz"
    assert box["resources"]["requests"] and box["resources"]["limits"]["memory"]
    assert box["lifecycle"]["preStop"]["exec"]["command"][0] == "/opt/venv/bin/python"
    assert pod["terminationGracePeriodSeconds"] == 30
    assert box["securityContext"]["readOnlyRootFilesystem"] is True and box["securityContext"]["runAsNonRoot"] is True
    assert box["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in box["volumeMounts"]  # the registry the image seeds lives there
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert budget["spec"] == {"selector": deployment["spec"]["selector"], "minAvailable": 1}


@pytest.mark.parametrize(
    ("scaling", "metric"),
    [
        (k8s.Scaling(hpa_min=2, hpa_max=10), {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}),
        (k8s.Scaling(hpa_max=4, hpa_cpu=55), {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 55}}}),
        (k8s.Scaling(hpa_max=4, hpa_rps=2.5), {"type": "Pods", "pods": {"metric": {"name": k8s.RPS_METRIC}, "target": {"type": "AverageValue", "averageValue": "2500m"}}}),
    ],
)
def test_the_autoscaler_is_valid_and_scales_on_cpu_or_requests_a_second(scaling: k8s.Scaling, metric: dict[str, Any]) -> None:
    manifests = k8s.render("iris", "iris:1", scaling)
    validate_kube(manifests)
    hpa = next(m for m in manifests if m["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"] == [metric]
    assert hpa["spec"]["maxReplicas"] == scaling.hpa_max and hpa["spec"]["minReplicas"] == (scaling.hpa_min or 1)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "iris"}
    budget = next(m for m in manifests if m["kind"] == "PodDisruptionBudget")
    assert budget["spec"].get("minAvailable") == (1 if (scaling.hpa_min or 1) >= 2 else None)


def test_kserve_is_a_serving_runtime_and_an_inference_service_over_v2() -> None:
    runtime, service = k8s.render("iris", "iris:1", k8s.Scaling(hpa_min=1, hpa_max=3, hpa_cpu=60), use_kserve=True)
    assert (runtime["apiVersion"], runtime["kind"]) == ("serving.kserve.io/v1alpha1", "ServingRuntime")
    assert (service["apiVersion"], service["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    (box,) = runtime["spec"]["containers"]
    validate(box, "V1Container")
    for volume in runtime["spec"]["volumes"]:
        validate(volume, "V1Volume")
    assert runtime["spec"]["protocolVersions"] == ["v2"]
    fmt = runtime["spec"]["supportedModelFormats"][0]
    predictor = service["spec"]["predictor"]
    assert predictor["model"] == {"modelFormat": {"name": fmt["name"]}, "runtime": runtime["metadata"]["name"], "protocolVersion": "v2"}
    assert (predictor["minReplicas"], predictor["maxReplicas"], predictor["scaleMetric"], predictor["scaleTarget"]) == (1, 3, "cpu", 60)
    validate(service["metadata"], "V1ObjectMeta")


@pytest.mark.parametrize(
    ("scaling", "message"),
    [
        (k8s.Scaling(hpa_min=2), "autoscaling needs --hpa-max"),
        (k8s.Scaling(hpa_max=2, hpa_cpu=50, hpa_rps=3), "--hpa-cpu or --hpa-rps, not both"),
        (k8s.Scaling(hpa_min=5, hpa_max=2), "--hpa-min (5) must be at least 1 and at most --hpa-max (2)"),
        (k8s.Scaling(hpa_max=2, hpa_cpu=0), "1-100"),
    ],
)
def test_contradictory_scaling_is_refused(scaling: k8s.Scaling, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        k8s.render("iris", "iris:1", scaling)


def test_the_cli_writes_one_file_a_kind_for_an_endpoint_with_its_built_tag(
    cli: Any,  # noqa: F811
    model_file: Path,
    tmp_path: Path,
) -> None:
    def ok(*args: str) -> str:
        code, out, err = cli(*args)
        assert code == 0, err
        return str(out)

    ok("models", "register", str(model_file), "--name", "churn")
    ok("endpoints", "create", "churn-ep", "--variant", "a=churn:1")
    out = tmp_path / "manifests"
    result = json.loads(ok("k8s", "render", "churn-ep", "--hpa-max", "4", "--output", str(out), "--json"))
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["deployment.yaml", "service.yaml", "horizontalpodautoscaler.yaml", "poddisruptionbudget.yaml"]
    )
    deployment = yaml.safe_load((out / "deployment.yaml").read_text())
    validate(deployment, "V1Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == result["image"] == "modelport/churn-ep:latest"
    printed = list(yaml.safe_load_all(ok("k8s", "render", "churn:1")))
    assert [m["kind"] for m in printed] == ["Deployment", "Service", "PodDisruptionBudget"]
    assert printed[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "modelport/churn:1"
    code, _, err = cli("k8s", "render", "nope")
    assert code == 1 and err.startswith("error: no endpoint 'nope'") and err.count("\n") == 1
