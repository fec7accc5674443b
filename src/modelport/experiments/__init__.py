"""Experiments: A/B tests and bandits between an endpoint's variants (docs/experiments.md).

The service side:

- ``experiment``: Experiment, ExperimentSpec, ExperimentEvent (domain objects; the REST schema);
- ``metrics``: the metrics an experiment can measure, and where each comes from;
- ``readings``: each arm's numbers so far, from capture + feedback and the data plane's counters;
- ``judge``: one look, a pure function: readings in, report and decision out;
- ``store``: experiments and their events in the database;
- ``service``: start / show / list / stop, and the look that acts on a decision;
- ``evaluator``: the loop inside ``modelport server`` (one across all servers, by a lease).

The statistics:

- ``stats``: the statistics, pure functions of per-arm counters — sequential (mSPRT) and fixed-horizon
  tests, sample-ratio mismatch, guardrails, the decision policy;
- ``latency``: the fixed latency buckets the data plane counts on, quantiles and tail shares;
- ``bandit``: Thompson sampling weights.
"""
