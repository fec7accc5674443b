"""What an image needs for a pickled model, found by loading it in a child process (no engine needed)."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from modelport.containers import probe
from modelport.errors import FailedPrecondition

RNG = np.random.default_rng(0)


def _frame() -> tuple[pd.DataFrame, np.ndarray]:
    x = pd.DataFrame({"a": RNG.normal(size=60), "b": RNG.normal(size=60)})
    return x, (x["a"] > 0).to_numpy().astype(int)


def test_a_model_fed_arrays_needs_no_pandas_even_when_fitted_on_a_dataframe(tmp_path: Path) -> None:
    x, y = _frame()
    joblib.dump(LogisticRegression().fit(x, y), tmp_path / "m.joblib")  # feature_names_in_ = a, b
    needs = probe.probe("sklearn", tmp_path / "m.joblib", None)
    assert needs.frames is False
    assert needs.distributions == {"scikit-learn", "numpy"}


def test_a_pipeline_selecting_columns_by_name_takes_dataframes(tmp_path: Path) -> None:
    x, y = _frame()
    x["colour"] = RNG.choice(["red", "blue"], size=len(x))
    pipe = Pipeline(
        [
            ("cols", ColumnTransformer([("onehot", OneHotEncoder(handle_unknown="ignore"), ["colour"])], remainder="passthrough")),
            ("model", LogisticRegression()),
        ]
    )
    joblib.dump(pipe.fit(x, y), tmp_path / "p.joblib")
    assert probe.probe("sklearn", tmp_path / "p.joblib", None).frames is True


def test_a_step_from_another_library_brings_its_distribution(tmp_path: Path) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    x, y = _frame()
    pipe = Pipeline([("model", lightgbm.LGBMClassifier(n_estimators=3, verbose=-1))])
    joblib.dump(pipe.fit(x.to_numpy(), y), tmp_path / "lgbm.joblib")
    assert "lightgbm" in probe.probe("sklearn", tmp_path / "lgbm.joblib", None).distributions


def test_the_classes_and_functions_a_model_holds_are_found_not_what_its_libraries_import() -> None:
    from functools import partial

    from sklearn.preprocessing import FunctionTransformer

    x, y = _frame()
    pipe = Pipeline([("log", FunctionTransformer(partial(np.clip, a_min=0, a_max=None))), ("m", LogisticRegression())])
    pipe.fit(x.to_numpy(), y)
    pipe.extra_ = {"index": pd.Index([3, 4])}  # a pandas object inside the pickle: unpickling needs pandas
    tops = {m.partition(".")[0] for m in probe.modules_of(pipe)}
    assert {"sklearn", "numpy", "pandas", "functools"} <= tops
    assert not tops & {"pyarrow", "rich", "psutil"}  # scikit-learn imports them when present; the model holds none


def test_a_file_that_does_not_load_is_named_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken.joblib").write_bytes(b"not a pickle")
    with pytest.raises(FailedPrecondition, match=r"the sklearn model broken.joblib does not load here: ") as err:
        probe.probe("sklearn", tmp_path / "broken.joblib", None)
    assert "\n" not in err.value.message
