"""Trial functions the tuning tests run, written as a module into the test's folder (workers import it there)."""

from __future__ import annotations

from pathlib import Path

MODULE = "mp_tuning_trials"

SOURCE = '''
import os
import signal
import time

_DATA = None


def _data():
    global _DATA
    if _DATA is None:
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split

        X, y = load_breast_cancer(return_X_y=True, as_frame=True)
        X = X.iloc[:, :8]
        _DATA = train_test_split(X, y, test_size=0.3, random_state=0)
    return _DATA


def tree(params, report):
    """A decision tree on breast cancer: val_auc, the model and a sample of the validation rows."""
    from sklearn.metrics import roc_auc_score
    from sklearn.tree import DecisionTreeClassifier

    X_train, X_val, y_train, y_val = _data()
    model = DecisionTreeClassifier(
        max_depth=params["max_depth"], criterion=params.get("criterion", "gini"), random_state=0
    ).fit(X_train, y_train)
    auc = roc_auc_score(y_val, model.predict_proba(X_val)[:, 1])
    report(0, auc)
    return {"val_auc": auc, "leaves": model.get_n_leaves()}, model, X_val.head(50)


def tree_slowly(params, report):
    time.sleep(0.15)
    return tree(params, report)


def quadratic(params, report):
    x = params["x"]
    for step in range(4):
        report(step, -(x - 2) ** 2 - 1.0 / (step + 1))
    return {"score": -(x - 2) ** 2}


def slow_quadratic(params, report):
    time.sleep(0.1)
    return quadratic(params, report)


def no_objective(params, report):
    return {"other": 1.0}


def crash(params, report):
    os._exit(3)


def freeze(params, report):
    os.kill(os.getpid(), signal.SIGSTOP)


def flaky(params, report):
    if params["x"] > 0.5:
        raise ValueError("x too big")
    return {"score": params["x"]}
'''


def write_module(folder: Path) -> Path:
    path = folder / f"{MODULE}.py"
    path.write_text(SOURCE)
    return path
