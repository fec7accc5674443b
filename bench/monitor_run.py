"""Monitor run benchmark: a first ``monitors run`` over a window of captured traffic, then a rerun.

    .venv/bin/python bench/monitor_run.py [--records 1000000] [--files 1000] [--formats csv json]
                                          [--baseline REV] [--runs 1] [--profile] [--no-record]

Capture (generated once into ``bench/.cache/monitor_run/``, fixed seeds):
``--records`` one-row requests to a 20-feature classifier (scikit-learn's
logistic regression, registered with its 5,000-row training sample as the
baseline), written in ``--files`` files of one capture folder tree exactly as
the data plane writes them: each line by ``serving/capture.py``'s
``RecordEncoder`` from a ``CaptureEvent`` (so the format cannot drift from
the writer's), files joined as ``CaptureWriter`` joins them, one file per
minute of inference time.  Bodies as the data plane sees and answers them:

- ``csv``: ``text/csv`` requests (one line of 20 numbers, as pandas'
  ``to_csv`` writes them), replies ``encode_response(…, "text/csv")``;
- ``json``: ``{"instances": [[…20 numbers…]]}`` (the SDK's body), replies
  ``encode_response(…, "application/json")`` (``{"predictions": [{"label": …,
  "probabilities": […]}]}``).

Each contender (this checkout, and ``--baseline REV``: ``src/`` of a git
revision exported with ``git archive``, first on ``PYTHONPATH``) gets a fresh
home per run, set up by its own code (model, endpoint capturing to the
generated folder, monitor), then two processes: the first run (folds every
file) and a rerun of the same window (folds reused).  Reported per process:
wall time of ``client.monitors.run`` (imports excluded), peak RSS (sampled
every 5 ms; ``ru_maxrss`` would carry the parent's over ``exec``), and where
the time goes: the functions named in ``PHASES`` (of either revision) are
wrapped with timers, each phase getting its functions' own time.  With
``--profile`` the first run of each contender also writes a cProfile listing
to ``bench/.cache/monitor_run/``.

The contenders' results (every feature's statistics, the rows, the
undecodable records, the label-free estimate from the predictions table) are
compared: a speed-up must not change a number.  Contenders alternate run by
run, so a drift in the machine's load touches both alike; the ratio is taken
pair by pair.  Nothing is asserted; a section is appended to bench/RESULTS.md
(``--no-record`` to only print).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from revisions import export, revision  # noqa: E402 (bench/ on the path first)

CACHE = HERE / ".cache" / "monitor_run"
FEATURES = [f"f{i}" for i in range(20)]
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
ENDPOINT, VARIANT, MONITOR = "bench", "a", "bench-drift"
SAMPLE_EVERY = 0.005

#: phase → functions (module, qualified name) whose own time (less that of marked functions they call) is the phase's
PHASES: dict[str, list[tuple[str, str]]] = {
    "read files": [("modelport.monitoring.capture", "CaptureLocation.read")],
    "parse capture lines": [
        ("modelport.monitoring.records", "parse_files"),
        ("modelport.monitoring.capture", "parse_records"),
    ],
    "decode requests": [
        ("modelport.monitoring.inputs", "InputDecoder.decode"),
        ("modelport.monitoring.payloads", "InputDecoder.decode"),
    ],
    "decode replies": [
        ("modelport.monitoring.replies", "OutputDecoder.decode"),
        ("modelport.monitoring.payloads", "OutputDecoder.decode"),
    ],
    "fold": [("modelport.monitoring.profiles", "fold_groups")],
    "predictions table": [("modelport.monitoring.capture", "_predictions")],
    "store folds": [("modelport.monitoring.store", "MonitorStore.save_folds")],
    "window (read folds, merge)": [
        ("modelport.monitoring.store", "MonitorStore.folds"),
        ("modelport.monitoring.profiles", "merge_all"),
    ],
    "quality, estimate": [("modelport.monitoring.service", "MonitorService._variant_extras")],
    "report, alerts": [
        ("modelport.monitoring.service", "MonitorService._write_report"),
        ("modelport.monitoring.service", "MonitorService._after_run"),
        ("modelport.monitoring.drift", "evaluate"),
    ],
}


# -- data ----------------------------------------------------------------------------


def _features(n: int, rng: Any, shifted: bool) -> Any:
    import numpy as np
    import pandas as pd

    columns = {}
    for i, name in enumerate(FEATURES):
        kind = i % 5
        if kind == 0:
            values = rng.normal(50, 10, n) + (5 if shifted and i == 0 else 0)
        elif kind == 1:
            values = rng.lognormal(3, 0.8, n)
        elif kind == 2:
            values = rng.uniform(0, 100, n) + (15 if shifted and i == 2 else 0)
        elif kind == 3:
            values = rng.normal(0, 1, n) * (1.5 if shifted and i == 3 else 1)
        else:
            values = rng.poisson(4, n).astype(np.float64)
        columns[name] = np.round(values, 4)
    return pd.DataFrame(columns)


def make_model(folder: Path) -> tuple[Path, Path]:
    """(model file, training sample CSV) of a 20-feature logistic regression."""
    model, sample = folder / "clf.joblib", folder / "train.csv"
    if model.exists() and sample.exists():
        return model, sample
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    folder.mkdir(parents=True, exist_ok=True)
    frame = _features(5000, np.random.default_rng(1), shifted=False)
    labels = ((frame["f0"] - 50) / 10 + (frame["f3"]) - (frame["f2"] - 50) / 30 > 0).astype(int)
    joblib.dump(LogisticRegression(max_iter=2000).fit(frame, labels), model)
    frame.to_csv(sample, index=False)
    return model, sample


def make_capture(fmt: str, records: int, files: int) -> Path:
    """The capture folder tree of ``records`` one-row requests in ``files`` files (cached)."""
    root = CACHE / f"{fmt}-{records}-{files}"
    if (root / ".complete").exists():
        return root
    import joblib
    import numpy as np
    import orjson

    sys.path.insert(0, str(REPO / "src"))
    from modelport.endpoints.config import CaptureConfig
    from modelport.serving.capture import CaptureEvent, RecordEncoder
    from modelport.serving.codecs.response import encode_response

    shutil.rmtree(root, ignore_errors=True)
    model_file, _ = make_model(CACHE / "model")
    model = joblib.load(model_file)
    frame = _features(records, np.random.default_rng(2), shifted=True)
    proba = model.predict_proba(frame)
    labels = model.classes_[proba.argmax(axis=1)]
    classes = model.classes_.tolist()
    if fmt == "csv":
        bodies = [line.encode() for line in frame.to_csv(index=False, header=False).splitlines()]
        in_type, accept = "text/csv", "text/csv"
    else:
        bodies = [orjson.dumps({"instances": [row]}) for row in frame.to_numpy().tolist()]
        in_type, accept = "application/json", "application/json"
    config = CaptureConfig(enabled=True)
    encoder = RecordEncoder()
    per_file = records // files
    for k in range(files):
        start = T0 + timedelta(minutes=k)
        lines = []
        for j in range(k * per_file, (k + 1) * per_file if k < files - 1 else records):
            at = start.timestamp() + (j - k * per_file) * 60 / per_file
            reply, reply_type = encode_response(
                {"label": labels[j : j + 1], "probabilities": proba[j : j + 1]}, accept, classes
            )
            event = CaptureEvent(ENDPOINT, VARIANT, config, bodies[j], in_type, reply, reply_type, f"req-{j:012d}", at)
            lines.append(encoder.line(event))
        folder = root / ENDPOINT / VARIANT / encoder.hour(event)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{start:%Y%m%dT%H%M%S}-{k:08x}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        if k % 100 == 99:
            print(f"  {fmt}: {k + 1}/{files} files", flush=True)
    (root / ".complete").touch()
    return root


def window(records: int, files: int) -> tuple[datetime, datetime]:
    return T0, T0 + timedelta(minutes=files + 60)


# -- workers (run in a contender's own process) -------------------------------------------


def work_setup(home: Path, capture: Path) -> dict[str, Any]:
    from modelport.client import Client
    from modelport.settings import Settings

    model, sample = make_model(CACHE / "model")
    client = Client(settings=Settings(home=home))
    try:
        client.models.register(model, "clf", sample=sample)
        client.endpoints.create(ENDPOINT, [f"{VARIANT}=clf:1:100"], capture=100, capture_destination=str(capture))
        client.monitors.create(MONITOR, ENDPOINT, variant=VARIANT)
    finally:
        client.close()
    return {}


class PhaseTimers:
    """Times the functions of ``PHASES`` (wrapped where they are defined and wherever they were imported):
    each phase gets its functions' own time, less that of marked functions they call."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.aside: set[str] = set()
        """Phases that ran (also) outside the main thread: alongside the others, not in turn."""
        self._local = threading.local()

    def install(self) -> None:
        import importlib

        for phase, marks in PHASES.items():
            for module_name, qualname in marks:
                try:
                    module = importlib.import_module(module_name)
                except ImportError:
                    continue  # a module of another revision
                owner: Any = module
                *path, name = qualname.split(".")
                for part in path:
                    owner = getattr(owner, part, None)
                original = getattr(owner, name, None) if owner is not None else None
                if original is None:
                    continue
                timed = self._wrap(phase, original)
                setattr(owner, name, timed)
                if owner is module:  # ``from … import name`` elsewhere
                    for other in list(sys.modules.values()):
                        if (
                            getattr(other, "__name__", "").startswith("modelport")
                            and getattr(other, name, None) is original
                        ):
                            setattr(other, name, timed)

    def _wrap(self, phase: str, fn: Any) -> Any:
        import functools

        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            stack = self._local.__dict__.setdefault("stack", [])
            start = time.perf_counter()
            stack.append([0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                (inner,) = stack.pop()
                total = time.perf_counter() - start
                self.seconds[phase] = self.seconds.get(phase, 0.0) + total - inner
                if threading.current_thread() is not threading.main_thread():
                    self.aside.add(phase)
                if stack:
                    stack[-1][0] += total

        return timed


class PeakMemory:
    """The largest resident set of this process while inside (sampled every 5 ms; ``ru_maxrss`` would carry the
    parent's peak over ``exec`` on Linux)."""

    def __init__(self) -> None:
        self.mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.mb = max(self.mb, _rss_mb())

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self.mb = max(self.mb, _rss_mb())


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def work_run(home: Path, since: datetime, until: datetime, profile: Path | None) -> dict[str, Any]:
    import modelport.monitoring.service  # noqa: F401  (every module the phases name)
    from modelport.client import Client
    from modelport.settings import Settings

    timers = PhaseTimers()
    timers.install()
    peak = PeakMemory()
    client = Client(settings=Settings(home=home))
    try:
        profiler = None
        if profile is not None:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started, cpu = time.perf_counter(), time.process_time()
        with peak:
            run = client.monitors.run(MONITOR, since=since, until=until)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if profiler is not None:
            import pstats

            profiler.disable()
            with open(profile, "w") as fh:
                pstats.Stats(profiler, stream=fh).sort_stats("tottime").print_stats(60)
    finally:
        client.close()
    if run.status != "completed":
        raise SystemExit(f"the run failed: {run.error}")
    section = run.result["variants"][VARIANT]
    return {
        "seconds": seconds,
        "cpu": cpu,
        "rss_mb": peak.mb,
        "phases": {
            **timers.seconds,
            "other": seconds - sum(v for k, v in timers.seconds.items() if k not in timers.aside),
        },
        "aside": sorted(timers.aside),
        "files": section["files"],
        "rows": section["rows"],
        "undecodable": section["undecodable"],
        "result": {k: section.get(k) for k in ("rows", "undecodable", "errors", "features", "violations", "estimate")},
    }


# -- harness -----------------------------------------------------------------------------


def worker(src: Path, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
    env["PYTHONPATH"] = str(src)
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"worker {' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--formats", nargs="+", default=["csv", "json"], choices=["csv", "json"])
    parser.add_argument("--baseline", default="none", help="git revision to compare with ('none': this checkout only)")
    parser.add_argument("--runs", type=int, default=1, help="first runs (and reruns) of each contender per format")
    parser.add_argument("--profile", action="store_true", help="also write a cProfile listing of one first run")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-record", dest="record", action="store_false", help="print only")
    parser.add_argument("--worker", choices=["setup", "run"], help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--capture", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    since, until = window(args.records, args.files)
    if args.worker == "setup":
        print(json.dumps(work_setup(args.home, args.capture)))
        return
    if args.worker == "run":
        print(json.dumps(work_run(args.home, since, until, args.profile_to)))
        return

    captures = {fmt: make_capture(fmt, args.records, args.files) for fmt in args.formats}
    make_model(CACHE / "model")
    contenders = {f"this checkout ({revision()})": REPO / "src"}
    loads = [os.getloadavg()[0]]
    results: dict[tuple[str, str], list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    with tempfile.TemporaryDirectory(prefix="modelport-bench-monitor-") as tmp:
        work = Path(tmp)
        if args.baseline != "none":
            contenders[f"baseline {args.baseline}"] = export(args.baseline, work / "baseline")
        for fmt in args.formats:
            for r in range(args.runs):
                for c, (label, src) in enumerate(contenders.items()):
                    home = work / f"home-{fmt}-{r}-{c}"
                    worker(src, "--worker", "setup", "--home", str(home), "--capture", str(captures[fmt]))
                    common = ["--worker", "run", "--home", str(home), "--records", str(args.records)]
                    common += ["--files", str(args.files)]
                    profile = ["--profile-to", str(CACHE / f"profile-{fmt}-{c}.txt")] if args.profile and r == 0 else []
                    first = worker(src, *common, *profile)
                    if profile:  # the profiled run is slower: time another first run on a fresh home
                        shutil.rmtree(home)
                        worker(src, "--worker", "setup", "--home", str(home), "--capture", str(captures[fmt]))
                        first = worker(src, *common)
                    again = worker(src, *common)
                    results.setdefault((fmt, label), []).append((first, again))
                    shutil.rmtree(home, ignore_errors=True)
                    print(f"{fmt} {label}: first {first['seconds']:.2f} s, rerun {again['seconds']:.2f} s", flush=True)
                    loads.append(os.getloadavg()[0])
    report(args, contenders, results, loads)


def report(
    args: argparse.Namespace,
    contenders: dict[str, Path],
    results: dict[tuple[str, str], list[tuple[dict[str, Any], dict[str, Any]]]],
    loads: list[float],
) -> None:
    sys.path.insert(0, str(HERE))
    from report import markdown_table, rich_table
    from rich.console import Console

    labels = list(contenders)
    header = [
        "capture",
        "contender",
        "first run (s)",
        "CPU (s)",
        "rerun (s)",
        "peak RSS first",
        "files folded",
        "rows",
        "undecodable",
    ]
    rows, notes = [], []
    for fmt in args.formats:
        for label in labels:
            runs = results[(fmt, label)]
            firsts = [f["seconds"] for f, _ in runs]
            agains = [a["seconds"] for _, a in runs]
            first = runs[0][0]
            rows.append(
                [
                    fmt,
                    label,
                    _spread(firsts),
                    _spread([f["cpu"] for f, _ in runs]),
                    _spread(agains),
                    f"{max(f['rss_mb'] for f, _ in runs):.0f} MB",
                    f"{first['files']['folded']:,}",
                    f"{first['rows']:,}",
                    f"{first['undecodable']:,}",
                ]
            )
        if len(labels) == 2:
            mine, base = results[(fmt, labels[0])], results[(fmt, labels[1])]
            ratios = [b[0]["seconds"] / m[0]["seconds"] for m, b in zip(mine, base, strict=True)]
            same = all(
                m[0]["result"] == b[0]["result"] and m[1]["result"] == b[1]["result"]
                for m, b in zip(mine, base, strict=True)
            )
            notes.append(
                f"{fmt}: first run {statistics.median(ratios):.1f}x faster than {labels[1]} (median of pairs); "
                f"results {'identical' if same else 'DIFFER'}"
            )
        else:
            runs = results[(fmt, labels[0])]
            same = all(f["result"] == a["result"] for f, a in runs)
            notes.append(f"{fmt}: first run and rerun results {'identical' if same else 'DIFFER'}")

    phase_names = [*PHASES, "other"]
    phase_header = ["capture", "contender", *phase_names]
    phase_rows = []
    for fmt in args.formats:
        for label in labels:
            runs = results[(fmt, label)]
            mean = {p: statistics.fmean(f["phases"].get(p, 0.0) for f, _ in runs) for p in phase_names}
            aside = {p for f, _ in runs for p in f.get("aside", [])}
            phase_rows.append([fmt, label, *(f"{mean[p]:.2f}{'*' if p in aside else ''}" for p in phase_names)])

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = f"load average {min(loads):.1f}-{max(loads):.1f} (1 min, sampled between runs)"
    console = Console(width=max(Console().width, 200))
    console.print(
        rich_table(f"monitors run over {args.records:,} captured records, {args.files:,} files", header, rows)
    )
    console.print(rich_table("First run: seconds per phase", phase_header, phase_rows))
    notes.append("* ran in a reader thread, alongside the main thread's phases (not subtracted from 'other')")
    for note in notes:
        console.print(note)
    console.print(f"{os.cpu_count()} cores, {load}")
    if not args.record:
        return
    command = "python bench/monitor_run.py " + " ".join(sys.argv[1:])
    section = [
        "",
        f"## Monitor run — {when} ({revision()})",
        "",
        f"`{command}` — {os.cpu_count()} cores, {load}; {args.records:,} one-row requests of 20 numeric features "
        f"in {args.files:,} capture files; {args.runs} run(s) per contender, first run and rerun each in a fresh "
        "process (imports excluded).",
        "",
        markdown_table(header, rows),
        "",
        "First run, seconds per phase (own time of the functions in `PHASES`):",
        "",
        markdown_table(phase_header, phase_rows),
        "",
        *[f"- {n}" for n in notes],
        "",
    ]
    with open(args.results, "a") as fh:
        fh.write("\n".join(section) + "\n")
    print(f"appended to {args.results}")


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


if __name__ == "__main__":
    main()
