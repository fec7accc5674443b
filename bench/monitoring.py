"""Drift benchmark: modelport's monitor statistics vs Evidently's DataDriftPreset on planted drift.

    .venv/bin/python bench/monitoring.py [--reference 100000] [--current 1000000] [--skip-evidently] [--no-record]

Data (generated once into bench/.cache/monitoring, fixed seeds): a reference
and a current sample of 20 numeric (``f0``-``f19``) and 5 categorical
(``c0``-``c4``) features, as Parquet (row groups of 100k).  Drift is planted
in known features at known sizes (``PLANTED``): some large (PSI >= 0.2 on the
reference's 20 quantile bins), some small, the rest unchanged.  The harness
measures each planted shift's PSI itself (numpy, on the full data) and
classes it: ``large`` (PSI >= 0.2), ``small`` (a shift below that), ``none``.

Contenders, each in its own process; wall time from start to exit and peak
RSS of the process (sampled every 50 ms), plus the compute time each reports:

- ``modelport``: ``compute_baseline`` on the reference → ``Reference``, the
  current Parquet folded a row group (100k rows) at a time into one profile on
  the baseline's bins, ``drift.evaluate`` with the default config — what a
  monitor run does, minus reading capture JSONL;
- ``evidently``: ``Report([DataDriftPreset()])`` with its defaults on the two
  DataFrames, in its own venv under bench/.cache (Evidently 0.7 needs
  pandas < 3; the project pins pandas 3).

Targets (issue P8): >= 10x Evidently's speed; no false alarm on the unchanged
features at 1M rows; every planted drift of PSI >= 0.2 found.  A rich table
goes to the terminal and a markdown section is appended to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / ".cache" / "monitoring"
EVIDENTLY_VENV = CACHE / "evidently-venv"
NUMERIC = [f"f{i}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
PSI_EPSILON = 1e-4
ROW_GROUP = 100_000

# name → (baseline distribution, planted change in the current sample); "" = unchanged
PLANTED: dict[str, tuple[str, str]] = {
    "f0": ("normal(50, 10)", "mean +0.5 sd"),
    "f1": ("lognormal(3, 0.8)", "log-mean +0.6"),
    "f2": ("uniform(0, 100)", "shifted +15"),
    "f3": ("normal(0, 1)", "sd x1.5"),
    "f4": ("gamma(2, 3)", "20% stuck at 0"),
    "f5": ("poisson(4)", "rate 4 -> 5.5"),
    "f6": ("normal(50, 10)", "mean +0.2 sd"),
    "f7": ("lognormal(3, 0.8)", "log-mean +0.08"),
    "f8": ("normal(0, 1)", "sd x1.12"),
    "f9": ("uniform(0, 100)", "shifted +3"),
    "f10": ("normal(50, 10)", ""),
    "f11": ("lognormal(3, 0.8)", ""),
    "f12": ("uniform(0, 100)", ""),
    "f13": ("normal(0, 1)", ""),
    "f14": ("gamma(2, 3)", ""),
    "f15": ("poisson(4)", ""),
    "f16": ("exponential(5)", ""),
    "f17": ("normal(-20, 0.1)", ""),
    "f18": ("beta(2, 5)", ""),
    "f19": ("student-t(3)", ""),
    "c0": ("4 values 40/30/20/10%", "-> 15/30/25/30%"),
    "c1": ("10 values, uniform", "3 points moved a -> j"),
    "c2": ("6 values, uniform", "12% a new value"),
    "c3": ("50 values, zipf", ""),
    "c4": ("yes/no 70/30%", ""),
}


# -- data ----------------------------------------------------------------------------


def _numeric(name: str, n: int, rng, drift: bool):  # type: ignore[no-untyped-def]

    kind = PLANTED[name][0]
    change = PLANTED[name][1] if drift else ""
    if kind == "normal(50, 10)":
        shift = {"mean +0.5 sd": 5.0, "mean +0.2 sd": 2.0}.get(change, 0.0)
        return rng.normal(50 + shift, 10, n)
    if kind == "lognormal(3, 0.8)":
        shift = {"log-mean +0.6": 0.6, "log-mean +0.08": 0.08}.get(change, 0.0)
        return rng.lognormal(3 + shift, 0.8, n)
    if kind == "uniform(0, 100)":
        shift = {"shifted +15": 15.0, "shifted +3": 3.0}.get(change, 0.0)
        return rng.uniform(0, 100, n) + shift
    if kind == "normal(0, 1)":
        scale = {"sd x1.5": 1.5, "sd x1.12": 1.12}.get(change, 1.0)
        return rng.normal(0, scale, n)
    if kind == "gamma(2, 3)":
        values = rng.gamma(2, 3, n)
        if change:
            values[rng.random(n) < 0.2] = 0.0
        return values
    if kind == "poisson(4)":
        return rng.poisson(5.5 if change else 4, n)
    if kind == "exponential(5)":
        return rng.exponential(5, n)
    if kind == "normal(-20, 0.1)":
        return rng.normal(-20, 0.1, n)
    if kind == "beta(2, 5)":
        return rng.beta(2, 5, n)
    if kind == "student-t(3)":
        return rng.standard_t(3, n)
    raise AssertionError(kind)


def _categorical(name: str, n: int, rng, drift: bool):  # type: ignore[no-untyped-def]
    import numpy as np

    if name == "c0":
        return rng.choice(list("abcd"), n, p=[0.15, 0.3, 0.25, 0.3] if drift else [0.4, 0.3, 0.2, 0.1])
    if name == "c1":
        p = np.full(10, 0.1)
        if drift:
            p[0], p[9] = 0.07, 0.13
        return rng.choice(list("abcdefghij"), n, p=p)
    if name == "c2":
        values = rng.choice(list("abcdef"), n)
        if drift:
            values = values.astype(object)
            values[rng.random(n) < 0.12] = "unseen"
        return values
    if name == "c3":
        weights = 1.0 / np.arange(1, 51)
        return rng.choice([f"v{i:02d}" for i in range(50)], n, p=weights / weights.sum())
    if name == "c4":
        return rng.choice(["yes", "no"], n, p=[0.7, 0.3])
    raise AssertionError(name)


def make_data(reference_rows: int, current_rows: int) -> Path:
    """Reference and current Parquet files and the planted truth; generated once per size."""
    import numpy as np
    import pandas as pd

    where = CACHE / f"data-{reference_rows}-{current_rows}"
    if (where / "truth.json").exists():
        return where
    where.mkdir(parents=True, exist_ok=True)
    frames = {}
    for role, n, seed in (("reference", reference_rows, 1), ("current", current_rows, 2)):
        rng = np.random.default_rng(seed)
        columns = {name: _numeric(name, n, rng, role == "current") for name in NUMERIC}
        columns |= {name: np.asarray(_categorical(name, n, rng, role == "current")).astype(str) for name in CATEGORICAL}
        frame = pd.DataFrame(columns)
        frame.to_parquet(where / f"{role}.parquet", row_group_size=ROW_GROUP, index=False)
        frames[role] = frame
    truth = {
        name: measured_shift(frames["reference"][name], frames["current"][name], name in NUMERIC) for name in PLANTED
    }
    (where / "truth.json").write_text(json.dumps(truth, indent=1))
    return where


def measured_shift(reference, current, numeric: bool) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """PSI (and L-infinity) of the full samples: numbers on the reference's 20 quantile bins, categories
    on their values; independent of modelport's code."""
    import numpy as np

    if numeric:
        edges = np.unique(np.quantile(reference, np.linspace(0, 1, 21)[1:-1]))
        p = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1) / len(reference)
        q = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1) / len(current)
    else:
        values = sorted(set(reference) | set(current))
        p = reference.value_counts(normalize=True).reindex(values, fill_value=0).to_numpy()
        q = current.value_counts(normalize=True).reindex(values, fill_value=0).to_numpy()
    ps, qs = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    return {
        "psi": float(np.sum((qs - ps) * np.log(qs / ps))),
        "linf": float(np.abs(np.cumsum(p) - np.cumsum(q)).max() if numeric else np.abs(p - q).max()),
    }


# -- workers (run in their own process) ---------------------------------------------


def work_modelport(data: Path) -> dict[str, object]:
    started = time.perf_counter()
    import pyarrow.parquet as pq

    from modelport.baseline import compute_baseline
    from modelport.monitoring.drift import evaluate
    from modelport.monitoring.profiles import Profile, Reference, fold

    imported = time.perf_counter()
    reference = Reference.from_baseline(compute_baseline(pq.read_table(data / "reference.parquet").to_pandas()))
    baselined = time.perf_counter()
    total = Profile.empty(reference.binning)
    # a row group at a time (iter_batches reads ahead and held ~15 MB more per batch: not flat)
    current = pq.ParquetFile(data / "current.parquet", pre_buffer=False)
    for group in range(current.num_row_groups):
        batch = current.read_row_group(group, use_threads=False)
        columns = {name: batch.column(name).to_numpy(zero_copy_only=False) for name in batch.schema.names}
        total = total.merge(fold(columns, reference.binning, rows=batch.num_rows))
    folded = time.perf_counter()
    result = evaluate(reference, total)
    done = time.perf_counter()
    return {
        "rows": total.rows,
        "decisions": {f.name: f.status == "drift" for f in result.features},
        "values": {f.name: f.statistic for f in result.features},
        "methods": {f.name: f.decided_by for f in result.features},
        "p_adjusted": {f.name: f.statistics.get("p_adjusted") for f in result.features},
        "violations": [v.to_json() for v in result.violations],
        "seconds": {
            "import": imported - started,
            "baseline": baselined - imported,
            "fold": folded - baselined,
            "evaluate": done - folded,
            "compute": done - imported,
        },
    }


def work_evidently(data: Path) -> dict[str, object]:
    started = time.perf_counter()
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    imported = time.perf_counter()
    reference = pd.read_parquet(data / "reference.parquet")
    current = pd.read_parquet(data / "current.parquet")
    read = time.perf_counter()
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    done = time.perf_counter()
    decisions, values, methods = {}, {}, {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        name, method, threshold, value = config["column"], config["method"], config["threshold"], metric["value"]
        # Evidently: a p-value test drifts below its threshold, a distance at or above it
        decisions[name] = bool(value < threshold if "p_value" in method else value >= threshold)
        values[name], methods[name] = float(value), f"{method} ({threshold})"
    import evidently

    return {
        "version": evidently.__version__,
        "rows": len(current),
        "decisions": decisions,
        "values": values,
        "methods": methods,
        "seconds": {"import": imported - started, "read": read - imported, "compute": done - imported},
    }


# -- harness -------------------------------------------------------------------------


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, object]:
    """Run a command; wall time and peak RSS of its process tree (as bench/batch.py)."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - start
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["wall"] = wall
    result["rss_mb"] = peak / 2**20
    return result


def ensure_evidently() -> Path:
    py = EVIDENTLY_VENV / "bin" / "python"
    if not (EVIDENTLY_VENV / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(EVIDENTLY_VENV)], check=True)
        uv = Path(sys.executable).parent / "uv"
        subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(py), "evidently", "pandas<3"], check=True)
        (EVIDENTLY_VENV / ".installed").touch()
    return py


def classify(shift: dict[str, float], planted: str) -> str:
    if not planted:
        return "none"
    return "large" if shift["psi"] >= 0.2 else "small"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=100_000)
    parser.add_argument("--current", type=int, default=1_000_000)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    parser.add_argument("--worker", choices=["modelport", "evidently"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "modelport":
        print(json.dumps(work_modelport(args.data)))
        return
    if args.worker == "evidently":
        print(json.dumps(work_evidently(args.data)))
        return

    CACHE.mkdir(parents=True, exist_ok=True)
    data = make_data(args.reference, args.current)
    truth = json.loads((data / "truth.json").read_text())
    me = str(Path(__file__).resolve())
    runs = {
        "modelport": measure(
            [sys.executable, me, "--worker", "modelport", "--data", str(data)],
            {"PYTHONPATH": str(REPO / "src")},
        )
    }
    if not args.skip_evidently:
        runs["evidently"] = measure([str(ensure_evidently()), me, "--worker", "evidently", "--data", str(data)])
    report(args, truth, runs)


def report(args: argparse.Namespace, truth: dict[str, dict[str, float]], runs: dict[str, dict]) -> None:  # type: ignore[type-arg]
    sys.path.insert(0, str(HERE))
    from report import markdown_table, rich_table
    from rich.console import Console

    header = ["feature", "baseline", "planted", "PSI", "class"]
    for name in runs:
        header += [f"{name} statistic", f"{name}"]
    header.append("chi-square alone (BH p < 0.05)")
    rows = []
    score = {name: {"false_alarms": [], "missed_large": [], "found_small": []} for name in runs}
    for feature, (kind, planted) in PLANTED.items():
        cls = classify(truth[feature], planted)
        row = [feature, kind, planted or "-", f"{truth[feature]['psi']:.3f}", cls]
        for name, run in runs.items():
            drift = bool(run["decisions"].get(feature))
            value = run["values"].get(feature)
            row += [f"{value:.3f}" if value is not None else "-", "DRIFT" if drift else "ok"]
            if drift and cls == "none":
                score[name]["false_alarms"].append(feature)
            if not drift and cls == "large":
                score[name]["missed_large"].append(feature)
            if drift and cls == "small":
                score[name]["found_small"].append(feature)
        p = runs["modelport"]["p_adjusted"].get(feature)
        row.append("-" if p is None else ("would flag" if p < 0.05 else "no"))
        rows.append(row)
    methods = {name: sorted({str(m) for m in run["methods"].values()}) for name, run in runs.items()}

    summary_header = [
        "contender",
        "wall (s)",
        "compute (s)",
        "peak RSS",
        "false alarms",
        "missed PSI>=0.2",
        "small shifts flagged",
    ]
    summary = []
    for name, run in runs.items():
        s = score[name]
        summary.append(
            [
                name,
                f"{run['wall']:.1f}",
                f"{run['seconds']['compute']:.1f}",
                f"{run['rss_mb']:.0f} MB",
                ", ".join(s["false_alarms"]) or "none",
                ", ".join(s["missed_large"]) or "none",
                ", ".join(s["found_small"]) or "none",
            ]
        )
    targets = []
    mp = runs["modelport"]
    if "evidently" in runs:
        ev = runs["evidently"]
        wall, compute = ev["wall"] / mp["wall"], ev["seconds"]["compute"] / mp["seconds"]["compute"]
        targets.append(["≥ 10x Evidently's speed", f"{wall:.1f}x end to end, {compute:.1f}x compute", _met(wall >= 10)])
        targets.append(["peak RSS vs Evidently", f"{mp['rss_mb']:.0f} MB vs {ev['rss_mb']:.0f} MB", "-"])
    targets.append(
        [
            "no false alarm on unchanged features",
            ", ".join(score["modelport"]["false_alarms"]) or "none",
            _met(not score["modelport"]["false_alarms"]),
        ]
    )
    targets.append(
        [
            "every planted PSI ≥ 0.2 found",
            ", ".join(score["modelport"]["missed_large"]) or "all found",
            _met(not score["modelport"]["missed_large"]),
        ]
    )
    phases = ", ".join(f"{k} {v:.2f} s" for k, v in mp["seconds"].items())

    console = Console(width=max(Console().width, 170))
    console.print(rich_table("Drift decision per feature vs planted truth", header, rows))
    console.print(rich_table("Contenders", summary_header, summary))
    console.print(rich_table("Targets", ["target", "measured", "met"], targets))
    console.print(f"modelport phases: {phases}")
    console.print(f"methods: {json.dumps(methods)}")
    if args.no_record:
        return
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    command = "python bench/monitoring.py " + " ".join(sys.argv[1:])
    section = [
        "",
        f"## Drift monitoring — {when} (commit {commit})",
        "",
        f"`{command}` — {os.cpu_count()} cores; reference {args.reference:,} rows, current {args.current:,} rows, "
        f"20 numeric + 5 categorical features; modelport folds a row group ({ROW_GROUP:,} rows) at a time.",
        "",
        markdown_table(["target", "measured", "met"], targets),
        "",
        markdown_table(summary_header, summary),
        "",
        f"Evidently {runs['evidently'].get('version', '?')} in its own venv (pandas < 3). "
        if "evidently" in runs
        else "",
        f"modelport phases: {phases}. Deciding statistics: "
        + "; ".join(f"{name}: {', '.join(m)}" for name, m in methods.items())
        + ".",
        "",
        markdown_table(header, rows),
        "",
    ]
    with open(args.results, "a") as fh:
        fh.write("\n".join(section) + "\n")


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    main()
