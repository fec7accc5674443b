"""Mergeable profiles of feature values, binned on the baseline.

A :class:`Binning` fixes, per feature, where numbers are cut (the baseline's
quantiles) and which categories the baseline knew.  :func:`fold` turns a
batch of columns into a :class:`Profile` of integer counts on that binning;
profiles of any split of the same rows merge into the same profile, so a
monitor folds each capture file once and adds the per-minute profiles of its
window.  Drift statistics are computed from the counts only: the same rows
always give the same numbers, whatever the order they were folded in.

Numeric bins are half-open ``[e_i, e_{i+1})`` with an open bin below the
first edge and above the last: ``len(edges) + 1`` counts.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import orjson

FeatureKind = Literal["numeric", "categorical"]

MAX_CATEGORIES = 10_000
"""Distinct values a categorical sketch keeps; the rest are counted under OTHER."""
OTHER = "__other__"


@dataclass(frozen=True)
class FeatureBinning:
    name: str
    kind: FeatureKind
    edges: tuple[float, ...] = ()
    """Numeric: strictly increasing cut points."""
    categories: tuple[str, ...] = ()
    """Categorical: the values the baseline saw (a value outside them is a new category)."""
    integral: bool = False
    """Numeric: the baseline held whole numbers only."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "edges": list(self.edges),
            "categories": list(self.categories),
            "integral": self.integral,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureBinning:
        return cls(
            name=data["name"],
            kind=data["kind"],
            edges=tuple(float(e) for e in data.get("edges", ())),
            categories=tuple(str(c) for c in data.get("categories", ())),
            integral=bool(data.get("integral", False)),
        )


@dataclass(frozen=True)
class Binning:
    features: tuple[FeatureBinning, ...]

    def __getitem__(self, name: str) -> FeatureBinning:
        return self._by_name[name]

    @functools.cached_property
    def _by_name(self) -> dict[str, FeatureBinning]:
        return {f.name: f for f in self.features}

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @functools.cached_property
    def digest(self) -> str:
        """Identifies the binning: capture folded with one digest is reused only under the same one."""
        return hashlib.sha256(orjson.dumps(self.to_json())).hexdigest()

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.features]

    @classmethod
    def from_json(cls, data: Iterable[Mapping[str, Any]]) -> Binning:
        return cls(tuple(FeatureBinning.from_json(f) for f in data))


@dataclass
class FeatureSketch:
    """Counts of one feature's values.  Every field adds under :meth:`merge`."""

    kind: FeatureKind
    count: int = 0
    """Rows seen, missing ones included."""
    missing: int = 0
    invalid: int = 0
    """Values of the wrong type (text in a numeric feature)."""
    bins: list[int] = field(default_factory=list)
    nonintegral: int = 0
    """Numeric values with a fractional part (an Integral feature's type check)."""
    sum: float = 0.0
    sumsq: float = 0.0
    min: float | None = None
    max: float | None = None
    categories: dict[str, int] = field(default_factory=dict)

    @property
    def present(self) -> int:
        return self.count - self.missing - self.invalid

    @property
    def mean(self) -> float | None:
        return self.sum / self.present if self.present else None

    @property
    def std(self) -> float | None:
        n = self.present
        if n < 2:
            return None
        var = (self.sumsq - self.sum * self.sum / n) / (n - 1)
        return math.sqrt(max(var, 0.0))

    def merge(self, other: FeatureSketch) -> FeatureSketch:
        if self.kind != other.kind:
            raise ValueError(f"cannot merge a {self.kind} sketch with a {other.kind} one")
        if self.bins and other.bins and len(self.bins) != len(other.bins):
            raise ValueError("cannot merge sketches made with different binnings")
        bins = (
            [a + b for a, b in zip(self.bins, other.bins, strict=True)]
            if self.bins and other.bins
            else list(self.bins or other.bins)
        )
        categories = dict(self.categories)
        for value, n in other.categories.items():
            if value in categories or len(categories) < MAX_CATEGORIES:
                categories[value] = categories.get(value, 0) + n
            else:
                categories[OTHER] = categories.get(OTHER, 0) + n
        return FeatureSketch(
            kind=self.kind,
            count=self.count + other.count,
            missing=self.missing + other.missing,
            invalid=self.invalid + other.invalid,
            bins=bins,
            nonintegral=self.nonintegral + other.nonintegral,
            sum=self.sum + other.sum,
            sumsq=self.sumsq + other.sumsq,
            min=_pick(min, self.min, other.min),
            max=_pick(max, self.max, other.max),
            categories=categories,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "count": self.count, "missing": self.missing, "invalid": self.invalid}
        if self.kind == "numeric":
            out.update(
                bins=self.bins,
                nonintegral=self.nonintegral,
                sum=self.sum,
                sumsq=self.sumsq,
                min=self.min,
                max=self.max,
            )
        else:
            out["categories"] = self.categories
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureSketch:
        return cls(
            kind=data["kind"],
            count=int(data.get("count", 0)),
            missing=int(data.get("missing", 0)),
            invalid=int(data.get("invalid", 0)),
            bins=[int(b) for b in data.get("bins", ())],
            nonintegral=int(data.get("nonintegral", 0)),
            sum=float(data.get("sum", 0.0)),
            sumsq=float(data.get("sumsq", 0.0)),
            min=data.get("min"),
            max=data.get("max"),
            categories={str(k): int(v) for k, v in (data.get("categories") or {}).items()},
        )


def _pick(fn: Any, a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return float(fn(a, b))


@dataclass
class Profile:
    """Sketches of every feature of a set of rows."""

    rows: int = 0
    features: dict[str, FeatureSketch] = field(default_factory=dict)

    @classmethod
    def empty(cls, binning: Binning) -> Profile:
        return cls(
            0,
            {
                f.name: FeatureSketch(f.kind, bins=[0] * (len(f.edges) + 1) if f.kind == "numeric" else [])
                for f in binning.features
            },
        )

    def merge(self, other: Profile) -> Profile:
        names = list(self.features) + [n for n in other.features if n not in self.features]
        merged: dict[str, FeatureSketch] = {}
        for name in names:
            a, b = self.features.get(name), other.features.get(name)
            if a is not None and b is not None:
                merged[name] = a.merge(b)
            else:
                merged[name] = a if a is not None else b  # type: ignore[assignment]
        return Profile(self.rows + other.rows, merged)

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "features": {n: s.to_json() for n, s in self.features.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Profile:
        return cls(
            int(data.get("rows", 0)),
            {n: FeatureSketch.from_json(s) for n, s in (data.get("features") or {}).items()},
        )


def merge_all(profiles: Iterable[Profile], binning: Binning) -> Profile:
    """``Profile.empty(binning).merge(p1).merge(p2)…``, added up in place (a window merges thousands)."""
    total = Profile.empty(binning)
    sums = {name: _Sum(sketch) for name, sketch in total.features.items()}
    rows = total.rows
    for p in profiles:
        rows += p.rows
        for name, sketch in p.features.items():
            acc = sums.get(name)
            if acc is None:
                sums[name] = _Sum(sketch)
            else:
                acc.add(sketch)
    return Profile(rows, {name: acc.sketch() for name, acc in sums.items()})


class _Sum:
    """A feature's sketches added in turn, as :meth:`FeatureSketch.merge` adds two (sums in the same order)."""

    def __init__(self, first: FeatureSketch) -> None:
        self.kind = first.kind
        self.count, self.missing, self.invalid = first.count, first.missing, first.invalid
        self.bins, self.nonintegral = list(first.bins), first.nonintegral
        self.sum, self.sumsq, self.min, self.max = first.sum, first.sumsq, first.min, first.max
        self.categories = dict(first.categories)

    def add(self, other: FeatureSketch) -> None:
        if self.kind != other.kind:
            raise ValueError(f"cannot merge a {self.kind} sketch with a {other.kind} one")
        if self.bins and other.bins:
            if len(self.bins) != len(other.bins):
                raise ValueError("cannot merge sketches made with different binnings")
            self.bins = [a + b for a, b in zip(self.bins, other.bins, strict=True)]
        elif other.bins:
            self.bins = list(other.bins)
        categories = self.categories
        for value, n in other.categories.items():
            if value in categories or len(categories) < MAX_CATEGORIES:
                categories[value] = categories.get(value, 0) + n
            else:
                categories[OTHER] = categories.get(OTHER, 0) + n
        self.count += other.count
        self.missing += other.missing
        self.invalid += other.invalid
        self.nonintegral += other.nonintegral
        self.sum = self.sum + other.sum
        self.sumsq = self.sumsq + other.sumsq
        self.min = _pick(min, self.min, other.min)
        self.max = _pick(max, self.max, other.max)

    def sketch(self) -> FeatureSketch:
        return FeatureSketch(
            kind=self.kind,
            count=self.count,
            missing=self.missing,
            invalid=self.invalid,
            bins=self.bins,
            nonintegral=self.nonintegral,
            sum=self.sum,
            sumsq=self.sumsq,
            min=self.min,
            max=self.max,
            categories=self.categories,
        )


# -- folding ---------------------------------------------------------------------


def fold(columns: Mapping[str, Any], binning: Binning, rows: int | None = None) -> Profile:
    """Count a batch of columns (one array per feature) on ``binning``.

    A feature missing from ``columns`` counts all its rows as missing.
    """
    if rows is None:
        rows = max((len(np.asarray(v)) for v in columns.values()), default=0)
    sketches = {}
    for spec in binning.features:
        values = columns.get(spec.name)
        if values is None:
            sketches[spec.name] = FeatureSketch(
                spec.kind, count=rows, missing=rows, bins=[0] * (len(spec.edges) + 1) if spec.kind == "numeric" else []
            )
        elif spec.kind == "numeric":
            sketches[spec.name] = _fold_numeric(np.asarray(values), spec)
        else:
            sketches[spec.name] = _fold_categorical(np.asarray(values), spec)
    return Profile(rows, sketches)


def _fold_numeric(values: np.ndarray, spec: FeatureBinning) -> FeatureSketch:
    values = values.reshape(len(values), -1)[:, 0] if values.ndim > 1 else values
    count = len(values)
    invalid = 0
    if values.dtype.kind in "biuf":
        numbers = values.astype(np.float64, copy=False)
    else:  # object or text: what converts is a number, None/NaN missing, the rest invalid
        import pandas as pd

        series = pd.Series(values, dtype=object)
        absent = series.isna().to_numpy()
        numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        invalid = int(np.count_nonzero(np.isnan(numbers) & ~absent))
        numbers = np.where(absent, np.nan, numbers)
    nan = np.isnan(numbers)
    missing = int(np.count_nonzero(nan)) - invalid
    present = numbers[~nan]
    present = present[np.isfinite(present)] if not np.isfinite(present).all() else present
    return FeatureSketch(
        "numeric",
        count=count,
        missing=missing,
        invalid=invalid + (int(np.count_nonzero(~nan)) - len(present)),
        bins=_bin_counts(present, spec.edges),
        nonintegral=int(np.count_nonzero(present != np.floor(present))),
        sum=math.fsum(present.tolist()) if present.size < 4096 else float(np.sum(present, dtype=np.float64)),
        # not np.dot: BLAS threads on a busy machine made it 30x slower than this
        sumsq=float(np.sum(present * present)),
        min=float(present.min()) if present.size else None,
        max=float(present.max()) if present.size else None,
    )


def _bin_counts(present: np.ndarray, edges: tuple[float, ...]) -> list[int]:
    """Counts on ``[e_i, e_i+1)`` with open outer bins (as ``searchsorted(side="right")``)."""
    if len(edges) > 64:
        return [
            int(b)
            for b in np.bincount(np.searchsorted(np.asarray(edges), present, side="right"), minlength=len(edges) + 1)
        ]
    # one vectorised comparison per edge: several times faster than a binary search per value
    below = [int(np.count_nonzero(present < e)) for e in edges]
    return [b - a for a, b in zip([0, *below], [*below, present.size], strict=True)]


def _fold_categorical(values: np.ndarray, spec: FeatureBinning) -> FeatureSketch:
    import pandas as pd

    values = values.reshape(len(values), -1)[:, 0] if values.ndim > 1 else values
    series = pd.Series(values, dtype=object)  # object: pandas would otherwise infer (and copy into) its str dtype
    absent = series.isna()
    raw = series.value_counts(sort=False, dropna=True)
    if not all(isinstance(value, str) for value in raw.index):
        # other objects hash alike across types (True == 1): turn them into text first
        raw = series[~absent].astype(str).value_counts(sort=False)
    counts = {str(value): int(n) for value, n in raw.items()}
    categories: dict[str, int] = {}
    for value, n in sorted(counts.items()):  # sorted: which values overflow into OTHER never depends on order
        if len(categories) < MAX_CATEGORIES:
            categories[str(value)] = int(n)
        else:
            categories[OTHER] = categories.get(OTHER, 0) + int(n)
    return FeatureSketch("categorical", count=len(values), missing=int(absent.sum()), categories=categories)


def fold_groups(columns: Mapping[str, Any], binning: Binning, groups: np.ndarray, n_groups: int) -> list[Profile]:
    """Fold rows split into groups at once: ``groups[i]`` is row i's group, in ``range(n_groups)``.

    Each group gets the counts :func:`fold` gives its rows (sums add in row
    order); the per-call cost of :func:`fold` (tens of NumPy calls per
    feature) is paid once for all groups instead of once per group, which is
    what a monitor needs for thousands of (capture file, minute) groups.
    """
    groups = np.asarray(groups, dtype=np.int64)
    rows = np.bincount(groups, minlength=n_groups)
    profiles = [Profile(int(r), {}) for r in rows]
    for spec in binning.features:
        values = columns.get(spec.name)
        if values is None:
            for p in profiles:
                p.features[spec.name] = FeatureSketch(
                    spec.kind,
                    count=p.rows,
                    missing=p.rows,
                    bins=[0] * (len(spec.edges) + 1) if spec.kind == "numeric" else [],
                )
            continue
        values = np.asarray(values)
        values = values.reshape(len(values), -1)[:, 0] if values.ndim > 1 else values
        fold_one = _fold_numeric_groups if spec.kind == "numeric" else _fold_categorical_groups
        for p, sketch in zip(profiles, fold_one(values, spec, groups, n_groups, rows), strict=True):
            p.features[spec.name] = sketch
    return profiles


def _fold_numeric_groups(
    values: np.ndarray, spec: FeatureBinning, groups: np.ndarray, n: int, rows: np.ndarray
) -> list[FeatureSketch]:
    def per_group(mask_or_rows: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(mask_or_rows, weights=weights, minlength=n)

    if values.dtype.kind in "biuf":
        numbers = values.astype(np.float64, copy=False)
        text_invalid = None
    else:  # as _fold_numeric: what converts is a number, None/NaN missing, the rest invalid
        import pandas as pd

        series = pd.Series(values, dtype=object)
        absent = series.isna().to_numpy()
        numbers = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        text_invalid = np.isnan(numbers) & ~absent
        numbers = np.where(absent, np.nan, numbers)
    finite = np.isfinite(numbers)
    if text_invalid is None and finite.all():  # the usual column: nothing missing, nothing invalid
        invalid = missing = np.zeros(n, dtype=np.int64)
        present, where = numbers, groups
    else:
        nan = np.isnan(numbers)
        invalid = per_group(groups[~nan & ~finite])
        missing = per_group(groups[nan])
        if text_invalid is not None:
            bad = per_group(groups[text_invalid])
            invalid = invalid + bad
            missing = missing - bad
        present = numbers[finite]
        where = groups[finite]
    if len(where) > 1 and np.any(where[1:] < where[:-1]):
        order = np.argsort(where, kind="stable")
        present, where = present[order], where[order]
    width = len(spec.edges) + 1
    bins = np.bincount(where * width + _bin_index(present, spec.edges), minlength=n * width).reshape(n, width)
    nonintegral = np.bincount(where[present != np.floor(present)], minlength=n)
    sums = per_group(where, present)
    sumsq = per_group(where, present * present)
    counts = per_group(where)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has = counts > 0
    mins = np.full(n, np.nan)
    maxs = np.full(n, np.nan)
    if present.size:
        mins[has] = np.minimum.reduceat(present, starts[has])
        maxs[has] = np.maximum.reduceat(present, starts[has])
    # Python values in one call per field (indexing numpy scalars one by one cost more than the counting)
    lowest: list[float | None] = mins.tolist()
    highest: list[float | None] = maxs.tolist()
    if not has.all():
        for g in np.flatnonzero(~has).tolist():
            lowest[g] = highest[g] = None
    return [
        FeatureSketch(
            "numeric",
            count=r,
            missing=m,
            invalid=i,
            bins=b,
            nonintegral=f,
            sum=total,
            sumsq=square,
            min=low,
            max=high,
        )
        for r, m, i, b, f, total, square, low, high in zip(
            rows.tolist(),
            missing.tolist(),
            invalid.tolist(),
            bins.tolist(),
            nonintegral.tolist(),
            sums.tolist(),
            sumsq.tolist(),
            lowest,
            highest,
            strict=True,
        )
    ]


def _bin_index(present: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Each value's bin: how many edges are at or below it (``searchsorted(edges, present, side="right")``)."""
    if len(edges) > 64:
        return np.searchsorted(np.asarray(edges), present, side="right")
    # one vectorised comparison per edge, counted in bytes: several times faster than a binary search per value,
    # whose branches the processor cannot predict
    index = np.zeros(len(present), dtype=np.uint8)
    above = np.empty(len(present), dtype=bool)
    for edge in edges:
        np.greater_equal(present, edge, out=above)
        index += above.view(np.uint8)
    return index


def _fold_categorical_groups(
    values: np.ndarray, spec: FeatureBinning, groups: np.ndarray, n: int, rows: np.ndarray
) -> list[FeatureSketch]:
    import pandas as pd

    series = pd.Series(values)
    absent = series.isna().to_numpy()
    missing = np.bincount(groups[absent], minlength=n)
    codes, uniques = pd.factorize(series[~absent].astype(str), sort=True)
    where = groups[~absent]
    keys, counts = np.unique(where * max(len(uniques), 1) + codes, return_counts=True)
    per_group: list[dict[str, int]] = [{} for _ in range(n)]
    names = [str(u) for u in uniques]
    for key, count in zip(keys.tolist(), counts.tolist(), strict=True):
        g, code = divmod(key, max(len(uniques), 1))
        categories = per_group[g]  # keys ascend: values come sorted, as _fold_categorical keeps them
        if len(categories) < MAX_CATEGORIES:
            categories[names[code]] = count
        else:
            categories[OTHER] = categories.get(OTHER, 0) + count
    return [
        FeatureSketch("categorical", count=int(rows[g]), missing=int(missing[g]), categories=per_group[g])
        for g in range(n)
    ]


# -- the reference ------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """The baseline as a profile on its own binning: what every window is compared with."""

    binning: Binning
    profile: Profile
    inferred_types: dict[str, str] = field(default_factory=dict)
    """Per feature: ``Integral``, ``Fractional`` or ``String`` (SageMaker's names)."""

    @classmethod
    def from_baseline(cls, baseline: Mapping[str, Any]) -> Reference:
        """From a stored baseline (``modelport.baseline.compute_baseline``).

        A baseline with quantile ``bins`` gives exact counts on them; an older
        one gives its 10-bucket histogram (exact on its own edges; the top edge
        nudged up so the maximum falls inside, as NumPy's closed last bucket).
        """
        specs, sketches, types = [], {}, {}
        for feature in baseline.get("features", ()):
            name = str(feature["name"])
            kind: FeatureKind = "categorical" if feature.get("inferred_type") == "String" else "numeric"
            types[name] = str(feature.get("inferred_type") or ("String" if kind == "categorical" else "Fractional"))
            count, missing = int(feature.get("count", 0)), int(feature.get("missing", 0))
            if kind == "numeric":
                edges, counts = _numeric_bins(feature)
                spec = FeatureBinning(name, kind, edges=edges, integral=types[name] == "Integral")
                sketch = FeatureSketch(
                    kind,
                    count=count,
                    missing=missing,
                    bins=counts,
                    sum=float(feature.get("sum") or 0.0),
                    min=feature.get("min"),
                    max=feature.get("max"),
                )
                std, n = feature.get("std"), count - missing
                if std is not None and n > 1:
                    sketch.sumsq = float(std) ** 2 * (n - 1) + sketch.sum**2 / n
            else:
                known = feature.get("categories") or {t["value"]: t["count"] for t in feature.get("top", ())}
                cats = {str(k): int(v) for k, v in known.items()}
                rest = count - missing - sum(cats.values())
                if rest > 0:
                    cats[OTHER] = rest
                spec = FeatureBinning(name, kind, categories=tuple(sorted(c for c in cats if c != OTHER)))
                sketch = FeatureSketch(kind, count=count, missing=missing, categories=cats)
            specs.append(spec)
            sketches[name] = sketch
        rows = int(baseline.get("item_count") or max((s.count for s in sketches.values()), default=0))
        return cls(Binning(tuple(specs)), Profile(rows, sketches), types)


def _numeric_bins(feature: Mapping[str, Any]) -> tuple[tuple[float, ...], list[int]]:
    bins = feature.get("bins")
    if bins:
        return tuple(float(e) for e in bins["edges"]), [int(c) for c in bins["counts"]]
    histogram = feature.get("histogram") or []
    if not histogram:
        return (), [int(feature.get("count", 0)) - int(feature.get("missing", 0))]
    edges = [float(b["lower_bound"]) for b in histogram] + [float(np.nextafter(histogram[-1]["upper_bound"], np.inf))]
    return tuple(edges), [0] + [int(b["count"]) for b in histogram] + [0]


def quantile_bins(present: np.ndarray, bins: int = 20) -> dict[str, list[Any]]:
    """Cut points at the sample's quantiles and the sample's exact counts on them (for a baseline)."""
    if present.size == 0:
        return {"edges": [], "counts": [0]}
    edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}
