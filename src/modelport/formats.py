"""Model formats and how a file's format is recognised.

Detection reads the first bytes of the file (never unpickles anything):
ONNX protobufs, pickles and joblib files, zip archives (skops or PyTorch),
PMML documents, PFA documents (JSON or YAML), XGBoost JSON/UBJ and LightGBM
text.  A declared ``--format`` is checked against what the bytes say, so a
mislabelled file is refused before anything is registered.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from modelport.errors import InvalidArgument


@dataclass(frozen=True)
class Format:
    """Everything modelport knows about one model format, in one row."""

    name: str
    #: what such a file is, for messages ("expected an ONNX model")
    description: str
    #: "module:Class" of its runtime, imported only when a model of the format is loaded
    runtime: str
    #: the optional extra that provides the runtime's library (None: always installed)
    extra: str | None
    #: "module:function" converting a loaded runtime to ONNX (``--to-onnx``), if it can be converted
    converter: str | None = None
    #: registration always stores an ONNX copy (a TorchScript/pickled module is served through ONNX)
    always_convert: bool = False
    #: the Open Inference Protocol's ``platform`` in model metadata
    platform: str = ""
    #: the distributions its runtime imports to serve (what a container image carries: ``modelport build``)
    serves_with: tuple[str, ...] = ()
    #: its runtime needs a Java runtime (a container image gets a slim one)
    needs_java: bool = False

    def __post_init__(self) -> None:
        if not self.platform:
            object.__setattr__(self, "platform", f"{self.name}_modelport")


_SKLEARN_TO_ONNX = "modelport.runtimes.sklearn:to_onnx"
_SKLEARN = ("scikit-learn", "joblib", "skops")
TABLE: dict[str, Format] = {
    f.name: f
    for f in (
        Format("onnx", "an ONNX model", "modelport.runtimes.onnx:OnnxRuntime", "onnx", platform="onnxruntime_onnx",
               serves_with=("onnxruntime",)),
        Format(
            "sklearn",
            "a scikit-learn joblib/pickle file",
            "modelport.runtimes.sklearn:SklearnRuntime",
            "sklearn",
            converter=_SKLEARN_TO_ONNX,
            serves_with=_SKLEARN,
        ),
        Format(
            "skops", "a skops file", "modelport.runtimes.sklearn:SkopsRuntime", "sklearn", converter=_SKLEARN_TO_ONNX,
            serves_with=_SKLEARN,
        ),
        Format(
            "xgboost",
            "an XGBoost booster (JSON or UBJ)",
            "modelport.runtimes.xgboost:XGBoostRuntime",
            "xgboost",
            converter="modelport.runtimes.xgboost:to_onnx",
            serves_with=("xgboost-cpu",),
        ),
        Format(
            "lightgbm",
            "a LightGBM text model",
            "modelport.runtimes.lightgbm:LightGBMRuntime",
            "lightgbm",
            converter="modelport.runtimes.lightgbm:to_onnx",
            serves_with=("lightgbm",),
        ),
        Format("pmml", "a PMML document", "modelport.runtimes.pmml:PmmlRuntime", "pmml", platform="pmml_jpmml",
               serves_with=("jpmml_evaluator", "jpype1"), needs_java=True),
        Format("pfa", "a PFA document (JSON or YAML)", "modelport.runtimes.pfa:PfaRuntime", None),
        Format(
            "torch",
            "a PyTorch file (TorchScript or a saved nn.Module)",
            "modelport.runtimes.torch:TorchRuntime",
            "torch",
            converter="modelport.runtimes.torch:to_onnx",
            always_convert=True,
            serves_with=("torch",),
        ),
    )
}
FORMATS: tuple[str, ...] = tuple(TABLE)

_HEAD = 64 * 1024
# The legacy (pre-zip) torch.save format starts with a pickled magic number.
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
# xgboost's JSON writer sorts keys, so "learner" comes first; allow a leading "version" all the same.
_XGBOOST_JSON_HEAD = re.compile(rb'\A\s*\{\s*(?:"version"\s*:\s*\[[^\]]*\]\s*,\s*)?"learner"\s*:')
# UBJSON integer markers (int8, uint8, int16, int32, int64) and their sizes, for an object key's length
_UBJ_INT_SIZES = {b"i": 1, b"U": 1, b"I": 2, b"l": 4, b"L": 8}


def format_info(fmt: str) -> Format:
    """The table row of a format; an unknown one is an INVALID_ARGUMENT naming the known ones."""
    try:
        return TABLE[fmt]
    except KeyError:
        raise InvalidArgument(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}") from None


def looks_like_xgboost(head: bytes) -> bool:
    """Whether the first bytes are a booster saved by ``save_model``: JSON or UBJSON whose first key is "learner"."""
    if _XGBOOST_JSON_HEAD.match(head):
        return True
    if head[:1] != b"{":
        return False
    size = _UBJ_INT_SIZES.get(head[1:2])
    if size is None:
        return False
    length = int.from_bytes(head[2 : 2 + size], "big", signed=head[1:2] != b"U")
    return length == len(b"learner") and head[2 + size : 2 + size + length] == b"learner"


def looks_like_lightgbm(head: bytes) -> bool:
    """Whether the first bytes are a LightGBM text model: a ``tree`` line, then a ``version=`` line."""
    return head.startswith((b"tree\n", b"tree\r\n")) and re.search(rb"^version=", head, re.MULTILINE) is not None


def is_torch_archive(names: list[str]) -> bool:
    """Whether a zip's member names are ``torch.save``'s or TorchScript's (``<archive>/data.pkl``)."""
    return any(n.endswith("/data.pkl") for n in names)


def check_format(fmt: str) -> str:
    return format_info(fmt).name


def _zip_format(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return None
    if "schema.json" in names:
        return "skops"
    if is_torch_archive(names):
        return "torch"
    return None


def _text_format(head: bytes, path: Path, suffix: str) -> str | None:
    text = head.lstrip()
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:].lstrip()
    if text.startswith(b"<"):
        lowered = text[:4096].lower()
        return "pmml" if b"<pmml" in lowered else None
    if looks_like_lightgbm(text):
        return "lightgbm"
    if looks_like_xgboost(text):
        return "xgboost"
    if text.startswith(b"{"):
        try:
            doc = json.loads(path.read_bytes())
        except (ValueError, UnicodeDecodeError):
            # A truncated or broken JSON document: say what it looks like.
            if b'"action"' in text and b'"input"' in text:
                return "pfa"
            return None
        if isinstance(doc, dict) and "action" in doc and ("input" in doc or "output" in doc):
            return "pfa"
        return None
    if suffix in (".yaml", ".yml") or b"action:" in text[:4096]:
        return "pfa" if b"action" in text and b"input" in text else None
    return None


#: joblib's other compressors: gzip, bz2, xz, lzma (zlib is recognised by its header)
_JOBLIB_COMPRESSED = (b"\x1f\x8b\x08", b"BZh", b"\xfd7zXZ\x00", b"]\x00\x00")


def _zlib_header(head: bytes) -> bool:
    """A zlib stream: deflate with a 32 KiB window (0x78), and a header that is a multiple of 31 (RFC 1950)."""
    return len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0


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
    if _zlib_header(head) or head.startswith(_JOBLIB_COMPRESSED):  # joblib.dump(compress=…)
        return "sklearn"
    if looks_like_xgboost(head):  # JSON or UBJSON
        return "xgboost"
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
                f"format mismatch: --format {declared} expects {TABLE[declared].description}, "
                f"but {shown!r} looks like {TABLE[found].description}"
            )
        return declared
    if found is None:
        raise InvalidArgument(
            f"{shown!r} is not a model file modelport recognises: expected "
            + ", ".join(f.description for f in TABLE.values())
            + " (or pass --format)"
        )
    return found
