"""Tables of the registry (SQLAlchemy Core).  Migrations never import this module.

Core, not the ORM: every command opens the registry, and the ORM alone took
~0.15 s to import.  Stores read rows and return domain objects; nothing
above them sees a row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC (SQLite has no time zones), returns aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


metadata = sa.MetaData(naming_convention=NAMING)


models_table = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("tags", sa.JSON, nullable=False, default=dict),
    # The highest version ever assigned; never decreases, so deleted versions are not reused.
    sa.Column("version_counter", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

versions_table = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("format", sa.String(32), nullable=False),
    sa.Column("artifact_uri", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, index=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("files", sa.JSON, nullable=False, default=list),
    sa.Column("signature", sa.JSON, nullable=False, default=dict),
    sa.Column("metrics", sa.JSON, nullable=False, default=dict),
    sa.Column("params", sa.JSON, nullable=False, default=dict),
    sa.Column("tags", sa.JSON, nullable=False, default=dict),
    sa.Column("source", sa.JSON, nullable=False, default=dict),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("created_by", sa.String(255), nullable=False, default=""),
    sa.Column("baseline", sa.JSON, nullable=False, default=dict),
    sa.Column("conversion", sa.JSON, nullable=False, default=dict),
    sa.UniqueConstraint("model_id", "version"),
)

aliases_table = sa.Table(
    "aliases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("alias", sa.String(63), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    sa.UniqueConstraint("model_id", "alias"),
)

tokens_table = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(63), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    # The secret encrypted with the server key (modelport/server_key.py), for SigV4; NULL before 0006.
    sa.Column("sealed_secret", sa.Text, nullable=True),
)

endpoints_table = sa.Table(
    "endpoints",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("failure_reason", sa.Text, nullable=True),
    sa.Column("variant_status", sa.JSON, nullable=False, default=dict),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

endpoint_configs_table = sa.Table(
    "endpoint_configs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("endpoint_id", sa.ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("created_by", sa.String(255), nullable=False, default=""),
    sa.UniqueConstraint("endpoint_id", "revision"),
)

jobs_table = sa.Table(
    "transform_jobs",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("model", sa.String(140), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("spec", sa.JSON, nullable=False),
    # Fixed when the job is created (inputs, schema, outputs); every run works from it.
    sa.Column("plan", sa.JSON, nullable=False),
    sa.Column("progress", sa.JSON, nullable=False, default=dict),
    sa.Column("failure_code", sa.String(32), nullable=True),
    sa.Column("failure_reason", sa.Text, nullable=True),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    # Who runs it: a resume is refused while that process is alive and beating.
    sa.Column("runner_host", sa.String(255), nullable=True),
    sa.Column("runner_pid", sa.Integer, nullable=True),
    sa.Column("runs", sa.Integer, nullable=False, default=0),
    sa.Column("created_by", sa.String(255), nullable=False, default=""),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    # Also the heartbeat of a running job.
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

# -- monitoring (migration 0007) ----------------------------------------------

monitors_table = sa.Table(
    "monitors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("endpoint", sa.String(63), nullable=False),
    # None: every live variant of the endpoint, each judged on its own.
    sa.Column("variant", sa.String(63), nullable=True),
    # {"every": seconds} or {"cron": "0 * * * *"} or {} (run by hand / from cron only).
    sa.Column("schedule", sa.JSON, nullable=False),
    sa.Column("window_s", sa.Integer, nullable=False),
    sa.Column("config", sa.JSON, nullable=False),
    sa.Column("next_run_at", UTCDateTime, nullable=True),
    sa.Column("created_by", sa.String(255), nullable=False, default=""),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

monitor_runs_table = sa.Table(
    "monitor_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("monitor_id", sa.ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),  # completed | failed
    sa.Column("trigger", sa.String(16), nullable=False),  # manual | schedule
    sa.Column("since", UTCDateTime, nullable=False),
    sa.Column("until", UTCDateTime, nullable=False),
    # Per variant: rows, per-feature results, quality, estimate, violations (docs/monitoring.md).
    sa.Column("result", sa.JSON, nullable=False, default=dict),
    sa.Column("violations", sa.Integer, nullable=False, default=0),
    sa.Column("report_uri", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("finished_at", UTCDateTime, nullable=True),
)

monitor_alerts_table = sa.Table(
    "monitor_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("monitor_id", sa.ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False, index=True),
    # variant/feature/check: one alert per persisting violation (deduplicated while it lasts).
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # firing | resolved
    sa.Column("payload", sa.JSON, nullable=False, default=dict),
    sa.Column("first_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("last_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("delivered_at", UTCDateTime, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
)

baselines_table = sa.Table(
    "baselines",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(63), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # SageMaker's statistics.json and constraints.json, as made from a dataset or imported.
    sa.Column("statistics", sa.JSON, nullable=False),
    sa.Column("constraints", sa.JSON, nullable=False),
    sa.Column("source", sa.Text, nullable=False, default=""),
    sa.Column("created_by", sa.String(255), nullable=False, default=""),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Index("ix_baselines_model_version", "model", "version"),
)

capture_folds_table = sa.Table(
    "capture_folds",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("endpoint", sa.String(63), nullable=False),
    sa.Column("variant", sa.String(63), nullable=False),
    # One capture file, folded once per binning (the digest of the reference's bin edges).
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("binning", sa.String(64), nullable=False),
    sa.Column("first_at", UTCDateTime, nullable=False),
    sa.Column("last_at", UTCDateTime, nullable=False),
    sa.Column("records", sa.Integer, nullable=False),
    # {"YYYY-mm-ddTHH:MM": profile}: the file's rows folded per minute of inference time.
    sa.Column("profiles", sa.JSON, nullable=False),
    # {"YYYY-mm-ddTHH:MM": n}: records whose request could not be decoded, per minute.
    sa.Column("undecodable", sa.JSON, nullable=False, default=dict),
    # {message: n}: the first few distinct reasons (requests and replies).
    sa.Column("errors", sa.JSON, nullable=False, default=dict),
    # The file's predictions (inference id, time, row, label, prediction, scores) as Parquet, for joining feedback.
    sa.Column("predictions", sa.LargeBinary, nullable=True),
    sa.Column("folded_at", UTCDateTime, nullable=False, default=utcnow),
    sa.UniqueConstraint("path", "binning"),
    sa.Index("ix_capture_folds_endpoint_variant_first_at", "endpoint", "variant", "first_at"),
)

feedback_table = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("endpoint", sa.String(63), nullable=False),
    sa.Column("inference_id", sa.String(255), nullable=False),
    # A label (or a list, one per row of a multi-row request); the latest sent wins.
    sa.Column("label", sa.JSON, nullable=False),
    sa.Column("event_time", UTCDateTime, nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False, default=utcnow),
    sa.UniqueConstraint("endpoint", "inference_id"),
    # a window's labels: those received since it began, or stamped inside it (monitoring/feedback.py)
    sa.Index("ix_feedback_endpoint_received_at", "endpoint", "received_at"),
    sa.Index("ix_feedback_endpoint_event_time", "endpoint", "event_time"),
)

leases_table = sa.Table(
    "leases",
    metadata,
    # Who may run a singleton (the monitor scheduler) until when; taken and renewed in one UPDATE.
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

# -- experiments (migration 0008) ---------------------------------------------

experiments_table = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("endpoint", sa.String(63), nullable=False),
    sa.Column("control", sa.String(63), nullable=False),
    sa.Column("treatment", sa.String(63), nullable=False),
    # metric, mode, alpha, mde, max_samples, guardrails, on_win, on_breach, unit (docs/experiments.md).
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # running | ended
    # running | treatment_wins | control_wins | no_difference | guardrail_breached | srm | stopped
    sa.Column("decision", sa.String(32), nullable=False),
    # What sequential statistics carry from one look to the next (running minimum p-values, bandit posteriors).
    sa.Column("state", sa.JSON, nullable=False, default=dict),
    # The latest evaluation: per arm n, metric, intervals, lift, p-value, SRM, guardrails.
    sa.Column("result", sa.JSON, nullable=False, default=dict),
    sa.Column("stop_reason", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(255), nullable=False, default=""),
    sa.Column("started_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("evaluated_at", UTCDateTime, nullable=True),
    sa.Column("ended_at", UTCDateTime, nullable=True),
    sa.Index("ix_experiments_endpoint_status", "endpoint", "status"),
    # at most one running experiment per endpoint, whoever starts them at once (SQLite and PostgreSQL alike)
    sa.Index(
        "uq_experiments_running_endpoint",
        "endpoint",
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    ),
)

experiment_events_table = sa.Table(
    "experiment_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("experiment_id", sa.ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False, index=True),
    # started, weights, decision, promoted, rolled_back, ended, stopped, manual_change, error …
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False, default=dict),
    sa.Column("at", UTCDateTime, nullable=False, default=utcnow),
)

arm_counters_table = sa.Table(
    "arm_counters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("endpoint", sa.String(63), nullable=False),
    sa.Column("variant", sa.String(63), nullable=False),
    # the version the variant served (name:N): a variant swapped mid-minute starts rows of its own
    sa.Column("model", sa.String(255), nullable=False),
    # the experiment named by the endpoint's routing when counted ('' for none): its arms' rows exactly
    sa.Column("experiment", sa.String(63), nullable=False, default=""),
    sa.Column("minute", UTCDateTime, nullable=False),
    # host:pid:token of the serving process: each process upserts its own row, readers sum them.
    sa.Column("process", sa.String(255), nullable=False),
    # requests, errors, latency histogram, requests with/without a unit id; for shadows the comparison counts.
    sa.Column("counters", sa.JSON, nullable=False, default=dict),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    sa.UniqueConstraint("endpoint", "variant", "minute", "model", "experiment", "process", name="uq_arm_counters_key"),
    sa.Index("ix_arm_counters_minute", "minute"),  # pruning old minutes
)


# -- SageMaker control plane (P11, migration 0009) ------------------------------------------

sagemaker_resources_table = sa.Table(
    "sagemaker_resources",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # model | endpoint-config | endpoint | transform-job: the ARN's resource type
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("name", sa.String(63), nullable=False),
    # the modelport object behind it: a model version (name:N), an endpoint name, a transform job id
    sa.Column("target", sa.String(255), nullable=True),
    # the request as SageMaker described it (PascalCase), answered back by Describe*
    sa.Column("body", sa.JSON, nullable=False, default=dict),
    sa.Column("created_by", sa.String(255), nullable=False, default=""),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    sa.UniqueConstraint("kind", "name", name="uq_sagemaker_resources_kind_name"),
)


# -- asynchronous inference (migration 0010) -----------------------------------------------------

async_inferences_table = sa.Table(
    "async_inferences",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    # the caller's X-Amzn-SageMaker-Inference-Id, or a generated one: the idempotency key
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("endpoint", sa.String(63), nullable=False),
    sa.Column("variant", sa.String(63), nullable=False),
    sa.Column("model", sa.String(140), nullable=False),  # the version the variant served when accepted (name:N)
    # queued | running | completed | failed | expired | cancelled | dead_letter (docs/async.md)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("input_location", sa.Text, nullable=False),
    sa.Column("output_location", sa.Text, nullable=False),
    sa.Column("failure_location", sa.Text, nullable=False),
    # content_type, accept, custom_attributes, notification config, input bytes …
    sa.Column("request", sa.JSON, nullable=False, default=dict),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False, default=3),
    sa.Column("timeout_s", sa.Float, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),  # not started by then: expired (RequestTTLSeconds)
    sa.Column("not_before", UTCDateTime, nullable=False),  # the next attempt's earliest start (retry backoff)
    sa.Column("lease_holder", sa.String(255), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("job_id", sa.String(32), nullable=True),  # the transform job doing the work (resumed after a crash)
    sa.Column("error_code", sa.String(32), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("result", sa.JSON, nullable=False, default=dict),  # rows, bytes, seconds, notification outcome
    sa.Column("created_by", sa.String(255), nullable=False, default=""),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Index("ix_async_inferences_status_not_before", "status", "not_before"),
    sa.Index("ix_async_inferences_endpoint_status", "endpoint", "status"),
)


# -- tuning jobs (migration 0011) ---------------------------------------------

tuning_jobs_table = sa.Table(
    "tuning_jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    # pending | running | completed | failed | stopped
    sa.Column("status", sa.String(16), nullable=False),
    # TuningSpec (tuning/spec.py): objectives, search space, budget, the trial, what to register.
    sa.Column("spec", sa.JSON, nullable=False),
    # what ended it (budget, target, timeout, max_failed, stopped), the registered version
    sa.Column("outcome", sa.JSON, nullable=False, default=dict),
    sa.Column("stop_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("runs", sa.Integer, nullable=False, default=0),
    sa.Column("runner_host", sa.String(255), nullable=True),
    sa.Column("runner_pid", sa.Integer, nullable=True),
    sa.Column("failure_code", sa.String(32), nullable=True),
    sa.Column("failure_reason", sa.Text, nullable=True),
    sa.Column("created_by", sa.String(255), nullable=False, default=""),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("started_at", UTCDateTime, nullable=True),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    # the runner beats here; a running job not updated for long on another host is presumed dead
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

tuning_trials_table = sa.Table(
    "tuning_trials",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.ForeignKey("tuning_jobs.id", ondelete="CASCADE"), nullable=False),
    # 0, 1, 2 … within the job; a trial rerun after a crash keeps its number (never counted twice)
    sa.Column("number", sa.Integer, nullable=False),
    # running | complete | pruned | failed
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("params", sa.JSON, nullable=False, default=dict),
    # everything the trial reported and modelport measured (latency_p99_ms, model_size_bytes …)
    sa.Column("metrics", sa.JSON, nullable=False, default=dict),
    # the objectives' values, in the spec's order (what the sampler was told)
    sa.Column("objective_values", sa.JSON, nullable=True),
    # step → value reported while running (pruning)
    sa.Column("intermediate", sa.JSON, nullable=False, default=dict),
    sa.Column("reason", sa.Text, nullable=True),
    # the trial's model file and data sample (beside the home), for registering it later
    sa.Column("artifacts", sa.JSON, nullable=False, default=dict),
    sa.Column("attempts", sa.Integer, nullable=False, default=1),
    sa.Column("started_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("job_id", "number"),
)
