"""Real components the integration tests start themselves.

- a throwaway PostgreSQL cluster (initdb/pg_ctl from `pg_config --bindir`,
  run as the `postgres` user when we are root, temp dir (in /dev/shm when it
  has room), free loopback port);
- an S3-compatible server on loopback (moto in server mode);
- `modelport server` processes on free ports.

None of these skip when a component is missing: they fail with what to install.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
#: For processes the tests start: this checkout's modelport (whatever the venv installed) and `tests`.
PYTHONPATH = os.pathsep.join([str(REPO / "src"), str(REPO)])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll a condition until it holds (no sleeps as synchronisation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


# -- PostgreSQL -----------------------------------------------------------------


def _pg_bindir() -> Path:
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        bindir = Path(out)
    except (OSError, subprocess.CalledProcessError):
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not candidates:
            raise RuntimeError("PostgreSQL binaries not found: install postgresql (initdb, pg_ctl)") from None
        bindir = candidates[-1]
    if not (bindir / "initdb").exists():
        candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not candidates:
            raise RuntimeError(f"initdb not found in {bindir}: install the postgresql server package")
        bindir = candidates[-1].parent
    return bindir


@dataclass
class PostgresCluster:
    root: Path
    port: int
    bindir: Path
    as_user: list[str]
    databases: list[str] = field(default_factory=list)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url(name)

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def _pg_scratch() -> str | None:
    """A RAM-backed folder for the cluster where there is room: a database per test is
    written and thrown away, and on a disk mounted with online discard removing it alone
    took 10-25 s."""
    shm = "/dev/shm"
    try:
        return shm if os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 << 30 else None
    except OSError:
        return None


def start_postgres() -> PostgresCluster:
    bindir = _pg_bindir()
    root = Path(tempfile.mkdtemp(prefix="modelport-pg-", dir=_pg_scratch()))
    as_user: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    data = root / "data"
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200"
    proc = subprocess.run(
        [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "-t", "60", "start"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {proc.stderr}\n{log}")
    return PostgresCluster(root=root, port=port, bindir=bindir, as_user=as_user)


# -- S3 ---------------------------------------------------------------------------


@dataclass
class S3Server:
    url: str
    server: object

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "MODELPORT_S3_ENDPOINT_URL": self.url,
        }

    def create_bucket(self) -> str:
        import boto3

        name = f"b-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        ).create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        self.server.stop()  # type: ignore[attr-defined]


def start_s3() -> S3Server:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _http_ok(f"{url}/moto-api/"), 20, "the moto S3 server")
    return S3Server(url=url, server=server)


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


# -- modelport server -------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    proc: subprocess.Popen[str]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def modelport_cmd() -> list[str]:
    return [sys.executable, "-m", "modelport.cli.main"]


@contextlib.contextmanager
def live_server(env: dict[str, str], *args: str, startup_timeout: float = 60) -> Iterator[LiveServer]:
    port = free_port()
    log_path = Path(tempfile.mkstemp(prefix="modelport-server-", suffix=".log")[1])
    full_env = {**os.environ, **env}
    # The server runs this checkout's code, whatever modelport the interpreter has installed (worktrees).
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), full_env.get("PYTHONPATH")]))
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [*modelport_cmd(), "server", "--port", str(port), *args],
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = LiveServer(url=f"http://127.0.0.1:{port}", proc=proc, log_path=log_path)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"modelport server exited with {proc.returncode}:\n{server.log()}")
        return _http_ok(f"{server.url}/ping")

    try:
        wait_for(ready, startup_timeout, "modelport server /ping")
        yield server
    finally:
        server.stop()
        log_path.unlink(missing_ok=True)
