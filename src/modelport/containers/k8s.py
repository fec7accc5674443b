"""``modelport k8s render``: the manifests that run an endpoint's image on a cluster.

Plain Kubernetes: a Deployment (startup, readiness and liveness probes on
``/healthz`` and ``/readyz``; resources; a preStop pause and a termination
grace period that let the pod drain; non-root with a read-only root
filesystem, ``/tmp`` an emptyDir), a Service, a HorizontalPodAutoscaler (CPU
utilisation or requests a second per pod) and a PodDisruptionBudget.
With ``kserve``: a ServingRuntime running the image and an InferenceService
using it over the Open Inference Protocol v2.

Manifests are plain dicts (what ``kubectl apply`` reads as YAML).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from modelport import __version__
from modelport.containers.dockerfile import PORT, USER_ID
from modelport.errors import InvalidArgument

Manifest = dict[str, Any]

#: seconds the pod keeps serving after Kubernetes starts removing it from the Service (endpoints propagate meanwhile)
PRESTOP_S = 5
#: well inside SageMaker's 30 s too: preStop (5) + the image's drain (2) + in-flight requests
GRACE_S = 30
#: the per-pod metric --hpa-rps scales on (served by a metrics adapter from modelport_http_requests_total)
RPS_METRIC = "modelport_http_requests_per_second"


@dataclass(frozen=True)
class Scaling:
    """Replicas, or a HorizontalPodAutoscaler between ``min`` and ``max`` on CPU or requests a second."""

    replicas: int = 1
    hpa_min: int | None = None
    hpa_max: int | None = None
    hpa_cpu: int | None = None
    hpa_rps: float | None = None

    @property
    def autoscaled(self) -> bool:
        return self.hpa_max is not None

    def check(self) -> Scaling:
        if self.replicas < 1:
            raise InvalidArgument("--replicas must be at least 1")
        hpa = (self.hpa_min, self.hpa_max, self.hpa_cpu, self.hpa_rps)
        if any(v is not None for v in hpa) and self.hpa_max is None:
            raise InvalidArgument("autoscaling needs --hpa-max (and optionally --hpa-min, --hpa-cpu or --hpa-rps)")
        if self.hpa_cpu is not None and self.hpa_rps is not None:
            raise InvalidArgument("pass --hpa-cpu or --hpa-rps, not both")
        if self.hpa_max is not None:
            low = self.hpa_min if self.hpa_min is not None else 1
            if low < 1 or self.hpa_max < low:
                raise InvalidArgument(f"--hpa-min ({low}) must be at least 1 and at most --hpa-max ({self.hpa_max})")
        if self.hpa_cpu is not None and not 1 <= self.hpa_cpu <= 100:
            raise InvalidArgument("--hpa-cpu is a utilisation percentage: 1-100")
        if self.hpa_rps is not None and self.hpa_rps <= 0:
            raise InvalidArgument("--hpa-rps must be a positive number of requests a second per pod")
        return self

    @property
    def minimum(self) -> int:
        return (self.hpa_min or 1) if self.autoscaled else self.replicas


def k8s_name(name: str) -> str:
    """A DNS-1123 label from an endpoint name (lower case, letters, digits, '-'; at most 63)."""
    out = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:63].strip("-")
    if not out:
        raise InvalidArgument(f"cannot make a Kubernetes name from {name!r}")
    return out


def _labels(name: str, endpoint: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": "endpoint",
        "app.kubernetes.io/part-of": "modelport",
        "app.kubernetes.io/managed-by": "modelport",
        "app.kubernetes.io/version": __version__,
        "modelport.io/endpoint": k8s_name(endpoint),
    }


def _probe(path: str, *, period: int, failures: int, timeout: int = 2) -> Manifest:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def container(image: str, *, name: str = "endpoint") -> Manifest:
    """The serving container: probes, resources, a drain on stop, and a locked-down security context."""
    return {
        "name": name,
        "image": image,
        "args": ["serve"],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [{"name": "MODELPORT_HOME", "value": "/tmp/modelport"}],
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        # started = the model loaded: up to 5 minutes for a large one, then liveness takes over
        "startupProbe": _probe("/readyz", period=2, failures=150),
        "readinessProbe": _probe("/readyz", period=5, failures=2),
        "livenessProbe": _probe("/healthz", period=10, failures=3),
        "lifecycle": {
            "preStop": {"exec": {"command": ["/opt/venv/bin/python", "-c", f"import time; time.sleep({PRESTOP_S})"]}}
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }


def _pod_spec(image: str) -> Manifest:
    return {
        "terminationGracePeriodSeconds": GRACE_S,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "fsGroup": USER_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "automountServiceAccountToken": False,
        "containers": [container(image)],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
    }


def deployment(name: str, endpoint: str, image: str, scaling: Scaling) -> list[Manifest]:
    """Deployment, Service, PodDisruptionBudget and (when autoscaled) HorizontalPodAutoscaler."""
    labels = _labels(name, endpoint)
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "modelport"}
    meta = {"name": name, "labels": labels}
    out: list[Manifest] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": scaling.minimum,
                "selector": {"matchLabels": selector},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {"metadata": {"labels": labels}, "spec": _pod_spec(image)},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
            },
        },
    ]
    if scaling.autoscaled:
        metric: Manifest
        if scaling.hpa_rps is not None:
            metric = {
                "type": "Pods",
                "pods": {
                    "metric": {"name": RPS_METRIC},
                    "target": {"type": "AverageValue", "averageValue": _quantity(scaling.hpa_rps)},
                },
            }
        else:
            metric = {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": scaling.hpa_cpu or 70}},
            }
        out.append(
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": meta,
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicas": scaling.minimum,
                    "maxReplicas": scaling.hpa_max,
                    "metrics": [metric],
                },
            }
        )
    # one pod at a time may be evicted; with two or more, one always stays
    budget = {"minAvailable": 1} if scaling.minimum >= 2 else {"maxUnavailable": 1}
    out.append(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta,
            "spec": {"selector": {"matchLabels": selector}, **budget},
        }
    )
    return out


def _quantity(value: float) -> str:
    """A Kubernetes quantity: whole numbers as they are, else milli-units (``2.5`` → ``2500m``)."""
    return str(int(value)) if float(value).is_integer() else f"{round(value * 1000)}m"


def kserve(name: str, endpoint: str, image: str, scaling: Scaling) -> list[Manifest]:
    """A ServingRuntime running the image (v2 protocol) and an InferenceService that uses it."""
    labels = _labels(name, endpoint)
    runtime = f"{name}-runtime"
    model_format = f"modelport-{name}"
    served = container(image, name="kserve-container")
    for key in ("startupProbe", "lifecycle"):  # KServe's own: it probes readiness and drains through its queue proxy
        served.pop(key)
    predictor: Manifest = {
        "minReplicas": scaling.minimum,
        "maxReplicas": scaling.hpa_max if scaling.autoscaled else scaling.minimum,
        "model": {"modelFormat": {"name": model_format}, "runtime": runtime, "protocolVersion": "v2"},
    }
    if scaling.hpa_cpu is not None:
        predictor.update(scaleMetric="cpu", scaleTarget=scaling.hpa_cpu)
    elif scaling.hpa_rps is not None:
        predictor.update(scaleMetric="rps", scaleTarget=int(scaling.hpa_rps))
    return [
        {
            "apiVersion": "serving.kserve.io/v1alpha1",
            "kind": "ServingRuntime",
            "metadata": {"name": runtime, "labels": labels},
            "spec": {
                "supportedModelFormats": [{"name": model_format, "version": "1", "autoSelect": True}],
                "protocolVersions": ["v2"],
                "containers": [served],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
            },
        },
        {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": {"name": name, "labels": labels},
            "spec": {"predictor": predictor},
        },
    ]


def render(endpoint: str, image: str, scaling: Scaling, *, use_kserve: bool = False) -> list[Manifest]:
    name = k8s_name(endpoint)
    scaling = scaling.check()
    made = kserve(name, endpoint, image, scaling) if use_kserve else deployment(name, endpoint, image, scaling)
    return json.loads(json.dumps(made))  # no shared dicts: YAML would write them as anchors and aliases


def file_name(manifest: Manifest) -> str:
    """``deployment.yaml``, ``horizontalpodautoscaler.yaml`` …: one file a kind."""
    return f"{manifest['kind'].lower()}.yaml"
