"""modelport: self-hosted machine-learning deployment.

    import modelport
    client = modelport.Client()                      # in-process, ~/.modelport
    mv = client.models.register("model.joblib", name="churn", metrics={"auc": 0.91})
    client.models.set_alias("churn", "champion", mv.version)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Alias": "modelport.domain",
    "AlreadyExists": "modelport.errors",
    "Client": "modelport.client",
    "Conflict": "modelport.errors",
    "DataLoss": "modelport.errors",
    "InvalidArgument": "modelport.errors",
    "Model": "modelport.domain",
    "ModelRef": "modelport.domain",
    "ModelVersion": "modelport.domain",
    "ModelportError": "modelport.errors",
    "NewToken": "modelport.domain",
    "NotFound": "modelport.errors",
    "Page": "modelport.domain",
    "PayloadTooLarge": "modelport.errors",
    "PermissionDenied": "modelport.errors",
    "Settings": "modelport.settings",
    "Token": "modelport.domain",
    "TransformJob": "modelport.batch.job",
    "TransformSpec": "modelport.batch.spec",
    "Unauthenticated": "modelport.errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    # Lazy: `import modelport` stays cheap for the CLI and for worker start-up.
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelport' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
