"""Arm counters in the database (SQLite and PostgreSQL) and the shadow report's arithmetic."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from modelport.endpoints.counters import (
    ABS_DIFF_BUCKETS,
    LATENCY_BUCKETS_MS,
    LAYOUT,
    ArmCounts,
    MinuteRow,
    ShadowCounts,
    bucket,
    quantile,
)
from modelport.endpoints.shadow_report import build_shadow_report, mean_interval, paired_difference, wilson
from modelport.services import Services

T0 = datetime(2031, 5, 1, 9, 30, tzinfo=UTC)


def test_upserts_replace_a_processes_minute_and_readers_sum_processes(services: Services) -> None:
    counters = services.endpoints.counters
    row = MinuteRow("e", "a", T0, ArmCounts(requests=3, errors=1, failures=1, latency={40: 2}), model="m:1")
    counters.write("h:1:aa", [row])
    again = MinuteRow("e", "a", T0, ArmCounts(requests=5, errors=1, failures=1, latency={40: 4}), model="m:1")
    counters.write("h:1:aa", [again])  # the same process and minute: the newer whole replaces it
    counters.write("h:2:bb", [MinuteRow("e", "a", T0, ArmCounts(requests=2, unit_requests=2), model="m:1")])
    counters.write("h:2:bb", [MinuteRow("e", "a", T0, ArmCounts(requests=1), model="m:2", experiment="x")])
    total = counters.totals("e")["a"]
    assert (total.requests, total.errors, total.failures, total.unit_requests) == (8, 1, 1, 2)
    assert total.latency == {40: 4}
    assert counters.totals("e", model="m:2")["a"].requests == 1
    assert counters.totals("e", experiment="x")["a"].requests == 1
    assert counters.totals("e", experiment="")["a"].requests == 7
    assert counters.totals("e", since=T0 + timedelta(minutes=1)) == {}
    assert counters.totals("e", until=T0) == {}
    assert counters.prune(T0 + timedelta(minutes=1)) == 3 and counters.totals("e") == {}


def test_counts_survive_json_and_add_up() -> None:
    shadow = ShadowCounts(pairs=3, labelled=6, agreements=5, abs_diff={0: 2, 7: 1}, delta_sum_ms=-1.5)
    counts = ArmCounts(requests=4, errors=1, rows=9, latency_sum_ms=12.5, latency={3: 3}, shadow=shadow)
    again = ArmCounts.from_json(counts.to_json())
    assert again == counts
    again.merge(counts)
    assert (again.requests, again.latency, again.shadow.abs_diff) == (8, {3: 6}, {0: 4, 7: 2})
    assert again.shadow.delta_sum_ms == -3.0
    assert ArmCounts().to_json() == {"v": LAYOUT}


def test_histogram_buckets_and_quantiles() -> None:
    assert LATENCY_BUCKETS_MS[0] == 0.125 and LATENCY_BUCKETS_MS[-1] == 131_072  # 2^-3 … 2^17 ms
    assert all(b / a == pytest.approx(2 ** (1 / 8)) for a, b in itertools.pairwise(LATENCY_BUCKETS_MS))
    assert bucket(LATENCY_BUCKETS_MS, 1.0) == LATENCY_BUCKETS_MS.index(1.0)  # an edge belongs to its own bucket
    assert bucket(LATENCY_BUCKETS_MS, 1e9) == len(LATENCY_BUCKETS_MS)
    assert bucket(ABS_DIFF_BUCKETS, 0.0) == 0
    hist = {bucket(LATENCY_BUCKETS_MS, 2.0): 90, bucket(LATENCY_BUCKETS_MS, 50.0): 10}
    assert quantile(hist, LATENCY_BUCKETS_MS, 0.5) == pytest.approx(2.0, rel=0.13)
    assert quantile(hist, LATENCY_BUCKETS_MS, 0.99) == pytest.approx(50.0, rel=0.13)
    assert quantile({}, LATENCY_BUCKETS_MS, 0.5) is None


def test_intervals() -> None:
    low, high = wilson(45, 50)
    assert (round(low, 4), round(high, 4)) == (0.7864, 0.9565)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0
    # mean of 1..10: 5.5, sd 3.03, 95%: ± 1.96 * 3.03 / sqrt(10)
    values = range(1, 11)
    low, high = mean_interval(sum(values), sum(v * v for v in values), 10)  # type: ignore[misc]
    assert (low + high) / 2 == pytest.approx(5.5) and high - low == pytest.approx(2 * 1.96 * 3.0277 / 10**0.5, rel=1e-3)
    assert mean_interval(1.0, 1.0, 1) is None
    # 30 of 1000 paired requests fail on the shadow only, 10 on the live variant only: +2 points
    low, high = paired_difference(30, 10, 1000)
    assert low < 0.02 < high and low > 0
    low, high = paired_difference(0, 0, 20)
    assert low < 0 < high  # no discordant pair in 20 is not "no difference, surely"


def test_a_report_from_counts() -> None:
    counts = ShadowCounts(
        pairs=100, rows=200, labelled=200, agreements=190, diffed=200, abs_diff_sum=2.0, abs_diff_sq=0.04,
        abs_diff={bucket(ABS_DIFF_BUCKETS, 0.01): 200}, latency_pairs=100,
        latency={bucket(LATENCY_BUCKETS_MS, 3.0): 100}, live_latency={bucket(LATENCY_BUCKETS_MS, 2.0): 100},
        delta_sum_ms=100.0, delta_sq_ms=101.0, shadow_failures=4, live_failures=1, both_failures=1,
    )  # fmt: skip
    report = build_shadow_report("s", "m:2", counts)
    assert report.agreement is not None and report.agreement.rate == 0.95
    assert report.abs_diff is not None and report.abs_diff.mean == 0.01 and report.abs_diff.histogram == {"0.01": 200}
    assert report.latency is not None and report.latency.mean_delta_ms == 1.0
    assert report.latency.shadow_p50_ms > report.latency.live_p50_ms  # type: ignore[operator]
    assert report.failures is not None and report.failures.delta == pytest.approx(0.03)
    empty = build_shadow_report("s", "m:2", ShadowCounts())
    assert (empty.pairs, empty.agreement, empty.abs_diff, empty.latency, empty.failures) == (0, None, None, None, None)
    assert report.model_dump(mode="json")["agreement"]["interval"][0] < 0.95
