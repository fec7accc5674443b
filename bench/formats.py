"""Per-format prediction time: one row and 10,000 rows, every runtime modelport has.

    .venv/bin/python bench/formats.py [--rows 10000] [--repeat 200]

Each model is trained here on a dataset scikit-learn ships (iris for
classifiers, diabetes for regressors), registered in a throwaway home the way
users do it (so the served signature and runtime are the real ones), loaded,
warmed, and timed through ``LoadedModel.runtime.predict`` on a validated batch
— the model call a server or batch job makes, without HTTP.  It reports the
median over repeats (single row) and the best of a few runs (10k rows), plus
the same model in its original framework where that is meaningful, and appends
a table to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
console = Console()


def build(work: Path) -> dict[str, tuple[Path, Path, dict[str, object]]]:
    """name → (model file, sample csv, register options)."""
    import joblib
    import lightgbm as lgb
    import skops.io as sio
    import xgboost as xgb
    from nyoka import skl_to_pmml
    from sklearn.datasets import load_diabetes, load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_iris(return_X_y=True, as_frame=True)
    x.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    iris_csv = work / "iris.csv"
    x.to_csv(iris_csv, index=False)
    xd, yd = load_diabetes(return_X_y=True, as_frame=True)
    diab_csv = work / "diabetes.csv"
    xd.to_csv(diab_csv, index=False)
    out: dict[str, tuple[Path, Path, dict[str, object]]] = {}

    rf = RandomForestClassifier(100, random_state=0, n_jobs=1).fit(x, y)
    joblib.dump(rf, work / "rf.joblib")
    out["sklearn RandomForest(100)"] = (work / "rf.joblib", iris_csv, {})
    out["onnx RandomForest(100)"] = (work / "rf.joblib", iris_csv, {"to_onnx": True})
    lr = LogisticRegression(max_iter=1000).fit(x, y)
    joblib.dump(lr, work / "lr.joblib")
    out["sklearn LogisticRegression"] = (work / "lr.joblib", iris_csv, {})
    out["onnx LogisticRegression"] = (work / "lr.joblib", iris_csv, {"to_onnx": True})
    sio.dump(lr, work / "lr.skops")
    out["skops LogisticRegression"] = (work / "lr.skops", iris_csv, {})
    booster = xgb.XGBClassifier(n_estimators=100, max_depth=4, n_jobs=1).fit(x, y)
    booster.save_model(work / "xgb.json")
    out["xgboost (100 trees)"] = (work / "xgb.json", iris_csv, {})
    out["onnx from xgboost"] = (work / "xgb.json", iris_csv, {"to_onnx": True})
    gbm = lgb.LGBMClassifier(n_estimators=100, n_jobs=1, verbose=-1).fit(x, y)
    gbm.booster_.save_model(work / "lgb.txt")
    out["lightgbm (100 trees)"] = (work / "lgb.txt", iris_csv, {})
    tree = Pipeline([("m", DecisionTreeClassifier(max_depth=5, random_state=0).fit(x, y))])
    skl_to_pmml(tree, list(x.columns), "species", str(work / "tree.pmml"))
    out["pmml DecisionTree (nyoka)"] = (work / "tree.pmml", iris_csv, {})
    lin = LinearRegression().fit(xd, yd)
    doc = {
        "input": {"type": "record", "name": "Row", "fields": [{"name": c, "type": "double"} for c in xd.columns]},
        "output": "double",
        "cells": {"model": {"type": {"type": "record", "name": "Reg", "fields": [
            {"name": "coeff", "type": {"type": "array", "items": "double"}}, {"name": "const", "type": "double"}]},
            "init": {"coeff": lin.coef_.tolist(), "const": float(lin.intercept_)}}},
        "action": [{"model.reg.linear": [{"new": [f"input.{c}" for c in xd.columns], "type": {"type": "array", "items": "double"}}, {"cell": "model"}]}],
    }
    (work / "lin.pfa.json").write_text(json.dumps(doc))
    out["pfa linear regression"] = (work / "lin.pfa.json", diab_csv, {})
    try:
        import torch

        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
        torch.jit.save(torch.jit.script(net), str(work / "mlp.pt"))
        out["torch MLP → onnx"] = (work / "mlp.pt", iris_csv, {})
    except ImportError:
        console.print("[yellow]torch not installed: skipping the PyTorch row[/yellow]")
    return out


def timed(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def best(fn: Callable[[], object], runs: int = 5) -> float:
    return min(timed(fn, 1) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--no-results", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()

    from modelport.scoring import LoadedModel
    from modelport.services import Services
    from modelport.settings import Settings

    rows_out = []
    with tempfile.TemporaryDirectory(prefix="modelport-bench-formats-") as tmp:
        work = Path(tmp)
        models = build(work)
        svc = Services.open(Settings(home=work / "home"))
        try:
            for i, (label, (path, sample, options)) in enumerate(models.items()):
                mv = svc.registry.register(path, f"m{i}", sample=sample, **options)  # type: ignore[arg-type]
                loaded = LoadedModel.from_path(mv, svc.registry.artifact_path(mv))
                frame = pd.read_csv(sample)
                big = frame.sample(args.rows, replace=True, random_state=0).reset_index(drop=True)
                one = loaded.to_batch(frame.iloc[[0]])
                many = loaded.to_batch(big)
                runtime = loaded.runtime
                runtime.predict(one)
                t1 = timed(lambda runtime=runtime, one=one: runtime.predict(one), args.repeat)
                tn = best(lambda runtime=runtime, many=many: runtime.predict(many))
                rows_out.append((label, mv.format, t1 * 1e6, tn * 1e3, args.rows / tn))
                loaded.close()
        finally:
            svc.close()

    table = Table(title=f"Prediction time per format ({args.rows:,} rows; 1 thread per model)")
    for col in ("model", "served as", "1 row (µs)", f"{args.rows:,} rows (ms)", "rows/s"):
        table.add_column(col)
    for label, fmt, t1, tn, rps in rows_out:
        table.add_row(label, fmt, f"{t1:,.0f}", f"{tn:,.1f}", f"{rps:,.0f}")
    console.print(table)
    if args.no_results:
        return
    lines = [
        "",
        f"## Prediction time per format — {dt.date.today().isoformat()}",
        "",
        f"Command: `.venv/bin/python bench/formats.py --rows {args.rows} --repeat {args.repeat}` "
        f"({platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end, "
        f"Python {sys.version.split()[0]}). Model call only (validated batch → runtime.predict), median of "
        f"{args.repeat} single-row calls, best of 5 for {args.rows:,} rows.",
        "",
        f"| model | served as | 1 row (µs) | {args.rows:,} rows (ms) | rows/s |",
        "|---|---|---:|---:|---:|",
    ]
    lines += [f"| {label} | {fmt} | {t1:,.0f} | {tn:,.1f} | {rps:,.0f} |" for label, fmt, t1, tn, rps in rows_out]
    with open(ROOT / "bench" / "RESULTS.md", "a") as fh:
        fh.write("\n".join(lines) + "\n")
    console.print("appended to bench/RESULTS.md")


if __name__ == "__main__":
    main()
