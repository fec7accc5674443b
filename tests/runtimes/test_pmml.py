"""PmmlRuntime: PMML written by third-party exporters, scored in-process by JPMML-Evaluator.

The PMML comes from the exporters users actually run: nyoka here (it works with
the project's scikit-learn), and sklearn2pmml in its own virtualenv (it refuses
scikit-learn 1.9.1; ``make install`` creates ``.venv-sklearn2pmml``), driven
through ``tests/tools/export_sklearn2pmml.py``.  Every parity test compares
against scikit-learn's own predictions on datasets that ship with scikit-learn.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from modelport.errors import FailedPrecondition, InvalidArgument, MissingExtra, ModelFailure
from modelport.runtimes import load_runtime, pmml
from modelport.runtimes.pmml import PmmlRuntime, infer_signature, inspect_pmml
from modelport.settings import Settings
from modelport.signature import Batch, ColumnSpec, Signature, numpy_dtype

REPO = Path(__file__).resolve().parents[2]
EXPORTER = REPO / "tests" / "tools" / "export_sklearn2pmml.py"

# One field of each PMML data type; string and boolean ones are categorical.
TYPED_PMML = """\
<?xml version="1.0" encoding="UTF-8"?>
<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4">
  <Header description="one field of each PMML data type"/>
  <DataDictionary>
    <DataField name="x" optype="continuous" dataType="double"/>
    <DataField name="w" optype="continuous" dataType="float"/>
    <DataField name="count" optype="continuous" dataType="integer"/>
    <DataField name="color" optype="categorical" dataType="string">
      <Value value="red"/>
      <Value value="green"/>
      <Value value="blue"/>
    </DataField>
    <DataField name="flag" optype="categorical" dataType="boolean">
      <Value value="false"/>
      <Value value="true"/>
    </DataField>
    <DataField name="y" optype="continuous" dataType="double"/>
  </DataDictionary>
  <RegressionModel functionName="regression">
    <MiningSchema>
      <MiningField name="x"/>
      <MiningField name="w"/>
      <MiningField name="count"/>
      <MiningField name="color"/>
      <MiningField name="flag"/>
      <MiningField name="y" usageType="target"/>
    </MiningSchema>
    <Output>
      <OutputField name="y_hat" feature="predictedValue"/>
      <OutputField name="has_x" optype="categorical" dataType="boolean" feature="transformedValue">
        <Apply function="isNotMissing"><FieldRef field="x"/></Apply>
      </OutputField>
      <OutputField name="count_plus_one" optype="continuous" dataType="integer" feature="transformedValue">
        <Apply function="+"><FieldRef field="count"/><Constant dataType="integer">1</Constant></Apply>
      </OutputField>
    </Output>
    <RegressionTable intercept="1">
      <NumericPredictor name="x" coefficient="2"/>
      <NumericPredictor name="w" coefficient="3"/>
      <NumericPredictor name="count" coefficient="0.5"/>
      <CategoricalPredictor name="color" value="red" coefficient="10"/>
      <CategoricalPredictor name="color" value="green" coefficient="20"/>
      <CategoricalPredictor name="color" value="blue" coefficient="0"/>
      <CategoricalPredictor name="flag" value="true" coefficient="100"/>
      <CategoricalPredictor name="flag" value="false" coefficient="0"/>
    </RegressionTable>
  </RegressionModel>
</PMML>
"""


def nyoka_export(pipeline: Pipeline, features: list[str], target: str, path: Path) -> Path:
    # nyoka's generated bindings have invalid escape sequences (a warning,
    # an error under `filterwarnings = error`) and pandas deprecations.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", FutureWarning)
        from nyoka import skl_to_pmml

        skl_to_pmml(pipeline, features, target, str(path))
    return path


def as_batch(frame: pd.DataFrame, signature: Signature) -> Batch:
    """What the caller hands a runtime after validating against its signature."""
    return {c.name: frame[c.name].to_numpy(dtype=numpy_dtype(c.dtype)) for c in signature.inputs}


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_iris(as_frame=True)
    return data.data, data.target_names[data.target]


@pytest.fixture(scope="module")
def nyoka_iris(
    tmp_path_factory: pytest.TempPathFactory, iris: tuple[pd.DataFrame, np.ndarray]
) -> tuple[Pipeline, Path]:
    # A decision tree behind a scaler.  Not LogisticRegression: nyoka writes
    # scikit-learn's (now always multinomial) model as one-vs-rest logits
    # normalised by simplemax, so its probabilities are not scikit-learn's.
    X, y = iris
    pipeline = Pipeline([("scale", StandardScaler()), ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))])
    pipeline.fit(X, y)
    path = nyoka_export(pipeline, list(X.columns), "species", tmp_path_factory.mktemp("nyoka") / "iris.pmml")
    return pipeline, path


@pytest.fixture(scope="module")
def iris_runtime(nyoka_iris: tuple[Pipeline, Path]) -> PmmlRuntime:
    return PmmlRuntime.load(nyoka_iris[1])


@pytest.fixture(scope="module")
def typed_pmml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("typed") / "typed.pmml"
    path.write_text(TYPED_PMML)
    return path


def sklearn2pmml_python() -> Path:
    configured = os.environ.get("MODELPORT_SKLEARN2PMML_PYTHON")
    return Path(configured) if configured else REPO / ".venv-sklearn2pmml" / "bin" / "python"


@pytest.fixture(scope="module", autouse=True)
def sklearn2pmml_export(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.Popen[str], Path] | None]:
    """Starts the exporter with the module, when its test is selected: its
    scikit-learn import and its JVM then overlap with the other tests."""
    python = sklearn2pmml_python()
    selected = any(item.name == "test_sklearn2pmml_iris_classifier_matches_sklearn" for item in request.session.items)
    if not selected or not python.exists():
        yield None
        return
    out_dir = tmp_path_factory.mktemp("sklearn2pmml")
    job = subprocess.Popen(
        [str(python), str(EXPORTER), str(out_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # sklearn2pmml runs java: stop the whole group
    )
    yield job, out_dir
    if job.poll() is None:
        os.killpg(job.pid, signal.SIGKILL)
    job.communicate()


# -- parity with scikit-learn ---------------------------------------------------------------------


def test_nyoka_iris_classifier_matches_sklearn(
    nyoka_iris: tuple[Pipeline, Path], iris_runtime: PmmlRuntime, iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    pipeline, _ = nyoka_iris
    X, _ = iris

    out = iris_runtime.predict(as_batch(X, iris_runtime.signature))

    assert list(out["species"]) == list(pipeline.predict(X))
    assert list(out["predicted_species"]) == list(pipeline.predict(X))
    proba = np.column_stack([out[f"probability_{label}"] for label in pipeline.classes_])
    # The leaves' class fractions, divided the same way: identical doubles in practice.
    np.testing.assert_allclose(proba, pipeline.predict_proba(X), rtol=0, atol=1e-12)


def test_nyoka_diabetes_regressor_matches_sklearn(tmp_path: Path) -> None:
    data = load_diabetes(as_frame=True)
    X, y = data.data, data.target
    pipeline = Pipeline([("scale", StandardScaler()), ("linear", LinearRegression())]).fit(X, y)
    path = nyoka_export(pipeline, list(X.columns), "y", tmp_path / "diabetes.pmml")

    runtime = PmmlRuntime.load(path)
    out = runtime.predict(as_batch(X, runtime.signature))

    assert out["y"].dtype == np.float64
    # Same double arithmetic in another summation order: ~1e-15 relative.
    np.testing.assert_allclose(out["y"], pipeline.predict(X), rtol=1e-9)
    np.testing.assert_array_equal(out["predicted_y"], out["y"])


def test_nyoka_binary_logistic_regression_matches_sklearn(
    tmp_path: Path, iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    # Two classes, where nyoka's logit is exactly scikit-learn's model.
    X, y = iris
    keep = y != "setosa"
    X, y = X[keep], y[keep]
    pipeline = Pipeline([("scale", StandardScaler()), ("logistic", LogisticRegression())]).fit(X, y)
    path = nyoka_export(pipeline, list(X.columns), "species", tmp_path / "versicolor.pmml")

    runtime = PmmlRuntime.load(path)
    out = runtime.predict(as_batch(X, runtime.signature))

    assert list(out["species"]) == list(pipeline.predict(X))
    proba = np.column_stack([out[f"probability_{label}"] for label in pipeline.classes_])
    np.testing.assert_allclose(proba, pipeline.predict_proba(X), rtol=0, atol=1e-12)


@pytest.mark.slow  # waits for sklearn2pmml's own venv and JVM
def test_sklearn2pmml_iris_classifier_matches_sklearn(
    sklearn2pmml_export: tuple[subprocess.Popen[str], Path] | None,
) -> None:
    if sklearn2pmml_export is None:
        # Deliberately not a skip: CI must prove the sklearn2pmml path.
        pytest.fail(
            f"no sklearn2pmml environment at {sklearn2pmml_python()}: run `make install` (it creates "
            ".venv-sklearn2pmml with scikit-learn==1.9.0, sklearn2pmml and pandas) "
            "or set MODELPORT_SKLEARN2PMML_PYTHON",
            pytrace=False,
        )
    job, out_dir = sklearn2pmml_export
    _, stderr = job.communicate(timeout=120)
    if job.returncode != 0:
        pytest.fail(f"{EXPORTER.name} failed ({job.returncode}):\n{stderr[-3000:]}", pytrace=False)
    reference = json.loads((out_dir / "reference.json").read_text())
    assert reference["versions"]["scikit-learn"] == "1.9.0"

    # Loading also checks the ModelVerification records the exporter embedded.
    runtime = PmmlRuntime.load(out_dir / "iris.pmml")
    # sklearn2pmml declares float fields: scikit-learn's trees compare float32 features.
    assert runtime.signature.inputs == tuple(ColumnSpec(name, "float32") for name in reference["inputs"])
    assert runtime.signature.output_names == list(reference["outputs"])

    out = runtime.predict(as_batch(pd.DataFrame(reference["inputs"]), runtime.signature))

    assert list(out["species"]) == reference["outputs"]["species"]
    for name, expected in reference["outputs"].items():
        if name != "species":
            # Boosted trees summed in double, then a softmax; sklearn2pmml's own
            # embedded verification allows 1e-13.
            np.testing.assert_allclose(out[name], expected, rtol=0, atol=1e-12, err_msg=name)


# -- signature and the document -------------------------------------------------------------------


def test_signature_keeps_pmml_field_names_and_types(
    iris_runtime: PmmlRuntime, nyoka_iris: tuple[Pipeline, Path]
) -> None:
    features = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    assert iris_runtime.format == "pmml"
    assert iris_runtime.signature.inputs == tuple(ColumnSpec(name, "float64") for name in features)
    assert iris_runtime.signature.outputs == (
        ColumnSpec("species", "string", nullable=True),
        ColumnSpec("probability_setosa", "float64", nullable=True),
        ColumnSpec("probability_versicolor", "float64", nullable=True),
        ColumnSpec("probability_virginica", "float64", nullable=True),
        ColumnSpec("predicted_species", "string", nullable=True),
    )
    # What a JVM-less caller (format detection, registration) infers is the same.
    info = inspect_pmml(nyoka_iris[1])
    assert infer_signature(info) == iris_runtime.signature
    assert (info["model_type"], info["function_name"], info["application"]["name"]) == (
        "TreeModel",
        "classification",
        "Nyoka",
    )
    assert info["targets"][0]["values"] == ["setosa", "versicolor", "virginica"]


def test_each_pmml_data_type_maps_to_a_signature_dtype(typed_pmml: Path) -> None:
    runtime = PmmlRuntime.load(typed_pmml)

    assert runtime.signature.inputs == (
        ColumnSpec("x", "float64"),
        ColumnSpec("w", "float32"),
        ColumnSpec("count", "int64"),
        ColumnSpec("color", "string"),
        ColumnSpec("flag", "bool"),
    )
    # y_hat declares no dataType: it is the target's.
    assert [(c.name, c.dtype) for c in runtime.signature.outputs] == [
        ("y", "float64"),
        ("y_hat", "float64"),
        ("has_x", "bool"),
        ("count_plus_one", "int64"),
    ]
    assert runtime.signature.extra["categories"] == {"color": ["red", "green", "blue"]}
    assert infer_signature(inspect_pmml(typed_pmml)) == runtime.signature
    runtime.warm_up()  # synthetic rows must use valid categories


def test_typed_columns_and_missing_values_round_trip(typed_pmml: Path) -> None:
    runtime = PmmlRuntime.load(typed_pmml)

    out = runtime.predict(
        {
            "x": np.array([1.0, 2.0, np.nan]),  # NaN is a PMML missing value
            "w": np.array([0.5, 0.25, 1.0], dtype=np.float32),
            "count": np.array([2, 4, 6]),
            "color": np.array(["red", "blue", "green"], dtype=object),
            "flag": np.array([True, False, True]),
        }
    )

    # 1 + 2x + 3w + 0.5count + color + 100 flag; a missing x makes y missing.
    np.testing.assert_array_equal(out["y"], [115.5, 7.75, np.nan])
    assert out["has_x"].dtype == np.bool_ and list(out["has_x"]) == [True, True, False]
    assert out["count_plus_one"].dtype == np.int64 and list(out["count_plus_one"]) == [3, 5, 7]


def test_empty_batch_gives_empty_columns(iris_runtime: PmmlRuntime, iris: tuple[pd.DataFrame, np.ndarray]) -> None:
    out = iris_runtime.predict(as_batch(iris[0].iloc[:0], iris_runtime.signature))
    assert {name: len(col) for name, col in out.items()} == dict.fromkeys(iris_runtime.signature.output_names, 0)


def test_declared_signature_may_narrow_outputs_but_not_invent_fields(
    nyoka_iris: tuple[Pipeline, Path], iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    path = nyoka_iris[1]
    inferred = infer_signature(inspect_pmml(path))
    narrow = Signature(inputs=inferred.inputs, outputs=(ColumnSpec("species", "string"),))

    runtime = PmmlRuntime.load(path, signature=narrow)
    assert list(runtime.predict(as_batch(iris[0].iloc[:3], runtime.signature))) == ["species"]

    bogus = Signature(inputs=(ColumnSpec("sepal_length", "float64"),))
    with pytest.raises(InvalidArgument, match=r"signature input\(s\) 'sepal_length' are not PMML input fields"):
        PmmlRuntime.load(path, signature=bogus)


def test_options_are_checked(nyoka_iris: tuple[Pipeline, Path], iris: tuple[pd.DataFrame, np.ndarray]) -> None:
    path = nyoka_iris[1]
    with pytest.raises(InvalidArgument, match=r"unknown pmml runtime option\(s\) threads: pmml models take lax"):
        PmmlRuntime.load(path, options={"threads": 4})
    with pytest.raises(InvalidArgument, match="parallelism must be -1 or an integer >= 1, got 0"):
        PmmlRuntime.load(path, options={"parallelism": 0})

    pooled = PmmlRuntime.load(path, options={"parallelism": -1})
    sequential = PmmlRuntime.load(path)
    batch = as_batch(iris[0], sequential.signature)
    assert list(pooled.predict(batch)["species"]) == list(sequential.predict(batch)["species"])


def test_shared_settings_reach_only_the_options_pmml_declares(
    nyoka_iris: tuple[Pipeline, Path], iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """Servers, `modelport predict` and batch offer every runtime the same settings (threads, native_trees):
    a PMML model still loads and answers, while an option asked for explicitly is still checked."""
    path = nyoka_iris[1]
    shared = Settings().runtime_options()
    assert {"threads", "native_trees"} <= set(shared)
    runtime = load_runtime("pmml", path, shared=shared, warm=True)
    batch = as_batch(iris[0].iloc[:5], runtime.signature)
    assert list(runtime.predict(batch)["species"]) == list(nyoka_iris[0].predict(iris[0].iloc[:5]))
    with pytest.raises(InvalidArgument, match=r"unknown pmml runtime option\(s\) native_trees"):
        load_runtime("pmml", path, options={"native_trees": True}, shared=shared)


def test_closed_runtime_refuses_to_predict(
    nyoka_iris: tuple[Pipeline, Path], iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    runtime = PmmlRuntime.load(nyoka_iris[1])
    runtime.close()
    with pytest.raises(FailedPrecondition, match="closed"):
        runtime.predict(as_batch(iris[0].iloc[:1], runtime.signature))


# -- bad documents and bad input ------------------------------------------------------------------


def _truncated(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"", r"^not a PMML document: the file is empty$", id="empty"),
        pytest.param(
            b"\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins",
            r"^not a PMML document: not XML \(.+ at line 1, column \d+\); expected an XML document with a <PMML> root",
            id="pickle",
        ),
        pytest.param(
            b"sepal_length,species\n5.1,setosa\n",
            r"^not a PMML document: not XML \(syntax error at line 1, column 0\)",
            id="csv",
        ),
        pytest.param(
            b'<?xml version="1.0"?>\n<html><body>model</body></html>',
            r"^not a PMML document: root element is <html>, expected <PMML>$",
            id="xml-not-pmml",
        ),
        pytest.param(
            b'<PMML version="4.4"><DataDictionary/></PMML>',
            r"^not a PMML document: <PMML> has no namespace, expected http://www\.dmg\.org/PMML-4_4",
            id="no-namespace",
        ),
        pytest.param(
            b'<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header/>\n<DataDictionary>\n'
            b'<DataField name="x" optype="continuous" dataType="double"/>\n</DataDictionary>\n</PMML>',
            r"^PMML document has no model: expected a model element such as <TreeModel>",
            id="no-model",
        ),
        pytest.param(
            b'<?xml version="1.0"?>\n<!DOCTYPE PMML [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>\n'
            b'<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header description="&b;"/></PMML>',
            r"^PMML document rejected: it has a DOCTYPE declaration",
            id="entity-expansion",
        ),
        pytest.param(
            b'<?xml version="1.0"?>\n<!DOCTYPE PMML [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
            b'<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header description="&x;"/></PMML>',
            r"^PMML document rejected: it has a DOCTYPE declaration",
            id="external-entity",
        ),
        pytest.param(
            b'<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><DataDictionary>'
            b'<DataField name="x" optype="continuous" dataType="double"/>'
            b'<DataField name="y" optype="continuous" dataType="double"/></DataDictionary>'
            b'<TreeModel functionName="regression"><MiningSchema><MiningField name="x"/>'
            b'<MiningField name="y" usageType="target"/></MiningSchema></TreeModel></PMML>',
            r"^PMML model rejected by JPMML-Evaluator: MissingElementException: Required element TreeModel/<Node>",
            id="tree-without-nodes",
        ),
    ],
)
def test_bad_documents_are_invalid_arguments(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "model.pmml"
    path.write_bytes(content)

    with pytest.raises(InvalidArgument, match=message) as caught:
        PmmlRuntime.load(path)
    assert "\n" not in str(caught.value)


def test_truncated_pmml_names_the_syntax_error(tmp_path: Path, nyoka_iris: tuple[Pipeline, Path]) -> None:
    path = tmp_path / "truncated.pmml"
    path.write_bytes(_truncated(nyoka_iris[1]))

    # The JVM never sees it: inspection alone rejects it.
    with pytest.raises(
        InvalidArgument, match=r"^PMML syntax error at line \d+, column \d+: (no element found|unclosed token)$"
    ):
        inspect_pmml(path)
    with pytest.raises(InvalidArgument, match=r"^PMML syntax error at line \d+"):
        PmmlRuntime.load(path)


def test_invalid_input_value_is_invalid_argument_naming_row_and_field(typed_pmml: Path) -> None:
    runtime = PmmlRuntime.load(typed_pmml)
    batch = {
        "x": np.array([1.0, 2.0]),
        "w": np.array([1.0, 1.0], dtype=np.float32),
        "count": np.array([1, 1]),
        "color": np.array(["red", "purple"], dtype=object),
        "flag": np.array([True, True]),
    }

    with pytest.raises(
        InvalidArgument, match=r'^invalid input at row 1: Field "color" cannot accept invalid value "purple"$'
    ):
        runtime.predict(batch)


def test_model_errors_at_evaluation_are_model_failures(tmp_path: Path) -> None:
    # greaterThan refuses a missing argument: the model's fault, not the caller's.
    path = tmp_path / "strict.pmml"
    path.write_text(
        TYPED_PMML.replace(
            '<Apply function="isNotMissing"><FieldRef field="x"/></Apply>',
            '<Apply function="greaterThan"><FieldRef field="x"/><Constant dataType="double">0</Constant></Apply>',
        )
    )
    runtime = PmmlRuntime.load(path)
    batch = {
        "x": np.array([1.0, np.nan]),
        "w": np.array([1.0, 1.0], dtype=np.float32),
        "count": np.array([1, 1]),
        "color": np.array(["red", "red"], dtype=object),
        "flag": np.array([True, True]),
    }

    with pytest.raises(ModelFailure, match=r"^PMML evaluation failed at row 1: MissingArgumentException: "):
        runtime.predict(batch)


def test_missing_extra_names_the_pmml_extra(monkeypatch: pytest.MonkeyPatch, typed_pmml: Path) -> None:
    monkeypatch.setitem(sys.modules, "jpmml_evaluator", None)  # import now raises ImportError

    with pytest.raises(
        MissingExtra, match=r"PMML models needs the optional dependencies: pip install 'modelport\[pmml\]'"
    ):
        PmmlRuntime.load(typed_pmml)


# -- threads and processes ------------------------------------------------------------------------


def test_concurrent_predicts_from_many_threads_are_correct(
    iris_runtime: PmmlRuntime, iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = iris
    expected = iris_runtime.predict(as_batch(X, iris_runtime.signature))
    start = threading.Barrier(8)
    failures: list[str] = []

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        start.wait(timeout=30)
        for _ in range(25):
            rows = rng.integers(0, len(X), size=int(rng.integers(1, 64)))
            out = iris_runtime.predict(as_batch(X.iloc[rows], iris_runtime.signature))
            # Exact although the batches differ: JPMML evaluates each record on its own.
            for name, column in out.items():
                if not np.array_equal(column, expected[name][rows]):
                    failures.append(f"thread {seed}: {name} differs")
                    return

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert failures == []


def test_finished_threads_do_not_leave_java_threads_behind(
    iris_runtime: PmmlRuntime, iris: tuple[pd.DataFrame, np.ndarray]
) -> None:
    import jpype

    java_threads = jpype.JClass("java.lang.management.ManagementFactory").getThreadMXBean()
    batch = as_batch(iris[0].iloc[:2], iris_runtime.signature)
    before = java_threads.getThreadCount()

    for _ in range(40):  # like an idle-timeout worker pool replacing its threads
        t = threading.Thread(target=iris_runtime.predict, args=(batch,))
        t.start()
        t.join(timeout=30)

    # JPype attaches each calling thread; without detaching there would be 40 more.
    assert java_threads.getThreadCount() - before < 5


CHILD = """\
import os, signal, sys, time
from pathlib import Path
from modelport.runtimes.pmml import PmmlRuntime

signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # a server's graceful shutdown
runtime = PmmlRuntime.load(Path(sys.argv[1]))
runtime.warm_up()
ppid = lambda pid: open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]
children = [pid for pid in os.listdir("/proc") if pid.isdigit() and ppid(pid) == str(os.getpid())]
try:
    try:
        print("ready", len(children), flush=True)
        time.sleep(20)
        print("no SIGINT", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    # time.sleep, not Event.wait: a handler raising inside Condition.wait can hit
    # CPython's "release unlocked lock" race (seen once in CI)
    time.sleep(20)
    print("no SIGTERM", flush=True)
finally:
    print("cleaned up", flush=True)
"""


@pytest.mark.slow  # a child process starting its own JVM
def test_process_has_no_jvm_children_and_handles_signals_promptly(typed_pmml: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(typed_pmml)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        # The JVM runs inside the process (JPype): no java child to leave behind.
        assert child.stdout.readline() == "ready 0\n"

        # -Xrs leaves SIGINT and SIGTERM to Python, which acts at once: not
        # after the child's 20 s waits, and without the JVM halting the process.
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        assert child.stdout.readline() == "interrupted\n"
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
        assert time.monotonic() - sent < 10
        assert (out, child.returncode) == ("cleaned up\n", 0), err
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_missing_java_is_a_one_line_failed_precondition(monkeypatch: pytest.MonkeyPatch) -> None:
    import jpmml_evaluator
    import jpype

    class NoJava:
        """jpype on a machine without Java; this process's JVM may already run."""

        JVMNotFoundException = jpype.JVMNotFoundException
        JVMNotSupportedException = jpype.JVMNotSupportedException

        @staticmethod
        def isJVMStarted() -> bool:
            return False

        @staticmethod
        def getDefaultJVMPath() -> str:
            raise jpype.JVMNotFoundException("No JVM shared library file (libjvm.so) found.")

    monkeypatch.setattr(pmml, "_jvm_ready", False)
    monkeypatch.setattr(pmml, "_extras", lambda: (NoJava, jpmml_evaluator))

    with pytest.raises(FailedPrecondition) as caught:
        pmml.ensure_jvm()
    assert str(caught.value) == (
        "PMML models need a Java runtime (11 or newer) and none was found: "
        "install one (e.g. openjdk-17-jre-headless) or set JAVA_HOME"
    )
