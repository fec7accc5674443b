"""Hyperparameter tuning jobs: Optuna underneath, SageMaker's shape on top.

    spec.py      TuningSpec: objectives, search space, budget, the trial (flags, YAML or SageMaker's names)
    job.py       TuningJob and Trial records as every interface shows them
    front.py     feasibility, the Pareto front, the best trial (pure)
    store.py     jobs and trials in the registry database
    study.py     the Optuna study: sampler, pruner, rebuilt from recorded trials; importances
    trials.py    running one trial: a Python callable or a command template (worker side)
    serving.py   latency, size and parity of a trial's model as it would be served
    engines.py   worker processes on this machine, or tasks on a Dask cluster
    runner.py    one run of a job: the single writer of its trials
    service.py   create / run / resume / stop / register / export
    plots.py     optimisation history, importances, parallel coordinates, Pareto front (SVG in HTML)
"""
