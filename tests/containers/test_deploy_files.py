"""deploy/compose.yaml and deploy/helm/: what they set is what modelport reads."""

from __future__ import annotations

import re

import yaml

from modelport.settings import ENV_PREFIX, Settings
from tests import infra

DEPLOY = infra.REPO / "deploy"


def settings_named(names: set[str]) -> set[str]:
    """The names that are not MODELPORT_<field> variables of :class:`Settings`."""
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    return {n for n in names if n.startswith(ENV_PREFIX) and n not in fields}


def test_compose_runs_the_control_plane_on_postgres_and_an_s3_store_with_settings_modelport_reads() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"modelport", "postgres", "minio"} <= services.keys()
    server = services["modelport"]
    env = server["environment"]
    assert env["MODELPORT_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert env["MODELPORT_ARTIFACTS"].startswith("s3://") and env["MODELPORT_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert settings_named(set(env)) == set()
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert server["read_only"] is True and "/tmp" in server["tmpfs"]


def test_the_helm_chart_sets_only_settings_modelport_reads() -> None:
    chart = DEPLOY / "helm" / "modelport"
    assert yaml.safe_load((chart / "Chart.yaml").read_text())["name"] == "modelport"
    values = yaml.safe_load((chart / "values.yaml").read_text())
    assert values["image"]["repository"] == "modelport/server"
    template = (chart / "templates" / "deployment.yaml").read_text()
    names = set(re.findall(r"- name: (MODELPORT_[A-Z0-9_]+)", template))
    assert {"MODELPORT_DATABASE_URL", "MODELPORT_ARTIFACTS", "MODELPORT_SECRET_KEY"} <= names
    assert settings_named(names) == set()
    assert "readOnlyRootFilesystem: true" in template and "runAsNonRoot: true" in template
