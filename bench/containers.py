"""Container images: size above the base, `docker run` → first /invocations, warm build time.

    .venv/bin/python bench/containers.py [--runs 5] [--no-record]

Uses the test suite's private engine and Python 3.11 base (tests/containers/dockerd.py: a
dockerd with no bridge, a debootstrapped Debian 12 base cached under ~/.cache/modelport-test).
In a throwaway home it registers three iris models — a scikit-learn LogisticRegression served
as ONNX (``--to-onnx``), the same model served by scikit-learn, and a nyoka PMML tree — builds
each with ``modelport build`` (once to warm the engine's layer cache, then timed: the warm build),
then ``--runs`` times starts the image (``docker run -d --network host``) and polls
``POST /invocations`` every 20 ms: the time from the ``docker run`` call to the first 200.
Each image's answers are compared with ``modelport predict`` on the same rows.

Nothing is asserted; a section is appended to bench/RESULTS.md (``--no-record`` to only print).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import infra  # noqa: E402
from tests.containers import dockerd  # noqa: E402

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
TARGETS = {"onnx": 150, "sklearn": 250, "pmml": 350}  # MB above the base
#: python:3.11-slim's size as Docker Hub lists it (linux/amd64, uncompressed ~130 MB): for totals "on a slim base"
SLIM_BASE_MB = 130
PEERS = [
    ("`mlflow models build-docker`, small scikit-learn model (mlflow#5927)", "~3 GB"),
    ("MLServer, all runtimes", "3.7 GB"),
    ("MLServer, scikit-learn only", "0.93 GB"),
    ("Seldon Python wrapper", "1.9 GB"),
]


def cli(home: Path, engine: dockerd.DockerEngine, *args: str) -> str:
    env = {**os.environ, "MODELPORT_HOME": str(home), "PYTHONPATH": infra.PYTHONPATH, "DOCKER_HOST": engine.host}
    done = subprocess.run([sys.executable, "-m", "modelport.cli.main", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"modelport {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def prepare(home: Path, engine: dockerd.DockerEngine) -> tuple[dict[str, str], pd.DataFrame]:
    """Three registered versions (ONNX, scikit-learn, PMML); their refs by kind, and the rows to score."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_iris(return_X_y=True, as_frame=True)
    x.columns = FEATURES
    folder = home / "models"
    folder.mkdir(parents=True)
    joblib.dump(LogisticRegression(max_iter=500).fit(x.to_numpy(), y), folder / "iris.joblib")
    x.head(20).to_csv(folder / "sample.csv", index=False)
    cli(home, engine, "models", "register", str(folder / "iris.joblib"), "--name", "iris-onnx", "--to-onnx",
        "--sample", str(folder / "sample.csv"))  # fmt: skip
    cli(home, engine, "models", "register", str(folder / "iris.joblib"), "--name", "iris-sklearn",
        "--sample", str(folder / "sample.csv"))  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nyoka import skl_to_pmml

        pipe = Pipeline([("scale", StandardScaler()), ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))])
        skl_to_pmml(pipe.fit(x, y), FEATURES, "species", str(folder / "iris.pmml"))
    cli(home, engine, "models", "register", str(folder / "iris.pmml"), "--name", "iris-pmml")
    return {"onnx": "iris-onnx:1", "sklearn": "iris-sklearn:1", "pmml": "iris-pmml:1"}, x


def first_invocation(engine: dockerd.DockerEngine, tag: str, body: bytes) -> tuple[float, list[dict[str, object]]]:
    port = infra.free_port()
    url = f"http://127.0.0.1:{port}/invocations"
    started = time.monotonic()
    cid = engine.docker("run", "-d", "--network", "host", "-e", f"SAGEMAKER_BIND_TO_PORT={port}", tag,
                        "serve", "--host", "127.0.0.1").stdout.strip()  # fmt: skip
    try:
        while time.monotonic() - started < 120:
            try:
                r = httpx.post(url, content=body, headers={"content-type": "text/csv"}, timeout=10)
                if r.status_code == 200:
                    return time.monotonic() - started, r.json()["predictions"]
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise SystemExit(f"{tag} did not answer within 120 s")
    finally:
        engine.docker("rm", "-f", cid, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rows: list[dict[str, object]] = []
    with dockerd.engine_with_base() as engine, tempfile.TemporaryDirectory(prefix="bench-containers-") as tmp:
        home = Path(tmp)
        refs, x = prepare(home, engine)
        base_mb = int(engine.docker("image", "inspect", "--format", "{{.Size}}", engine.base).stdout) / 1e6
        x.to_csv(home / "rows.csv", index=False)
        body = x.to_csv(index=False, header=False).encode()
        for kind, ref in refs.items():
            tag = f"bench/{kind}:1"
            cli(home, engine, "build", ref, "--base", engine.base, "--tag", tag)  # warms the layer cache
            built = json.loads(cli(home, engine, "build", ref, "--base", engine.base, "--tag", tag, "--json"))
            times = []
            answers: list[dict[str, object]] = []
            for _ in range(args.runs):
                took, answers = first_invocation(engine, tag, body)
                times.append(took)
            out = home / f"{kind}.parquet"
            cli(home, engine, "predict", ref, "--input", str(home / "rows.csv"), "--output", str(out))
            expected = pd.read_parquet(out)
            got = pd.DataFrame(answers)
            same = list(got["label"] if "label" in got else got.iloc[:, 0]) == list(expected.iloc[:, 0])
            above = built["size_above_base"] / 1e6
            rows.append({
                "kind": kind, "above": above, "total_slim": above + SLIM_BASE_MB, "total": built["size"] / 1e6,
                "target": TARGETS[kind], "build": built["build_seconds"], "start_median": statistics.median(times),
                "start_min": min(times), "same": same,
            })  # fmt: skip
            print(f"{kind}: {above:.0f} MB above base, warm build {built['build_seconds']:.1f} s, "
                  f"first /invocations median {statistics.median(times):.2f} s, same answers as predict: {same}")  # fmt: skip
            engine.docker("rmi", tag, check=False)
    report = render(rows, base_mb, args.runs)
    print(report)
    if not args.no_record:
        with open(REPO / "bench" / "RESULTS.md", "a") as fh:
            fh.write("\n" + report)


def render(rows: list[dict[str, object]], base_mb: float, runs: int) -> str:
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## Container images — `bench/containers.py` — {now} (commit {commit})",
        "",
        "```bash",
        f".venv/bin/python bench/containers.py --runs {runs}",
        "```",
        "",
        f"2 cores shared with other work (load average {os.getloadavg()[0]:.1f} at the end of the run: start "
        "times on an idle machine are a fraction of these). Base: the tests' debootstrapped Debian 12 "
        f"with Python 3.11 ({base_mb:.0f} MB); *on a slim base* adds python:3.11-slim's ~{SLIM_BASE_MB} MB instead. "
        f"Start: `docker run -d` → first 200 from `POST /invocations` (150 iris rows, CSV), median of {runs}. "
        "Warm build: `modelport build` a second time (engine layer cache warm; the context is written anew).",
        "",
        "| image | above base | target | on a slim base | warm build | run → first /invocations (median / best) | answers = `modelport predict` |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['above']:.0f} MB | ≤ {r['target']} MB | {r['total_slim']:.0f} MB | {r['build']:.1f} s "
            f"| {r['start_median']:.2f} s / {r['start_min']:.2f} s | {'yes' if r['same'] else 'NO'} |"
        )
    lines += ["", "Peers, as published (issue 15): " + "; ".join(f"{name}: {size}" for name, size in PEERS) + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
