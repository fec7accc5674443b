"""Tallied observations reach Prometheus exactly as direct observations would."""

from __future__ import annotations

import uuid

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from modelport.metrics import LATENCY_BUCKETS, LatencyTally
from modelport.serving.dataplane import RequestIds


def test_tally_drained_equals_direct_observe() -> None:
    values = [0.0, 0.0005, 0.0005001, 0.003, 0.01, 0.7, 59.9, 60.0, 61.0, 1e9]
    direct_reg, tallied_reg = CollectorRegistry(), CollectorRegistry()
    direct = Histogram("lat", "x", ["v"], buckets=LATENCY_BUCKETS, registry=direct_reg).labels("a")
    tallied = Histogram("lat", "x", ["v"], buckets=LATENCY_BUCKETS, registry=tallied_reg).labels("a")
    tally = LatencyTally()
    for v in values:
        direct.observe(v)
        tally.observe(v)
    tally.drain_into(tallied)
    tally.drain_into(tallied)  # drained once: a second drain adds nothing
    strip = lambda text: b"\n".join(ln for ln in text.splitlines() if b"_created" not in ln)  # noqa: E731
    assert strip(generate_latest(tallied_reg)) == strip(generate_latest(direct_reg))
    assert b'lat_bucket{le="0.0005",v="a"} 2.0' in generate_latest(tallied_reg)


def test_request_ids_are_unique_uuid_strings() -> None:
    ids = RequestIds()
    got = [ids.next() for _ in range(1000)]
    assert len(set(got)) == 1000
    assert all(str(uuid.UUID(i)) == i for i in got)
    assert RequestIds().next()[:24] != got[0][:24]
