"""Toy models the batch tests pickle by reference (so they live in an importable module)."""

from __future__ import annotations

import time

from sklearn.linear_model import LogisticRegression


class SlowClassifier(LogisticRegression):
    """Logistic regression that takes ``delay`` seconds per model call: slow enough to kill mid-job."""

    delay = 0.1

    def predict_proba(self, X):  # type: ignore[no-untyped-def]
        time.sleep(self.delay)
        return super().predict_proba(X)
