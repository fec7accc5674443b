"""The container's entry point: ``docker run IMAGE [serve] [--host H] [--port P]``.

Puts a registry holding the endpoint in ``MODELPORT_HOME`` (default
``/tmp/modelport``) — a copy of the one seeded at build time when
``/opt/ml/model`` still holds the image's own bundle, else one seeded from
whatever is there (the ``model.tar.gz`` SageMaker left included) — then
serves that endpoint with modelport's own server: ``/ping``
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

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from modelport.errors import ModelportError

if TYPE_CHECKING:
    from modelport.settings import Settings

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
    """Supervise the server: only the standard library here, so this process costs no start-up time."""
    import tempfile

    opts = _options(sys.argv[1:] if argv is None else argv)
    env = os.environ
    drain_s = float(env.get("MODELPORT_DRAIN_SECONDS", "2"))
    flag = Path(tempfile.gettempdir()) / f"modelport-draining-{os.getpid()}"
    flag.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "modelport.containers.entry", "--child",
           opts.get("host") or "0.0.0.0", opts.get("port") or env.get("SAGEMAKER_BIND_TO_PORT") or "8080",
           opts.get("workers") or "1"]  # fmt: skip
    server = subprocess.Popen(cmd, env={**env, "MODELPORT_DRAIN_FILE": str(flag)})
    stopping = threading.Event()

    def stop_later() -> None:
        stopping.wait(drain_s)  # load balancers see readiness fail and stop sending meanwhile
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)  # granian: stop accepting, finish what was accepted, exit

    def on_term(signum: int, frame: object) -> None:
        if not flag.exists():
            flag.touch()  # readiness (/readyz, /ping) answers 503 from now on
            threading.Thread(target=stop_later, daemon=True).start()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        return server.wait()
    finally:
        flag.unlink(missing_ok=True)


def child(host: str, port: str, workers: str) -> int:
    """Seed the registry from the model bundle and serve its endpoint (in the supervisor's child process)."""
    from modelport.server import serve
    from modelport.settings import Settings

    try:
        port_number, worker_count = int(port), int(workers)
    except ValueError:
        print(f"error: invalid port {port!r} or workers {workers!r}; {USAGE}", file=sys.stderr)
        return 1
    settings = Settings.from_env()
    model_dir = Path(os.environ.get("MODELPORT_MODEL_DIR", str(MODEL_DIR)))
    try:
        endpoint, formats = restore(settings, model_dir) or seed(settings, model_dir)
        preload(formats)
        serve(settings.with_overrides(serve_endpoint=endpoint), host=host, port=port_number, workers=worker_count)
    except ModelportError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


def preload(formats: list[str]) -> None:
    """Import the app and the runtimes here: granian forks its workers from this process, so they start warm.

    (Measured in a container under load: re-importing them in the worker cost ~2-3 s of start-up.)
    """
    import importlib

    import modelport.api.app
    import modelport.serving.codecs.csv_body  # noqa: F401
    from modelport.formats import TABLE

    with contextlib.suppress(ImportError):
        import pandas  # noqa: F401  # CSV bodies are read with it: imported here, not by the first request

    for fmt in formats:
        importlib.import_module(TABLE[fmt].runtime.partition(":")[0])


#: modules a request imports on first use (a body type, the v2 protocol, the server and its event loop)
SERVING_MODULES = (
    "modelport.server",
    "modelport.api.rsgi",
    "modelport.serving.codecs.json_body",
    "modelport.serving.codecs.xml_body",
    "modelport.serving.codecs.parquet_body",
    "modelport.serving.codecs.v2",
    "modelport.serving.codecs.v2_tensors",
    "modelport.serving.codecs.content_encoding",
    "modelport.serving.codecs.response",
    "modelport.async_inference.worker",
    "modelport.monitoring.gauges",
    "modelport.db.leases",
    "granian",
    "granian.server",
    "uvloop",
    "anyio._backends._asyncio",
    "defusedxml.ElementTree",
    "pydantic.v1",
)


def import_for_serving(formats: list[str]) -> None:
    """Import what serving the image's formats imports (at build time, so that bytecode is written)."""
    import importlib

    preload(formats)
    for name in SERVING_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def load_models(settings: Settings, model_dir: Path) -> None:
    """Load (and warm) each version the bundle holds, as the server will: what unpickling a model imports (all of
    scikit-learn's and SciPy's modules a pipeline uses) gets its bytecode written at build time, not at every start.

    Best effort: a model that cannot load here (PMML: the Java runtime is not in the build stage) is loaded, and its
    error reported, when the image serves.
    """
    from modelport.containers.bundle import find_bundle, read_bundle
    from modelport.formats import TABLE
    from modelport.runtimes import load_runtime
    from modelport.services import Services
    from modelport.signature import Signature

    bundle = read_bundle(find_bundle(model_dir, settings.home))
    services = Services.open(settings)
    try:
        for v in bundle.versions:
            if TABLE[v.format].needs_java:
                continue
            mv = services.registry.get_version(v.ref)
            signature = Signature.from_dict(mv.signature) if mv.signature else None
            with contextlib.suppress(Exception):  # only bytecode is at stake here (see above)
                load_runtime(mv.format, services.registry.model_path(mv), signature=signature).close()
    finally:
        services.close()


SEED_MARKER = "seed.json"


def seed_image(settings: Settings, model_dir: Path) -> None:
    """At build time: seed the registry the image starts from, and record which bundle it holds."""
    import hashlib

    endpoint, formats = seed(settings, model_dir)
    (settings.home / "secret.key").unlink(missing_ok=True)  # never baked into an image
    import_for_serving(formats)  # their bytecode is written now: the image carries no other (pip ran --no-compile)
    load_models(settings, model_dir)
    digest = hashlib.sha256((model_dir / "modelport.json").read_bytes()).hexdigest()
    marker = {"manifest_sha256": digest, "endpoint": endpoint, "formats": formats}
    (settings.home / SEED_MARKER).write_text(json.dumps(marker))


def restore(settings: Settings, model_dir: Path, seed_dir: Path | None = None) -> tuple[str, list[str]] | None:
    """The registry seeded at build time, copied into the settings' home, when ``model_dir`` holds that same bundle.

    None (seed afresh) when there is none, or SageMaker put another model in ``/opt/ml/model``.
    """
    import hashlib
    import shutil

    from modelport.containers.dockerfile import SEED_DIR

    seed_dir = seed_dir or Path(SEED_DIR)
    manifest = model_dir / "modelport.json"
    try:
        marker = json.loads((seed_dir / SEED_MARKER).read_text())
        if hashlib.sha256(manifest.read_bytes()).hexdigest() != marker["manifest_sha256"]:
            return None
    except (OSError, ValueError, KeyError):
        return None
    home = settings.home
    _clear(home)
    for name in ("modelport.db", "modelport.db-wal"):  # the log too, had it not been folded in at close
        if (seed_dir / name).exists():
            shutil.copyfile(seed_dir / name, home / name)
    return marker["endpoint"], list(marker["formats"])


def _clear(home: Path) -> None:
    import shutil

    for stale in ("modelport.db", "modelport.db-wal", "modelport.db-shm", "artifacts"):
        path = home / stale
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    home.mkdir(parents=True, exist_ok=True)


def seed(settings: Settings, model_dir: Path) -> tuple[str, list[str]]:
    """A fresh registry in the settings' home holding the bundle's endpoint: its name and the formats it serves."""

    from modelport.containers.bundle import find_bundle, load_bundle
    from modelport.services import Services

    home = settings.home
    _clear(home)
    folder = find_bundle(model_dir, home)
    services = Services.open(settings)
    try:
        bundle = load_bundle(services, folder)
        return bundle.endpoint, bundle.formats
    finally:
        services.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.exit(child(*sys.argv[2:5]))
    if sys.argv[1:2] == ["--seed"]:
        from modelport.settings import Settings

        seed_image(Settings.from_env(), Path(os.environ.get("MODELPORT_MODEL_DIR", str(MODEL_DIR))))
        sys.exit(0)
    sys.exit(main())
