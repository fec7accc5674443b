"""TransformJob: a batch transform as the registry records it and every interface shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from modelport.batch.spec import TransformSpec

JobStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
JOB_STATUSES: tuple[str, ...] = ("pending", "running", "completed", "failed", "cancelled")
TERMINAL: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
#: ``created_by`` of the transform job an asynchronous request runs as (followed by its inference id)
ASYNC_JOB_CREATOR = "async:"


class JobProgress(BaseModel):
    """Counters of a job, updated while it runs (about once a second) and final when it ends."""

    model_config = ConfigDict(extra="ignore")

    inputs: int = 0
    inputs_done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    blocks_done: int = 0
    records: int = 0
    """Records read (good and bad)."""
    bad_records: int = 0
    rows_written: int = 0
    run_seconds: float = 0.0
    """Time spent running, over every run of the job."""

    @property
    def fraction(self) -> float:
        if self.inputs and self.inputs_done == self.inputs:
            return 1.0
        return min(1.0, self.bytes_done / self.bytes_total) if self.bytes_total else 0.0


class TransformJob(BaseModel):
    """One batch transform job: what it was asked, where it stands, what it produced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    status: JobStatus
    model: str
    """The version it scores, pinned when the job was created (``churn@champion`` → ``churn:3``)."""
    spec: TransformSpec
    progress: JobProgress = Field(default_factory=JobProgress)
    outputs: list[str] = Field(default_factory=list)
    """Output files (one per input, or one assembled); they exist once the job completed."""
    errors_file: str | None = None
    """The bad records (``input,row,reason``), when ``on_error=skip`` found any."""
    failure_code: str | None = None
    failure_reason: str | None = None
    cancel_requested: bool = False
    runs: int = 0
    created_by: str = ""
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def rows_per_second(self) -> float:
        seconds = self.progress.run_seconds
        return self.progress.records / seconds if seconds > 0 else 0.0
