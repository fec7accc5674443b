"""Input validation shared by every caller: each error names the column and what was expected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelport.errors import InvalidArgument
from modelport.signature import ColumnSpec, Signature, signature_from_frame, synthesize_batch, validate_batch

SIG = Signature(
    inputs=(
        ColumnSpec("age", "int64"),
        ColumnSpec("income", "float32", nullable=True),
        ColumnSpec("city", "string"),
        ColumnSpec("emb", "float32", shape=(-1, 3)),
    )
)


def good() -> dict[str, object]:
    return {"age": [30, 41], "income": [1.5, None], "city": ["x", "y"], "emb": [[1, 2, 3], [4, 5, 6]]}


def test_coerces_compatible_values() -> None:
    out = validate_batch(SIG, good())
    assert out["age"].dtype == np.int64 and out["income"].dtype == np.float32
    assert np.isnan(out["income"][1]) and out["city"].dtype == object and out["emb"].shape == (2, 3)
    assert validate_batch(SIG, {**good(), "age": [30.0, 41.0]})["age"].tolist() == [30, 41]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"age": None}, r"^missing input column 'age'; expected age, income, city, emb$"),
        ({"zip": [1, 2]}, r"^unexpected input column 'zip'; expected age, income, city, emb$"),
        ({"age": ["old", "young"]}, r"^column 'age': expected int64, got strings$"),
        ({"age": [30.5, 41]}, r"^column 'age': expected int64, got fractional numbers$"),
        ({"age": [30, None]}, r"^column 'age': missing value \(NaN\) where int64 is expected$"),
        ({"city": [1, 2]}, r"^column 'city': expected strings, got int64$"),
        ({"emb": [[1, 2], [3, 4]]}, r"^column 'emb': expected shape \[N, 3\], got \[2, 2\]$"),
        ({"age": [1, 2, 3]}, r"^column 'income' has 2 rows, other columns have 3$"),
        ({"income": ["a", 1.0]}, r"^column 'income': expected float32, got strings$"),
        ({"income": np.array([{"a": 1}, 1.0], dtype=object)}, r"^column 'income': expected float32, got a non-numeric value \{'a': 1\}$"),
    ],
)
def test_errors_name_the_column(change: dict[str, object], message: str) -> None:
    batch = good()
    for k, v in change.items():
        if v is None and k == "age" and len(change) == 1 and message.startswith("^missing"):
            batch.pop(k)
        else:
            batch[k] = v
    with pytest.raises(InvalidArgument, match=message):
        validate_batch(SIG, batch)


def test_nan_refused_where_not_nullable() -> None:
    sig = Signature(inputs=(ColumnSpec("x", "float64"),))
    with pytest.raises(InvalidArgument, match=r"column 'x': missing value \(NaN\) at row 1, and this column does not allow missing values"):
        validate_batch(sig, {"x": [1.0, float("nan")]})


def test_inferred_from_frame_and_synthesized() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, np.nan], "c": ["u", "v"], "d": [True, False]})
    specs = signature_from_frame(frame)
    assert [(s.name, s.dtype, s.nullable) for s in specs] == [
        ("a", "int64", False), ("b", "float64", True), ("c", "string", False), ("d", "bool", False)
    ]
    batch = synthesize_batch(Signature(inputs=specs), rows=5)
    assert {k: v.shape for k, v in batch.items()} == {"a": (5,), "b": (5,), "c": (5,), "d": (5,)}
    validate_batch(Signature(inputs=specs), batch)


def test_block_batch_is_an_ordinary_mapping_whatever_is_asked_first() -> None:
    """Column views are made on first use; every way of reading or changing the mapping sees them."""
    import numpy as np

    from modelport.signature import BlockBatch, batch_rows

    def make() -> BlockBatch:
        return BlockBatch(np.arange(6.0).reshape(3, 2), ["a", "b"])

    assert len(make()) == 2 and batch_rows(make()) == 3
    assert list(make()) == ["a", "b"] and make()["b"].tolist() == [1.0, 3.0, 5.0]
    assert list(make() | {}) == ["a", "b"] and list({} | make()) == ["a", "b"]
    assert list(reversed(make())) == ["b", "a"] and dict(make()).keys() == {"a", "b"}
    assert {**make()}.keys() == {"a", "b"} and "a" in make() and make().get("a") is not None
    assert make() != {}  # before any other use: the views are made for the comparison too
    assert (make() == {}) is False
    b = make()
    assert b.popitem()[0] == "b" and len(b) == 1
    b = make()
    b.setdefault("a", np.zeros(3))
    assert b["a"].tolist() == [0.0, 2.0, 4.0]
    b = make()
    b.clear()
    assert len(b) == 0 and list(b) == []
    b = make()
    b |= {"c": np.zeros(3)}
    assert list(b) == ["a", "b", "c"] and len(b) == 3
    b = make()
    del b["a"]
    assert len(b) == 1 and list(b) == ["b"]
    import pickle

    again = pickle.loads(pickle.dumps(make()))
    assert type(again) is BlockBatch and again["a"].tolist() == [0.0, 2.0, 4.0]
