"""Model formats and how a file's format is recognised.

Detection reads the first bytes of the file (never unpickles anything):
ONNX protobufs, pickles and joblib files, zip archives (skops or PyTorch),
PMML documents, PFA documents (JSON or YAML), XGBoost JSON/UBJ and LightGBM
text.  A declared ``--format`` is checked against what the bytes say, so a
mislabelled file is refused before anything is registered.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from modelport.errors import InvalidArgument

FORMATS: tuple[str, ...] = ("onnx", "sklearn", "skops", "xgboost", "lightgbm", "pmml", "pfa", "torch")

DESCRIPTIONS = {
    "onnx": "an ONNX model",
    "sklearn": "a scikit-learn joblib/pickle file",
    "skops": "a skops file",
    "xgboost": "an XGBoost booster (JSON or UBJ)",
    "lightgbm": "a LightGBM text model",
    "pmml": "a PMML document",
    "pfa": "a PFA document (JSON or YAML)",
    "torch": "a PyTorch file (TorchScript or a saved nn.Module)",
}

_HEAD = 64 * 1024
# The legacy (pre-zip) torch.save format starts with a pickled magic number.
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return fmt


def _zip_format(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if "schema.json" in names:
        return "skops"
    if any(n.endswith("data.pkl") or n.endswith("constants.pkl") or "/code/" in n for n in names):
        return "torch"
    return None


def _text_format(head: bytes, path: Path, suffix: str) -> str | None:
    text = head.lstrip()
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:].lstrip()
    if text.startswith(b"<"):
        lowered = text[:4096].lower()
        return "pmml" if b"<pmml" in lowered else None
    if text.startswith(b"tree\n") or text.startswith(b"tree\r\n"):
        return "lightgbm"
    if text.startswith(b"{"):
        try:
            doc = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError):
            # A truncated or broken JSON document: say what it looks like.
            if b'"action"' in text and b'"input"' in text:
                return "pfa"
            if b'"learner"' in text:
                return "xgboost"
            return None
        if isinstance(doc, dict) and "learner" in doc:
            return "xgboost"
        if isinstance(doc, dict) and "action" in doc and ("input" in doc or "output" in doc):
            return "pfa"
        return None
    if suffix in (".yaml", ".yml") or b"action:" in text[:4096]:
        return "pfa" if b"action" in text and b"input" in text else None
    return None


def sniff_format(path: Path, filename: str | None = None) -> str | None:
    """The format the file's bytes look like, or None (``filename`` hints YAML)."""
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    if not head:
        return None
    if head.startswith(b"PK\x03\x04"):
        return _zip_format(path)
    if head.startswith(TORCH_LEGACY_MAGIC):  # torch.save(..., _use_new_zipfile_serialization=False)
        return "torch"
    if head[:1] == b"\x80":  # pickle protocol 2+: joblib.dump and pickle.dump
        return "sklearn"
    if head[:2] in (b"x\x9c", b"x\x01", b"x\xda") or head[:3] == b"\x1f\x8b\x08":  # joblib compress=
        return "sklearn"
    if head[:1] == b"{" and len(head) > 1 and head[1:2] in b"LUiIl$#":
        return "xgboost"  # UBJSON object
    if head[:1] == b"\x08" and (b"\x12" in head[:16] or b"\x3a" in head[:64]):
        return "onnx"  # protobuf: field 1 (ir_version) varint, then producer/graph fields
    return _text_format(head, path, Path(filename or path.name).suffix.lower())


def detect_format(path: Path, declared: str | None = None, *, filename: str | None = None) -> str:
    """The format of a model file; a declared one must agree with the bytes."""
    shown = filename or path.name
    if declared:
        check_format(declared)
    if path.stat().st_size == 0:
        raise InvalidArgument(f"{shown!r} is empty: expected a model file")
    found = sniff_format(path, filename)
    if declared:
        if found is not None and found != declared and not (declared == "skops" and found == "sklearn"):
            raise InvalidArgument(
                f"format mismatch: --format {declared} expects {DESCRIPTIONS[declared]}, "
                f"but {shown!r} looks like {DESCRIPTIONS[found]}"
            )
        return declared
    if found is None:
        raise InvalidArgument(
            f"{shown!r} is not a model file modelport recognises: expected "
            + ", ".join(DESCRIPTIONS[f] for f in FORMATS)
            + " (or pass --format)"
        )
    return found
