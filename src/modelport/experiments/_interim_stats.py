"""Stand-in statistics until ``experiments/stats.py`` (branch p9-stats) lands: the same names, simpler insides.

mSPRT with a normal mixture on the difference of means (Johari et al. 2017),
a two-arm chi-square SRM check, guardrails read off the confidence sequence,
Thompson sampling.  Only :mod:`modelport.experiments.judge` imports this.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from modelport.errors import InvalidArgument


@dataclass(frozen=True)
class ArmStats:
    n: int
    sum: float
    sumsq: float

    @property
    def mean(self) -> float | None:
        return self.sum / self.n if self.n else None

    @property
    def variance(self) -> float | None:
        if self.n < 2:
            return None
        mean = self.sum / self.n
        return max(self.sumsq / self.n - mean * mean, 0.0) * self.n / (self.n - 1)


@dataclass
class SequentialState:
    p_value: float = 1.0
    low: float = -math.inf
    high: float = math.inf

    def to_json(self) -> dict[str, Any]:
        return {"p_value": self.p_value, "low": _finite(self.low), "high": _finite(self.high)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> SequentialState:
        data = data or {}
        low, high = data.get("low"), data.get("high")
        return cls(
            float(data.get("p_value", 1.0)),
            -math.inf if low is None else float(low),
            math.inf if high is None else float(high),
        )


@dataclass(frozen=True)
class SequentialResult:
    lift: float | None
    ci: tuple[float, float] | None
    p_value: float


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _variance(arm: ArmStats, floor: float = 1e-9) -> float | None:
    var = arm.variance
    if var is None:
        return None
    return max(var, floor)


def sequential_update(
    state: SequentialState, control: ArmStats, treatment: ArmStats, *, alpha: float, tau: float | None = None
) -> tuple[SequentialState, SequentialResult]:
    vc, vt = _variance(control), _variance(treatment)
    if vc is None or vt is None or control.mean is None or treatment.mean is None:
        return state, SequentialResult(None, None, state.p_value)
    v = vc / control.n + vt / treatment.n
    diff = treatment.mean - control.mean
    t2 = (tau if tau is not None else math.sqrt((vc + vt) / 2) * 0.1) ** 2 or 1e-12
    log_lr = 0.5 * math.log(v / (v + t2)) + diff * diff * t2 / (2 * v * (v + t2))
    p = min(state.p_value, min(1.0, math.exp(-log_lr)))
    half = math.sqrt(max(v * (v + t2) / t2 * (math.log((v + t2) / v) - 2 * math.log(alpha)), 0.0))
    low, high = max(state.low, diff - half), min(state.high, diff + half)
    if low > high:  # an interval that crossed itself: keep the latest
        low, high = diff - half, diff + half
    new = SequentialState(p, low, high)
    return new, SequentialResult(diff, (low, high), p)


def fixed_result(control: ArmStats, treatment: ArmStats, *, alpha: float) -> SequentialResult:
    vc, vt = _variance(control), _variance(treatment)
    if vc is None or vt is None or control.mean is None or treatment.mean is None:
        return SequentialResult(None, None, 1.0)
    se = math.sqrt(vc / control.n + vt / treatment.n)
    diff = treatment.mean - control.mean
    z = NormalDist().inv_cdf(1 - alpha / 2)
    p = 2 * (1 - NormalDist().cdf(abs(diff) / se)) if se else (0.0 if diff else 1.0)
    return SequentialResult(diff, (diff - z * se, diff + z * se), p)


def max_samples(mde: float, *, alpha: float, variance: float, power: float = 0.8, sequential: bool = True) -> int:
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    n = 2 * variance * z * z / (mde * mde)
    return math.ceil(n * (2.0 if sequential else 1.0))


@dataclass(frozen=True)
class SRMResult:
    p_value: float
    flagged: bool


def srm(observed: dict[str, int], expected_weights: dict[str, float], *, threshold: float = 0.001) -> SRMResult:
    total = sum(observed.values())
    weight = sum(expected_weights.values())
    if total == 0 or weight <= 0 or len(observed) != 2:
        return SRMResult(1.0, False)
    chi2 = 0.0
    for arm, count in observed.items():
        expected = total * expected_weights.get(arm, 0.0) / weight
        if expected > 0:
            chi2 += (count - expected) ** 2 / expected
    p = math.erfc(math.sqrt(chi2 / 2))
    return SRMResult(p, p < threshold)


@dataclass(frozen=True)
class Guardrail:
    metric: str
    margin: float
    relative: bool
    text: str


def parse_guardrail(text: str) -> Guardrail:
    metric, sep, margin = text.partition(":")
    if not sep or not metric or not margin:
        raise InvalidArgument(f"invalid guardrail {text!r}: expected METRIC:MARGIN, e.g. error_rate:+0.5pp")
    raw = margin.strip()
    try:
        if raw.endswith("pp"):
            value, relative = float(raw[:-2]) / 100, False
        elif raw.endswith("%"):
            value, relative = float(raw[:-1]) / 100, True
        else:
            value, relative = float(raw), False
    except ValueError:
        raise InvalidArgument(f"invalid guardrail {text!r}: the margin must be a number, Npp or N%") from None
    if not math.isfinite(value):
        raise InvalidArgument(f"invalid guardrail {text!r}: the margin must be finite")
    return Guardrail(metric.strip(), abs(value), relative, text)


@dataclass
class GuardrailResult:
    status: str  # ok | breached | inconclusive
    detail: dict[str, Any] = field(default_factory=dict)


def thompson_weights(
    arms: dict[str, ArmStats], *, kind: str, min_share: float, draws: int = 2000, rng: random.Random | None = None
) -> dict[str, float]:
    rng = rng or random.Random()
    names = list(arms)
    wins = dict.fromkeys(names, 0)
    for _ in range(draws):
        best, best_value = names[0], -math.inf
        for name in names:
            a = arms[name]
            if kind == "proportion":
                value = rng.betavariate(1 + a.sum, 1 + max(a.n - a.sum, 0))
            else:
                mean = a.mean if a.mean is not None else 0.0
                var = a.variance if a.variance is not None else 1.0
                value = rng.gauss(mean, math.sqrt(max(var, 1e-12) / max(a.n, 1)))
            if value > best_value:
                best, best_value = name, value
        wins[best] += 1
    share = {n: wins[n] / draws for n in names}
    k = len(names)
    floor = min(min_share, 1 / k)
    return {n: floor + (1 - k * floor) * share[n] for n in names}
