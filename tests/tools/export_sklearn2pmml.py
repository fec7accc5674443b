"""Export an iris classifier with sklearn2pmml, plus scikit-learn's own predictions.

sklearn2pmml refuses the scikit-learn the project uses, so this script runs in
its own virtualenv (``make install`` creates ``.venv-sklearn2pmml`` with
``scikit-learn==1.9.0 sklearn2pmml pandas``) and is called by
``tests/runtimes/test_pmml.py`` through that venv's python:

    .venv-sklearn2pmml/bin/python tests/tools/export_sklearn2pmml.py OUT_DIR

It writes ``OUT_DIR/iris.pmml`` and ``OUT_DIR/reference.json``:
``{"versions": {...}, "inputs": {field: [values]}, "outputs": {field: [values]}}``
where the output fields carry the names sklearn2pmml gives them in the PMML
(``species``, ``probability(setosa)``, ...).  It imports only scikit-learn, numpy
and sklearn2pmml (pandas comes in with ``as_frame``): modelport is not installed there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import sklearn
import sklearn2pmml
from sklearn.datasets import load_iris
from sklearn.ensemble import GradientBoostingClassifier
from sklearn2pmml import sklearn2pmml as export
from sklearn2pmml.pipeline import PMMLPipeline


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    iris = load_iris(as_frame=True)
    X = iris.data
    # A plain object array: sklearn2pmml 0.133.1 fails on a pandas 3 string
    # Series as the target ("Expected a Java primitive value, got
    # java.util.ArrayList"), so the target field is named explicitly.
    y = np.asarray(iris.target_names[iris.target], dtype=object)

    # Boosted trees: float-typed PMML fields (scikit-learn compares float32
    # features against its thresholds) and probabilities through a softmax.
    pipeline = PMMLPipeline([("classifier", GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0))])
    pipeline.fit(X, y)
    pipeline.target_fields = ["species"]
    # Embeds ModelVerification records, which the PMML runtime checks at load.
    pipeline.verify(X.sample(n=10, random_state=0))
    export(pipeline, str(out_dir / "iris.pmml"))

    proba = pipeline.predict_proba(X)
    outputs: dict[str, list[object]] = {"species": pipeline.predict(X).tolist()}
    for i, label in enumerate(pipeline.classes_):
        outputs[f"probability({label})"] = proba[:, i].tolist()
    reference = {
        "versions": {"scikit-learn": sklearn.__version__, "sklearn2pmml": sklearn2pmml.__version__},
        "inputs": {name: X[name].tolist() for name in X.columns},
        "outputs": outputs,
    }
    (out_dir / "reference.json").write_text(json.dumps(reference))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUT_DIR")
    main(Path(sys.argv[1]))
