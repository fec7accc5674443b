"""The forest fast path: the same bits as scikit-learn's own methods, or not used at all."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine
from sklearn.ensemble import ExtraTreesRegressor, RandomForestClassifier, RandomForestRegressor

from modelport.runtimes.sklearn import SklearnRuntime
from modelport.runtimes.sklearn_forest import ForestScorer, forest_scorer
from modelport.signature import Signature, frame_to_batch, signature_from_frame


def _runtime(model, frame, tmp_path: Path) -> SklearnRuntime:  # type: ignore[no-untyped-def]
    joblib.dump(model, tmp_path / "m.joblib")
    return SklearnRuntime.load(tmp_path / "m.joblib", signature=Signature(inputs=signature_from_frame(frame)))


def test_classifier_bits_equal_predict_proba_named_and_unnamed(tmp_path: Path) -> None:
    x, y = load_wine(return_X_y=True, as_frame=True)
    for train in (x, x.to_numpy()):  # with and without feature_names_in_
        model = RandomForestClassifier(40, random_state=0).fit(train, y)
        rt = _runtime(model, x, tmp_path)
        assert isinstance(rt._score, ForestScorer)
        out = rt.predict(frame_to_batch(x, rt.signature))
        assert np.array_equal(out["probabilities"], model.predict_proba(train))
        assert np.array_equal(out["label"], model.predict(train))
        one = rt.predict(frame_to_batch(x.iloc[[7]], rt.signature))
        assert np.array_equal(one["probabilities"], model.predict_proba(train[7:8] if isinstance(train, np.ndarray) else train.iloc[[7]]))


@pytest.mark.parametrize("make", [lambda: RandomForestRegressor(30, random_state=0), lambda: ExtraTreesRegressor(30, random_state=0)])
def test_regressors_bits_equal_predict(make, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    x, y = load_diabetes(return_X_y=True, as_frame=True)
    model = make().fit(x, y)
    rt = _runtime(model, x, tmp_path)
    assert isinstance(rt._score, ForestScorer)
    out = rt.predict(frame_to_batch(x, rt.signature))
    assert out["prediction"].shape == (len(x),)
    assert np.array_equal(out["prediction"], model.predict(x))


def test_nan_rows_get_the_models_own_answer(tmp_path: Path) -> None:
    x, y = load_wine(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(10, random_state=0).fit(x, y)
    rt = _runtime(model, x, tmp_path)
    bad = x.iloc[:3].copy()
    bad.iloc[1, 2] = np.nan

    batch = {name: bad[name].to_numpy() for name in rt.signature.input_names}  # as if the signature allowed NaN
    assert np.array_equal(rt.predict(batch)["probabilities"], model.predict_proba(bad))


def test_not_used_where_it_would_not_be_exact() -> None:
    x, y = load_wine(return_X_y=True)

    class Weighted(RandomForestClassifier):  # a subclass may combine its trees differently
        pass

    assert forest_scorer(Weighted(5, random_state=0).fit(x, y), x.shape[1]) is None
    multi = RandomForestRegressor(5, random_state=0).fit(x, np.c_[y, y])
    assert forest_scorer(multi, x.shape[1]) is None
    assert forest_scorer(RandomForestClassifier(5, random_state=0).fit(x, y), x.shape[1]) is not None
