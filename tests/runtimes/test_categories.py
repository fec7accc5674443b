"""XGBoost models trained on pandas ``category`` columns take the category values themselves.

Every expectation is XGBoost's own answer on the DataFrame with its
categorical dtypes; a category the model never saw must score like a missing
value (XGBoost's own answer with NaN in that cell).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost

from modelport.domain import RegisterOptions
from modelport.errors import InvalidArgument
from modelport.registration import prepare
from modelport.runtimes import load_runtime
from modelport.runtimes.categories import CategoryCodes, declared_categories, frame_categories
from modelport.runtimes.onnx import OnnxRuntime
from modelport.runtimes.xgboost import XGBoostRuntime
from modelport.signature import ColumnSpec, Signature, frame_to_batch
from tests.runtimes.fixtures import COLORS, SIZES, as_categories, training_frame, xgboost_answer


# Three ways users train: the scikit-learn wrapper, the native API, and a regressor; JSON and UBJSON files.
def sklearn_classifier(x: pd.DataFrame, y: np.ndarray) -> xgboost.Booster:
    return xgboost.XGBClassifier(n_estimators=15, max_depth=4, enable_categorical=True, n_jobs=1).fit(x, y).get_booster()


def native_softprob(x: pd.DataFrame, y: np.ndarray) -> xgboost.Booster:
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 4, "nthread": 1}
    return xgboost.train(params, xgboost.DMatrix(x, y, enable_categorical=True), num_boost_round=15)


def native_regressor(x: pd.DataFrame, y: np.ndarray) -> xgboost.Booster:
    params = {"objective": "reg:squarederror", "max_depth": 4, "nthread": 1, "max_cat_to_onehot": 1}
    return xgboost.train(params, xgboost.DMatrix(x, y + x["num"], enable_categorical=True), num_boost_round=15)


TRAINERS: dict[str, Callable[[pd.DataFrame, np.ndarray], xgboost.Booster]] = {
    "sklearn-classifier": sklearn_classifier,
    "native-softprob": native_softprob,
    "native-regressor": native_regressor,
}


def modelport_answer(runtime: XGBoostRuntime, frame: pd.DataFrame) -> np.ndarray:
    outputs = runtime.predict(frame_to_batch(frame, runtime.signature))
    return outputs["probabilities"] if "probabilities" in outputs else outputs["prediction"]


@pytest.fixture(scope="module", params=[(t, ext) for t in TRAINERS for ext in ("json", "ubj")], ids="-".join)
def trained(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, xgboost.Booster]:
    trainer, ext = request.param
    frame, y = training_frame()
    # Categories in an order of the user's, not pandas' sorted one: the codes follow it.
    booster = TRAINERS[trainer](as_categories(frame, {"color": COLORS}), y)
    path = tmp_path_factory.mktemp("categories") / f"{trainer}.{ext}"
    booster.save_model(path)
    return path, booster


def test_the_signature_takes_strings_and_lists_the_categories_in_code_order(trained) -> None:  # type: ignore[no-untyped-def]
    path, _ = trained
    runtime = XGBoostRuntime.load(path)
    inputs = {c.name: (c.dtype, c.nullable) for c in runtime.signature.inputs}
    assert inputs == {"num": ("float32", True), "color": ("string", True), "size": ("string", True)}
    assert runtime.signature.extra["categories"] == {"color": COLORS, "size": sorted(SIZES)}


def test_strings_score_as_xgboost_scores_the_categorical_frame(trained) -> None:  # type: ignore[no-untyped-def]
    path, booster = trained
    runtime = load_runtime("xgboost", path)
    frame, _ = training_frame(rows=300, seed=1)
    expected = xgboost_answer(booster, as_categories(frame, runtime.signature.extra["categories"]))
    np.testing.assert_array_equal(modelport_answer(runtime, frame), expected)


def test_an_unknown_category_scores_as_a_missing_value(trained) -> None:  # type: ignore[no-untyped-def]
    path, booster = trained
    runtime = load_runtime("xgboost", path)
    frame, _ = training_frame(rows=40, seed=2)
    frame.loc[::3, "color"] = "ultraviolet"  # never seen in training
    frame.loc[1::3, "size"] = None  # missing
    with_nan = as_categories(frame.replace({"color": {"ultraviolet": None}}), runtime.signature.extra["categories"])
    assert with_nan["color"].isna().sum() == 14 and with_nan["size"].isna().sum() == 13
    np.testing.assert_array_equal(modelport_answer(runtime, frame), xgboost_answer(booster, with_nan))


def test_registration_from_the_training_csv(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, booster = trained
    frame, _ = training_frame(rows=100, seed=3)
    csv = tmp_path / "train.csv"
    frame.to_csv(csv, index=False)
    prepared = prepare(path, "xgboost", sample=pd.read_csv(csv))
    assert [c.dtype for c in prepared.signature.inputs] == ["float32", "string", "string"]
    assert prepared.signature.extra["categories"] == {"color": COLORS, "size": sorted(SIZES)}
    # What serving loads: the stored signature.
    runtime = XGBoostRuntime.load(path, signature=Signature.from_dict(prepared.signature.to_dict()))
    expected = xgboost_answer(booster, as_categories(frame, prepared.signature.extra["categories"]))
    np.testing.assert_array_equal(modelport_answer(runtime, frame), expected)


def test_the_onnx_conversion_takes_the_strings(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, booster = trained
    frame, _ = training_frame(rows=200)
    prepared = prepare(path, "xgboost", sample=frame, options=RegisterOptions(to_onnx=True))
    assert prepared.format == "onnx" and prepared.parity is not None and prepared.parity.ok
    assert prepared.onnx_bytes is not None
    (tmp_path / "m.onnx").write_bytes(prepared.onnx_bytes)
    runtime = OnnxRuntime.load(tmp_path / "m.onnx", signature=prepared.signature)
    assert [c.dtype for c in runtime.signature.inputs] == ["float32", "string", "string"]
    rows, _ = training_frame(rows=90, seed=12)
    rows.loc[::3, "color"] = "ultraviolet"
    rows.loc[1::3, "size"] = None
    with_nan = as_categories(rows.replace({"color": {"ultraviolet": None}}), {"color": COLORS})
    outputs = runtime.predict(frame_to_batch(rows, runtime.signature))
    got = outputs["probabilities"] if "probabilities" in outputs else outputs["prediction"]
    np.testing.assert_allclose(got, xgboost_answer(booster, with_nan), atol=1e-6)


# -- boosters that do not store their categories -----------------------------------------------------


@pytest.fixture(scope="module")
def codes_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, xgboost.Booster, pd.DataFrame]:
    """A booster trained on category codes (as XGBoost before 3.1 saves every model): it knows no strings."""
    frame, y = training_frame()
    x = as_categories(frame, {"color": COLORS})
    codes = np.column_stack([x["num"], x["color"].cat.codes, x["size"].cat.codes]).astype(np.float32)
    dmatrix = xgboost.DMatrix(codes, y, feature_names=["num", "color", "size"], feature_types=["q", "c", "c"])
    booster = xgboost.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 4, "nthread": 1}, dmatrix, 15)
    path = tmp_path_factory.mktemp("codes") / "codes.json"
    booster.save_model(path)
    return path, booster, x


def test_without_stored_categories_the_columns_take_codes(codes_only) -> None:  # type: ignore[no-untyped-def]
    path, booster, x = codes_only
    runtime = XGBoostRuntime.load(path)
    assert [c.dtype for c in runtime.signature.inputs] == ["float32", "float32", "float32"]
    assert "categories" not in runtime.signature.extra and runtime.categorical == {"color", "size"}
    codes = x.assign(color=x["color"].cat.codes.astype("float32"), size=x["size"].cat.codes.astype("float32"))
    np.testing.assert_array_equal(modelport_answer(runtime, codes), booster.inplace_predict(codes.to_numpy(np.float32), validate_features=False))


def test_a_sample_with_category_dtypes_names_the_codes(codes_only, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, booster, x = codes_only
    parquet = tmp_path / "train.parquet"
    x.to_parquet(parquet)  # Parquet keeps the category dtype, and so the code order
    prepared = prepare(path, "xgboost", sample=pd.read_parquet(parquet))
    assert prepared.signature.extra["categories"] == {"color": COLORS, "size": sorted(SIZES)}
    runtime = XGBoostRuntime.load(path, signature=Signature.from_dict(prepared.signature.to_dict()))
    frame, _ = training_frame(rows=200, seed=4)
    frame.loc[::5, "color"] = "ultraviolet"
    with_nan = as_categories(frame.replace({"color": {"ultraviolet": None}}), prepared.signature.extra["categories"])
    np.testing.assert_array_equal(modelport_answer(runtime, frame), xgboost_answer(booster, with_nan))


def test_a_csv_sample_cannot_name_the_codes(codes_only) -> None:  # type: ignore[no-untyped-def]
    path, _, _ = codes_only
    frame, _ = training_frame(rows=50)
    with pytest.raises(InvalidArgument, match=r"sample column 'color' holds strings, but the xgboost model takes category codes"):
        prepare(path, "xgboost", sample=frame)
    strings = Signature(inputs=(ColumnSpec("num", "float32"), ColumnSpec("color", "string"), ColumnSpec("size", "float32")))
    with pytest.raises(InvalidArgument, match=r"column 'color' is categorical in the XGBoost model, which does not store"):
        XGBoostRuntime.load(path, signature=strings)


def test_a_version_registered_with_codes_keeps_taking_codes(trained) -> None:  # type: ignore[no-untyped-def]
    """A stored float32 signature without categories (before they were kept) is served as it was."""
    path, booster = trained
    legacy = Signature(inputs=tuple(ColumnSpec(n, "float32", nullable=True) for n in ("num", "color", "size")))
    runtime = XGBoostRuntime.load(path, signature=legacy)
    assert "categories" not in runtime.signature.extra
    frame, _ = training_frame(rows=100, seed=5)
    x = as_categories(frame, {"color": COLORS})
    codes = x.assign(color=x["color"].cat.codes.astype("float32"), size=x["size"].cat.codes.astype("float32"))
    np.testing.assert_array_equal(modelport_answer(runtime, codes), xgboost_answer(booster, x))


def test_categories_that_do_not_fit_the_declared_column_are_refused(trained) -> None:  # type: ignore[no-untyped-def]
    path, _ = trained
    wrong = Signature(
        inputs=tuple(ColumnSpec(n, "float32", nullable=True) for n in ("num", "color", "size")),
        extra={"categories": {"color": COLORS}},
    )
    with pytest.raises(InvalidArgument, match=r"column 'color' is categorical in the model with string categories"):
        XGBoostRuntime.load(path, signature=wrong)


def test_numeric_categories_take_the_numbers(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    x = pd.DataFrame({"zone": pd.Categorical(rng.choice([30, 10, 20], 400), categories=[30, 10, 20])})
    x["load"] = rng.normal(size=400)
    y = ((x["zone"].astype(int) == 10) ^ (x["load"] > 0)).astype(int)
    booster = xgboost.XGBClassifier(n_estimators=10, enable_categorical=True, n_jobs=1).fit(x, y).get_booster()
    booster.save_model(tmp_path / "zones.ubj")
    runtime = load_runtime("xgboost", tmp_path / "zones.ubj")
    assert runtime.signature.inputs[0] == ColumnSpec("zone", "float64", nullable=True)
    assert runtime.signature.extra["categories"] == {"zone": [30, 10, 20]}
    rows = pd.DataFrame({"zone": [10.0, 20.0, 30.0, 40.0, np.nan], "load": [0.5, -0.5, 0.5, 0.5, 0.5]})
    expected = xgboost_answer(booster, rows.assign(zone=pd.Categorical([10, 20, 30, None, None], categories=[30, 10, 20])))
    np.testing.assert_array_equal(modelport_answer(runtime, rows)[:, 1], expected)
    prepared = prepare(tmp_path / "zones.ubj", "xgboost", sample=rows.dropna(), options=RegisterOptions(to_onnx=True))
    (tmp_path / "zones.onnx").write_bytes(prepared.onnx_bytes or b"")
    converted = OnnxRuntime.load(tmp_path / "zones.onnx", signature=prepared.signature)
    probabilities = converted.predict(frame_to_batch(rows, converted.signature))["probabilities"]
    np.testing.assert_allclose(probabilities[:, 1], expected, atol=1e-6)


def test_the_codes_of_values_and_the_declared_categories_checked() -> None:
    codes = CategoryCodes({"color": ["blue", "green"]})
    got = codes.codes("color", np.array(["green", "blue", "pink", None, float("nan")], dtype=object))
    np.testing.assert_array_equal(got, np.array([1, 0, np.nan, np.nan, np.nan], dtype=np.float32))
    with pytest.raises(InvalidArgument, match=r"^column 'color': expected one of its categories, got list$"):
        codes.codes("color", np.array([["green"], "blue"], dtype=object))
    with pytest.raises(InvalidArgument, match=r"categories for column 'color' lists a category twice"):
        declared_categories(Signature(extra={"categories": {"color": ["a", "a"]}}))
    with pytest.raises(InvalidArgument, match=r"categories for column 'color' must be a list of strings or numbers"):
        declared_categories(Signature(extra={"categories": {"color": "abc"}}))
    frame = pd.DataFrame({"a": pd.Categorical(["x", "y"], categories=["y", "x"]), "b": ["x", "y"]})
    assert frame_categories(frame) == {"a": ["y", "x"]}



def test_a_sample_names_the_columns_and_categories_of_a_booster_without_names(tmp_path: Path) -> None:
    frame, y = training_frame()
    x = as_categories(frame, {"color": COLORS})
    codes = np.column_stack([x["num"], x["color"].cat.codes, x["size"].cat.codes]).astype(np.float32)
    dmatrix = xgboost.DMatrix(codes, y, feature_types=["q", "c", "c"])  # f0, f1, f2
    booster = xgboost.train({"objective": "multi:softprob", "num_class": 3, "nthread": 1}, dmatrix, 10)
    booster.save_model(tmp_path / "unnamed.json")
    prepared = prepare(tmp_path / "unnamed.json", "xgboost", sample=x)
    assert [(c.name, c.dtype) for c in prepared.signature.inputs] == [
        ("num", "float32"),
        ("color", "string"),
        ("size", "string"),
    ]
    runtime = XGBoostRuntime.load(tmp_path / "unnamed.json", signature=prepared.signature)
    np.testing.assert_array_equal(modelport_answer(runtime, frame), booster.inplace_predict(codes))


def test_one_declared_tensor_takes_codes(trained) -> None:  # type: ignore[no-untyped-def]
    path, booster = trained
    tensor = Signature(inputs=(ColumnSpec("input", "float32", shape=(-1, 3), nullable=True),))
    runtime = XGBoostRuntime.load(path, signature=tensor)
    assert "categories" not in runtime.signature.extra and not runtime.categorical
    x = as_categories(training_frame(rows=50, seed=7)[0], {"color": COLORS})
    codes = np.column_stack([x["num"], x["color"].cat.codes, x["size"].cat.codes]).astype(np.float32)
    outputs = runtime.predict({"input": codes})
    np.testing.assert_array_equal(outputs.get("probabilities", outputs.get("prediction")), xgboost_answer(booster, x))


# -- the scikit-learn wrapper, pickled (served by the scikit-learn runtime) ------------------------------


def test_a_pickled_wrapper_takes_the_strings_too(tmp_path: Path) -> None:
    import joblib

    frame, y = training_frame()
    model = xgboost.XGBClassifier(n_estimators=15, max_depth=4, enable_categorical=True, n_jobs=1)
    model.fit(as_categories(frame, {"color": COLORS}), y)
    joblib.dump(model, tmp_path / "colors.joblib")
    prepared = prepare(tmp_path / "colors.joblib", "sklearn", sample=frame)
    assert [(c.name, c.dtype) for c in prepared.signature.inputs] == [
        ("num", "float64"),
        ("color", "string"),
        ("size", "string"),
    ]
    assert prepared.signature.extra["categories"] == {"color": COLORS, "size": sorted(SIZES)}
    runtime = load_runtime("sklearn", tmp_path / "colors.joblib", signature=Signature.from_dict(prepared.signature.to_dict()))
    rows, _ = training_frame(rows=90, seed=8)
    rows.loc[::3, "color"] = "ultraviolet"
    rows.loc[1::3, "size"] = None
    with_nan = as_categories(rows.replace({"color": {"ultraviolet": None}}), {"color": COLORS})
    np.testing.assert_array_equal(runtime.predict(frame_to_batch(rows, runtime.signature))["probabilities"], model.predict_proba(with_nan))
    with pytest.raises(InvalidArgument, match=r"columns take category values \('color', 'size'\) cannot be converted"):
        prepare(tmp_path / "colors.joblib", "sklearn", sample=frame, options=RegisterOptions(to_onnx=True))


def test_a_pipeline_declared_with_categories_still_gets_its_strings(tmp_path: Path) -> None:
    """Categories listed for an estimator that encodes strings itself change nothing it receives."""
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    frame, y = training_frame(rows=200)
    pipeline = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression(max_iter=500))
    pipeline.fit(frame[["color"]], y)
    joblib.dump(pipeline, tmp_path / "pipeline.joblib")
    declared = Signature(inputs=(ColumnSpec("color", "string"),), extra={"categories": {"color": ["red", "blue"]}})
    runtime = load_runtime("sklearn", tmp_path / "pipeline.joblib", signature=declared)
    rows = frame[["color"]].head(20)
    got = runtime.predict(frame_to_batch(rows, runtime.signature))["probabilities"]
    np.testing.assert_array_equal(got, pipeline.predict_proba(rows))
