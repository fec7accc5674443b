"""fold_groups: many groups folded at once give each group the counts fold() gives it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelport.baseline import compute_baseline
from modelport.monitoring.profiles import Reference, fold, fold_groups


def test_each_group_gets_what_folding_it_alone_gives() -> None:
    rng = np.random.default_rng(3)
    n = 5000
    sample = pd.DataFrame({"a": rng.normal(size=n), "b": rng.integers(0, 5, n), "c": rng.choice(["x", "y", "z"], n)})
    reference = Reference.from_baseline(compute_baseline(sample))
    window = sample.copy()
    window["a"] = window["a"].astype(object)
    window.loc[::7, "a"] = None  # missing
    window.loc[::11, "a"] = "oops"  # invalid
    window.loc[::13, "a"] = np.inf  # invalid
    window.loc[::5, "c"] = None
    window.loc[::17, "c"] = "new"
    groups = rng.integers(0, 7, n)  # group 7 stays empty
    columns = {k: window[k].to_numpy() for k in window}
    together = fold_groups(columns, reference.binning, groups, 8)
    for g in range(8):
        mask = groups == g
        alone = fold({k: v[mask] for k, v in columns.items()}, reference.binning, rows=int(mask.sum()))
        assert together[g].rows == alone.rows
        for name in columns:
            a, b = together[g].features[name], alone.features[name]
            assert (a.count, a.missing, a.invalid, a.bins, a.nonintegral, a.min, a.max, a.categories) == (
                b.count,
                b.missing,
                b.invalid,
                b.bins,
                b.nonintegral,
                b.min,
                b.max,
                b.categories,
            ), (g, name)
            assert abs(a.sum - b.sum) <= 1e-9 * max(1.0, abs(b.sum)) and abs(a.sumsq - b.sumsq) <= 1e-9 * max(
                1.0, b.sumsq
            )
