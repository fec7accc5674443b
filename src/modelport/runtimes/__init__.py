"""One runtime per model format, chosen by the version's format.

Runtimes are imported lazily: serving an ONNX model never imports
scikit-learn, and a missing optional dependency surfaces as
``MissingExtra`` ("pip install 'modelport[pmml]'") only when that format is used.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelport.errors import InvalidArgument, MissingExtra
from modelport.formats import TABLE
from modelport.runtimes.base import Runtime
from modelport.signature import Signature

log = logging.getLogger("modelport.runtimes")


def runtime_class(fmt: str) -> type[Runtime]:
    """The runtime class of a format (see :data:`modelport.formats.TABLE`), imported now."""
    try:
        row = TABLE[fmt]
    except KeyError:
        raise InvalidArgument(f"no runtime for format {fmt!r}; known formats: {', '.join(TABLE)}") from None
    module_name, cls_name = row.runtime.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if row.extra is None:
            raise
        raise MissingExtra.for_extra(row.extra, f"{fmt} models ({exc.name} is not installed)") from None
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
        try:
            runtime.warm_up()
        except Exception as exc:  # a synthetic row the model refuses (an unseen category), not a broken model
            log.info("%s model %s: warm-up on a synthetic row failed (%s); the first request warms it", fmt, path, exc)
    return runtime


__all__ = ["Runtime", "load_runtime", "runtime_class"]
