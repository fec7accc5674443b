"""One runtime per model format, chosen by the version's format.

Runtimes are imported lazily: serving an ONNX model never imports
scikit-learn, and a missing optional dependency surfaces as
``MissingExtra`` ("pip install 'modelport[pmml]'") only when that format is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelport.errors import InvalidArgument, MissingExtra
from modelport.runtimes.base import Runtime
from modelport.signature import Signature

#: format → (module, class, optional extra that provides it)
RUNTIMES: dict[str, tuple[str, str, str | None]] = {
    "onnx": ("modelport.runtimes.onnx", "OnnxRuntime", "onnx"),
    "sklearn": ("modelport.runtimes.sklearn", "SklearnRuntime", "sklearn"),
    "skops": ("modelport.runtimes.sklearn", "SkopsRuntime", "sklearn"),
    "xgboost": ("modelport.runtimes.xgboost", "XGBoostRuntime", "xgboost"),
    "lightgbm": ("modelport.runtimes.lightgbm", "LightGBMRuntime", "lightgbm"),
    "pmml": ("modelport.runtimes.pmml", "PmmlRuntime", "pmml"),
    "pfa": ("modelport.runtimes.pfa", "PfaRuntime", None),
    "torch": ("modelport.runtimes.torch", "TorchRuntime", "torch"),
}


def runtime_class(fmt: str) -> type[Runtime]:
    try:
        module_name, cls_name, extra = RUNTIMES[fmt]
    except KeyError:
        raise InvalidArgument(f"no runtime for format {fmt!r}; known formats: {', '.join(RUNTIMES)}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if extra is None:
            raise
        raise MissingExtra.for_extra(extra, f"{fmt} models ({exc.name} is not installed)") from None
    return getattr(module, cls_name)  # type: ignore[no-any-return]


def load_runtime(
    fmt: str,
    path: Path,
    *,
    signature: Signature | None = None,
    options: Mapping[str, Any] | None = None,
    shared: Mapping[str, Any] | None = None,
    warm: bool = True,
) -> Runtime:
    """Load an artifact (already sha256-verified) with its format's runtime and warm it up.

    ``options`` are asked for this model: one the runtime does not declare is
    an INVALID_ARGUMENT.  ``shared`` are settings offered to every runtime
    (``Settings.runtime_options()``): each reaches only the runtimes that
    declare it, and ``options`` override them.
    """
    cls = runtime_class(fmt)
    chosen = {k: v for k, v in (shared or {}).items() if k in cls.options}
    chosen.update(cls.check_options(options))
    runtime = cls.load(path, signature=signature, options=chosen)
    if warm:
        runtime.warm_up()
    return runtime


__all__ = ["RUNTIMES", "Runtime", "load_runtime", "runtime_class"]
