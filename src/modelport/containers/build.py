"""``modelport build``: write a build context for an endpoint (or a version, or the control plane) and build it.

The context holds everything the build needs, so it runs offline:

    Dockerfile          two stages (:mod:`modelport.containers.dockerfile`)
    wheels/             this environment's distributions, repacked at their installed versions
    app/                modelport's own wheel (installed last, so a new one reuses the layers before it)
    requirements.txt    the same, pinned (a record; the build installs the wheels)
    model/              the model bundle for ``/opt/ml/model`` (:mod:`modelport.containers.bundle`)
    jre/                a slim Java runtime (jlink), for PMML only

Nothing is tagged unless the whole build succeeds.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from modelport import __version__
from modelport.containers import bundle as bundles
from modelport.containers import dockerfile, probe, wheels
from modelport.containers.engine import Engine
from modelport.errors import FailedPrecondition, InvalidArgument, MissingExtra
from modelport.formats import TABLE
from modelport.services import Services

#: modules of the slim Java runtime PMML models are scored in (JPMML-Evaluator through JPype)
JAVA_MODULES = ("java.base", "java.desktop", "java.logging", "java.sql", "java.xml", "jdk.unsupported", "jdk.zipfs")
#: what the control-plane image installs beyond modelport's own requirements
SERVER_EXTRAS = ("psycopg", "psycopg-binary", "s3fs", "onnxruntime", "scikit-learn", "joblib", "skops")
CONTAINER_ENTRY = ["/opt/venv/bin/python", "-m", "modelport.containers.entry"]


@dataclass
class BuildResult:
    """What ``modelport build`` made: the context, and the image when it was built."""

    target: str
    tag: str
    context: str | None
    base: str
    endpoint: str | None = None
    formats: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    image_id: str | None = None
    size: int | None = None
    base_size: int | None = None
    build_seconds: float | None = None
    run: str = ""

    @property
    def size_above_base(self) -> int | None:
        if self.size is None or self.base_size is None:
            return None
        return self.size - self.base_size

    def to_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "tag": self.tag,
            "image_id": self.image_id,
            "size": self.size,
            "size_above_base": self.size_above_base,
            "base": self.base,
            "endpoint": self.endpoint,
            "formats": self.formats,
            "packages": self.packages,
            "context": self.context,
            "build_seconds": None if self.build_seconds is None else round(self.build_seconds, 2),
            "run": self.run,
        }


def default_tag(name: str, version: int | None = None) -> str:
    repo = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "model"
    return f"modelport/{repo}:{version if version is not None else 'latest'}"


def build(
    services: Services,
    target: str | None,
    *,
    tag: str | None = None,
    base: str = dockerfile.DEFAULT_BASE,
    output: Path | None = None,
    no_build: bool = False,
    server: bool = False,
    engine: Engine | None = None,
) -> BuildResult:
    """Write the context (to ``output``, else a temporary folder) and, unless ``no_build``, build it."""
    if server == (target is not None):
        raise InvalidArgument("pass a TARGET (an endpoint or NAME:VERSION) or --server, not both" if server
                              else "pass a TARGET (an endpoint or NAME:VERSION), or --server for the control plane")
    engine = engine or Engine()
    if output is not None and output.exists() and any(output.iterdir()):
        raise InvalidArgument(f"--output {output} exists and is not empty: pass a new or empty folder")
    bundle = bundles.resolve(services, target) if target is not None else None  # a bad target fails before anything
    if bundle is not None:
        one = bundle.versions[0] if bundles.is_version_target(target or "") else None
        tag = tag or default_tag(bundle.endpoint, one.version if one else None)
    else:
        tag = tag or f"modelport/server:{__version__}"
    if not no_build:
        engine.check()  # before the slow part: an unreachable engine is the commonest failure
    context = output or Path(tempfile.mkdtemp(prefix="modelport-build-"))
    context.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        result = _write_context(services, bundle, context, tag=tag, base=base)
        result.target = target or "server"
        result.context = str(context) if output is not None else None
        if no_build:
            result.context = str(context)
            return result
        engine.build(context, tag, base=base)
        info = engine.inspect(tag)
        result.image_id, result.size = info.id, info.size
        result.base_size = engine.size(base)
        result.build_seconds = time.monotonic() - started
        return result
    finally:
        if output is None and not no_build:
            shutil.rmtree(context, ignore_errors=True)


def _write_context(services: Services, bundle: bundles.Bundle | None, context: Path, *, tag: str, base: str) -> BuildResult:
    cache = services.settings.home / "cache"
    java = False
    labels = {
        "org.opencontainers.image.title": tag.rsplit(":", 1)[0],
        "org.opencontainers.image.created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "org.opencontainers.image.vendor": "modelport",
        "org.opencontainers.image.base.name": base,
        "io.modelport.version": __version__,
    }
    if bundle is not None:
        formats = bundle.formats
        serves_with = [d for f in formats for d in TABLE[f].serves_with]
        java = any(TABLE[f].needs_java for f in formats)
        bundles.write_bundle(services, bundle, context / "model")  # each artifact checked against its sha256
        onnx_files = [context / "model" / "artifacts" / v.sha256 for v in bundle.versions if v.format == "onnx"]
        if any(has_tree_ensemble(path) for path in onnx_files):
            serves_with.append("onnx")  # modelport's tree kernel reads the graph with it (runtimes/onnx_trees.py)
        needs = _pickled_needs(bundle, context / "model" / "artifacts")
        serves_with += sorted(needs.distributions)
        leave_out: tuple[str, ...] = () if needs.frames else ("pandas",)
        labels["org.opencontainers.image.description"] = f"modelport endpoint {bundle.endpoint}"
        labels["io.modelport.endpoint"] = bundle.endpoint
        labels["io.modelport.models"] = ",".join(f"{v.ref}=sha256:{v.sha256}" for v in bundle.versions)
        for v in bundle.versions:
            key = re.sub(r"[^a-z0-9.-]+", "-", f"{v.name}.{v.version}".lower())
            labels[f"io.modelport.model.{key}.sha256"] = v.sha256
        entrypoint, cmd = CONTAINER_ENTRY, ["serve"]
    else:
        formats = []
        serves_with = [d for d in SERVER_EXTRAS if _installed(d)]
        labels["org.opencontainers.image.description"] = "modelport control plane"
        entrypoint, cmd = ["/opt/venv/bin/modelport"], ["server", "--host", "0.0.0.0"]
        leave_out = ()
    roots = wheels.serving_roots(serves_with, everything=bundle is None, leave_out=leave_out)
    skip = wheels.NOT_SCORING if bundle is not None else frozenset()
    built = wheels.collect(roots, context / "wheels", context / "app", cache / "wheels", skip=skip)
    (context / "requirements.txt").write_text(wheels.requirements_text(built))
    if java:
        _slim_jre(context / "jre", cache / "jre")
    (context / ".dockerignore").write_text("requirements.txt\n")
    (context / "Dockerfile").write_text(
        dockerfile.render(base=base, labels=labels, entrypoint=entrypoint, cmd=cmd, java=java, model=bundle is not None)
    )
    port = dockerfile.PORT
    return BuildResult(
        target="",
        tag=tag,
        context=None,
        base=base,
        endpoint=bundle.endpoint if bundle else None,
        formats=formats,
        packages=[f"{w.name}=={w.version}" for w in built],
        run=f"docker run --rm -p {port}:{port} {tag}",
    )


def _pickled_needs(bundle: bundles.Bundle, artifacts: Path) -> probe.Needs:
    """What the bundle's pickled models need beyond their runtimes: each loaded once here (:mod:`.probe`)."""
    needs = probe.Needs()
    for v in bundle.versions:
        if v.format in probe.PICKLED:
            found = probe.probe(v.format, artifacts / v.sha256, v.signature)
            needs.frames |= found.frames
            needs.distributions |= found.distributions
    return needs


def has_tree_ensemble(path: Path) -> bool:
    """Whether an ONNX model uses a tree-ensemble operator (its name is in the graph's bytes)."""
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            if b"TreeEnsemble" in tail + chunk:
                return True
            tail = chunk[-16:]
    return False


def _installed(name: str) -> bool:
    import importlib.metadata as md

    try:
        md.distribution(name)
    except md.PackageNotFoundError:
        return False
    return True


def _slim_jre(target: Path, cache: Path) -> None:
    """A Java runtime with only :data:`JAVA_MODULES` (jlink), made once per JDK and cached."""
    jlink = shutil.which("jlink")
    if jlink is None:
        raise MissingExtra("PMML images carry a slim Java runtime made with jlink: install a JDK (e.g. openjdk-17-jdk-headless)")
    home = Path(jlink).resolve().parent.parent
    release = (home / "release").read_text() if (home / "release").is_file() else str(home)
    key = hashlib.sha256(f"{release}{JAVA_MODULES}".encode()).hexdigest()[:16]
    cached = cache / key
    if not cached.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        partial = cache / f"{key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        done = subprocess.run(
            [jlink, "--add-modules", ",".join(JAVA_MODULES), "--strip-debug", "--no-man-pages", "--no-header-files",
             "--compress=2", "--output", str(partial)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()
            raise FailedPrecondition(f"jlink could not make the Java runtime: {last[-1] if last else done.returncode}")
        partial.rename(cached)
    shutil.copytree(cached, target, symlinks=True)
