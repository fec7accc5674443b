"""Replies read many at a time: Arrow's reading of JSON replies gives what orjson's gives, reply by reply."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import orjson
import pytest

from modelport.monitoring.payloads import Payloads
from modelport.monitoring.replies import DecodedOutputs, OutputDecoder
from modelport.serving.codecs.response import encode_response
from modelport.signature import ColumnSpec, Signature

CLASSIFIER = Signature(
    inputs=(ColumnSpec("x", "float64"),),
    outputs=(ColumnSpec("label", "int64"), ColumnSpec("probabilities", "float64", (-1, 3))),
    extra={"classes": [0, 1, 2]},
)
REGRESSOR = Signature(inputs=(ColumnSpec("x", "float64"),), outputs=(ColumnSpec("prediction", "float64"),))


def rows(out: DecodedOutputs) -> tuple[list[Any], dict[int, str]]:
    table = out.table()
    if table is None:
        return [], out.failures
    records, positions, labels, values, scores = table
    order = np.lexsort((positions, records))
    listed = [
        (int(r), int(p), lab, _bits(v), [_bits(x) for x in s] if s is not None else None)
        for r, p, lab, v, s in zip(
            records[order],
            positions[order],
            labels.take(order).to_pylist(),
            values.take(order).to_pylist(),
            scores.take(order).to_pylist(),
            strict=True,
        )
    ]
    return listed, out.failures


def _bits(value: float | None) -> Any:
    return None if value is None else (math.copysign(1, value), value) if not math.isnan(value) else "nan"


def both_ways(texts: list[str], signature: Signature) -> None:
    payloads = Payloads.of(texts, ["application/json"] * len(texts), ["JSON"] * len(texts))
    fast = OutputDecoder(signature).decode(payloads)
    slow = OutputDecoder(signature, arrow=False).decode(payloads)
    assert rows(fast) == rows(slow)


def classifier_reply(rng: np.random.Generator, n_rows: int) -> str:
    proba = rng.dirichlet([1, 1, 1], n_rows)
    labels = proba.argmax(axis=1)
    return encode_response({"label": labels, "probabilities": proba}, "application/json", [0, 1, 2])[0].decode()


def test_replies_of_the_data_plane_read_alike() -> None:
    rng = np.random.default_rng(4)
    both_ways([classifier_reply(rng, int(rng.choice([1, 1, 2, 5]))) for _ in range(300)], CLASSIFIER)
    values = [
        encode_response({"prediction": rng.standard_normal(int(rng.integers(1, 4)))}, None, None)[0].decode()
        for _ in range(100)
    ]
    both_ways(values, REGRESSOR)


VARIANTS: list[Any] = [
    {"predictions": [{"label": "1", "probabilities": [0.2, 0.8, 0.0]}]},  # text labels
    {"predictions": [{"label": 1.0, "probabilities": [0.2, 0.8, 0.0]}]},  # a float label: "1.0"
    {"predictions": [{"label": True, "probabilities": [0.2, 0.8, 0.0]}]},
    {"predictions": [{"label": 1, "probabilities": [1, 0, 0]}]},  # integer probabilities
    {"predictions": [{"label": 1, "probabilities": [0.5, None, 0.5]}]},
    {"predictions": [{"label": 1}]},  # no probabilities
    {"predictions": [{"probabilities": [0.2, 0.8, 0.0]}]},
    {"predictions": [{"label": 1, "probabilities": [0.2, 0.8]}]},  # another width
    {"predictions": [{"label": 1, "probabilities": [0.2, 0.8, 0.0], "extra": "x"}]},
    {"predictions": []},
    {"predictions": None},
    {"predictions": [1, 2]},
    {"outputs": [{"name": "label", "datatype": "INT64", "shape": [1], "data": [2]}]},
    {"nothing": 1},
    [1, 2],
]


@pytest.mark.parametrize(
    "odd", [*VARIANTS, "not json", "NaN", '{"predictions": [{"label": 1, "probabilities": [NaN, 0.5, 0.5]}]}']
)
def test_a_reply_of_another_shape_reads_as_by_orjson(odd: Any) -> None:
    rng = np.random.default_rng(5)
    text = odd if isinstance(odd, str) else json.dumps(odd)
    both_ways([classifier_reply(rng, 1), text, classifier_reply(rng, 2)], CLASSIFIER)
    both_ways([text] * 3, CLASSIFIER)


def test_regression_values_of_every_kind_read_alike() -> None:
    texts = [orjson.dumps({"predictions": v}).decode() for v in ([1.5], [2], [-0.0], [1e300, -3], [12345678901234567])]
    both_ways(texts, REGRESSOR)
    both_ways([*texts, '{"predictions": ["3.5"]}'], REGRESSOR)
