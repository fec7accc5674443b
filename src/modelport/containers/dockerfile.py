"""The Dockerfile of an image: two stages, wheels installed offline, the final stage carries no build tools.

Stage ``build`` checks the base has Python 3.11, installs the context's
wheels into ``/opt/venv`` with no index, and seeds the registry the image
starts from (importing what serving imports, so only their bytecode is written); the final stage copies that virtualenv, the model bundle
(``/opt/ml/model``), the seeded registry and, for PMML, a slim Java runtime.  It runs as a numeric non-root user (what
Kubernetes' ``runAsNonRoot`` can check), with an exec-form ENTRYPOINT, so the
server is PID 1 and gets SIGTERM itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

DEFAULT_BASE = "python:3.11-slim"
#: the user the image runs as (numeric, so runAsNonRoot can verify it)
USER_ID = 10001
PORT = 8080
#: the registry seeded at build time from the image's own bundle
SEED_DIR = "/opt/modelport/seed"
#: printed by the build stage when the base is unfit: the build's output is searched for it
BASE_MARKER = "modelport-base-check:"

# The marker is split in the script's text ("…base""-check:" in the shell, '…base' + '-check:' in Python) so
# that only what the check prints contains it, not the RUN line the build echoes: a build failing for any
# other reason is not mistaken for an unfit base.
_HEAD, _TAIL = BASE_MARKER.split("-check")
_CHECK_BASE = (
    f'command -v python3 >/dev/null || {{ echo "{_HEAD}""-check{_TAIL} the base image has no python3"; exit 3; }}; '
    "python3 -c \"import sys; v = '%d.%d' % sys.version_info[:2]; "
    f"sys.exit(0 if v == '3.11' else '{_HEAD}' + '-check{_TAIL} the base image has Python ' + v + ', modelport images need 3.11')\""
)

#: libraries that two wheels both vendor (SciPy's and NumPy's identical copies of libgfortran, 2.8 MB): each kept once,
#: the other copy a symbolic link to it (the loader follows it, and maps the library once)
SHARE_VENDORED = (
    "import hashlib, os, pathlib\n"
    "site = next(pathlib.Path('/opt/venv/lib').glob('python3*/site-packages'))\n"
    "first = {}\n"
    "for lib in sorted(site.glob('*.libs/*')):\n"
    "    if lib.is_symlink() or not lib.is_file():\n"
    "        continue\n"
    "    key = (lib.name, hashlib.sha256(lib.read_bytes()).hexdigest())\n"
    "    if key in first:\n"
    "        lib.unlink()\n"
    "        lib.symlink_to(os.path.relpath(first[key], lib.parent))\n"
    "    else:\n"
    "        first[key] = lib\n"
)

HEALTHCHECK = (
    "import os, sys, urllib.request; "
    "port = os.environ.get('SAGEMAKER_BIND_TO_PORT', '8080'); "
    "sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=2).status == 200 else 1)"
)


def _label(key: str, value: str) -> str:
    return f"{key}={json.dumps(value)}"


def render(
    *,
    base: str,
    labels: Mapping[str, str],
    entrypoint: list[str],
    cmd: list[str],
    java: bool = False,
    model: bool = True,
    env: Mapping[str, str] | None = None,
) -> str:
    """The Dockerfile text; the context holds ``wheels/``, ``app/`` (modelport's wheel), and ``model/`` and ``jre/`` when used."""
    # an endpoint image keeps the bytecode of what serving imports (written by the seed step, which imports it): not of
    # the rest of each library (Parquet, plotting, other SQL dialects: 16 MB of 43 MB for ONNX); the control plane all
    compile_flag = " --no-compile" if model else ""
    lines = [
        "# Written by `modelport build`: reproducible, built offline from the wheels in this context.",
        f"ARG BASE={base}",
        "FROM ${BASE} AS build",
        f"RUN {_CHECK_BASE}",
        "COPY wheels /wheels",
        "RUN python3 -m venv /opt/venv \\",
        " && /opt/venv/bin/python -m pip install --quiet --no-index --no-deps --no-cache-dir"
        f" --disable-pip-version-check{compile_flag} /wheels/*.whl",
        f"RUN {json.dumps(['/opt/venv/bin/python', '-c', SHARE_VENDORED])}",
        "# modelport last, on its own: a new modelport reuses the layer above",
        "COPY app /app",
        "RUN /opt/venv/bin/python -m pip install --quiet --no-index --no-deps --no-cache-dir"
        f" --disable-pip-version-check{compile_flag} /app/*.whl \\",
        " && /opt/venv/bin/python -m pip uninstall --quiet --yes pip setuptools",
        "",
        "FROM ${BASE}",
    ]
    if model:
        # the registry the image serves from, made now (its schema, the bundle's versions and endpoint): a start
        # whose /opt/ml/model is this bundle copies it instead of building it (containers/entry.py)
        lines[-2:-2] = [
            "COPY model /opt/ml/model",
            f"RUN MODELPORT_HOME={SEED_DIR} /opt/venv/bin/python -m modelport.containers.entry --seed",
        ]
    if java:
        lines.append("COPY jre /opt/jre")
    lines.append("COPY --from=build /opt/venv /opt/venv")
    if model:
        lines.append("COPY model /opt/ml/model")
        lines.append(f"COPY --from=build {SEED_DIR} {SEED_DIR}")
    environment = {
        "PATH": "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MODELPORT_HOME": "/tmp/modelport",
        **({"JAVA_HOME": "/opt/jre"} if java else {}),
        **(env or {}),
    }
    lines.append("ENV " + " \\\n    ".join(f"{k}={json.dumps(v)}" for k, v in environment.items()))
    lines.append("LABEL " + " \\\n      ".join(_label(k, v) for k, v in labels.items()))
    lines += [
        f"EXPOSE {PORT}",
        f"USER {USER_ID}:{USER_ID}",
        "WORKDIR /tmp",
        "HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\",
        f"  CMD {json.dumps(['/opt/venv/bin/python', '-c', HEALTHCHECK])}",
        f"ENTRYPOINT {json.dumps(entrypoint)}",
        f"CMD {json.dumps(cmd)}",
        "",
    ]
    return "\n".join(lines)
