"""Sample-ratio mismatch: are the arms' request counts what their weights say?"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from modelport.errors import InvalidArgument
from modelport.experiments.arms import finite

SRM_THRESHOLD = 0.001
"""A chi-square p-value below this flags a sample-ratio mismatch (the industry's usual bar)."""
SRM_PRIOR_CONCENTRATION = 1000.0
"""Dirichlet prior's total weight for the sequential SRM Bayes factor (sensitive to ~3-point share gaps)."""


@dataclass(frozen=True)
class SRMResult:
    """Chi-square goodness of fit of the arms' counts to their weights."""

    p_value: float
    chi2: float
    flagged: bool
    """p_value (or sequential_p_value, if asked for) < threshold: the split is not what was configured; no decision can be trusted."""
    threshold: float
    observed: dict[str, int] = field(default_factory=dict)
    expected: dict[str, float] = field(default_factory=dict)
    """Expected counts."""
    sequential_p_value: float = 1.0
    """Anytime-valid p-value of the same hypothesis (Dirichlet-multinomial Bayes factor): valid at every
    look without correction, where the chi-square's false flags accumulate over looks (docs)."""
    sequential: bool = False
    """``flagged`` reads ``sequential_p_value`` (``--srm sequential``), not the chi-square's."""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["chi2"] = finite(self.chi2)
        return out


def srm(
    observed: Mapping[str, int],
    expected_weights: Mapping[str, float],
    *,
    threshold: float = SRM_THRESHOLD,
    sequential: bool = False,
) -> SRMResult:
    """Sample-ratio mismatch: chi-square (k-1 df) of ``observed`` counts against ``expected_weights``.

    The weights are normalised, so expected *counts* work too (a bandit's Σ weight x requests per
    minute).  An arm with weight 0 that received requests is a mismatch (p = 0).  ``sequential=True``
    flags on the anytime-valid p-value instead of the chi-square's: checked every minute, the
    chi-square's false flags add up over looks (1.6 % by 20,000 requests, docs), the anytime-valid
    one's stay below ``threshold`` whatever the number of looks.
    """
    unknown = sorted(set(observed) - set(expected_weights))
    if unknown:
        raise InvalidArgument(f"arms without an expected weight: {', '.join(unknown)}")
    if any(w < 0 or not math.isfinite(w) for w in expected_weights.values()):
        raise InvalidArgument("expected weights must be non-negative numbers")
    if any(int(c) < 0 for c in observed.values()):
        raise InvalidArgument("observed counts must be non-negative")
    weight_total = float(sum(expected_weights.values()))
    if not weight_total > 0:
        raise InvalidArgument("the expected weights are all zero")
    arms = list(expected_weights)
    counts = {arm: int(observed.get(arm, 0)) for arm in arms}
    n = sum(counts.values())
    expected = {arm: n * expected_weights[arm] / weight_total for arm in arms}
    if n == 0:
        return SRMResult(1.0, 0.0, False, threshold, counts, expected, sequential=sequential)
    chi2 = 0.0
    for arm in arms:
        if expected[arm] > 0:
            chi2 += (counts[arm] - expected[arm]) ** 2 / expected[arm]
        elif counts[arm] > 0:
            chi2 = math.inf
    live = sum(1 for arm in arms if expected[arm] > 0)
    if math.isinf(chi2):
        p_value, seq_p = 0.0, 0.0
    else:
        p_value = chi2_sf(chi2, live - 1)
        shares = {arm: expected_weights[arm] / weight_total for arm in arms if expected[arm] > 0}
        seq_p = _dirichlet_multinomial_p(
            [counts[a] for a in shares], [shares[a] for a in shares], SRM_PRIOR_CONCENTRATION
        )
    flagged = (seq_p if sequential else p_value) < threshold
    return SRMResult(p_value, chi2, flagged, threshold, counts, expected, seq_p, sequential)


def _dirichlet_multinomial_p(counts: Sequence[int], shares: Sequence[float], concentration: float) -> float:
    """1 / Bayes factor of a Dirichlet(c·shares) mixture against the configured shares (Lindon & Malek,
    *Anytime-valid inference for multinomial count data*, NeurIPS 2022): a nonnegative martingale
    under the null, so min(1, 1/BF) is a p-value at any look."""
    n = sum(counts)
    prior = [concentration * s for s in shares]
    log_bf = math.lgamma(concentration) - math.lgamma(concentration + n)
    for x, a, s in zip(counts, prior, shares, strict=True):
        log_bf += math.lgamma(a + x) - math.lgamma(a) - x * math.log(s)
    return min(1.0, math.exp(-log_bf)) if log_bf > -700 else 1.0


def chi2_sf(x: float, dof: int) -> float:
    """P(χ²_dof ≥ x); one degree of freedom exactly as erfc(√(x/2))."""
    if x <= 0 or dof <= 0:
        return 1.0
    if dof == 1:
        return math.erfc(math.sqrt(x / 2))
    from modelport.monitoring.drift import chi2_sf as general  # one implementation of the incomplete gamma

    return general(x, dof)
