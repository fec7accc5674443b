"""Settings, read once from ``MODELPORT_*`` environment variables and passed down.

Nothing else in modelport reads the environment: the CLI builds a
:class:`Settings` (applying ``--home`` and friends), the server receives one,
and the SDK's :class:`~modelport.Client` takes one or builds it.

A plain pydantic model reads the variables as pydantic-settings'
``BaseSettings`` did for these fields (``MODELPORT_<FIELD>``, any case;
keyword arguments win; every value validated, defaults too):
pydantic-settings cost every command ~50 ms of start-up, importing asyncio
and its cloud secret providers, to read a dozen flat strings.
"""

from __future__ import annotations

import contextlib
import getpass
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from modelport.errors import InvalidArgument
from modelport.logs import LogLevel

ENV_PREFIX = "MODELPORT_"


def default_user() -> str:
    """The OS user, recorded as ``created_by`` unless ``MODELPORT_USER`` says otherwise."""
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return "unknown"


class Settings(BaseModel):
    """Where modelport keeps its state and how it is reached.

    ``Settings(**fields)``: the given fields, the others from ``MODELPORT_<FIELD>``
    variables, else their defaults.
    """

    model_config = ConfigDict(extra="ignore", validate_default=True)

    def __init__(self, **fields: Any) -> None:
        super().__init__(**{**_environment(type(self)), **fields})

    home: Path = Field(default=Path("~/.modelport"))
    """Folder for the default SQLite database and artifact store."""

    database_url: str | None = None
    """SQLAlchemy URL of the registry database; default ``sqlite:///<home>/modelport.db``.
    PostgreSQL: ``postgresql+psycopg://user:pass@host:5432/db`` (``postgres://`` and ``postgresql://``
    are read as that: :func:`modelport.db.database.database_url`)."""

    artifacts: str | None = None
    """Artifact store root: a folder (default ``<home>/artifacts``) or ``s3://bucket/prefix``."""

    s3_endpoint_url: str | None = None
    """Endpoint of an S3-compatible server (MinIO, moto); default AWS."""

    url: str | None = None
    """A remote modelport server for the CLI and SDK (``http://host:8080``); unset = in-process."""

    token: SecretStr | None = None
    """Bearer token sent to a remote server."""

    auth: Literal["auto", "required", "off"] = "auto"
    """``required``: every API call needs a token; ``auto``: required once any token exists."""

    secret_key: SecretStr | None = None
    """Key that encrypts each token's secret for AWS Signature V4 checks (any string); default the
    text of ``<home>/secret.key``, made on first use. Servers and CLIs sharing a database need the same."""

    max_upload_bytes: int = 2 * 1024**3
    """Largest artifact upload the server accepts."""

    max_request_bytes: int = 6 * 1024 * 1024
    """Largest invocation body the data plane accepts (SageMaker's 6 MiB); a gzip/deflate body is measured
    both as sent and inflated (inflating stops at the limit: 413)."""

    max_api_body_bytes: int = 1024 * 1024
    """Largest control-API request body (JSON); artifact uploads have ``max_upload_bytes``."""

    request_timeout_s: float = 60.0
    """Per-invocation deadline."""

    header_read_timeout_s: float = Field(default=10.0, gt=0)
    """How long a client may take to send a request's headers; then its connection is closed (granian's
    HTTP/1 ``header_read_timeout``)."""

    body_read_timeout_s: float = Field(default=30.0, gt=0)
    """How long a client may take to send a request body, plus a second per ``body_min_rate`` bytes it has
    sent: a slower body is answered 408 (a client sending a byte a second is cut off after this long)."""

    body_min_rate: int = Field(default=64 * 1024, gt=0)
    """Bytes a second at which a body earns more time (see ``body_read_timeout_s``): an upload that keeps
    coming at least this fast is never cut off."""

    sync_interval_s: float = 0.5
    """How often each server process checks the registry for endpoint changes."""

    runtime_threads: int = 1
    """Intra-op threads per loaded model (servers get parallelism from concurrent requests)."""

    native_trees: bool = True
    """Score ONNX tree ensembles with modelport's kernel where it is bit-identical (runtimes/onnx_trees.py)."""

    predict_threads: int = 16
    """Worker threads per server process running model calls."""

    capture_flush_s: float = 1.0
    """How often captured records are written out (and always at shutdown)."""

    arm_counters_flush_s: float = 5.0
    """How often each serving process writes its per-variant, per-minute counts (arm_counters) to the database."""

    monitor_scheduler: bool = True
    """Servers run scheduled monitors (one runner across all workers and servers sharing the database, by a
    lease); off: only ``modelport monitors run`` runs them (from cron, say)."""

    experiment_interval_s: float = Field(default=5.0, gt=0)
    """How often the server running the experiment evaluator (one across all servers sharing the database, by
    a lease) looks at running experiments: decisions, rollbacks and bandit weights follow within this long."""

    serve_endpoint: str | None = None
    """Serve only this endpoint's data plane (set by `modelport serve NAME`)."""

    drain_file: Path | None = None
    """While this file exists the server is draining: readiness (``/readyz``, and ``/ping`` when serving one
    endpoint) answers 503 while requests are still served (a container's entry point creates it on SIGTERM)."""

    metrics_dir: Path | None = None
    """Shared folder for Prometheus samples when the server runs several workers."""

    user: str | None = None
    """Name recorded as ``created_by``; default the OS user."""

    tmp_dir: Path | None = None
    """Where uploads in flight are spooled; default ``<home>/tmp`` (swept of crash leftovers at server start)."""

    allow_pickle: bool = True
    """Accept pickle formats (scikit-learn joblib/pickle, saved PyTorch modules) at all; their files are
    still scanned before anything is unpickled (see modelport/pickles.py)."""

    log_level: LogLevel = "info"
    """Server log level (``modelport server --log-level``)."""

    access_log: bool = True
    """Servers log one line per request (``--no-access-log`` turns it off)."""

    # -- asynchronous inference (docs/async.md) --

    async_worker: bool = True
    """Servers work the asynchronous inference queue (PostgreSQL: every server process; SQLite: one process
    across all sharing the database, by a lease)."""

    async_max_input_bytes: int = Field(default=1024**3, gt=0)
    """Largest asynchronous inference input (1 GiB); a larger one fails (written to the failure location)."""

    async_max_timeout_s: float = Field(default=3600.0, gt=0)
    """Longest an asynchronous inference may run (``X-Amzn-SageMaker-InvocationTimeoutSeconds`` is capped at it)."""

    async_default_timeout_s: float = Field(default=900.0, gt=0)
    """Processing time allowed when the request names none."""

    async_default_ttl_s: float = Field(default=6 * 3600.0, gt=0)
    """How long a request may wait in the queue before it expires, when it names no ``RequestTTLSeconds``."""

    async_max_attempts: int = Field(default=3, ge=1, le=100)
    """Tries per request when it fails for a passing reason (store or database away, the worker died);
    then it is dead-lettered."""

    async_retry_backoff_s: float = Field(default=5.0, ge=0)
    """Wait before the first retry, doubled on each further one (capped at 10 minutes)."""

    async_lease_s: float = Field(default=30.0, gt=0)
    """A worker renews its claim on a request every third of this; when it dies, another resumes the
    request once this long has passed."""

    async_poll_s: float = Field(default=1.0, gt=0)
    """How often an idle worker looks for work."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'modelport.db'}"

    @property
    def resolved_artifacts(self) -> str:
        return self.artifacts or str(self.home / "artifacts")

    @property
    def spool_dir(self) -> Path:
        """Folder for uploads in flight (``tmp_dir``, default ``<home>/tmp``)."""
        return (self.tmp_dir or self.home / "tmp").expanduser()

    @property
    def is_remote(self) -> bool:
        return bool(self.url)

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """The settings in the environment, some fields replaced (``None`` values are ignored).

        A bad value is an INVALID_ARGUMENT naming its variable.
        """
        try:
            return cls(**{k: v for k, v in overrides.items() if v is not None})
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ENV_PREFIX + str(first["loc"][0]).upper() if first["loc"] else ENV_PREFIX + "*"
            raise InvalidArgument(f"{name}={first.get('input')!r}: {first['msg']}") from None

    def runtime_options(self, *, threads: int | None = None) -> dict[str, Any]:
        """What every model load gets from these settings (``threads`` overrides the setting)."""
        return {"threads": threads or self.runtime_threads, "native_trees": self.native_trees}

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (``None`` values are ignored)."""
        data = {k: v for k, v in changes.items() if v is not None}
        if not data:
            return self
        return type(self)(**{**self.model_dump(), **data})

    def to_env(self) -> dict[str, str]:
        """The environment that rebuilds these settings in a child process (server workers)."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
        return env


def _environment(settings: type[Settings]) -> dict[str, str]:
    """The fields set by ``MODELPORT_<FIELD>`` variables, names in any case (the last one set wins)."""
    variables = {key.lower(): value for key, value in os.environ.items()}
    names = {f"{ENV_PREFIX}{field}".lower(): field for field in settings.model_fields}
    return {names[key]: value for key, value in variables.items() if key in names}
