"""`modelport predict` and `modelport convert` on files, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
import xgboost
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier

from tests.runtimes.fixtures import COLORS, as_categories, training_frame, xgboost_answer


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, RandomForestClassifier, pd.DataFrame]:
    d = tmp_path_factory.mktemp("wine")
    x, y = load_wine(return_X_y=True, as_frame=True)
    model = RandomForestClassifier(30, random_state=0).fit(x, y)
    joblib.dump(model, d / "wine.joblib")
    x.to_csv(d / "train.csv", index=False)
    return d / "wine.joblib", d / "train.csv", model, x


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet", "csv.gz"])
def test_predict_file_keeps_row_order(cli, wine, tmp_path: Path, suffix: str) -> None:  # type: ignore[no-untyped-def]
    model_path, sample, model, x = wine
    assert cli("models", "register", str(model_path), "--name", "wine", "--sample", str(sample), "--to-onnx")[0] == 0
    shuffled = x.sample(frac=1.0, random_state=1)
    src = tmp_path / f"in.{suffix}"
    if suffix.startswith("csv"):
        shuffled.to_csv(src, index=False)
    elif suffix == "jsonl":
        shuffled.to_json(src, orient="records", lines=True)
    else:
        shuffled.to_parquet(src)
    out = tmp_path / "preds.csv"
    code, stdout, err = cli("predict", "wine:1", "--input", str(src), "--output", str(out))
    assert code == 0, err
    preds = pd.read_csv(out)
    assert list(preds.columns) == ["label", "proba_0", "proba_1", "proba_2"]
    np.testing.assert_array_equal(preds["label"], model.predict(shuffled))
    np.testing.assert_allclose(preds[["proba_0", "proba_1", "proba_2"]], model.predict_proba(shuffled), atol=1e-5)
    assert "wine:1" in stdout and f"{len(x)}" in stdout


def test_predict_bad_input(cli, wine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model_path, sample, *_ = wine
    cli("models", "register", str(model_path), "--name", "wine", "--sample", str(sample))
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"alcohol": [1.0]}).to_csv(bad, index=False)
    code, _, err = cli("predict", "wine", "--input", str(bad), "--output", str(tmp_path / "o.csv"))
    assert code == 1 and err.startswith("error: missing input columns 'malic_acid', 'ash'")
    code, _, err = cli("predict", "wine", "--input", str(tmp_path / "none.csv"), "--output", str(tmp_path / "o.csv"))
    assert code == 1 and "data file" in err and "does not exist" in err


def test_convert_writes_onnx_and_prints_parity(cli, wine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model_path, sample, model, x = wine
    out = tmp_path / "wine.onnx"
    code, stdout, err = cli("convert", str(model_path), "--to", "onnx", "--sample", str(sample), "-o", str(out))
    assert code == 0, err
    assert "Parity sklearn → onnx on 178 sample rows" in stdout and "100.00%" in stdout
    sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    labels = sess.run(["label"], {"input": x.to_numpy(np.float32)})[0]
    np.testing.assert_array_equal(labels, model.predict(x))
    code, _, err = cli("convert", str(model_path), "--sample", str(sample), "-o", str(out), "--atol", "0")
    assert code == 1 and "parity check failed" in err and "nothing written" in err


@pytest.fixture(scope="module")
def colors(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, xgboost.Booster]:
    """An XGBoost classifier trained on category columns, saved with save_model, and its training CSV (strings)."""
    d = tmp_path_factory.mktemp("colors")
    frame, y = training_frame()
    model = xgboost.XGBClassifier(n_estimators=15, max_depth=4, enable_categorical=True, n_jobs=1)
    model.fit(as_categories(frame, {"color": COLORS}), y)
    model.save_model(d / "colors.json")
    frame.to_csv(d / "train.csv", index=False)
    return d / "colors.json", d / "train.csv", model.get_booster()


def test_predict_and_transform_with_category_strings(cli, colors, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model_path, sample, booster = colors
    code, _, err = cli("models", "register", str(model_path), "--name", "colors", "--sample", str(sample))
    assert code == 0, err
    code, stdout, _ = cli("models", "show", "colors")
    assert "color:string?" in stdout and "categories of color" in stdout and "blue, green, red, amber, violet" in stdout
    rows, _ = training_frame(rows=60, seed=9)
    rows.loc[::4, "color"] = "ultraviolet"  # a category the model never saw
    rows.loc[1::4, "size"] = None  # an empty cell
    rows.to_csv(tmp_path / "rows.csv", index=False)
    code, _, err = cli("predict", "colors", "--input", str(tmp_path / "rows.csv"), "--output", str(tmp_path / "out.csv"))
    assert code == 0, err
    unknown_as_missing = as_categories(rows.replace({"color": {"ultraviolet": None}}), {"color": COLORS})
    expected = xgboost_answer(booster, unknown_as_missing)
    np.testing.assert_allclose(pd.read_csv(tmp_path / "out.csv")[["proba_0", "proba_1", "proba_2"]], expected, rtol=1e-6)
    # a transform job reads the same strings (as Arrow does, not pandas)
    code, _, err = cli("transform", "colors", "-i", str(tmp_path / "rows.csv"), "-o", str(tmp_path / "job.csv"))
    assert code == 0, err
    np.testing.assert_allclose(pd.read_csv(tmp_path / "job.csv")[["proba_0", "proba_1", "proba_2"]], expected, rtol=1e-6)
    # converted to ONNX, the version takes the same strings and gives the same answers
    code, _, err = cli("models", "register", str(model_path), "--name", "colors", "--sample", str(sample), "--to-onnx")
    assert code == 0, err
    code, _, err = cli("predict", "colors:2", "--input", str(tmp_path / "rows.csv"), "--output", str(tmp_path / "onnx.csv"))
    assert code == 0, err
    np.testing.assert_allclose(pd.read_csv(tmp_path / "onnx.csv")[["proba_0", "proba_1", "proba_2"]], expected, atol=1e-6)
