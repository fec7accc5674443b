"""Models the experiment tests pickle by reference (so they live in an importable module)."""

from __future__ import annotations

from typing import Any

FEATURES = ["f0", "f1", "f2", "f3"]
COLUMNS = [*FEATURES, "tag"]


class Tagged:
    """A fitted scikit-learn classifier on ``f0``-``f3`` that also takes a ``tag`` column, which it ignores —
    except that with ``fail_every`` it fails every request holding a row tagged a multiple of it.

    Registration and warm-up rows are tagged 0 (never fail); traffic rows carry tags 1, 2, 3 …, so
    ``fail_every=5`` fails 20% of single-row requests, the same ones whatever arm serves them.
    """

    def __init__(self, model: Any, fail_every: int = 0) -> None:
        import numpy as np

        self.model = model
        self.fail_every = fail_every
        self.classes_ = model.classes_
        self.feature_names_in_ = np.array(COLUMNS, dtype=object)
        self.n_features_in_ = len(COLUMNS)

    def _features(self, x: Any) -> Any:
        import numpy as np
        import pandas as pd

        values = np.asarray(x, dtype=float)
        if self.fail_every:
            tags = np.round(values[:, 4])
            if ((tags > 0) & (tags % self.fail_every == 0)).any():
                raise RuntimeError(f"this model fails one request in {self.fail_every}")
        return pd.DataFrame(values[:, :4], columns=FEATURES)

    def predict(self, x: Any) -> Any:
        return self.model.predict(self._features(x))

    def predict_proba(self, x: Any) -> Any:
        return self.model.predict_proba(self._features(x))
