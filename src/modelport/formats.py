"""Model formats and how a file's format is recognised.

The registry stores every format's bytes; the runtime for each format
(``modelport.runtimes``) loads them.  Detection looks at the file name
first and then at its first bytes, so a mislabelled file is caught before
anything is registered.
"""

from __future__ import annotations

from pathlib import Path

from modelport.errors import InvalidArgument

FORMATS: tuple[str, ...] = ("onnx", "sklearn", "skops", "xgboost", "lightgbm", "pmml", "pfa", "torch")

_SUFFIXES: dict[str, str] = {
    ".onnx": "onnx",
    ".joblib": "sklearn",
    ".pkl": "sklearn",
    ".pickle": "sklearn",
    ".skops": "skops",
    ".ubj": "xgboost",
    ".xgb": "xgboost",
    ".pmml": "pmml",
    ".pt": "torch",
    ".pth": "torch",
}


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return fmt


def detect_format(path: Path, declared: str | None = None) -> str:
    """The format of a model file: the declared one (checked), or recognised from its name."""
    if declared:
        return check_format(declared)
    name = path.name.lower()
    if name.endswith((".pfa.json", ".pfa.yaml", ".pfa.yml", ".pfa")):
        return "pfa"
    if name.endswith(".xgb.json") or name.endswith(".xgboost.json"):
        return "xgboost"
    if name.endswith((".lgb.txt", ".lightgbm.txt", ".lgb")):
        return "lightgbm"
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InvalidArgument(
            f"cannot tell the format of {path.name!r} from its name: pass --format "
            f"({', '.join(FORMATS)})"
        )
    return fmt
