"""Experiments: A/B tests and bandits between an endpoint's variants (docs/experiments.md).

- ``experiment.py``: Experiment, ExperimentSpec, ExperimentEvent (domain objects; the REST schema);
- ``metrics.py``: the metrics an experiment can measure, and where each comes from;
- ``readings.py``: each arm's numbers so far, from capture + feedback and the data plane's counters;
- ``stats.py``: the statistics (always-valid p-values, confidence sequences, SRM, guardrails, Thompson);
- ``judge.py``: one look, a pure function: readings in, report and decision out;
- ``store.py``: experiments and their events in the database;
- ``service.py``: start / show / list / stop, and the look that acts on a decision;
- ``evaluator.py``: the loop inside ``modelport server`` (one across all servers, by a lease).
"""
