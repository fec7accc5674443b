"""References, names and the error table (no database)."""

from __future__ import annotations

import pytest

from modelport.api.errors import HTTP_STATUS
from modelport.domain import ModelRef, validate_name
from modelport.errors import ERRORS_BY_CODE, InvalidArgument, NotFound, error_from_code


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("churn", ModelRef("churn")),
        ("churn:3", ModelRef("churn", version=3)),
        ("churn@champion", ModelRef("churn", alias="champion")),
    ],
)
def test_parse_refs(text: str, ref: ModelRef) -> None:
    assert ModelRef.parse(text) == ref
    assert str(ref) == text


@pytest.mark.parametrize("text", ["", "churn:", "churn:0", "churn:-1", "churn@", "churn@1x", ":3"])
def test_bad_refs(text: str) -> None:
    with pytest.raises(InvalidArgument):
        ModelRef.parse(text)


def test_name_rule_matches_the_documented_pattern() -> None:
    assert validate_name("a-b_c.d") == "a-b_c.d"
    with pytest.raises(InvalidArgument, match="use 1-63 letters"):
        validate_name("a" * 64)


def test_every_error_code_has_an_http_status() -> None:
    assert set(ERRORS_BY_CODE) <= set(HTTP_STATUS)
    assert HTTP_STATUS["INVALID_ARGUMENT"] == 400 and HTTP_STATUS["NOT_FOUND"] == 404
    assert all(HTTP_STATUS[c] < 500 for c in ("INVALID_ARGUMENT", "NOT_FOUND", "CONFLICT", "PAYLOAD_TOO_LARGE"))


def test_errors_round_trip_by_code() -> None:
    err = error_from_code("NOT_FOUND", "gone", {"k": 1})
    assert isinstance(err, NotFound) and err.message == "gone" and err.details == {"k": 1}
    import pickle

    again = pickle.loads(pickle.dumps(err))
    assert isinstance(again, NotFound) and again.details == {"k": 1}
