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
from modelport.signature import ColumnSpec, Signature, batch_rows

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
            raise InvalidArgument(f"the signature's {KEY} for column {name!r} lists a category twice")
        out[str(name)] = list(values)
    return out


def frame_categories(frame: Any) -> dict[str, list[Any]]:
    """The categories of a DataFrame's pandas ``category`` columns, in code order (the codes pandas gave)."""
    return {
        str(name): plain(frame[name].cat.categories)
        for name in frame.columns
        if str(frame[name].dtype) == "category"
    }


def with_categories(
    signature: Signature,
    categories: Mapping[str, list[Any]],
    *,
    declared: Signature | None,
    categorical: Iterable[str] = (),
) -> Signature:
    """``signature`` listing the categories of exactly the columns that take category values.

    ``categories`` holds what is known of the model's categorical columns, by
    name.  For the model's own signature (nothing ``declared``) every such
    column takes values, typed from its categories.  For a declared one
    (stored with a version, or given) its string columns do, and the columns
    it lists categories for; a numeric column listed nowhere takes codes, as
    versions registered before categories were kept do.  A declared string
    column of ``categorical`` with no known categories cannot be scored: refused.
    """
    given = declared_categories(declared) if declared is not None and declared.inputs else None
    inputs = []
    named: dict[str, list[Any]] = {}
    for column in signature.inputs:
        values = categories.get(column.name)
        if values is None:
            if given is not None and column.dtype == "string" and column.name in set(categorical):
                raise InvalidArgument(
                    f"column {column.name!r} takes category codes in the model, which does not say which value each "
                    f'code stands for: list the categories in code order under "categories" in the signature'
                )
        elif given is None:
            column = ColumnSpec(name=column.name, dtype=column_dtype(values), shape=column.shape, nullable=True)
            named[column.name] = values
        elif column.dtype == "string" or column.name in given:
            if column.dtype != column_dtype(values):
                shown = ", ".join(map(str, values[:5])) + (f", … {len(values)} in all" if len(values) > 5 else "")
                raise InvalidArgument(
                    f"column {column.name!r} is categorical in the model with {column_dtype(values)} categories "
                    f"({shown}); the signature declares it {column.dtype}"
                )
            named[column.name] = values
        inputs.append(column)
    extra = {k: v for k, v in signature.extra.items() if k != KEY}
    if named:
        extra[KEY] = named
    return Signature(inputs=tuple(inputs), outputs=signature.outputs, extra=extra)


def refuse_conversion(signature: Signature) -> None:
    """Refuse to convert a model whose columns take category values: the ONNX graph would take codes."""
    named = declared_categories(signature)
    if named:
        raise InvalidArgument(
            f"a model whose columns take category values ({', '.join(map(repr, named))}) "
            "cannot be converted to ONNX: register it without --to-onnx"
        )


class CategoryCodes:
    """Turns the values of categorical columns into the model's codes (float32; unknown or missing → NaN)."""

    def __init__(self, categories: Mapping[str, Sequence[Any]]) -> None:
        self.categories = {name: list(values) for name, values in categories.items()}
        self._lookup = {name: {v: i for i, v in enumerate(values)} for name, values in categories.items()}

    def __bool__(self) -> bool:
        return bool(self._lookup)

    def __contains__(self, name: object) -> bool:
        return name in self._lookup

    def codes(self, name: str, values: np.ndarray, *, missing: float = math.nan, dtype: Any = np.float32) -> np.ndarray:
        """The codes of one column's values (1-D), ``missing`` for a value that is not one of its categories."""
        lookup = self._lookup[name]
        try:
            return np.fromiter(map(lookup.get, values, repeat(missing)), dtype=dtype, count=len(values))
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


    def categorical(self, name: str, values: np.ndarray) -> Any:
        """One column as a pandas ``Categorical`` of the model's categories (unknown values missing)."""
        import pandas as pd

        codes = self.codes(name, values, missing=-1, dtype=np.int64)
        return pd.Categorical.from_codes(codes, categories=self.categories[name])


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
