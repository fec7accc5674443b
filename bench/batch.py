"""Batch transform benchmark: modelport (local and Dask) vs raw ONNX Runtime vs `mlflow models predict`.

    .venv/bin/python bench/batch.py --rows 1000000 10000000 --formats csv parquet

Data: N rows x 20 float features (CSV and Parquet, generated once into
bench/.cache).  Model: RandomForestClassifier(100 trees, max_depth 10)
trained on 20,000 rows, converted to ONNX and registered in a bench home.

Measured, each in its own process, wall time and peak RSS (the whole
process tree, sampled every 50 ms):

- ``modelport local``: ``modelport transform`` with the local engine;
- ``modelport dask``: ``--engine dask`` (a local in-process cluster);
- ``raw ORT``: ONNX Runtime on 2 threads over a preloaded float32 array
  (the ceiling the targets are stated against: no reading, parsing or writing);
- ``raw native trees``: modelport's own tree kernel (``runtimes/onnx_trees.py``,
  bit-identical to ONNX Runtime) over the same array, 2 batches at a time:
  what modelport's scoring itself can do without I/O;
- ``modelport local, ORT only``: the local engine with ``MODELPORT_NATIVE_TREES=0``;
- ``mlflow``: ``mlflow models predict`` on the same forest saved as
  scikit-learn, in its own venv under bench/.cache (never the project's).

Rows/s are end to end (process start to exit); "job rows/s" is what the job
itself records (reading, scoring, writing; no interpreter start-up or model
load).  Nothing here is asserted: the results go to bench/RESULTS.md.
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

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / ".cache" / "batch"
FEATURES = [f"f{i}" for i in range(20)]
CHUNK = 500_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--formats", nargs="+", default=["csv", "parquet"], choices=["csv", "parquet"])
    parser.add_argument("--engines", nargs="+", default=["local", "dask"], choices=["local", "dask"])
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--mlflow-max-rows", type=int, default=10_000_000, help="skip mlflow above this many rows")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-ort-only", dest="ort_only", action="store_false",
                        help="skip the local engine with ONNX Runtime alone (MODELPORT_NATIVE_TREES=0)")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    model = train()
    home = register(model)
    rows_out = []
    for n in args.rows:
        paths = {fmt: make_data(n, fmt) for fmt in args.formats}
        # This machine is shared: the ceiling is measured before and after the contenders, the best counts.
        before = raw_ort(n), raw_ort(n, parallel=True), raw_native(n)
        results = []
        for fmt, path in paths.items():
            for engine in args.engines:
                results.append((fmt, f"modelport {engine}", modelport(home, path, engine)))
                print(fmt, engine, results[-1][2], flush=True)
            if args.ort_only:
                results.append((fmt, "modelport local, ORT only", modelport(home, path, "local", native=False)))
        after = raw_ort(n), raw_ort(n, parallel=True), raw_native(n)
        ceiling, parallel, native = (min(b, a, key=lambda r: r["seconds"]) for b, a in zip(before, after, strict=True))
        rows_out.append(row(n, "-", "raw ORT, 2 intra-op threads (ceiling)", ceiling))
        rows_out.append(row(n, "-", "raw ORT, 2 batches x 1 thread", parallel, ceiling))
        rows_out.append(row(n, "-", "raw native trees, 2 batches x 1 thread", native, ceiling))
        rows_out.extend(row(n, fmt, what, r, ceiling) for fmt, what, r in results)
        print_table(rows_out)
        if not args.skip_mlflow and "csv" in paths and n <= args.mlflow_max_rows:
            rows_out.append(row(n, "csv", "mlflow models predict", mlflow(model, paths["csv"]), ceiling))
            print_table(rows_out[-1:])
    print_table(rows_out)
    write_results(args, rows_out)


# -- inputs ------------------------------------------------------------------------


def train() -> Path:
    path = CACHE / "forest.joblib"
    if path.exists():
        return path
    import joblib
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    x = rng.standard_normal((20_000, 20))
    y = (x[:, :5].sum(axis=1) + rng.standard_normal(20_000) > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0, n_jobs=2).fit(x, y)
    forest.n_jobs = None
    joblib.dump(forest, path)
    return path


def register(model: Path) -> Path:
    """A bench home with the forest as ONNX (its columns named f0…f19 by a sample)."""
    home = CACHE / "home"
    if (home / "modelport.db").exists():
        return home
    import joblib
    import pandas as pd
    from skl2onnx import to_onnx

    forest = joblib.load(model)
    onx = to_onnx(forest, np.zeros((1, 20), dtype=np.float32), options={"zipmap": False}, target_opset={"": 17, "ai.onnx.ml": 3})
    onnx_path = CACHE / "forest.onnx"
    onnx_path.write_bytes(onx.SerializeToString())
    sample = CACHE / "sample.csv"
    pd.DataFrame(np.random.default_rng(1).standard_normal((200, 20)).round(4), columns=FEATURES).to_csv(sample, index=False)
    sys.path.insert(0, str(REPO / "src"))
    from modelport.client import Client

    with Client(home=home) as client:
        client.models.register(onnx_path, "forest", sample=sample)
    return home


def make_data(n: int, fmt: str) -> Path:
    """N rows of 20 features, written in chunks (flat memory), once."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = CACHE / f"data-{n}.{fmt}"
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    rng = np.random.default_rng(n)
    writer = None
    with open(tmp, "wb") as fh:
        for start in range(0, n, CHUNK):
            size = min(CHUNK, n - start)
            table = pa.table({f: rng.standard_normal(size).round(4) for f in FEATURES})
            if fmt == "csv":
                pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=start == 0))
            else:
                writer = writer or pq.ParquetWriter(fh, table.schema)
                writer.write_table(table, row_group_size=131_072)
        if writer is not None:
            writer.close()
    tmp.rename(path)
    return path


# -- contenders --------------------------------------------------------------------


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run a command; wall time and the peak RSS of its process tree."""
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
    return {"seconds": wall, "rss_mb": peak / 2**20, "stdout": out.decode()}  # type: ignore[dict-item]


def modelport(home: Path, data: Path, engine: str, native: bool = True) -> dict[str, float]:
    out = CACHE / f"out-{engine}-{data.name}.csv"
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "modelport.cli.main", "transform", "forest:1", "-i", str(data), "-o", str(out),
           "--engine", engine, "--home", str(home), "--json"]
    result = measure(cmd, {"PYTHONPATH": str(REPO / "src"), "MODELPORT_NATIVE_TREES": "1" if native else "0"})
    job = json.loads(result.pop("stdout"))  # type: ignore[arg-type]
    result["job_rows_s"] = job["progress"]["records"] / job["progress"]["run_seconds"]
    out.unlink(missing_ok=True)
    return result


def raw_ort(n: int, parallel: bool = False) -> dict[str, float]:
    """The ceiling: ONNX Runtime over a preloaded float32 array, no I/O.

    ``parallel=False``: one session, 2 intra-op threads; ``True``: 2 batches at once, 1 thread each.
    """
    setup = f"""
import onnxruntime as ort
so = ort.SessionOptions(); so.intra_op_num_threads = {1 if parallel else 2}; so.inter_op_num_threads = 1
s = ort.InferenceSession(PATH, so, providers=["CPUExecutionProvider"])
s.run(None, {{"X": x[:100]}})
score = lambda c: s.run(None, {{"X": c}})
"""
    return _raw(n, setup, pool=2 if parallel else 1)


def raw_native(n: int) -> dict[str, float]:
    """modelport's tree kernel over the same preloaded array, two batches at a time (1 thread each)."""
    setup = """
import onnxruntime as ort
from modelport.runtimes.onnx_trees import native_forest
so = ort.SessionOptions(); so.intra_op_num_threads = 1  # as modelport's sessions: the trial compares with this one
score = native_forest(PATH, ort.InferenceSession(PATH, so, providers=["CPUExecutionProvider"]))
assert score is not None, "the forest is not scored natively"
"""
    return _raw(n, setup, pool=2)


def _raw(n: int, setup: str, pool: int) -> dict[str, float]:
    """Time ``score`` (defined by ``setup``) over a preloaded array in 32,768-row calls, ``pool`` at a time.

    At most 2M rows: the rate does not depend on N.
    """
    rows = min(n, 2_000_000)
    code = f"""
import time, numpy as np
from concurrent.futures import ThreadPoolExecutor
PATH = {str(CACHE / 'forest.onnx')!r}
x = np.random.default_rng(2).standard_normal(({rows}, 20)).round(4).astype(np.float32)
{setup}
chunks = [x[i:i + 32768] for i in range(0, len(x), 32768)]
t = time.perf_counter()
with ThreadPoolExecutor({pool}) as pool:
    list(pool.map(score, chunks))
print(time.perf_counter() - t)
"""
    result = measure([sys.executable, "-c", code], {"PYTHONPATH": str(REPO / "src")})
    seconds = float(result.pop("stdout"))  # type: ignore[arg-type]
    return {"seconds": seconds * n / rows, "rss_mb": result["rss_mb"], "job_rows_s": rows / seconds}


def mlflow(model: Path, data: Path) -> dict[str, float]:
    venv = CACHE / "mlflow-venv"
    py = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        import sklearn

        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "mlflow", f"scikit-learn=={sklearn.__version__}", "pandas"],
            check=True, stderr=subprocess.DEVNULL,
        )
        (venv / ".installed").touch()
    saved = CACHE / "mlflow-forest"
    if not saved.exists():
        subprocess.run(
            [str(py), "-c", "import joblib, mlflow.sklearn; mlflow.sklearn.save_model("
             f"joblib.load({str(model)!r}), {str(saved)!r}, serialization_format='cloudpickle')"],
            check=True,
        )
    out = CACHE / "mlflow-out.json"
    out.unlink(missing_ok=True)
    cmd = [str(venv / "bin" / "mlflow"), "models", "predict", "-m", str(saved), "-i", str(data), "-t", "csv",
           "-o", str(out), "--env-manager", "local"]
    result = measure(cmd)
    result.pop("stdout")
    out.unlink(missing_ok=True)
    return result


# -- report ------------------------------------------------------------------------


def row(n: int, fmt: str, what: str, r: dict[str, float], ceiling: dict[str, float] | None = None) -> dict[str, object]:
    rate = n / r["seconds"]
    out: dict[str, object] = {"rows": n, "format": fmt, "what": what, "seconds": r["seconds"], "rows_s": rate,
                              "job_rows_s": r.get("job_rows_s"), "rss_mb": r["rss_mb"]}
    if ceiling is not None:
        out["vs_ceiling"] = rate / (n / ceiling["seconds"])
        if r.get("job_rows_s"):
            out["job_vs_ceiling"] = r["job_rows_s"] / ceiling["job_rows_s"]
    return out


def table_lines(rows: list[dict[str, object]]) -> list[str]:
    lines = ["| rows | input | contender | seconds | rows/s (end to end) | job rows/s | vs ceiling (e2e / job) | peak RSS |",
             "|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        job = f"{r['job_rows_s']:,.0f}" if r.get("job_rows_s") and "modelport" in str(r["what"]) else ""
        vs = f"{r['vs_ceiling']:.0%}" if "vs_ceiling" in r else ""
        if "job_vs_ceiling" in r and "modelport" in str(r["what"]):
            vs += f" / {r['job_vs_ceiling']:.0%}"
        lines.append(f"| {r['rows']:,} | {r['format']} | {r['what']} | {r['seconds']:.1f} | {r['rows_s']:,.0f} | {job} | {vs} | {r['rss_mb']:.0f} MB |")
    return lines


def print_table(rows: list[dict[str, object]]) -> None:
    print("\n".join(table_lines(rows)), flush=True)


def write_results(args: argparse.Namespace, rows: list[dict[str, object]]) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python bench/batch.py " + " ".join(sys.argv[1:])
    section = [f"## Batch transform — {when}", "", f"`{command}` — {os.cpu_count()} cores", "", *table_lines(rows), ""]
    (CACHE / "last.json").write_text(json.dumps(rows, indent=1, default=str))
    print("\n".join(section))
    if not args.results.exists():
        args.results.write_text("# Benchmark results\n\n")
    with open(args.results, "a") as fh:
        fh.write("\n".join(section) + "\n")


if __name__ == "__main__":
    main()
