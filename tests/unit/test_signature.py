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


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([1.0, True], r"^column 'x': expected float32, got a boolean \(true/false\) at row 1$"),
        (np.array([True, False]), r"^column 'x': expected float32, got a boolean \(true/false\) at row 0$"),
        (np.array([1.0, None, False], dtype=object), r"^column 'x': expected float32, got a boolean \(true/false\) at row 2$"),
        (np.array(["1.5", "true"], dtype=object), r"^column 'x': expected float32, got a boolean \(true/false\) at row 1$"),
        ([1.0, float("inf")], r"^column 'x': infinite value \(inf\) at row 1, and this column does not allow infinities$"),
        (np.array([-np.inf], dtype=np.float32), r"^column 'x': infinite value \(-inf\) at row 0, and this column does not allow infinities$"),
        ([1.0, 2.0, 1e39], r"^column 'x': 1e\+39 at row 2 is out of range for float32$"),
        ([float("nan")], r"^column 'x': missing value \(NaN\) at row 0, and this column does not allow missing values$"),
    ],
)
def test_numeric_columns_take_finite_numbers_only(values: object, message: str) -> None:
    sig = Signature(inputs=(ColumnSpec("x", "float32"),))
    with pytest.raises(InvalidArgument, match=message):
        validate_batch(sig, {"x": values})


def test_the_same_rule_for_integer_columns_and_matrices() -> None:
    ints = Signature(inputs=(ColumnSpec("n", "int32"),))
    with pytest.raises(InvalidArgument, match=r"^column 'n': expected int32, got a boolean \(true/false\) at row 0$"):
        validate_batch(ints, {"n": [True, False]})
    with pytest.raises(InvalidArgument, match=r"^column 'n': 3000000000 at row 1 is out of range for int32$"):
        validate_batch(ints, {"n": np.array([1, 3_000_000_000])})
    with pytest.raises(InvalidArgument, match=r"^column 'n': 3e\+09 at row 0 is out of range for int32$"):
        validate_batch(ints, {"n": [3e9]})
    with pytest.raises(InvalidArgument, match=r"^column 'n': infinite value \(inf\) at row 0"):
        validate_batch(ints, {"n": [float("inf")]})
    with pytest.raises(InvalidArgument, match=r"^column 'u': -1 at row 0 is out of range for uint8$"):
        validate_batch(Signature(inputs=(ColumnSpec("u", "uint8"),)), {"u": [-1]})
    emb = Signature(inputs=(ColumnSpec("emb", "float32", shape=(-1, 2)),))
    with pytest.raises(InvalidArgument, match=r"^column 'emb': infinite value \(-inf\) at row 1"):
        validate_batch(emb, {"emb": [[1.0, 2.0], [3.0, -np.inf]]})
    with pytest.raises(InvalidArgument, match=r"^column 'emb': expected float32, got a boolean \(true/false\) at row 1$"):
        validate_batch(emb, {"emb": np.array([[1.0, 2.0], [3.0, True]], dtype=object)})


def test_bool_columns_keep_taking_booleans() -> None:
    sig = Signature(inputs=(ColumnSpec("flag", "bool"),))
    assert validate_batch(sig, {"flag": [True, False]})["flag"].tolist() == [True, False]
    assert validate_batch(sig, {"flag": [1, 0]})["flag"].tolist() == [True, False]
    assert validate_batch(sig, {"flag": np.array([True, None], dtype=object)})["flag"].dtype == bool


def test_nullable_allows_nan_and_allow_inf_allows_infinities() -> None:
    values = {"x": [1.0, float("nan"), float("inf"), float("-inf"), 1e39]}
    for nullable, allow_inf, refused in (
        (True, True, None),
        (True, False, "infinite value"),
        (False, True, "missing value"),
        (False, False, "missing value"),
    ):
        spec = ColumnSpec("x", "float32", nullable=nullable, allow_inf=allow_inf)
        sig = Signature(inputs=(spec,))
        with np.errstate(over="ignore"):
            narrow = np.asarray(values["x"], dtype=np.float32)
        for batch in (values, {"x": narrow}):  # the cast, and the fast path
            if refused is None:
                out = validate_batch(sig, batch)["x"]
                assert np.isnan(out[1]) and out[2] == np.inf and out[3] == -np.inf and out[4] == np.inf
            else:
                with pytest.raises(InvalidArgument, match=refused):
                    validate_batch(sig, batch)
        assert ColumnSpec.from_dict(spec.to_dict()) == spec
    assert "allow_inf" not in ColumnSpec("x", "float32").to_dict()


def test_a_sample_with_infinities_allows_them() -> None:
    specs = signature_from_frame(pd.DataFrame({"a": [1.0, np.inf], "b": [1.0, 2.0], "c": [1, 2]}))
    assert [s.allow_inf for s in specs] == [True, False, False]


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
