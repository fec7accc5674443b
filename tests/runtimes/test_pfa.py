"""The PFA engine and runtime, scored against numpy and scikit-learn.

Every model document here is written from a model fitted in the test (on
the datasets bundled with scikit-learn, no network), scored by the engine
both batched (numpy) and record by record, and compared with the fitted
model's own predictions.
"""

from __future__ import annotations

import json
import math
import re
import threading

import numpy as np
import pytest
import yaml

from modelport.errors import InvalidArgument, ModelFailure
from modelport.runtimes.pfa import PfaEngine, PfaError, PfaRuntime, PfaRuntimeError, PfaSyntaxError, PfaUnsupported
from modelport.signature import ColumnSpec

# scikit-learn is the modelport[sklearn] extra: fit reference models when it is there.
KMeans = pytest.importorskip("sklearn.cluster").KMeans
datasets = pytest.importorskip("sklearn.datasets")
linear_model = pytest.importorskip("sklearn.linear_model")
LinearRegression, LogisticRegression = linear_model.LinearRegression, linear_model.LogisticRegression
DecisionTreeClassifier = pytest.importorskip("sklearn.tree").DecisionTreeClassifier

IRIS_FIELDS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


# ---------------------------------------------------------------- helpers


def record_type(name: str, fields: list[str], avro: str = "double") -> dict:
    return {"type": "record", "name": name, "fields": [{"name": f, "type": avro} for f in fields]}


def feature_array(fields: list[str]) -> dict:
    return {"new": [f"input.{f}" for f in fields], "type": {"type": "array", "items": "double"}}


def columns(x: np.ndarray, fields: list[str]) -> dict[str, np.ndarray]:
    return {f: x[:, i] for i, f in enumerate(fields)}


def assert_same(a, b) -> None:
    """Bit-for-bit equality of two engine results (NaN equal to NaN)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
        return
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.shape == b.shape
    if a.dtype == object:
        assert json.dumps(a.tolist()) == json.dumps(b.tolist())
    else:
        np.testing.assert_array_equal(a, b)


def score_both(engine: PfaEngine, cols, n: int | None = None):
    """Score batched and per record; they must agree exactly."""
    vector = engine.action_batch(cols, n, mode="vector")
    record = engine.action_batch(cols, n, mode="record")
    assert_same(vector, record)
    return vector


@pytest.fixture(scope="module")
def iris():
    data = datasets.load_iris()
    return data.data, data.target, list(data.target_names)


@pytest.fixture(scope="module")
def diabetes():
    data = datasets.load_diabetes()
    return data.data, data.target, list(data.feature_names)


# ---------------------------------------------------------------- documents from fitted models


def linear_regression_doc(model, fields: list[str]) -> dict:
    return {
        "name": "diabetes_linear",
        "input": record_type("Patient", fields),
        "output": "double",
        "cells": {
            "model": {
                "type": {
                    "type": "record",
                    "name": "Linear",
                    "fields": [
                        {"name": "coeff", "type": {"type": "array", "items": "double"}},
                        {"name": "const", "type": "double"},
                    ],
                },
                "init": {"coeff": model.coef_.tolist(), "const": float(model.intercept_)},
            }
        },
        "action": {"model.reg.linear": [feature_array(fields), {"cell": "model"}]},
    }


def tree_doc(clf, fields: list[str], classes: list[str], test: object) -> dict:
    tree = clf.tree_

    def node(i: int) -> dict:
        if tree.children_left[i] == -1:
            return {"string": classes[int(np.argmax(tree.value[i][0]))]}
        return {
            "TreeNode": {
                "field": fields[tree.feature[i]],
                "operator": "<=",
                "value": float(tree.threshold[i]),
                "pass": node(tree.children_left[i]),
                "fail": node(tree.children_right[i]),
            }
        }

    tree_node = {
        "type": "record",
        "name": "TreeNode",
        "fields": [
            {"name": "field", "type": {"type": "enum", "name": "Feature", "symbols": fields}},
            {"name": "operator", "type": "string"},
            {"name": "value", "type": "double"},
            {"name": "pass", "type": ["string", "TreeNode"]},
            {"name": "fail", "type": ["string", "TreeNode"]},
        ],
    }
    return {
        "input": record_type("Iris", fields),
        "output": "string",
        "cells": {"tree": {"type": tree_node, "init": node(0)["TreeNode"]}},
        "fcns": {
            "test": {
                "params": [{"d": "Iris"}, {"t": "TreeNode"}],
                "ret": "boolean",
                "do": {"model.tree.simpleTest": ["d", "t"]},
            }
        },
        "action": {"model.tree.simpleWalk": ["input", {"cell": "tree"}, test]},
    }


def kmeans_doc(km, fields: list[str], metric: object | None) -> dict:
    cluster = {
        "type": "record",
        "name": "Cluster",
        "fields": [{"name": "center", "type": {"type": "array", "items": "double"}}, {"name": "id", "type": "int"}],
    }
    args = [feature_array(fields), {"cell": "clusters"}] + ([metric] if metric is not None else [])
    return {
        "input": record_type("Iris", fields),
        "output": "int",
        "cells": {
            "clusters": {
                "type": {"type": "array", "items": cluster},
                "init": [{"center": c.tolist(), "id": i} for i, c in enumerate(km.cluster_centers_)],
            }
        },
        "action": {"attr": {"model.cluster.closest": args}, "path": [["id"]]},
    }


def logistic_doc(clf, fields: list[str]) -> dict:
    return {
        "input": record_type("Iris", fields),
        "output": {
            "type": "record",
            "name": "Scored",
            "fields": [{"name": "probability", "type": "double"}, {"name": "label", "type": "int"}],
        },
        "cells": {
            "model": {
                "type": {
                    "type": "record",
                    "name": "Logistic",
                    "fields": [
                        {"name": "coeff", "type": {"type": "array", "items": "double"}},
                        {"name": "const", "type": "double"},
                    ],
                },
                "init": {"coeff": clf.coef_[0].tolist(), "const": float(clf.intercept_[0])},
            }
        },
        "action": [
            {"let": {"p": {"m.link.logit": {"model.reg.linear": [feature_array(fields), {"cell": "model"}]}}}},
            {"new": {"probability": "p", "label": {"if": {">": ["p", 0.5]}, "then": 1, "else": 0}}, "type": "Scored"},
        ],
    }


def softmax_doc(clf, fields: list[str]) -> dict:
    return {
        "input": record_type("Iris", fields),
        "output": {
            "type": "record",
            "name": "Scored",
            "fields": [
                {"name": "probabilities", "type": {"type": "array", "items": "double"}},
                {"name": "label", "type": "int"},
            ],
        },
        "cells": {
            "model": {
                "type": {
                    "type": "record",
                    "name": "Multi",
                    "fields": [
                        {"name": "coeff", "type": {"type": "array", "items": {"type": "array", "items": "double"}}},
                        {"name": "const", "type": {"type": "array", "items": "double"}},
                    ],
                },
                "init": {"coeff": clf.coef_.tolist(), "const": clf.intercept_.tolist()},
            }
        },
        "action": [
            {"let": {"probs": {"m.link.softmax": {"model.reg.linear": [feature_array(fields), {"cell": "model"}]}}}},
            {"new": {"probabilities": "probs", "label": {"a.argmax": "probs"}}, "type": "Scored"},
        ],
    }


# ---------------------------------------------------------------- models vs scikit-learn


def test_linear_regression_matches_sklearn(diabetes):
    x, y, fields = diabetes
    model = LinearRegression().fit(x, y)
    engine = PfaEngine.from_document(linear_regression_doc(model, fields))
    assert engine.vectorized
    got = score_both(engine, columns(x, fields))
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-12, atol=1e-9)
    one = engine.action(dict(zip(fields, x[0].tolist(), strict=False)))
    assert one == got[0]


@pytest.mark.parametrize(
    "test",
    [
        {"fcn": "model.tree.simpleTest"},
        {"fcn": "u.test"},
        {"params": [{"d": "Iris"}, {"t": "TreeNode"}], "ret": "boolean", "do": {"model.tree.simpleTest": ["d", "t"]}},
    ],
    ids=["library-fcn", "user-fcn", "inline-fcn"],
)
def test_decision_tree_matches_sklearn(iris, test):
    x, target, names = iris
    clf = DecisionTreeClassifier(max_depth=5, random_state=0).fit(x, target)
    engine = PfaEngine.from_document(tree_doc(clf, IRIS_FIELDS, names, test))
    assert engine.vectorized
    got = score_both(engine, columns(x, IRIS_FIELDS))
    expected = np.array([names[i] for i in clf.predict(x)], dtype=object)
    assert got.tolist() == expected.tolist()


def test_simple_tree_shortcut_matches_simple_walk(iris):
    x, target, names = iris
    clf = DecisionTreeClassifier(max_depth=4, random_state=1).fit(x, target)
    doc = tree_doc(clf, IRIS_FIELDS, names, {"fcn": "model.tree.simpleTest"})
    doc["action"] = {"model.tree.simpleTree": ["input", {"cell": "tree"}]}
    got = score_both(PfaEngine.from_document(doc), columns(x, IRIS_FIELDS))
    assert got.tolist() == [names[i] for i in clf.predict(x)]


@pytest.mark.parametrize(
    "metric",
    [
        None,
        {
            "params": [{"a": {"type": "array", "items": "double"}}, {"b": {"type": "array", "items": "double"}}],
            "ret": "double",
            "do": {"metric.euclidean": [{"fcn": "metric.absDiff"}, "a", "b"]},
        },
        {"fcn": "metric.simpleEuclidean"},
        {"fcn": "metric.euclidean", "fill": {"similarity": {"fcn": "metric.absDiff"}}},
    ],
    ids=["default-metric", "metric.euclidean", "metric.simpleEuclidean", "filled-library-fcn"],
)
def test_kmeans_matches_sklearn(iris, metric):
    x, _, _ = iris
    km = KMeans(n_clusters=3, n_init=4, random_state=0).fit(x)
    engine = PfaEngine.from_document(kmeans_doc(km, IRIS_FIELDS, metric))
    assert engine.vectorized
    got = score_both(engine, columns(x, IRIS_FIELDS))
    np.testing.assert_array_equal(got, km.predict(x))


HADRIAN_TREE_YAML = """
input: {type: record, name: Datum, fields: [{name: one, type: int}, {name: two, type: double}, {name: three, type: string}]}
output: string
cells:
  tree:
    type:
      type: record
      name: TreeNode
      fields:
        - {name: field, type: {type: enum, name: TreeFields, symbols: [one, two, three]}}
        - {name: operator, type: string}
        - {name: value, type: [int, double, string]}
        - {name: pass, type: [string, TreeNode]}
        - {name: fail, type: [string, TreeNode]}
    init:
      field: one
      operator: "<"
      value: {double: 12}
      pass:
        TreeNode: {field: two, operator: ">", value: {double: 3.5}, pass: {string: yes-yes}, fail: {string: yes-no}}
      fail:
        TreeNode: {field: three, operator: ==, value: {string: TEST}, pass: {string: no-yes}, fail: {string: no-no}}
action:
  - {model.tree.simpleWalk: [input, {cell: tree}, {fcn: model.tree.simpleTest}]}
"""


def test_hand_written_yaml_tree_mixing_int_double_and_string_tests():
    engine = PfaEngine.from_document(HADRIAN_TREE_YAML)
    rows = [(1, 7.0, "whatever"), (1, 0.0, "whatever"), (15, 7.0, "TEST"), (15, 7.0, "ZEST")]
    expected = ["yes-yes", "yes-no", "no-yes", "no-no"]
    assert [engine.action(dict(zip(["one", "two", "three"], r, strict=True))) for r in rows] == expected
    cols = {
        "one": np.array([r[0] for r in rows] * 10),
        "two": np.array([r[1] for r in rows] * 10),
        "three": np.array([r[2] for r in rows] * 10, dtype=object),
    }
    assert score_both(engine, cols).tolist() == expected * 10


def test_logistic_regression_with_logit_matches_sklearn(iris):
    x, target, _ = iris
    keep = target > 0  # versicolor vs virginica: not linearly separable
    xb, yb = x[keep], (target[keep] == 2).astype(int)
    clf = LogisticRegression(max_iter=1000).fit(xb, yb)
    engine = PfaEngine.from_document(logistic_doc(clf, IRIS_FIELDS))
    assert engine.vectorized
    got = score_both(engine, columns(xb, IRIS_FIELDS))
    np.testing.assert_allclose(got["probability"], clf.predict_proba(xb)[:, 1], rtol=1e-12)
    np.testing.assert_array_equal(got["label"], clf.predict(xb))


def test_multinomial_logistic_with_softmax_matches_sklearn(iris):
    x, target, _ = iris
    clf = LogisticRegression(max_iter=2000).fit(x, target)
    engine = PfaEngine.from_document(softmax_doc(clf, IRIS_FIELDS))
    got = score_both(engine, columns(x, IRIS_FIELDS))
    np.testing.assert_allclose(got["probabilities"], clf.predict_proba(x), rtol=1e-9, atol=1e-15)
    np.testing.assert_array_equal(got["label"], clf.predict(x))


# ---------------------------------------------------------------- the language


LANGUAGE_DOC = {
    "name": "language_tour",
    "input": {
        "type": "record",
        "name": "Row",
        "fields": [
            {"name": "x", "type": "double"},
            {"name": "n", "type": "int"},
            {"name": "tag", "type": "string"},
            {"name": "weights", "type": {"type": "array", "items": "double"}},
        ],
    },
    "output": {
        "type": "record",
        "name": "Out",
        "fields": [
            {"name": "score", "type": "double"},
            {"name": "label", "type": "string"},
            {"name": "total", "type": "long"},
            {"name": "steps", "type": "int"},
            {"name": "bonus", "type": "double"},
        ],
    },
    "cells": {
        "scale": {"type": "double", "init": 2.5},
        "labels": {"type": {"type": "map", "values": "string"}, "init": {"lo": "low", "hi": "high"}},
    },
    "pools": {"bonus": {"type": "double", "init": {"a": 1.0, "b": 2.0, "c": 3.0}}},
    "fcns": {
        "square": {"params": [{"v": "double"}], "ret": "double", "do": {"*": ["v", "v"]}},
        "clamp": {
            "params": [{"v": "double"}, {"lo": "double"}, {"hi": "double"}],
            "ret": "double",
            "do": {
                "cond": [{"if": {"<": ["v", "lo"]}, "then": "lo"}, {"if": {">": ["v", "hi"]}, "then": "hi"}],
                "else": "v",
            },
        },
    },
    "action": [
        {"doc": "a tour of the supported special forms"},
        {"let": {"score": 0.0, "total": {"long": 0}, "steps": 0}},
        {
            "for": {"i": 0},
            "while": {"<": ["i", "input.n"]},
            "step": {"i": {"+": ["i", 1]}},
            "do": [{"set": {"total": {"+": ["total", "i"]}}}],
        },
        {"foreach": "w", "in": "input.weights", "do": {"set": {"score": {"+": ["score", {"u.square": "w"}]}}}},
        {
            "while": {"<": ["score", 100.0]},
            "do": [{"set": {"score": {"*": ["score", 2.0]}, "steps": {"+": ["steps", 1]}}}],
        },
        {"do": {"set": {"steps": {"+": ["steps", 1]}}}, "until": {">=": ["steps", 3]}},
        {
            "set": {
                "score": {
                    "u.clamp": [
                        {"+": ["score", {"*": [{"cell": "scale"}, "input.x"]}]},
                        0.0,
                        {"if": {"==": ["input.tag", {"string": "hi"}]}, "then": 1000.0, "else": 500.0},
                    ]
                }
            }
        },
        {
            "let": {
                "label": {
                    "cell": "labels",
                    "path": [{"if": {">": ["score", 250.0]}, "then": {"string": "hi"}, "else": {"string": "lo"}}],
                }
            }
        },
        {
            "new": {
                "score": "score",
                "label": "label",
                "total": "total",
                "steps": "steps",
                "bonus": {"do": [{"let": {"key": "input.tag"}}, {"pool": "bonus", "path": ["key"]}]},
            },
            "type": "Out",
        },
    ],
}


def language_reference(x: float, n: int, tag: str, weights: list[float]) -> dict:
    score, total, steps = 0.0, 0, 0
    for i in range(n):
        total += i
    for w in weights:
        score = score + w * w
    while score < 100.0:
        score, steps = score * 2.0, steps + 1
    while True:
        steps += 1
        if steps >= 3:
            break
    score = min(max(score + 2.5 * x, 0.0), 1000.0 if tag == "hi" else 500.0)
    label = "high" if score > 250.0 else "low"
    return {
        "score": score,
        "label": label,
        "total": total,
        "steps": steps,
        "bonus": {"a": 1.0, "b": 2.0, "c": 3.0}[tag],
    }


def test_language_tour_matches_python():
    engine = PfaEngine.from_document(LANGUAGE_DOC)
    assert not engine.vectorized  # loops and set run record by record
    rng = np.random.default_rng(7)
    rows = 200
    cols = {
        "x": rng.normal(0, 100, rows),
        "n": rng.integers(0, 20, rows),
        "tag": np.array(rng.choice(["a", "b", "c", "hi"][:3], rows), dtype=object),
        "weights": rng.uniform(0, 3, (rows, 3)),
    }
    got = engine.action_batch(cols, rows)
    for i in range(rows):
        expected = language_reference(cols["x"][i], int(cols["n"][i]), cols["tag"][i], cols["weights"][i].tolist())
        assert {k: got[k][i] for k in expected} == pytest.approx(expected)
    with pytest.raises(InvalidArgument, match="no batch form"):
        engine.action_batch(cols, rows, mode="vector")


def test_language_tour_user_functions_and_paths_one_record():
    engine = PfaEngine.from_document(LANGUAGE_DOC)
    out = engine.action({"x": 1.0, "n": 3, "tag": "b", "weights": [1.0, 2.0]})
    assert out == {"score": 162.5, "label": "low", "total": 3, "steps": 6, "bonus": 2.0}


VECTOR_DOC = {
    "input": {
        "type": "record",
        "name": "Row",
        "fields": [
            {"name": "a", "type": "double"},
            {"name": "b", "type": "double"},
            {"name": "k", "type": "int"},
            {"name": "maybe", "type": ["null", "double"]},
            {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["red", "green", "blue"]}},
        ],
    },
    "output": {
        "type": "record",
        "name": "Out",
        "fields": [
            {"name": "smooth", "type": "double"},
            {"name": "ratio", "type": "double"},
            {"name": "bucket", "type": "string"},
            {"name": "quotient", "type": "int"},
            {"name": "filled", "type": "double"},
            {"name": "present", "type": ["null", "double"]},
            {"name": "flag", "type": "boolean"},
            {"name": "link", "type": "double"},
        ],
    },
    "fcns": {
        "poly": {
            "params": [{"v": "double"}],
            "ret": "double",
            "do": {"+": [{"*": [0.5, {"**": ["v", 2]}]}, {"m.sin": "v"}]},
        }
    },
    "action": [
        {"let": {"s": {"u.poly": {"m.tanh": "input.a"}}}},
        {
            "new": {
                "smooth": {"m.sqrt": {"+": [{"m.abs": "s"}, {"m.exp": {"u-": {"m.abs": "input.b"}}}]}},
                "ratio": {"/": ["input.a", "input.b"]},
                "bucket": {
                    "cond": [
                        {"if": {"<": ["input.a", -1.0]}, "then": {"string": "low"}},
                        {"if": {"&&": [{">=": ["input.a", -1.0]}, {"<": ["input.a", 1.0]}]}, "then": {"string": "mid"}},
                    ],
                    "else": {"s.concat": [{"string": "high-"}, {"enum.toString": "input.color"}]},
                },
                "quotient": {"if": {"!=": ["input.k", 0]}, "then": {"//": [100, "input.k"]}, "else": -1},
                "filled": {"impute.defaultOnNull": ["input.maybe", {"m.floor": "input.b"}]},
                "present": {"ifnotnull": {"m": "input.maybe"}, "then": {"max": ["m", 0]}, "else": None},
                "flag": {
                    "||": [
                        {"==": ["input.color", {"type": "Color", "value": "red"}]},
                        {">": [{"%": ["input.k", 3]}, 1]},
                    ]
                },
                "link": {"+": [{"m.link.probit": "input.a"}, {"m.link.cloglog": {"*": ["input.b", 0.1]}}]},
            },
            "type": "Out",
        },
    ],
}


def vector_columns(rows: int, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    maybe = rng.normal(size=rows)
    maybe[rng.random(rows) < 0.3] = np.nan  # NaN in a nullable float column is null
    b = rng.normal(size=rows)
    b[::17] = 0.0  # a / 0 -> inf, as IEEE says
    return {
        "a": rng.normal(0, 2, rows),
        "b": b,
        "k": rng.integers(-3, 4, rows),  # 100 // 0 must not run for k == 0
        "maybe": maybe,
        "color": np.array(rng.choice(["red", "green", "blue"], rows), dtype=object),
    }


def test_vectorised_and_per_record_paths_agree_bit_for_bit():
    engine = PfaEngine.from_document(VECTOR_DOC)
    assert engine.vectorized
    cols = vector_columns(5000)
    got = score_both(engine, cols)
    a, b, k = cols["a"], cols["b"], cols["k"]
    with np.errstate(all="ignore"):
        s = 0.5 * np.tanh(a) ** 2 + np.sin(np.tanh(a))
        np.testing.assert_allclose(got["smooth"], np.sqrt(np.abs(s) + np.exp(-np.abs(b))), rtol=1e-14)
        np.testing.assert_array_equal(got["ratio"], a / b)
    expected_q = np.array([100 // v if v else -1 for v in k])
    np.testing.assert_array_equal(got["quotient"], expected_q)
    np.testing.assert_array_equal(got["filled"], np.where(np.isnan(cols["maybe"]), np.floor(b), cols["maybe"]))
    np.testing.assert_array_equal(np.isnan(got["present"]), np.isnan(cols["maybe"]))
    bucket = np.where(a < -1, "low", np.where(a < 1, "mid", "high-" + cols["color"].astype(str)))
    assert got["bucket"].tolist() == bucket.tolist()
    # ... and one record at a time through action() agrees with the batch.
    for i in range(0, 5000, 499):
        row = {
            name: (
                None if name == "maybe" and np.isnan(col[i]) else col[i].item() if hasattr(col[i], "item") else col[i]
            )
            for name, col in cols.items()
        }
        one = engine.action(row)
        assert one["smooth"] == got["smooth"][i] and one["bucket"] == got["bucket"][i]


def test_batched_branch_only_runs_on_its_rows():
    doc = {
        "input": "int",
        "output": "int",
        "action": {"if": {"==": ["input", 0]}, "then": {"error": "zero!"}, "else": {"//": [10, "input"]}},
    }
    engine = PfaEngine.from_document(doc)
    np.testing.assert_array_equal(score_both(engine, np.array([1, 2, 5, -3])), [10, 5, 2, -4])
    for mode in ("vector", "record"):
        with pytest.raises(PfaRuntimeError, match="zero!"):
            engine.action_batch(np.array([1, 0, 2]), mode=mode)


def test_runtime_errors_are_model_failures():
    engine = PfaEngine.from_document({"input": "int", "output": "int", "action": {"*": ["input", 65536]}})
    assert engine.action(2) == 131072
    for mode in ("vector", "record"):
        with pytest.raises(ModelFailure, match="int overflow"):
            engine.action_batch(np.array([1, 65536]), mode=mode)
    longs = PfaEngine.from_document({"input": "long", "output": "long", "action": {"+": ["input", {"long": 2**62}]}})
    for mode in ("vector", "record"):
        with pytest.raises(PfaRuntimeError, match="long overflow"):
            longs.action_batch(np.array([2**62, 1]), mode=mode)


def test_yaml_document_scores_like_json(diabetes):
    x, y, fields = diabetes
    model = LinearRegression().fit(x, y)
    doc = linear_regression_doc(model, fields)
    from_yaml = PfaEngine.from_document(yaml.safe_dump(doc))
    from_json = PfaEngine.from_document(json.dumps(doc).encode())
    assert_same(from_yaml.action_batch(columns(x, fields)), from_json.action_batch(columns(x, fields)))


def test_handwritten_yaml():
    text = """
input: {type: record, name: In, fields: [{name: x, type: double}]}
output: double
action:
  - let: {y: {"*": [input.x, 2]}}
  - {m.round: y}
  - {"+": [y, 0.5]}
"""
    engine = PfaEngine.from_document(text)
    np.testing.assert_array_equal(score_both(engine, {"x": np.array([1.0, 2.25])}), [2.5, 5.0])


def test_literals_casts_and_arrays():
    doc = {
        "input": {"type": "array", "items": "double"},
        "output": {"type": "map", "values": "double"},
        "action": [
            {"let": {"xs": {"a.sort": "input"}}},
            {
                "new": {
                    "sum": {"a.sum": "input"},
                    "mean": {"a.mean": "input"},
                    "max": {"a.max": "input"},
                    "argmin": {"cast.double": {"a.argmin": "input"}},
                    "first_sorted": {"attr": "xs", "path": [0]},
                    "mapped": {
                        "a.sum": {
                            "a.map": ["input", {"params": [{"v": "double"}], "ret": "double", "do": {"*": ["v", 10]}}]
                        }
                    },
                    "filtered": {
                        "cast.double": {
                            "a.len": {
                                "a.filter": [
                                    "input",
                                    {"params": [{"v": "double"}], "ret": "boolean", "do": {">": ["v", 0]}},
                                ]
                            }
                        }
                    },
                    "dot": {
                        "a.sum": {
                            "la.dot": [
                                {
                                    "type": {"type": "array", "items": {"type": "array", "items": "double"}},
                                    "value": [[1, 0, 0], [0, 2, 0]],
                                },
                                "input",
                            ]
                        }
                    },
                    "long": {"cast.double": {"cast.long": {"*": ["input.0", 1000]}}},
                },
                "type": {"type": "map", "values": "double"},
            },
        ],
    }
    engine = PfaEngine.from_document(doc)
    x = np.random.default_rng(1).normal(size=(50, 3))
    got = score_both(engine, x)
    first = got[0]
    row = x[0]
    assert first["sum"] == row[0] + row[1] + row[2]
    assert first["mean"] == pytest.approx(row.mean())
    assert first["max"] == row.max() and first["argmin"] == float(np.argmin(row))
    assert first["first_sorted"] == row.min() and first["mapped"] == pytest.approx(10 * row.sum())
    assert first["filtered"] == float((row > 0).sum()) and first["dot"] == pytest.approx(row[0] + 2 * row[1])
    assert first["long"] == float(math.floor(row[0] * 1000 + 0.5))


def test_recursive_user_function_runs_batched():
    doc = {
        "input": "int",
        "output": "long",
        "fcns": {
            "fact": {
                "params": [{"n": "int"}],
                "ret": "long",
                "do": {"if": {"<=": ["n", 1]}, "then": {"long": 1}, "else": {"*": ["n", {"u.fact": {"-": ["n", 1]}}]}},
            }
        },
        "action": {"u.fact": "input"},
    }
    engine = PfaEngine.from_document(doc)
    assert engine.vectorized
    got = score_both(engine, np.arange(-2, 21))
    assert got.tolist() == [math.factorial(max(n, 1)) for n in range(-2, 21)]


def test_function_argument_reading_outer_symbols_runs_per_record():
    doc = {
        "input": {
            "type": "record",
            "name": "In",
            "namespace": "com.example",
            "fields": [{"name": "a", "type": "double"}, {"name": "v", "type": {"type": "array", "items": "double"}}],
        },
        "output": {"type": "array", "items": "double"},
        "action": {"a.map": ["input.v", {"params": [{"x": "double"}], "ret": "double", "do": {"*": ["x", "input.a"]}}]},
    }
    engine = PfaEngine.from_document(doc)
    assert not engine.vectorized
    got = engine.action_batch({"a": np.array([2.0, -1.0]), "v": np.array([[1.0, 2.5], [3.0, 4.0]])})
    np.testing.assert_array_equal(got, [[2.0, 5.0], [-3.0, -4.0]])


def test_action_checks_its_input():
    engine = PfaEngine.from_document({"input": record_type("In", ["x"]), "output": "double", "action": "input.x"})
    assert engine.action({"x": 2}) == 2.0
    with pytest.raises(InvalidArgument, match=r"expected a value of type double, found 'a' \(at input.x\)"):
        engine.action({"x": "a"})
    with pytest.raises(InvalidArgument, match="missing input column 'x'"):
        engine.action_batch({"y": np.zeros(2)})


# ---------------------------------------------------------------- errors at load time


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "invalid JSON"),
        ("input: [unclosed", "invalid YAML"),
        ({"input": "double", "output": "double"}, "missing top-level field 'action'"),
        ({"input": "double", "output": "double", "action": "input", "extra": 1}, "unexpected top-level field 'extra'"),
        ({"input": {"type": "array"}, "output": "double", "action": 1.0}, r"array type needs 'items' \(at input\)"),
        ({"input": "dubble", "output": "double", "action": 1.0}, "unknown Avro type 'dubble'"),
        (
            {"input": "double", "output": "double", "action": [{"m.sqrt": ["input", 2]}]},
            r"m.sqrt: .*expects 1 argument, got 2 \(at action\[0\]\[\"m.sqrt\"\]\)",
        ),
        (
            {"input": "double", "output": "double", "action": {"+": ["inptu", 1]}},
            "unknown symbol 'inptu'; did you mean 'input'",
        ),
        (
            {"input": "double", "output": "double", "action": [{"let": {"x": {"+": ["input", {"string": "a"}]}}}, "x"]},
            r"\+: .* \(at action\[0\]\.let\.x\[\"\+\"\]\)",
        ),
        (
            {"input": "double", "output": "string", "action": "input"},
            "the action returns double, but 'output' declares string",
        ),
        (
            {"input": "double", "output": "double", "action": [{"let": {"input": 1.0}}, "input"]},
            r"symbol 'input' may not be redeclared or shadowed \(at action\[0\]\.let\.input\)",
        ),
        (
            {"input": "double", "output": "double", "action": {"u.missing": "input"}},
            "unknown user function 'u.missing'",
        ),
        (
            {"input": "double", "output": "int", "action": [1, 2, "input"]},
            "the action returns double, but 'output' declares int",
        ),
        (
            {"input": "double", "output": "double", "action": {"if": 1, "then": 2.0, "else": 3.0}},
            "a predicate must be boolean",
        ),
    ],
)
def test_malformed_documents_say_what_and_where(document, message):
    with pytest.raises(PfaSyntaxError, match=message) as caught:
        PfaEngine.from_document(document)
    assert isinstance(caught.value, PfaError) and isinstance(caught.value, InvalidArgument)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"input": "double", "output": "double", "action": {"stat.sample.update": ["input", 1.0, {"cell": "c"}]}},
            "unsupported PFA function 'stat.sample.update'",
        ),
        (
            {"input": "double", "output": "double", "method": "emit", "action": {"emit": "input"}},
            "unsupported PFA method 'emit'",
        ),
        (
            {"input": "double", "output": "double", "method": "fold", "zero": 0, "action": "input", "merge": "tally"},
            "unsupported PFA method 'fold'",
        ),
        ({"input": "double", "output": "null", "action": {"emit": "input"}}, "unsupported PFA special form 'emit'"),
        (
            {
                "input": "double",
                "output": "double",
                "cells": {"c": {"type": "double", "init": 0.0}},
                "action": [{"cell": "c", "to": "input"}, "input"],
            },
            "modifying cell 'c'",
        ),
        (
            {
                "input": "double",
                "output": "double",
                "cells": {"c": {"type": "double", "init": "x.json", "source": "json"}},
                "action": "input",
            },
            "source 'json'",
        ),
        (
            {"input": {"type": "fixed", "name": "F", "size": 4}, "output": "double", "action": 1.0},
            "unsupported Avro type 'fixed'",
        ),
    ],
)
def test_unsupported_constructs_are_named(document, message):
    with pytest.raises(PfaUnsupported, match=message) as caught:
        PfaEngine.from_document(document)
    assert isinstance(caught.value, InvalidArgument)


# ---------------------------------------------------------------- the runtime


def test_runtime_signature_and_predict(tmp_path, iris):
    x, target, names = iris
    clf = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, target)
    path = tmp_path / "tree.pfa"
    path.write_text(json.dumps(tree_doc(clf, IRIS_FIELDS, names, {"fcn": "u.test"})))
    runtime = PfaRuntime.load(path)
    assert runtime.format == "pfa"
    assert runtime.signature.inputs == tuple(ColumnSpec(f, "float64") for f in IRIS_FIELDS)
    assert runtime.signature.outputs == (ColumnSpec("output", "string"),)
    runtime.warm_up()
    out = runtime.predict(columns(x, IRIS_FIELDS))
    assert out["output"].tolist() == [names[i] for i in clf.predict(x)]


def test_runtime_signature_for_nullable_enum_array_and_map_types(tmp_path):
    doc = {
        "input": {
            "type": "record",
            "name": "In",
            "fields": [
                {"name": "age", "type": ["null", "int"]},
                {"name": "size", "type": "float"},
                {"name": "color", "type": {"type": "enum", "name": "C", "symbols": ["r", "g"]}},
                {"name": "ok", "type": "boolean"},
                {"name": "v", "type": {"type": "array", "items": "double"}},
            ],
        },
        "output": {"type": "map", "values": "double"},
        "action": {
            "new": {
                "age": {"cast.double": {"impute.defaultOnNull": ["input.age", -1]}},
                "n": {"cast.double": {"a.len": "input.v"}},
            },
            "type": {"type": "map", "values": "double"},
        },
    }
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc))
    runtime = PfaRuntime.load(path)
    assert [c.to_dict() for c in runtime.signature.inputs] == [
        {"name": "age", "dtype": "int64", "shape": [-1], "nullable": True},
        {"name": "size", "dtype": "float32", "shape": [-1]},
        {"name": "color", "dtype": "string", "shape": [-1]},
        {"name": "ok", "dtype": "bool", "shape": [-1]},
        {"name": "v", "dtype": "float64", "shape": [-1, -1]},
    ]
    assert runtime.signature.outputs == (ColumnSpec("output", "string"),)
    runtime.warm_up()
    batch = {
        "age": np.array([31, None], dtype=object),
        "size": np.array([1.5, 2.5], dtype=np.float32),
        "color": np.array(["r", "g"], dtype=object),
        "ok": np.array([True, False]),
        "v": np.zeros((2, 4)),
    }
    out = runtime.predict(batch)
    assert [json.loads(s) for s in out["output"]] == [{"age": 31.0, "n": 4.0}, {"age": -1.0, "n": 4.0}]


def test_runtime_non_record_input_and_threads(tmp_path):
    doc = {
        "input": {"type": "array", "items": "double"},
        "output": "double",
        "action": {"a.sum": {"m.link.softmax": "input"}},
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    runtime = PfaRuntime.load(path)
    assert runtime.signature.inputs == (ColumnSpec("input", "float64", (-1, -1)),)
    x = np.random.default_rng(0).normal(size=(1000, 5))
    expected = runtime.predict({"input": x})["output"]
    np.testing.assert_allclose(expected, 1.0)
    results: list[np.ndarray] = []

    def work() -> None:
        for _ in range(5):
            results.append(runtime.predict({"input": x})["output"])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20 and all(np.array_equal(r, expected) for r in results)


def test_runtime_rejects_signature_that_does_not_fit(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"input": "double", "output": "double", "action": "input"}))
    from modelport.signature import Signature

    wrong = Signature(inputs=(ColumnSpec("x", "float64"),), outputs=(ColumnSpec("output", "float64"),))
    with pytest.raises(InvalidArgument, match="do not match"):
        PfaRuntime.load(path, signature=wrong)
    with pytest.raises(InvalidArgument, match="mode"):
        PfaRuntime.load(path, options={"mode": "fast"})


def test_docs_list_exactly_the_supported_library_functions():
    from pathlib import Path

    from modelport.runtimes.pfa import library

    text = (Path(__file__).parents[2] / "docs" / "pfa.md").read_text()
    section = text.split("## Library functions", 1)[1].split("Notes on semantics", 1)[0]
    documented = set(re.findall(r"`([^`]+)`", section))
    assert documented == set(library.names())
