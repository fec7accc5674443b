"""Wheels for a container image, made from this environment's installed distributions.

A build needs no package index: every distribution the image needs is
repacked from what is installed here (its RECORD says which files are its
own), at exactly the installed version, so the image serves with the very
libraries ``modelport predict`` used on this machine.  modelport itself,
usually an editable install, is packed from its package folder.

Which distributions: modelport's own requirements and, per model format the
endpoint serves, the runtime's (:attr:`modelport.formats.Format.serves_with`),
followed through their requirements.  A library's own ``tests/`` folders are
left out (never imported when serving; 35 MB for pandas and NumPy, 80 MB more
for SciPy and scikit-learn), and so is what no import reads (:func:`_unused`:
type stubs, C headers and sources, ONNX Runtime's 34 MB C-API library and
its offline tools).  Shared objects lose their symbol tables
(``strip --strip-unneeded``, when binutils is here: 12 MB of uvloop's 14 MB,
8 MB of SQLAlchemy's).  An endpoint image also leaves out the CLI's
libraries (:data:`NOT_SERVING`) and requirements a runtime never imports
when scoring (:data:`NOT_SCORING`).  Repacked wheels are cached by name,
version and tag, so a second build only copies them.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import re
import shutil
import struct
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from modelport.errors import MissingExtra


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str
    path: Path


def closure(roots: Iterable[str], *, skip: frozenset[tuple[str, str]] = frozenset()) -> list[md.Distribution]:
    """The installed distributions ``roots`` (requirement strings) need, themselves included.

    ``skip``: (distribution, requirement) edges not followed, canonical names.
    """
    from packaging.requirements import Requirement

    seen: dict[str, md.Distribution] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[str, frozenset[str], str]] = []
    for root in roots:
        req = Requirement(root)
        todo.append((req.name, frozenset(req.extras), root))
    while todo:
        name, extras, wanted_by = todo.pop()
        key = canonical(name)
        if (key, extras) in visited:
            continue
        visited.add((key, extras))
        try:
            dist = installed(name)
        except md.PackageNotFoundError:
            raise MissingExtra(f"{name} is not installed here (needed for {wanted_by}): install it to build this image") from None
        first = key not in seen
        seen[key] = dist
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is not None:
                envs = [{"extra": e} for e in extras] or [{"extra": ""}]
                if not any(req.marker.evaluate(env) for env in envs):
                    continue
            elif not first:
                continue
            if canonical(req.name) in seen and not req.extras:
                continue
            if (key, canonical(req.name)) in skip:
                continue
            todo.append((req.name, frozenset(req.extras), key))
    return sorted(seen.values(), key=lambda d: canonical(d.metadata["Name"]))


#: modelport requirements a serving image leaves out: pyarrow (170 MB installed) only reads Parquet request
#: bodies there, which such an image refuses with 415 (serving/codecs/parquet_body.py); batch and monitoring need it
NOT_SERVING = frozenset({"pyarrow", "rich", "typer", "cryptography", "jinja2"})
#: rich and typer (with Pygments, markdown-it-py, shellingham: 13 MB) are the CLI's; the image runs
#: ``modelport.containers.entry``, never ``modelport`` (tests/containers/test_images.py serves every body type without them).
#: cryptography (with cffi: 13 MB stripped) opens sealed token secrets (server_key.py): an endpoint's registry is seeded
#: afresh at every start with no token in it, and its server mounts no token routes.  jinja2 renders the web console,
#: which only the control plane mounts.

#: requirements a runtime declares but never imports to score: ONNX Runtime's protobuf, flatbuffers, sympy and
#: coloredlogs serve its offline tools (quantization, transformers, the ORT-format converter); skops's prettytable
#: (with wcwidth, 3 MB) only its model cards (skops.card), never skops.io, which loads models.  Followed when
#: another distribution needs them too (``onnx``, for tree ensembles, imports protobuf).
NOT_SCORING = frozenset(
    {
        ("onnxruntime", "protobuf"),
        ("onnxruntime", "flatbuffers"),
        ("onnxruntime", "sympy"),
        ("onnxruntime", "coloredlogs"),
        ("skops", "prettytable"),
    }
)


def serving_roots(serves_with: Iterable[str], *, everything: bool = False, leave_out: Iterable[str] = ()) -> list[str]:
    """modelport's requirements and the runtimes' distributions; ``everything``: keep :data:`NOT_SERVING` too.

    ``leave_out``: more of modelport's requirements the image does without (pandas, when no model takes DataFrames:
    CSV bodies are then read without it, serving/codecs/csv_body.py); still installed if another distribution needs it.
    """
    from packaging.requirements import Requirement

    omitted = {canonical(n) for n in leave_out} | (set() if everything else NOT_SERVING)
    roots = []
    for text in installed("modelport").requires or ():
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        if canonical(req.name) in omitted:
            continue
        roots.append(text)
    for name in serves_with:
        try:
            md.distribution(name)
        except md.PackageNotFoundError:
            raise MissingExtra(f"{name} is not installed here: the image needs it to serve; install it first") from None
        roots.append(name)
    return roots


def _tag(dist: md.Distribution) -> str:
    """The wheel's tags in its filename's compressed form (``py2.py3-none-any``): pip reads them there."""
    tags = [line.split(":", 1)[1].strip() for line in (dist.read_text("WHEEL") or "").splitlines() if line.startswith("Tag:")]
    if not tags:
        return "py3-none-any"
    parts = [t.split("-") for t in tags]
    return "-".join(".".join(dict.fromkeys(p[i] for p in parts)) for i in range(3))


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


#: suffixes no import reads: type stubs, C/C++ headers and sources, Cython declarations
_NOT_IMPORTED_SUFFIXES = (".pyi", ".h", ".hpp", ".c", ".cpp", ".pxd", ".pyx", ".pxi")
#: folders and files of a distribution that scoring never imports (prefixes of their path in the wheel)
_NOT_IMPORTED_PREFIXES = (
    "onnxruntime/capi/libonnxruntime.so",  # the C API for other languages (34 MB): the Python module links none of it
    "onnxruntime/transformers/",  # offline tools: model optimisers, quantization, converters, sample data
    "onnxruntime/quantization/",
    "onnxruntime/tools/",
    "onnxruntime/datasets/",
    # build and test tooling shipped inside libraries: NumPy's distutils (not numpy.f2py: SciPy imports it when a
    # pickle is loaded), its test-only extension modules (SIMD probes, test ufuncs), SQLAlchemy's and Alembic's test
    # harnesses
    "numpy/distutils/",
    "numpy/_pyinstaller/",
    "numpy/_core/_simd.",
    "numpy/_core/_multiarray_tests.",
    "numpy/_core/_umath_tests.",
    "numpy/_core/_rational_tests.",
    "numpy/_core/_struct_ufunc_tests.",
    "numpy/_core/_operand_flag_tests.",
    "sqlalchemy/testing/",
    "alembic/testing/",
    # SQL dialects for databases modelport does not run on (its registry is SQLite or PostgreSQL)
    "sqlalchemy/dialects/mysql/",
    "sqlalchemy/dialects/oracle/",
    "sqlalchemy/dialects/mssql/",
)


def _unused(arc: str) -> bool:
    """Whether a file of a library is never read at run time (see :data:`_NOT_IMPORTED_PREFIXES`)."""
    return arc.endswith(_NOT_IMPORTED_SUFFIXES) or arc.startswith(_NOT_IMPORTED_PREFIXES)


def _dist_files(dist: md.Distribution) -> Iterator[tuple[str, Path]]:
    """(name in the wheel, file here) for a distribution installed from a wheel (its RECORD)."""
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    for f in dist.files or ():
        arc = str(f)
        if arc.startswith("..") or "__pycache__" in arc or arc.endswith(".pyc"):
            continue  # scripts (pip writes them again from entry points), bytecode (compiled at install)
        if "tests" in arc.split("/")[:-1]:
            continue  # a library's own test suite (pandas, NumPy, SciPy, scikit-learn: 18-43 MB each), never imported
        if _unused(arc):
            continue
        if ".dist-info/" in arc and arc.rsplit("/", 1)[1] in skip:
            continue
        path = Path(str(dist.locate_file(f)))
        if path.is_file():
            yield arc, path


def installed(name: str) -> md.Distribution:
    """The installed distribution ``name``: the first with a wheel's METADATA.  An editable install also
    leaves ``src/modelport.egg-info`` (PKG-INFO only), which comes first when ``src`` leads sys.path: a
    wheel repacked from it had no METADATA, and pip in the image could not read its version."""
    found = [d for d in md.distributions(name=name) if d.read_text("METADATA") is not None]
    return found[0] if found else md.distribution(name)


def _modelport_files(dist: md.Distribution) -> Iterator[tuple[str, Path]]:
    """modelport's package folder (an editable install has no RECORD of it) and its metadata."""
    import modelport

    package = Path(modelport.__file__).parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".c", ".pyi"):
            yield f"modelport/{path.relative_to(package).as_posix()}", path
    info = f"modelport-{dist.version}.dist-info"
    for name in ("METADATA", "entry_points.txt"):
        text = dist.read_text(name)
        if text is not None:
            yield f"{info}/{name}", _Text(text)  # type: ignore[misc]


class _Text:
    """A file's contents held in memory (metadata read through importlib)."""

    def __init__(self, text: str) -> None:
        self.data = text.encode()


def repack(dist: md.Distribution, out_dir: Path, cache: Path) -> Wheel:
    """A wheel of ``dist`` as installed here, in ``out_dir`` (made once per name, version and tag, in ``cache``)."""
    name = dist.metadata["Name"]
    version = dist.version
    is_modelport = canonical(name) == "modelport"
    tag = _platform_tag() if is_modelport else _tag(dist)
    filename = f"{re.sub(r'[-.]+', '_', name)}-{version}-{tag}.whl"
    cached = cache / filename
    if is_modelport or not cached.exists():  # modelport: its files change without a new version
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".part")
        files = _modelport_files(dist) if is_modelport else _dist_files(dist)
        _write_wheel(tmp, name, version, tag, files, root_is_purelib=not is_modelport and "none-any" in tag)
        tmp.replace(cached)
    target = out_dir / filename
    shutil.copyfile(cached, target)
    return Wheel(name=name, version=version, path=target)


def _platform_tag() -> str:
    import sys
    import sysconfig

    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    return f"{py}-{py}-{platform}"


def _strippable(arc: str) -> bool:
    """A shared object of the distribution's own, not one auditwheel vendored (``numpy.libs/``: patchelf rewrote those)."""
    parts = arc.split("/")
    name = parts[-1]
    return (name.endswith(".so") or ".so." in name) and not parts[0].endswith(".libs")


def _loadable(data: bytes) -> bool:
    """Whether every loadable segment of a 64-bit little-endian ELF keeps offset and address congruent modulo its
    alignment and the page size (what the dynamic loader checks: ``strip`` on a patchelf'd library can break it)."""
    if data[4:6] != b"\x02\x01":  # 64-bit, little-endian: the only kind checked, so the only kind stripped
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, _, _, p_align = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == 1 and ((p_vaddr - p_offset) % 4096 or (p_align > 1 and (p_vaddr - p_offset) % p_align)):
            return False
    return True


def _stripped(data: bytes) -> bytes:
    """A shared object without its symbol tables and debug sections (``strip --strip-unneeded``).

    As it was without binutils, when nothing is saved, or when the result would not load.
    """
    tool = shutil.which("strip")
    if tool is None or not data.startswith(b"\x7fELF"):
        return data
    with tempfile.TemporaryDirectory(prefix="modelport-strip-") as tmp:
        path = Path(tmp) / "lib.so"
        path.write_bytes(data)
        done = subprocess.run([tool, "--strip-unneeded", str(path)], capture_output=True, check=False)
        slim = path.read_bytes() if done.returncode == 0 else data
    return slim if len(slim) < len(data) and _loadable(slim) else data


def _write_wheel(
    path: Path, name: str, version: str, tag: str, files: Iterable[tuple[str, object]], *, root_is_purelib: bool
) -> None:
    info = f"{re.sub(r'[-.]+', '_', name)}-{version}.dist-info"
    records: list[str] = []
    has_wheel_file = False
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for arc, source in files:
            data = source.data if isinstance(source, _Text) else Path(str(source)).read_bytes()
            if _strippable(arc):
                data = _stripped(data)
            if arc.endswith(".dist-info/WHEEL"):
                has_wheel_file = True
            arc = re.sub(r"^[^/]+\.dist-info/", f"{info}/", arc)
            _put(zf, arc, data)
            records.append(f"{arc},{_record_hash(data)},{len(data)}")
        if not has_wheel_file:
            wheel = (
                f"Wheel-Version: 1.0\nGenerator: modelport\nRoot-Is-Purelib: {str(root_is_purelib).lower()}\nTag: {tag}\n"
            ).encode()
            _put(zf, f"{info}/WHEEL", wheel)
            records.append(f"{info}/WHEEL,{_record_hash(wheel)},{len(wheel)}")
        records.append(f"{info}/RECORD,,")
        _put(zf, f"{info}/RECORD", ("\n".join(records) + "\n").encode())


def _put(zf: zipfile.ZipFile, arc: str, data: bytes) -> None:
    """A member with a fixed date and mode: the same files make the same wheel, so the engine's layer cache holds."""
    info = zipfile.ZipInfo(arc, date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data, compresslevel=1)


#: bumped when what a repacked wheel leaves out changes, so a cache of older wheels is not reused
REPACK_REVISION = 5


def collect(
    roots: Iterable[str], out_dir: Path, app_dir: Path, cache: Path, *, skip: frozenset[tuple[str, str]] = frozenset()
) -> list[Wheel]:
    """Every wheel ``roots`` need (``skip``: requirement edges not followed), written to ``out_dir``; modelport's own to ``app_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    app_dir.mkdir(parents=True, exist_ok=True)
    cache = cache / f"r{REPACK_REVISION}"
    deps = [repack(d, out_dir, cache) for d in closure(roots, skip=skip) if canonical(d.metadata["Name"]) != "modelport"]
    return [repack(installed("modelport"), app_dir, cache), *deps]


def requirements_text(wheels: Iterable[Wheel]) -> str:
    """The pinned requirement of each wheel, one a line (the image's record of what it installed)."""
    return "".join(f"{w.name}=={w.version}\n" for w in sorted(wheels, key=lambda w: canonical(w.name)))

