"""Statistics of an experiment: pure functions of per-arm sufficient statistics.

Every figure here is a function of each arm's ``(n, sum, sum of squares)`` (and, for latency
quantiles, its histogram counts on fixed buckets), so the data plane only has to add counters, and
the same counters always give the same numbers.  Randomness (the bandit's draws) comes in as a
``numpy.random.Generator``; nothing reads a clock.

- **Sequential** (the default mode): the mixture sequential probability ratio test (mSPRT) with a
  normal mixture, as Johari, Pekelis & Walsh, *Always valid inference* (Operations Research 2022)
  and Optimizely's Stats Engine: an always-valid p-value (a running minimum across looks) and a
  confidence sequence for the difference and the relative lift, so the experiment can be looked at
  every minute without inflating false positives.  :func:`plan` gives the mixture's τ and the
  maximum sample size per arm from the minimum detectable effect (MDE).
- **Fixed**: Welch's t-test (a z-test for proportions) at a planned sample size, refused before it.
- **Sample-ratio mismatch**: chi-square goodness of fit of the arms' counts to their weights.
- **Guardrails**: non-inferiority of the treatment with a margin, on the same confidence sequences;
  latency quantiles on a tail share read off the histograms (:func:`latency_guardrail_update`).
- :func:`decide`: the policy turning all of that into running / treatment_wins / control_wins /
  no_difference / guardrail_breached / srm, with reasons.
- Bandits: :func:`~modelport.experiments.bandit.thompson_weights`.

This module is the public face: each noun lives in its own module (``arms``, ``sequential``,
``fixed``, ``srm``, ``guardrails``, ``latency``, ``decision``, ``bandit``) and is re-exported here.
docs/experiments.md, "Statistics", gives every formula, default and the simulations behind them.
"""

from modelport.experiments.arms import (
    DEFAULT_ALPHA,
    DEFAULT_POWER,
    ArmStats,
    Direction,
    Interval,
    MetricKind,
)
from modelport.experiments.bandit import thompson_weights
from modelport.experiments.decision import Decision, DecisionKind, decide
from modelport.experiments.fixed import FixedResult, fixed_result, student_t_ppf, student_t_sf
from modelport.experiments.guardrails import (
    GUARDRAIL_SPREAD,
    TAIL_MIN_COUNT,
    Guardrail,
    GuardrailResult,
    GuardrailStatus,
    guardrail_update,
    latency_guardrail_update,
    parse_guardrail,
)
from modelport.experiments.latency import (
    LATENCY_BUCKETS_MS,
    histogram,
    histogram_quantile,
    latency_bucket,
    merge_histograms,
    share_above,
)
from modelport.experiments.sequential import (
    MIN_SAMPLES,
    Plan,
    SequentialResult,
    SequentialState,
    always_valid_p_value,
    arm_interval,
    confidence_halfwidth,
    max_samples,
    mixture_log_likelihood_ratio,
    mixture_tau,
    plan,
    sequential_update,
)
from modelport.experiments.srm import SRM_PRIOR_CONCENTRATION, SRM_THRESHOLD, SRMResult, chi2_sf, srm

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_POWER",
    "GUARDRAIL_SPREAD",
    "LATENCY_BUCKETS_MS",
    "MIN_SAMPLES",
    "SRM_PRIOR_CONCENTRATION",
    "SRM_THRESHOLD",
    "TAIL_MIN_COUNT",
    "ArmStats",
    "Decision",
    "DecisionKind",
    "Direction",
    "FixedResult",
    "Guardrail",
    "GuardrailResult",
    "GuardrailStatus",
    "Interval",
    "MetricKind",
    "Plan",
    "SRMResult",
    "SequentialResult",
    "SequentialState",
    "always_valid_p_value",
    "arm_interval",
    "chi2_sf",
    "confidence_halfwidth",
    "decide",
    "fixed_result",
    "guardrail_update",
    "histogram",
    "histogram_quantile",
    "latency_bucket",
    "latency_guardrail_update",
    "max_samples",
    "merge_histograms",
    "mixture_log_likelihood_ratio",
    "mixture_tau",
    "parse_guardrail",
    "plan",
    "sequential_update",
    "share_above",
    "srm",
    "student_t_ppf",
    "student_t_sf",
    "thompson_weights",
]
