"""Experiment statistics: error rates and power by seeded simulation, formulas against scipy, the policy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from modelport.errors import InvalidArgument
from modelport.experiments.simulation import simulate_fixed, simulate_sequential, simulate_srm
from modelport.experiments.stats import (
    GUARDRAIL_SPREAD,
    LATENCY_BUCKETS_MS,
    ArmStats,
    Decision,
    Guardrail,
    GuardrailResult,
    SequentialState,
    always_valid_p_value,
    arm_interval,
    confidence_halfwidth,
    decide,
    fixed_result,
    guardrail_update,
    histogram,
    histogram_quantile,
    latency_bucket,
    latency_guardrail_update,
    max_samples,
    merge_histograms,
    mixture_log_likelihood_ratio,
    mixture_tau,
    parse_guardrail,
    plan,
    sequential_update,
    share_above,
    srm,
    student_t_ppf,
    student_t_sf,
    thompson_weights,
)

RUNS = 2000


def three_sigma(rate: float, runs: int = RUNS) -> float:
    """Binomial simulation error: the observed rate of a true ``rate`` stays below rate + 3sigma."""
    return rate + 3 * math.sqrt(rate * (1 - rate) / runs)


# -- sufficient statistics --------------------------------------------------------------


def test_arm_stats_mean_variance_merge_and_json() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(3, 2, 500), rng.normal(3, 2, 300)
    merged = ArmStats.of(a) + ArmStats.of(b)
    both = np.concatenate([a, b])
    assert merged.n == 800
    assert merged.mean == pytest.approx(both.mean())
    assert merged.variance == pytest.approx(both.var(ddof=1))
    assert ArmStats.from_json(json.loads(json.dumps(merged.to_json()))) == merged
    rate = ArmStats.proportion(30, 200)
    assert rate.mean == 0.15 and rate.sumsq == rate.sum
    assert math.isnan(ArmStats().mean)
    with pytest.raises(InvalidArgument):
        ArmStats.proportion(201, 200)
    with pytest.raises(InvalidArgument):
        ArmStats(-1)


# -- the mixture SPRT ------------------------------------------------------------------


def test_confidence_sequence_is_where_the_mixture_ratio_stays_below_one_over_alpha() -> None:
    var, tau, alpha = 2e-5, 0.01, 0.05
    half = confidence_halfwidth(var, tau, alpha)
    assert mixture_log_likelihood_ratio(half, var, tau) == pytest.approx(math.log(1 / alpha))
    assert always_valid_p_value(half, var, tau) == pytest.approx(alpha)
    assert always_valid_p_value(0.0, var, tau) == 1.0
    # vectorised, as the simulations use them
    p = always_valid_p_value(np.array([0.0, half, 2 * half]), np.full(3, var), tau)
    assert p[0] == 1.0 and p[1] == pytest.approx(alpha) and p[2] < alpha


def test_plan_fixed_horizon_is_the_textbook_sample_size_and_sequential_about_twice() -> None:
    p = plan(0.02, proportion=0.1)
    textbook = (scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)) ** 2 * (0.1 * 0.9 + 0.12 * 0.88) / 0.02**2
    assert p.fixed_samples == math.ceil(textbook) == 3839
    assert p.max_samples == max_samples(0.02, proportion=0.1) == 7350
    assert max_samples(0.02, proportion=0.1, mode="fixed") == 3839
    assert 1.8 < p.max_samples / p.fixed_samples < 2.0
    assert p.tau == pytest.approx(mixture_tau(0.02))
    # a relative MDE reads off the baseline; a mean needs its variance
    assert plan(0.2, proportion=0.1, relative=True).mde == pytest.approx(0.02)
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    assert plan(0.1, baseline_var=4.0).fixed_samples == math.ceil(z**2 * 2 * 4.0 / 0.1**2)
    for bad in (
        lambda: plan(0.02),
        lambda: plan(0.02, proportion=0.1, baseline_var=1.0),
        lambda: plan(-0.02, proportion=0.1),
        lambda: plan(0.02, proportion=1.5),
        lambda: plan(0.02, proportion=0.1, alpha=1.0),
        lambda: plan(0.1, baseline_var=1.0, relative=True),
    ):
        with pytest.raises(InvalidArgument):
            bad()


def test_sequential_state_runs_min_and_intersection_and_survives_json() -> None:
    tau = mixture_tau(0.02)
    state = SequentialState()
    control, treatment = ArmStats.proportion(10, 50), ArmStats.proportion(12, 50)
    state, result = sequential_update(state, control, treatment, tau=tau, kind="proportion")
    assert result.reason.startswith("fewer than 100") and state == SequentialState()  # too early: nothing counted
    p_values, widths = [], []
    for n, (s_c, s_t) in [(1000, (100, 140)), (2000, (200, 250)), (3000, (300, 330))]:
        state, result = sequential_update(
            SequentialState.from_json(json.loads(json.dumps(state.to_json()))),
            ArmStats.proportion(s_c, n),
            ArmStats.proportion(s_t, n),
            tau=tau,
            kind="proportion",
        )
        p_values.append(result.p_value)
        widths.append(result.diff_ci[1] - result.diff_ci[0])  # type: ignore[operator]
        assert result.diff_ci[0] <= result.diff <= result.diff_ci[1]  # type: ignore[operator]
        assert result.lift is not None and result.lift_ci[0] is not None
        json.dumps(result.to_json())
    assert p_values == sorted(p_values, reverse=True) and p_values[-1] == p_values[1]  # a running minimum
    assert widths == sorted(widths, reverse=True)
    assert state.looks == 3 and state.tau == tau and state.alpha == 0.05
    with pytest.raises(InvalidArgument, match="alpha cannot change"):
        sequential_update(state, control, treatment, tau=tau, alpha=0.1)
    with pytest.raises(InvalidArgument, match="tau cannot change"):
        sequential_update(state, control, treatment, tau=tau * 2)
    with pytest.raises(InvalidArgument):
        sequential_update(SequentialState(), control, treatment)  # no tau at all
    with pytest.raises(InvalidArgument, match="spread cannot change"):
        sequential_update(state, control, treatment, tau=tau, spread=(1.0, 4.0))


def test_a_mixture_of_scales_widths_solve_the_mixture_and_catch_huge_effects_early() -> None:
    var, alpha, taus = np.geomspace(1e-8, 1.0, 50), 0.05, [0.004 * s for s in GUARDRAIL_SPREAD]
    half = confidence_halfwidth(var, taus, alpha)
    assert np.allclose(mixture_log_likelihood_ratio(half, var, taus), math.log(1 / alpha), atol=1e-9)
    # 20 % against 1 % after 100 requests per arm: one small scale cannot tell yet, the mixture can
    control, treatment = ArmStats.proportion(1, 100), ArmStats.proportion(20, 100)
    _, single = sequential_update(SequentialState(), control, treatment, tau=0.004, kind="proportion")
    _, mixed = sequential_update(
        SequentialState(), control, treatment, tau=0.004, kind="proportion", spread=GUARDRAIL_SPREAD
    )
    assert single.p_value > 0.5 and mixed.p_value < 0.01


def test_a_proportion_with_no_successes_yet_does_not_look_exact() -> None:
    """0 of 100 successes: p̂(1-p̂) = 0 would make one failure in the other arm look decisive."""
    _, result = sequential_update(
        SequentialState(), ArmStats.proportion(0, 100), ArmStats.proportion(2, 100), tau=0.01, kind="proportion"
    )
    assert result.p_value > 0.5


@pytest.mark.parametrize(
    ("distribution", "mean", "mde", "sd"),
    [("bernoulli", 0.1, 0.02, 1.0), ("normal", 1.0, 0.1, 1.0), ("lognormal", 1.0, 0.2, 2.0)],
)
def test_a_a_experiments_looked_at_every_100_samples_stay_below_alpha(
    distribution: str, mean: float, mde: float, sd: float
) -> None:
    """2,000 A/A experiments, a look after every 100 samples per arm up to the maximum sample size:
    the share ever declared significant stays below alpha (+ 3sigma of simulation error), and the
    confidence sequence keeps the true difference (0) at every look in ≥ 1 - alpha of them."""
    alpha = 0.05
    p = plan(mde, proportion=mean) if distribution == "bernoulli" else plan(mde, baseline_var=sd**2)
    runs = simulate_sequential(
        distribution=distribution,  # type: ignore[arg-type]
        control_mean=mean,
        treatment_mean=mean,
        sd=sd,
        runs=RUNS,
        look_every=100,
        max_n=p.max_samples,
        alpha=alpha,
        tau=p.tau,
        rng=np.random.default_rng(20261207),
    )
    assert runs.rejection_rate <= three_sigma(alpha)
    assert runs.coverage >= 1 - three_sigma(alpha)


@pytest.mark.parametrize(
    ("distribution", "mean", "mde", "sd"), [("bernoulli", 0.1, 0.02, 1.0), ("normal", 1.0, 0.1, 1.0)]
)
def test_a_lift_of_the_mde_is_found_with_power_080_within_max_samples(
    distribution: str, mean: float, mde: float, sd: float
) -> None:
    alpha = 0.05
    p = plan(mde, proportion=mean) if distribution == "bernoulli" else plan(mde, baseline_var=sd**2)
    runs = simulate_sequential(
        distribution=distribution,  # type: ignore[arg-type]
        control_mean=mean,
        treatment_mean=mean + mde,
        sd=sd,
        runs=RUNS,
        look_every=100,
        max_n=p.max_samples,
        alpha=alpha,
        tau=p.tau,
        rng=np.random.default_rng(7),
        mde=mde,
    )
    assert runs.rejection_rate >= 0.8
    # the confidence sequence covers the planted lift uniformly over looks
    assert runs.coverage >= 1 - three_sigma(alpha)
    # on average it decides well before the maximum (about the fixed horizon's n)
    assert runs.mean_decided_at < 0.7 * p.max_samples


def test_arm_interval() -> None:
    arm = ArmStats.proportion(100, 1000)
    fixed = arm_interval(arm, kind="proportion")
    always = arm_interval(arm, kind="proportion", tau=0.02)
    assert fixed[0] == pytest.approx(0.1 - 1.96 * math.sqrt(101 / 1002 * (1 - 101 / 1002) / 1000), rel=1e-3)
    assert always[0] < fixed[0] < 0.1 < fixed[1] < always[1]  # type: ignore[operator]
    assert arm_interval(ArmStats()) == (None, None)


# -- fixed horizon ---------------------------------------------------------------------


def test_fixed_mode_refuses_to_decide_before_the_planned_sample_size() -> None:
    control, treatment = ArmStats.proportion(100, 1000), ArmStats.proportion(300, 1000)  # an obvious difference
    waiting = fixed_result(control, treatment, planned_n=3839, kind="proportion")
    assert waiting.status == "waiting" and waiting.p_value is None and not waiting.significant
    decision = decide(primary=waiting, direction="higher")
    assert decision.kind == "running" and "1000 of 3839" in decision.reasons[0]
    done = fixed_result(
        ArmStats.proportion(384, 3839), ArmStats.proportion(1152, 3839), planned_n=3839, kind="proportion"
    )
    assert done.status == "complete" and done.significant
    assert decide(primary=done, direction="higher").kind == "treatment_wins"
    with pytest.raises(InvalidArgument):
        fixed_result(control, treatment, planned_n=1)
    # at the planned n the experiment ends, also with a guardrail still pending
    pending = GuardrailResult(
        "error_rate:+0.5pp", "error_rate", "pending", "difference", 0.0, (-0.01, 0.01), 0.005, 1, 1
    )
    assert decide(primary=done, direction="higher", guardrails=[pending]).kind == "no_difference"


def test_fixed_welch_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(0, 1, 60), rng.normal(0.4, 2.5, 45)
    result = fixed_result(ArmStats.of(a), ArmStats.of(b), planned_n=45)
    expected = scipy_stats.ttest_ind(b, a, equal_var=False)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    low, high = expected.confidence_interval(0.95)
    assert result.diff_ci == (pytest.approx(low), pytest.approx(high))
    # the proportion z-test: pooled variance, as statsmodels' proportions_ztest
    z = fixed_result(ArmStats.proportion(100, 1000), ArmStats.proportion(130, 1000), planned_n=1000, kind="proportion")
    pooled = 230 / 2000
    assert z.statistic == pytest.approx(0.03 / math.sqrt(pooled * (1 - pooled) * 2 / 1000))


@pytest.mark.parametrize("df", [1.0, 2.5, 10.0, 120.0, 5000.0])
def test_student_t_against_scipy(df: float) -> None:
    for t in (0.05, 1.0, 2.3, 6.0):
        assert student_t_sf(t, df) == pytest.approx(scipy_stats.t.sf(t, df), rel=1e-8)
        assert student_t_sf(-t, df) == pytest.approx(scipy_stats.t.sf(-t, df), rel=1e-8)
    for p in (0.6, 0.975, 0.9995):
        assert student_t_ppf(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-8)


def test_fixed_a_a_rate_is_alpha() -> None:
    rate = simulate_fixed(
        distribution="bernoulli",
        control_mean=0.1,
        treatment_mean=0.1,
        runs=RUNS,
        n=3839,
        alpha=0.05,
        rng=np.random.default_rng(11),
    )
    assert rate <= three_sigma(0.05)


# -- sample-ratio mismatch -------------------------------------------------------------


def test_srm_flags_52_48_at_20k_and_not_50_50() -> None:
    skewed = srm({"a": 10_400, "b": 9_600}, {"a": 50, "b": 50})
    assert skewed.flagged and skewed.chi2 == pytest.approx(32.0)
    assert skewed.p_value == pytest.approx(scipy_stats.chisquare([10_400, 9_600]).pvalue)
    assert skewed.sequential_p_value < 0.001
    even = srm({"a": 10_037, "b": 9_963}, {"a": 0.5, "b": 0.5})
    assert not even.flagged and even.p_value > 0.5
    three = srm({"a": 5000, "b": 2600, "c": 2400}, {"a": 0.5, "b": 0.25, "c": 0.25})
    assert three.p_value == pytest.approx(scipy_stats.chisquare([5000, 2600, 2400], [5000, 2500, 2500]).pvalue)
    assert srm({"a": 10, "b": 1}, {"a": 1.0, "b": 0.0}).flagged  # traffic to an arm that should get none
    assert not srm({}, {"a": 1, "b": 1}).flagged
    json.dumps(srm({"a": 10, "b": 1}, {"a": 1.0, "b": 0.0}).to_json())
    with pytest.raises(InvalidArgument, match="without an expected weight"):
        srm({"a": 1, "c": 1}, {"a": 1, "b": 1})


def test_srm_rates_by_simulation() -> None:
    """True 52/48 at 20,000 requests: flagged almost always; a true 50/50: false flags ≤ 0.1 % once, and
    checked every 200 requests the anytime-valid p-value still stays there (the chi-square does not)."""
    rng = np.random.default_rng(5)
    skewed = simulate_srm(share=0.52, total=20_000, look_every=20_000, runs=RUNS, rng=rng)
    assert skewed.flagged_once >= 0.99
    even = simulate_srm(share=0.5, total=20_000, look_every=200, runs=RUNS, rng=rng)
    assert even.flagged_once <= three_sigma(0.001)
    assert even.sequential_flagged_any_look <= three_sigma(0.001)
    assert even.flagged_any_look > even.flagged_once  # why `srm(..., sequential=True)` exists


# -- guardrails ------------------------------------------------------------------------


def test_parse_guardrail() -> None:
    assert parse_guardrail("error_rate:+0.5pp") == Guardrail("error_rate", 0.005, False, "higher", "pp")
    assert parse_guardrail("latency_p99:+20%") == Guardrail("latency_p99", 0.2, True, "higher", "%")
    assert parse_guardrail("accuracy:-1pp") == Guardrail("accuracy", 0.01, False, "lower", "pp")
    assert parse_guardrail("error_rate:0.5pp").worse == "higher"  # known direction
    assert parse_guardrail("reward:-3").margin == 3.0
    assert parse_guardrail("latency_p99:+20%").quantile == 0.99
    for text in ("error_rate:+0.5pp", "latency_p99:+20%", "accuracy:-1pp", "reward:-3"):
        assert str(parse_guardrail(text)) == text
        assert Guardrail.from_json(json.loads(json.dumps(parse_guardrail(text).to_json()))) == parse_guardrail(text)
    for bad, message in [
        ("error_rate", "METRIC:\\+MARGIN"),
        ("error_rate:+abc", "METRIC:\\+MARGIN"),
        ("error_rate:+0pp", "positive"),
        ("accuracy:1pp", "which way is worse"),
        ("latency_p99:+20pp", "relative margin"),
        ("latency_p99:+5", "relative margin"),
        ("latency_p10:+20%", "p50 to p99.9"),
        ("Error Rate:+1pp", "METRIC"),
        ("error_rate:+150pp", "below 100pp"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            parse_guardrail(bad)


def test_guardrail_breached_when_treatment_fails_20_percent_vs_1() -> None:
    guardrail = parse_guardrail("error_rate:+0.5pp")
    rng = np.random.default_rng(2)
    state, control, treatment = SequentialState(), ArmStats(), ArmStats()
    looks = 0
    result = None
    while looks < 50:
        looks += 1
        control += ArmStats.of(rng.random(100) < 0.01)
        treatment += ArmStats.of(rng.random(100) < 0.20)
        state, result = guardrail_update(state, guardrail, control, treatment, kind="proportion")
        if result.status == "breached":
            break
    assert result is not None and result.status == "breached"
    assert looks <= 3  # 300 requests per arm: a minute of traffic at 5 req/s
    assert result.ci[0] > 0.005  # type: ignore[operator]
    decision = decide(primary=None, direction="higher", guardrails=[result])
    assert decision.kind == "guardrail_breached" and "error_rate:+0.5pp" in decision.reasons[0]


def test_equal_error_rates_never_breach_and_pass_by_simulation() -> None:
    """Equal 1 % error rates, margin +0.5pp, looked at every 100 requests up to 20,000 per arm: breached in
    at most alpha/2 of 2,000 runs (the sequence's upper tail), shown within the margin in most."""
    margin = 0.005
    runs = simulate_sequential(
        distribution="bernoulli",
        control_mean=0.01,
        treatment_mean=0.01,
        runs=RUNS,
        look_every=100,
        max_n=20_000,
        alpha=0.05,
        tau=mixture_tau(margin),
        rng=np.random.default_rng(4),
        spread=GUARDRAIL_SPREAD,
    )
    breached = float((runs.low > margin).mean())
    passed = float((runs.high < margin).mean())
    assert breached <= three_sigma(0.025)
    assert passed >= 0.9
    # and through the public function, one run (the simulation above is these formulas on arrays)
    rng = np.random.default_rng(8)
    state, control, treatment = SequentialState(), ArmStats(), ArmStats()
    statuses = []
    for _ in range(100):
        control += ArmStats.of(rng.random(200) < 0.01)
        treatment += ArmStats.of(rng.random(200) < 0.01)
        state, result = guardrail_update(
            state, parse_guardrail("error_rate:+0.5pp"), control, treatment, kind="proportion"
        )
        statuses.append(result.status)
    assert "breached" not in statuses


def test_relative_guardrail_on_a_mean() -> None:
    guardrail = parse_guardrail("cost:+10%")
    rng = np.random.default_rng(9)
    control, worse, fine = (ArmStats.of(rng.normal(m, 1.0, 5000)) for m in (10.0, 12.0, 10.2))
    _, breached = guardrail_update(SequentialState(), guardrail, control, worse)
    _, ok = guardrail_update(SequentialState(), guardrail, control, fine)
    assert breached.status == "breached" and breached.statistic == "relative change"
    assert breached.estimate == pytest.approx(0.2, abs=0.01)
    assert ok.status == "pass"


def _latency_run(slowdown: float, *, looks: int, per_look: int, rng: np.random.Generator) -> list[GuardrailResult]:
    guardrail = parse_guardrail("latency_p99:+20%")
    state = SequentialState()
    control = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    treatment = list(control)
    results = []
    for _ in range(looks):
        control = merge_histograms(control, histogram(rng.lognormal(math.log(20), 0.5, per_look)))
        treatment = merge_histograms(treatment, histogram(slowdown * rng.lognormal(math.log(20), 0.5, per_look)))
        state, result = latency_guardrail_update(state, guardrail, control, treatment)
        results.append(result)
        state = SequentialState.from_json(json.loads(json.dumps(state.to_json())))
    return results


def test_latency_p99_guardrail() -> None:
    rng = np.random.default_rng(12)
    slower = _latency_run(1.6, looks=20, per_look=500, rng=rng)
    assert (
        slower[0].status == "pending" and "fixed after 1000" in slower[0].reason
    )  # the control's p99 is not known yet
    assert slower[-1].status == "breached"
    assert slower[-1].treatment_value / slower[-1].control_value == pytest.approx(1.6, rel=0.1)  # type: ignore[operator]
    within = _latency_run(1.05, looks=40, per_look=500, rng=rng)
    assert all(r.status != "breached" for r in within) and within[-1].status == "pass"


def test_latency_p99_guardrail_false_breaches_by_simulation() -> None:
    """Identical latency distributions, 100 runs x 20 looks of 1,000 requests: breached in at most
    alpha/2 (+3sigma)."""
    rng = np.random.default_rng(13)
    breached = sum(
        any(r.status == "breached" for r in _latency_run(1.0, looks=20, per_look=1000, rng=rng)) for _ in range(100)
    )
    assert breached / 100 <= three_sigma(0.025, 100)


def test_latency_buckets_and_quantiles() -> None:
    assert LATENCY_BUCKETS_MS[0] == 0.125 and LATENCY_BUCKETS_MS[-1] == 131072.0
    assert latency_bucket(1.0) == 24 and LATENCY_BUCKETS_MS[24] == 1.0  # an edge is inclusive
    assert latency_bucket(1.01) == 25 and latency_bucket(1e9) == len(LATENCY_BUCKETS_MS)
    sample = np.random.default_rng(1).lognormal(math.log(20), 0.6, 50_000)
    counts = histogram(sample)
    for q in (0.5, 0.9, 0.99):
        assert histogram_quantile(counts, q) == pytest.approx(np.quantile(sample, q), rel=0.045)
    edge = LATENCY_BUCKETS_MS[60]
    assert share_above(counts, edge) == pytest.approx((sample > edge).mean())
    assert share_above(counts, 37.0) == pytest.approx((sample > 37.0).mean(), abs=0.003)
    assert histogram_quantile([0] * len(counts), 0.5) is None
    with pytest.raises(InvalidArgument, match="latency histogram"):
        histogram_quantile([1, 2, 3], 0.5)


# -- the decision ----------------------------------------------------------------------


def _seq(control: tuple[int, int], treatment: tuple[int, int], tau: float = 0.015):  # type: ignore[no-untyped-def]
    _, result = sequential_update(
        SequentialState(), ArmStats.proportion(*control), ArmStats.proportion(*treatment), tau=tau, kind="proportion"
    )
    return result


def _guardrail(status: str) -> GuardrailResult:
    return GuardrailResult("error_rate:+0.5pp", "error_rate", status, "difference", 0.0, (-0.01, 0.01), 0.005, 1, 1)  # type: ignore[arg-type]


def test_decide() -> None:
    better = _seq((1000, 10_000), (1400, 10_000))
    worse = _seq((1400, 10_000), (1000, 10_000))
    even = _seq((1000, 10_000), (1005, 10_000))
    assert better.significant and worse.significant and not even.significant
    assert decide(primary=better, direction="higher").kind == "treatment_wins"
    assert decide(primary=better, direction="lower").kind == "control_wins"
    assert decide(primary=worse, direction="higher").kind == "control_wins"
    assert decide(primary=even, direction="higher", max_samples=20_000).kind == "running"
    assert decide(primary=even, direction="higher", max_samples=10_000).kind == "no_difference"
    assert decide(primary=even, direction="higher", mde=0.05).kind == "no_difference"  # every plausible gap < MDE
    assert decide(primary=None, direction="higher") == Decision("running", ("no data for the metric yet",))
    # the treatment wins only with its guardrails shown within their margins
    waiting = decide(primary=better, direction="higher", guardrails=[_guardrail("pending")])
    assert waiting.kind == "running" and "waiting for guardrails error_rate:+0.5pp" in waiting.reasons[0]
    assert decide(primary=better, direction="higher", guardrails=[_guardrail("pass")]).kind == "treatment_wins"
    assert decide(primary=better, direction="higher", guardrails=[_guardrail("pending")], max_samples=10_000).kind == (
        "no_difference"
    )
    assert decide(primary=better, guardrails=[_guardrail("pending")], require_guardrails=False).kind == "treatment_wins"
    assert decide(primary=better, guardrails=[_guardrail("breached")]).kind == "guardrail_breached"
    # SRM blocks every decision, a breach included
    mismatch = srm({"a": 10_400, "b": 9_600}, {"a": 1, "b": 1})
    blocked = decide(primary=better, srm=mismatch, guardrails=[_guardrail("breached")])
    assert blocked.kind == "srm" and blocked.final and blocked.winner is None
    assert "sample-ratio mismatch" in blocked.reasons[0] and "also breached" in blocked.reasons[1]
    assert decide(primary=better, srm=srm({"a": 10_000, "b": 10_000}, {"a": 1, "b": 1})).winner == "treatment"
    json.dumps(blocked.to_json())


# -- bandits ---------------------------------------------------------------------------


def test_thompson_weights_converge_to_the_better_arm_and_respect_min_share() -> None:
    arms = {
        "a": ArmStats.proportion(1000, 10_000),
        "b": ArmStats.proportion(1200, 10_000),
        "c": ArmStats.proportion(990, 10_000),
    }
    weights = thompson_weights(arms, kind="proportion", rng=np.random.default_rng(0))
    assert weights == {"a": 0.05, "b": 0.9, "c": 0.05}
    assert thompson_weights(arms, kind="proportion", rng=np.random.default_rng(0)) == weights  # seeded: exact
    # little data: close to even, never below the floor, always summing to 1
    early = thompson_weights(
        {"a": ArmStats.proportion(1, 10), "b": ArmStats.proportion(2, 10)},
        kind="proportion",
        rng=np.random.default_rng(1),
    )
    assert 0.2 < early["a"] < 0.5 and sum(early.values()) == pytest.approx(1.0)
    lower = thompson_weights(arms, kind="proportion", rng=np.random.default_rng(0), direction="lower", min_share=0.1)
    assert lower["b"] == pytest.approx(0.1) and sum(lower.values()) == pytest.approx(1.0)
    assert all(w >= 0.1 - 1e-12 for w in lower.values())
    with pytest.raises(InvalidArgument):
        thompson_weights(arms, kind="proportion", min_share=0.4, rng=np.random.default_rng(0))


def test_thompson_weights_gaussian_rewards() -> None:
    rng = np.random.default_rng(3)
    arms = {"a": ArmStats.of(rng.normal(1.0, 2.0, 400)), "b": ArmStats.of(rng.normal(1.6, 2.0, 400))}
    weights = thompson_weights(arms, kind="mean", rng=np.random.default_rng(4))
    assert weights == {"a": 0.05, "b": 0.95}
    assert thompson_weights(arms, kind="mean", rng=np.random.default_rng(4), direction="lower")["a"] == 0.95
    # an arm without data stays plausible under the prior pooled from the others
    with_new = thompson_weights({**arms, "new": ArmStats()}, kind="mean", rng=np.random.default_rng(4))
    assert with_new["new"] > 0.1 and with_new["a"] == pytest.approx(0.05)
    assert sum(with_new.values()) == pytest.approx(1.0)


def test_thompson_sampling_simulation_moves_traffic_to_the_better_arm() -> None:
    """A bandit updated every 200 requests: the better arm (12 % vs 10 %) ends with the most traffic."""
    rng = np.random.default_rng(6)
    truth = {"a": 0.10, "b": 0.12}
    arms = {name: ArmStats() for name in truth}
    weights = {"a": 0.5, "b": 0.5}
    for _ in range(100):
        counts = rng.multinomial(200, [weights["a"], weights["b"]])
        for name, count in zip(truth, counts, strict=True):
            arms[name] += ArmStats.proportion(rng.binomial(count, truth[name]), count)
        weights = thompson_weights(arms, kind="proportion", rng=rng, draws=2000)
    assert weights["b"] == pytest.approx(0.95)
    assert arms["a"].n >= 0.05 * 200 * 100 * 0.5  # explored throughout


def test_an_srm_block_names_the_test_the_experiment_chose() -> None:
    """A 60/40 split is far below the bar on both tests: the reason names the one that decides."""
    for sequential, named in ((False, "chi-square p = "), (True, "anytime-valid p = ")):
        result = srm({"a": 6000, "b": 4000}, {"a": 0.5, "b": 0.5}, sequential=sequential)
        assert result.flagged and result.p_value < result.threshold and result.sequential_p_value < result.threshold
        reason = decide(primary=None, srm=result).reasons[0]
        assert f"({named}" in reason, reason
