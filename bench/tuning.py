"""Tuning jobs against a bare Optuna loop: overhead per trial, identical trials, parallel speed-up, TPE vs random.

    .venv/bin/python bench/tuning.py [--trials 30] [--seeds 5] [--curve-trials 40] [--no-record]

The problem: a decision tree on scikit-learn's breast-cancer data (all 30
features, a fixed 70/30 split), validation ROC AUC, over four parameters
(max_depth int 1-20, min_samples_leaf int 1-50 log, max_features float
0.1-1, criterion cat gini/entropy/log_loss).

1. *Overhead per trial*: the same sampler (TPE) and seed, run by a bare
   ``study.optimize`` loop and by a modelport job (``--parallel 1``, SQLite
   home).  The trial times itself (``fn_s``) and that time is subtracted from
   both walls, so a loaded machine's slower trials do not count; each is run
   for N and 2N trials and the slope (extra time per extra trial) removes
   fixed costs (the worker process start, imports).  The difference of slopes
   is what modelport adds per trial: the trial handed to a worker process and
   back, the turn's database write, the runner's beat.
   The trial sequences are compared parameter by parameter.
2. *Parallel*: ``--parallel 1`` against ``--parallel 2`` (random sampler, so
   the sequence does not depend on timing), for a CPU-bound trial (a 40-tree
   forest, same parameters) and a trial that waits 0.1 s.
3. *TPE vs random*: best-so-far validation AUC after k trials, mean over seeds
   (bare Optuna loops: step 1 shows they are the trials modelport runs).

A markdown section is appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PARAMS = [
    "max_depth=int:1:20",
    "min_samples_leaf=int:1:50:log",
    "max_features=float:0.1:1",
    "criterion=cat:gini,entropy,log_loss",
]
_DATA: Any = None
#: job name → seconds from the first trial's end to the last trial's end (start-up and imports left out)
STEADY: dict[str, float] = {}


def _steady(job: Any) -> float:
    ends = sorted(t.finished_at for t in job.trials if t.finished_at is not None)
    return (ends[-1] - ends[0]).total_seconds() if len(ends) > 1 else 0.0


def _data() -> Any:
    global _DATA
    if _DATA is None:
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split

        X, y = load_breast_cancer(return_X_y=True)
        _DATA = train_test_split(X, y, test_size=0.3, random_state=0)
    return _DATA


def objective(params: dict[str, Any], report: Any = None) -> dict[str, float]:
    """The trial: modelport calls it with (params, report); the bare loop with the trial's params."""
    from sklearn.metrics import roc_auc_score
    from sklearn.tree import DecisionTreeClassifier

    t0 = time.perf_counter()
    X_train, X_val, y_train, y_val = _data()
    model = DecisionTreeClassifier(random_state=0, **params).fit(X_train, y_train)
    auc = float(roc_auc_score(y_val, model.predict_proba(X_val)[:, 1]))
    return {"val_auc": auc, "fn_s": time.perf_counter() - t0}  # the trial's own time, subtracted below


def forest(params: dict[str, Any], report: Any = None) -> dict[str, float]:
    """A heavier trial for the parallel comparison: a 40-tree random forest (about 0.2 s a trial here)."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score

    X_train, X_val, y_train, y_val = _data()
    model = RandomForestClassifier(n_estimators=40, n_jobs=1, random_state=0, **params).fit(X_train, y_train)
    return {"val_auc": float(roc_auc_score(y_val, model.predict_proba(X_val)[:, 1]))}


def sleepy(params: dict[str, Any], report: Any = None) -> dict[str, float]:
    """A trial that waits 0.1 s (I/O, a remote call): what the engine does when cores are not the limit."""
    time.sleep(0.1)
    return {"val_auc": 1.0 / (1.0 + abs(params["max_depth"] - 7))}


def plain_processes(trials: int, processes: int) -> float:
    """The machine's own ceiling: ``trials`` forest fits split over plain Python processes (no modelport), wall seconds."""
    import subprocess

    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import tuning; tuning._data(); "
        f"[tuning.forest({{'max_depth': 10, 'min_samples_leaf': 2, 'max_features': 0.5, 'criterion': 'gini'}}) "
        f"for _ in range({trials // processes})]"
    )
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(processes)]
    for proc in procs:
        proc.wait()
    return time.perf_counter() - t0


def _sampler(kind: str, seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed) if kind == "tpe" else optuna.samplers.RandomSampler(seed=seed)


def bare(trials: int, seed: int, kind: str = "tpe") -> tuple[float, list[dict[str, Any]], list[float]]:
    """A plain Optuna loop: wall seconds less the trials' own time, the trials' params, their values."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def run(trial: Any) -> float:
        params = {
            "max_depth": trial.suggest_int("max_depth", 1, 20),
            "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 50, log=True),
            "max_features": trial.suggest_float("max_features", 0.1, 1.0),
            "criterion": trial.suggest_categorical("criterion", ["gini", "entropy", "log_loss"]),
        }
        out = objective(params)
        spent.append(out["fn_s"])
        return out["val_auc"]

    spent: list[float] = []
    study = optuna.create_study(direction="maximize", sampler=_sampler(kind, seed))
    t0 = time.perf_counter()
    study.optimize(run, n_trials=trials)
    wall = time.perf_counter() - t0
    return wall - sum(spent), [t.params for t in study.trials], [t.value for t in study.trials]


def modelport_job(
    home: Path, name: str, trials: int, seed: int, *, parallel: int = 1, strategy: str = "bayesian", trial: str = "objective"
) -> tuple[float, list[dict[str, Any]]]:
    """A modelport tuning job run in this process (its trials in worker processes): wall seconds (less the
    trials' own time when they report it), params."""
    from modelport.services import Services
    from modelport.settings import Settings
    from modelport.tuning.spec import TuningSpec

    services = Services.open(Settings(home=home))
    try:
        spec = TuningSpec.build(
            name=name, objectives=["val_auc:max"], params=PARAMS, trials=trials, parallel=parallel, seed=seed,
            strategy=strategy, trial=f"tuning:{trial}", workdir=str(HERE),
        )  # fmt: skip
        services.tuning.create(spec, created_by="bench")
        t0 = time.perf_counter()
        job = services.tuning.run(name)
        wall = time.perf_counter() - t0
        assert job.status == "completed", job.failure_reason
        STEADY[name] = _steady(job)
        return wall - sum(t.metrics.get("fn_s", 0.0) for t in job.trials), [t.params for t in job.trials]
    finally:
        services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30, help="N for the overhead slope (N and 2N trials)")
    parser.add_argument("--parallel-trials", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5, help="runs of each overhead measurement (median)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--curve-trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from report import markdown_table, rich_table
    from revisions import revision

    from modelport.cli.common import console

    started = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    n = args.trials
    home = Path(tempfile.mkdtemp(prefix="modelport-bench-tuning-"))
    _data()
    bare(3, 0)  # warm: imports, the dataset

    # 1. overhead per trial and identical sequences (each wall time: the median of --repeats runs)
    reps = args.repeats
    runs: list[tuple[Any, Any, Any, Any]] = []
    for i in range(reps):  # interleaved, so both see the same load on a shared machine
        runs.append(
            (bare(n, args.seed), modelport_job(home, f"n-{i}", n, args.seed), bare(2 * n, args.seed), modelport_job(home, f"2n-{i}", 2 * n, args.seed))
        )
    b1, b1_params = statistics.median(r[0][0] for r in runs), runs[0][0][1]
    m1, m1_params = statistics.median(r[1][0] for r in runs), runs[0][1][1]
    b2, b2_params = statistics.median(r[2][0] for r in runs), runs[0][2][1]
    m2, m2_params = statistics.median(r[3][0] for r in runs), runs[0][3][1]
    same = b1_params == m1_params and b2_params == m2_params and all(r[1][1] == m1_params and r[3][1] == m2_params for r in runs)
    bare_slope = (b2 - b1) / n
    mp_slope = (m2 - m1) / n
    overhead_ms = (mp_slope - bare_slope) * 1000
    fixed_s = m1 - b1 - overhead_ms / 1000 * n
    trial_ms = 1000 * statistics.median(objective(p)["fn_s"] for p in b1_params)
    budget_ms = max(5.0, 0.05 * (trial_ms + bare_slope * 1000))
    overhead_rows = [
        ["bare Optuna loop (sampler, bookkeeping)", f"{b1:.2f}", f"{b2:.2f}", f"{bare_slope * 1000:.1f}", ""],
        ["modelport job (--parallel 1, SQLite)", f"{m1:.2f}", f"{m2:.2f}", f"{mp_slope * 1000:.1f}", f"{fixed_s:.2f}"],
    ]
    console.print(rich_table(f"overhead per trial: {overhead_ms:.1f} ms (target <= {budget_ms:.1f} ms); identical trials: {same}",
                             ["", f"{n} trials s", f"{2 * n} trials s", "ms per trial", "fixed s"], overhead_rows))  # fmt: skip

    # 2. parallel
    p = args.parallel_trials
    parallel_rows = []
    for trial, label in (("forest", "40-tree forest (CPU-bound)"), ("sleepy", "0.1 s wait (not CPU-bound)")):
        s1, _ = modelport_job(home, f"serial-{trial}", p, args.seed, parallel=1, strategy="random", trial=trial)
        s2, _ = modelport_job(home, f"parallel-{trial}", p, args.seed, parallel=2, strategy="random", trial=trial)
        st1, st2 = STEADY[f"serial-{trial}"], STEADY[f"parallel-{trial}"]
        parallel_rows.append([label, f"{s1:.2f}", f"{s2:.2f}", f"{s1 / s2:.2f}x", f"{st1:.2f}", f"{st2:.2f}", f"{st1 / st2:.2f}x"])
    c1, c2 = plain_processes(p, 1), plain_processes(p, 2)
    parallel_rows.append(["forest, plain processes (the machine's ceiling)", f"{c1:.2f}", f"{c2:.2f}", f"{c1 / c2:.2f}x", "", "", ""])
    parallel_header = ["trial", "--parallel 1 wall s", "--parallel 2 wall s", "speed-up", "steady 1 s", "steady 2 s", "steady speed-up"]
    console.print(rich_table(f"{p} trials, random sampler", parallel_header, parallel_rows))

    # 3. TPE vs random, best so far (mean over seeds)
    import numpy as np

    ks = [k for k in (5, 10, 20, 30, 40, 60, 80) if k <= args.curve_trials]
    curves: dict[str, list[float]] = {}
    for kind in ("tpe", "random"):
        best = []
        for s in range(args.seeds):
            _, _, values = bare(args.curve_trials, args.seed + s, kind)
            best.append(np.maximum.accumulate(values))
        mean = np.mean(best, axis=0)
        curves[kind] = [float(mean[k - 1]) for k in ks]
    curve_rows = [[str(k), f"{curves['tpe'][i]:.4f}", f"{curves['random'][i]:.4f}"] for i, k in enumerate(ks)]
    console.print(rich_table(f"best-so-far val AUC, mean of {args.seeds} seeds", ["trials", "TPE", "random"], curve_rows))

    load_after = os.getloadavg()[0]
    if args.no_record:
        return
    cmd = "python bench/tuning.py " + " ".join(sys.argv[1:])
    section = [
        f"## Tuning jobs — {started:%Y-%m-%d %H:%M} UTC (commit {revision()})",
        "",
        "```bash",
        f".venv/bin/{cmd.strip()}",
        "```",
        "",
        "Decision tree on scikit-learn's breast-cancer data (30 features, 70/30 split), validation ROC AUC; "
        "4 parameters (int, int log, float, categorical). 2 cores shared with other work: load average "
        f"{load_before:.1f} before, {load_after:.1f} after.",
        "",
        f"**Overhead per trial** (TPE, seed {args.seed}; slope between {n} and {2 * n} trials, so the worker's start "
        f"and imports are left out; they are the *fixed* column): **{overhead_ms:.1f} ms** per trial against a target "
        f"of {budget_ms:.1f} ms (5 ms or 5 % of a trial, whichever is larger; a trial here is ~{trial_ms:.0f} ms of fitting "
        f"plus {bare_slope * 1000:.1f} ms of Optuna). Columns: wall time less the trials' own time. "
        f"Wall times are medians of {reps} runs. Identical trial sequences (same sampler and seed, parameter by parameter, {n} and {2 * n} trials): **{same}**.",
        "",
        markdown_table(["", f"{n} trials (s)", f"{2 * n} trials (s)", "ms per trial", "fixed (s)"], overhead_rows),
        "",
        "*fixed*: the worker's start and its imports (scikit-learn), once per job and worker.",
        "",
        f"**Parallel trials** ({p} trials, random sampler; *wall*: the job, worker start and imports included; "
        "*steady*: from the first trial's end to the last's):",
        "",
        markdown_table(parallel_header, parallel_rows),
        "",
        f"**TPE vs random**: best validation AUC so far, mean over {args.seeds} seeds:",
        "",
        markdown_table(["trials", "TPE", "random"], curve_rows),
        "",
    ]
    with args.results.open("a") as f:
        f.write("\n" + "\n".join(section))
    console.print(f"appended to {args.results}")


if __name__ == "__main__":
    main()
