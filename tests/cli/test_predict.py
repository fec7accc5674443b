"""`modelport predict` and `modelport convert` on files, as a user runs them."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier


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
