"""What a repacked wheel leaves out, and stripping that never breaks a library (no engine needed)."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from modelport.containers import wheels


def _elf(*loads: tuple[int, int, int]) -> bytes:
    """A 64-bit little-endian ELF header with one program header per (offset, vaddr, align) PT_LOAD segment."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 0x20, 64)  # e_phoff
    struct.pack_into("<HH", header, 0x36, 56, len(loads))  # e_phentsize, e_phnum
    return bytes(header) + b"".join(struct.pack("<IIQQQQQQ", 1, 5, o, v, v, 16, 16, a) for o, v, a in loads)


def test_a_library_whose_segments_strip_would_misalign_is_kept_as_it_was() -> None:
    assert wheels._loadable(_elf((0, 0, 0x1000), (0x2000, 0x202000, 0x1000)))
    assert not wheels._loadable(_elf((0, 0, 0x1000), (0x2040, 0x203000, 0x1000)))  # what ld.so refuses to map
    assert not wheels._loadable(_elf((0x1000, 0x1000, 0x200000), (0x3000, 0x5000, 0x200000)))
    assert not wheels._strippable("numpy.libs/libscipy_openblas64_-32a4b2a6.so")  # auditwheel's: patchelf rewrote it
    assert wheels._strippable("uvloop/loop.cpython-311-x86_64-linux-gnu.so")
    assert wheels._strippable("onnxruntime/capi/libonnxruntime_providers_shared.so")


@pytest.mark.skipif(shutil.which("strip") is None, reason="binutils' strip is not installed")
def test_stripping_shrinks_a_library_with_symbols_and_keeps_it_loadable(tmp_path: Path) -> None:
    import ctypes

    import uvloop.loop

    original = Path(uvloop.loop.__file__).read_bytes()
    slim = wheels._stripped(original)
    assert len(slim) < len(original) / 2  # 13 MB → 1.6 MB
    (tmp_path / "loop.so").write_bytes(slim)
    ctypes.CDLL(str(tmp_path / "loop.so"))
    assert wheels._stripped(b"not an ELF file") == b"not an ELF file"


def test_an_endpoint_image_leaves_out_the_cli_and_onnx_runtimes_offline_tools() -> None:
    pytest.importorskip("onnxruntime")
    roots = wheels.serving_roots(["onnxruntime"])
    names = {wheels.canonical(d.metadata["Name"]) for d in wheels.closure(roots, skip=wheels.NOT_SCORING)}
    assert {"onnxruntime", "numpy", "pandas", "granian", "sqlalchemy", "alembic"} <= names
    assert not names & {"typer", "rich", "pygments", "pyarrow", "protobuf", "flatbuffers", "cryptography", "jinja2"}
    no_frames = wheels.serving_roots(["onnxruntime"], leave_out=["pandas"])
    slim = {wheels.canonical(d.metadata["Name"]) for d in wheels.closure(no_frames, skip=wheels.NOT_SCORING)}
    assert names - slim == {"pandas", "python-dateutil", "six"}  # no model takes DataFrames: CSV read without pandas
    everything = {wheels.canonical(d.metadata["Name"]) for d in wheels.closure(wheels.serving_roots([], everything=True))}
    assert {"typer", "rich", "pyarrow", "cryptography"} <= everything  # the control plane's image keeps its CLI
    assert wheels._unused("onnxruntime/capi/libonnxruntime.so.1.32.0") and wheels._unused("onnxruntime/tools/x.py")
    assert wheels._unused("numpy/__init__.pyi") and wheels._unused("numpy/_core/include/numpy/ndarraytypes.h")
    assert not wheels._unused("onnxruntime/capi/onnxruntime_pybind11_state.cpython-311-x86_64-linux-gnu.so")
    assert not wheels._unused("numpy/f2py/__init__.py")  # SciPy imports it when a pickle is loaded
    assert wheels._unused("numpy/_core/_simd.cpython-311-x86_64-linux-gnu.so") and wheels._unused("sqlalchemy/testing/x.py")
    assert wheels._unused("sqlalchemy/dialects/mysql/base.py") and not wheels._unused("sqlalchemy/dialects/sqlite/base.py")
    assert not wheels._unused("sqlalchemy/dialects/postgresql/base.py")


def test_modelport_is_repacked_from_its_installed_metadata_not_a_stray_egg_info(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An editable install leaves src/modelport.egg-info (PKG-INFO only); first on sys.path, it used to give a
    wheel without METADATA, which pip in the image refused (version None)."""
    import sys
    import zipfile

    stray = tmp_path / "src"
    (stray / "modelport.egg-info").mkdir(parents=True)
    (stray / "modelport.egg-info" / "PKG-INFO").write_text("Metadata-Version: 2.4\nName: modelport\nVersion: 0.1.0\n")
    monkeypatch.setattr(sys, "path", [str(stray), *sys.path])
    built = wheels.collect([], tmp_path / "wheels", tmp_path / "app", tmp_path / "cache")
    with zipfile.ZipFile(built[0].path) as whl:
        names = whl.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        assert "Requires-Dist:" in whl.read(metadata).decode()
    assert any(n.endswith(".dist-info/entry_points.txt") for n in names)  # the image's modelport-entry script
