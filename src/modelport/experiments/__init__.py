"""Experiments: A/B tests and bandits between an endpoint's variants (docs/experiments.md).

- ``stats``: the statistics, pure functions of per-arm counters — sequential (mSPRT) and fixed-horizon
  tests, sample-ratio mismatch, guardrails, the decision policy;
- ``latency``: the fixed latency buckets the data plane counts on, quantiles and tail shares;
- ``bandit``: Thompson sampling weights.
"""
