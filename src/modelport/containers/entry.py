"""The container's entry point: ``docker run IMAGE [serve] [--host H] [--port P]``.

Seeds a fresh registry in ``MODELPORT_HOME`` (default ``/tmp/modelport``)
from the model bundle in ``/opt/ml/model`` (or the ``model.tar.gz`` SageMaker
left there), then serves that endpoint with modelport's own server: ``/ping``
and ``/invocations`` (SageMaker's container contract), the endpoint's
SageMaker runtime route, the Open Inference Protocol v2, MLflow payloads,
and ``/healthz`` / ``/readyz``.

The server runs as a child of this process.  On SIGTERM this process marks
the server draining (readiness answers 503 from then on), waits
``MODELPORT_DRAIN_SECONDS`` (default 2) for load balancers to notice, then
passes SIGTERM on: the server stops accepting, finishes what it accepted and
exits — well inside SageMaker's 30 s before SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from modelport.errors import ModelportError

MODEL_DIR = Path("/opt/ml/model")
USAGE = "usage: IMAGE [serve] [--host HOST] [--port PORT] [--workers N]"


def _options(argv: list[str]) -> dict[str, str]:
    args = argv[1:] if argv[:1] == ["serve"] else argv
    out: dict[str, str] = {}
    it = iter(args)
    for arg in it:
        name, eq, value = arg.partition("=")
        if name not in ("--host", "--port", "--workers"):
            raise SystemExit(f"error: unknown argument {arg!r}; {USAGE}")
        out[name[2:]] = value if eq else next(it, "")
    return out


def main(argv: list[str] | None = None) -> int:
    from modelport.settings import Settings

    opts = _options(sys.argv[1:] if argv is None else argv)
    env = os.environ
    model_dir = Path(env.get("MODELPORT_MODEL_DIR", str(MODEL_DIR)))
    port = opts.get("port") or env.get("SAGEMAKER_BIND_TO_PORT") or "8080"
    host = opts.get("host") or "0.0.0.0"
    drain_s = float(env.get("MODELPORT_DRAIN_SECONDS", "2"))
    settings = Settings.from_env()
    try:
        endpoint = seed(settings, model_dir)
    except ModelportError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    flag = settings.home / "draining"
    flag.unlink(missing_ok=True)
    child_env = {**env, "MODELPORT_DRAIN_FILE": str(flag)}
    cmd = [sys.executable, "-m", "modelport.cli.main", "serve", endpoint, "--host", host, "--port", port,
           "--workers", opts.get("workers") or "1"]  # fmt: skip
    server = subprocess.Popen(cmd, env=child_env)
    stopping = threading.Event()

    def on_term(signum: int, frame: object) -> None:
        if stopping.is_set():
            return
        stopping.set()
        flag.touch()  # readiness (/readyz, /ping) answers 503 from now on

        def later() -> None:
            stopping.wait(0)  # the flag is set; give load balancers drain_s to stop sending
            threading.Event().wait(drain_s)
            if server.poll() is None:
                server.send_signal(signal.SIGTERM)

        threading.Thread(target=later, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    return server.wait()


def seed(settings: object, model_dir: Path) -> str:
    """A fresh registry in the settings' home holding the bundle's endpoint; its name."""
    import shutil

    from modelport.containers.bundle import find_bundle, load_bundle
    from modelport.services import Services
    from modelport.settings import Settings

    assert isinstance(settings, Settings)
    home = settings.home
    for stale in ("modelport.db", "modelport.db-wal", "modelport.db-shm", "artifacts"):
        path = home / stale
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    folder = find_bundle(model_dir, home)
    services = Services.open(settings)
    try:
        return load_bundle(services, folder).endpoint
    finally:
        services.close()


if __name__ == "__main__":
    sys.exit(main())
