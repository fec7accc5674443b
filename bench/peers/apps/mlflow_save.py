"""Run inside the MLflow venv: save the benchmark's joblib model as an MLflow sklearn model.

Usage: python mlflow_save.py MODEL.joblib OUT_DIR
"""

import shutil
import sys
import tempfile
from pathlib import Path

import joblib
import mlflow.sklearn
import numpy as np
from mlflow.models import infer_signature


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    model = joblib.load(source)
    example = np.zeros((1, model.n_features_in_))
    # written beside the target and renamed: a half-written folder is never cached
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-")) / "model"
    mlflow.sklearn.save_model(
        model,
        staging,
        serialization_format="pickle",
        signature=infer_signature(example, model.predict(example)),
    )
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    shutil.rmtree(staging.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
