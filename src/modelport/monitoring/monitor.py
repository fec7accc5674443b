"""Monitors and their runs as the registry knows them (also the REST schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RunStatus = Literal["completed", "failed"]
Trigger = Literal["manual", "schedule"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Monitor(_Frozen):
    """Drift and data quality of an endpoint's captured traffic, judged against its versions' baselines."""

    id: int
    name: str
    endpoint: str
    variant: str | None = None
    """None: every live variant, each judged on its own."""
    schedule: dict[str, Any] = Field(default_factory=dict)
    """``{"every": seconds}``, ``{"cron": "0 * * * *"}``, or ``{}``: runs only when asked."""
    window_s: int
    """A run looks at the capture of ``[until - window, until)``."""
    config: dict[str, Any] = Field(default_factory=dict)
    """Thresholds per feature (``monitor.yaml``; docs/monitoring.md)."""
    next_run_at: datetime | None = None
    created_by: str = ""
    created_at: datetime
    updated_at: datetime


class MonitorRun(_Frozen):
    """One run: the window it judged and, per variant, what it found (``result``, see docs/monitoring.md)."""

    id: int
    monitor: str
    status: RunStatus
    trigger: Trigger
    since: datetime
    until: datetime
    result: dict[str, Any] = Field(default_factory=dict)
    violations: int = 0
    report_uri: str | None = None
    """Folder of statistics.json, constraint_violations.json (per variant) and report.json."""
    error: str | None = None
    started_at: datetime
    finished_at: datetime | None = None


class MonitorAlert(_Frozen):
    id: int
    monitor: str
    key: str
    state: str
    payload: dict[str, Any] = Field(default_factory=dict)
    first_at: datetime
    last_at: datetime
    delivered_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None


class MonitorDetails(_Frozen):
    """``monitors show``: the monitor, its last runs (newest first) and its alerts."""

    monitor: Monitor
    runs: list[MonitorRun] = Field(default_factory=list)
    alerts: list[MonitorAlert] = Field(default_factory=list)


class DatasetBaseline(_Frozen):
    """A baseline made from a dataset (or imported from SageMaker files) for one model version."""

    id: int
    model: str
    version: int
    statistics: dict[str, Any]
    """SageMaker Model Monitor's statistics.json."""
    constraints: dict[str, Any]
    """SageMaker Model Monitor's constraints.json."""
    source: str = ""
    created_by: str = ""
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"
