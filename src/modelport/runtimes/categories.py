"""Categorical inputs: the values a model was trained on, and the codes it scores.

A model trained on pandas ``category`` columns (XGBoost with
``enable_categorical=True``) splits on category *codes*, a value's position in
its column's categories.  modelport keeps those categories with the version,
in code order, under the signature's ``extra["categories"]``::

    {"color": ["blue", "green", "red"], "size": ["L", "M", "S", "XL"]}

so that requests carry the values themselves (``"red"``), which
:class:`CategoryCodes` turns into codes just before the model scores them.
A value the model never saw becomes NaN, like a missing one: XGBoost sends
both down each split's default branch.  String categories make a ``string``
column; numeric ones (a category column of integers) a nullable ``float64``
column that takes the numbers themselves, not their codes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np

from modelport.errors import InvalidArgument
from modelport.signature import Signature, batch_rows

#: the key of ``Signature.extra`` that holds ``{column: [category, …]}``
KEY = "categories"


def plain(values: Iterable[Any]) -> list[Any]:
    """Categories as JSON values: strings stay, numbers become ``int``/``float``, anything else its ``str``."""
    out: list[Any] = []
    for v in values:
        if isinstance(v, str | bool | np.bool_):  # a bool is an int to Python, but no number to count with
            out.append(str(v))
        elif isinstance(v, int | np.integer):
            out.append(int(v))
        elif isinstance(v, float | np.floating):
            out.append(float(v))
        else:
            out.append(str(v))
    return out


def column_dtype(categories: Sequence[Any]) -> str:
    """The signature dtype of a column with these categories: ``float64`` when all are numbers, else ``string``."""
    numeric = bool(categories) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in categories)
    return "float64" if numeric else "string"


def declared_categories(signature: Signature | None) -> dict[str, list[Any]]:
    """The categories a signature lists, checked: ``{column: [distinct strings or numbers]}``."""
    if signature is None:
        return {}
    given = signature.extra.get(KEY)
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise InvalidArgument(f"the signature's {KEY!r} must map column names to lists of categories")
    out: dict[str, list[Any]] = {}
    for name, values in given.items():
        if not isinstance(values, list) or not all(
            isinstance(v, str) or (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v))
            for v in values
        ):
            raise InvalidArgument(f"the signature's {KEY} for column {name!r} must be a list of strings or numbers")
        if len(set(values)) != len(values):
            raise InvalidArgument(f"the signature's {KEY} for column {name!r} list a category twice")
        out[str(name)] = list(values)
    return out


def frame_categories(frame: Any) -> dict[str, list[Any]]:
    """The categories of a DataFrame's pandas ``category`` columns, in code order (the codes pandas gave)."""
    return {
        str(name): plain(frame[name].cat.categories)
        for name in frame.columns
        if str(frame[name].dtype) == "category"
    }


class CategoryCodes:
    """Turns the values of categorical columns into the model's codes (float32; unknown or missing → NaN)."""

    def __init__(self, categories: Mapping[str, Sequence[Any]]) -> None:
        self._lookup = {name: {v: float(i) for i, v in enumerate(values)} for name, values in categories.items()}

    def __bool__(self) -> bool:
        return bool(self._lookup)

    def codes(self, name: str, values: np.ndarray) -> np.ndarray:
        """The codes of one column's values (1-D), NaN for a value that is not one of its categories."""
        lookup = self._lookup[name]
        try:
            return np.fromiter(map(lookup.get, values, repeat(math.nan)), dtype=np.float32, count=len(values))
        except TypeError:  # an unhashable value (a nested list in a JSON request)
            bad = next(v for v in values if not _hashable(v))
            raise InvalidArgument(f"column {name!r}: expected one of its categories, got {type(bad).__name__}") from None

    def matrix(self, batch: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
        """The columns side by side as the model's ``(n, k)`` float32 input, categorical ones as codes."""
        x = np.empty((batch_rows(batch), len(names)), dtype=np.float32)
        for j, name in enumerate(names):
            column = batch[name]
            x[:, j] = self.codes(name, column) if name in self._lookup else column
        return x


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
