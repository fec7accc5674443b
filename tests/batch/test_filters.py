"""Input and output filters: SageMaker's JSONPath spellings and plainer ones select the same columns."""

from __future__ import annotations

import pytest

from modelport.batch.filters import parse_filter
from modelport.errors import InvalidArgument

NAMES = ["id", "sl", "sw", "pl", "pw", "label", "proba_0"]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (None, [0, 1, 2, 3, 4, 5, 6]),
        ("$", [0, 1, 2, 3, 4, 5, 6]),
        ("$[1:]", [1, 2, 3, 4, 5, 6]),
        ("1:", [1, 2, 3, 4, 5, 6]),
        ("$[1:5]", [1, 2, 3, 4]),
        ("$[0,-1]", [0, 6]),
        ("0,-2:", [0, 5, 6]),
        ("id,label,proba_0", [0, 5, 6]),
        ("$['id','label']", [0, 5]),
        ("$.label", [5]),
        ("sl, 3", [1, 3]),
        ("id,0,id", [0]),
    ],
)
def test_filters_select_columns(expr: str | None, expected: list[int]) -> None:
    assert parse_filter(expr).select(NAMES) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("nope", r"there is no column 'nope'; the columns are id, sl"),
        ("$[9]", r"column index 9 is out of range for 7 columns"),
        ("$[7:]", r"selects no column"),
        ("$.a.b", r"expected \$, \$\[…\]"),
        ("a,,b", r"empty item between commas"),
        ("'open", r"unclosed quote"),
    ],
)
def test_bad_filters_say_what_is_wrong(expr: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_filter(expr, "output filter").select(NAMES, "output filter")


def test_quoted_names_that_look_like_numbers() -> None:
    assert parse_filter("'1'").select(["0", "1", "2"]) == [1]
    assert parse_filter("1").select(["x", "y", "z"]) == [1]
