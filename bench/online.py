"""Online serving, side by side: modelport (ONNX and pickle) against MLServer, MLflow, BentoML and a bare ASGI ceiling.

    .venv/bin/python bench/online.py            # full: 20 s per server and concurrency, 2 rounds (~12 min)
    .venv/bin/python bench/online.py --quick    # ~3 s runs, 1 round, while developing
    .venv/bin/python bench/online.py --workers 1,2 --runtime-threads 1 --max-batch-size 32 --max-batch-wait-ms 2

One RandomForestClassifier(n_estimators=100) on 20 float features is trained
here on synthetic data and served by every server, each from a virtualenv of
its own under bench/.cache/venvs (installed with the project's uv on first
use; pins in bench/peers/).  Servers run one at a time on 127.0.0.1, in an
order that alternates modelport and peers and is reversed in the second round,
so drift of the machine is shared.  wrk drives each at 1, 16 and 64
connections with the same one-row request in the server's own format.

Reported per server and concurrency: req/s, p50/p99, errors (any non-2xx and
socket errors), peak RSS of the server's process tree, server CPU per request,
start-up (process start → first 2xx), ratios to modelport ONNX, and for
modelport the cold start (endpoint create → first 2xx on a running server).
A rich table goes to the terminal and a markdown section is appended to
bench/RESULTS.md with the date, the command, machine notes and the targets.
Every server started is stopped, also on Ctrl-C or failure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil
import report
from loadgen import INSTALL_HINT, run_wrk, write_script, wrk_path
from peers.asgi import BareASGI
from peers.base import BenchModel, Peer
from peers.bentoml import BentoML
from peers.mlflow import MLflow
from peers.mlserver import MLServer
from peers.modelport import ENDPOINT, Modelport
from peers.process import Probe, ServerProcess, stop_all, wait_for_success
from peers.venvs import CACHE, PROJECT_VENV, ROOT, ensure_venv
from report import CONCURRENCIES, Run, ServerRecord

RESULTS = ROOT / "bench" / "RESULTS.md"
START_TIMEOUT_S = 180.0
COLD_TIMEOUT_S = 60.0
ALL_KEYS = ("mp-onnx", "mp-onnx-capture", "mp-pickle", "mlserver", "mlserver-batch", "mlflow", "bentoml", "asgi")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=None, help="measured seconds per server and concurrency, split over the rounds (default 20; 3 with --quick)")
    p.add_argument("--rounds", type=int, default=None, help="passes over all servers, alternating order (default 2; 1 with --quick)")
    p.add_argument("--warmup", type=int, default=None, help="warm-up seconds at c=16 after each start, not measured (default 2; 1 with --quick)")
    p.add_argument("--quick", action="store_true", help="short runs while developing: indicative only")
    p.add_argument("--workers", default="1", help="modelport (and bare ASGI) worker processes; a list runs each: 1,2")
    p.add_argument("--runtime-threads", type=int, default=None, help="MODELPORT_RUNTIME_THREADS for modelport (default: unset, modelport's default)")
    p.add_argument("--max-batch-size", type=int, default=None, help="modelport endpoint variant max_batch_size (default: unset)")
    p.add_argument("--max-batch-wait-ms", type=float, default=None, help="modelport endpoint variant max_batch_wait_ms (default: unset)")
    p.add_argument("--only", default=None, help=f"comma-separated subset of: {', '.join(ALL_KEYS)}")
    p.add_argument("--results", type=Path, default=RESULTS, help="markdown file to append to (default bench/RESULTS.md)")
    p.add_argument("--no-results", action="store_true", help="print only; append nothing")
    p.add_argument("--wait-quiet", type=int, default=0, metavar="SECONDS", help="first wait up to this long for the machine to be under 25%% CPU for 5 s")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp folder (models, homes, server logs)")
    args = p.parse_args(argv)
    args.duration = args.duration or (3 if args.quick else 20)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    args.worker_counts = sorted({int(w) for w in args.workers.split(",")})
    only = set(args.only.split(",")) if args.only else set(ALL_KEYS)
    if unknown := only - set(ALL_KEYS):
        p.error(f"unknown --only {', '.join(sorted(unknown))}; choose from {', '.join(ALL_KEYS)}")
    args.only_keys = only
    return args


# -- the model ------------------------------------------------------------------


def train(workdir: Path) -> BenchModel:
    """RandomForestClassifier(n_estimators=100) on 20 synthetic float features, seeded: the same bytes every run."""
    import joblib
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    x, y = make_classification(n_samples=2000, n_features=20, n_informative=10, random_state=0)
    model = RandomForestClassifier(n_estimators=100, random_state=0).fit(x, y)
    path = workdir / "model.joblib"
    joblib.dump(model, path)
    sample = workdir / "sample.csv"
    pd.DataFrame(x[:500], columns=[f"x{i}" for i in range(x.shape[1])]).to_csv(sample, index=False)
    row = [float(v) for v in np.round(x[0], 6)]
    return BenchModel(
        joblib_path=path,
        sample_csv=sample,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        row=row,
        expected_label=int(model.predict(np.asarray([row]))[0]),
        n_features=x.shape[1],
    )


# -- the servers ----------------------------------------------------------------


def build_peers(args: argparse.Namespace) -> list[Peer]:
    """Modelport configs and peers interleaved (modelport, peer, modelport, peer, …)."""
    ours: list[Peer] = []
    for w in args.worker_counts:
        sfx, tag = ("", "") if w == 1 else (f"-w{w}", f" x{w} workers")
        mp = {"workers": w, "runtime_threads": args.runtime_threads, "max_batch_size": args.max_batch_size, "max_batch_wait_ms": args.max_batch_wait_ms}
        ours.append(Modelport(f"mp-onnx{sfx}", f"modelport ONNX{tag}", path="onnx", **mp))
        ours.append(Modelport(f"mp-pickle{sfx}", f"modelport pickle{tag}", path="pickle", **mp))
        ours.append(Modelport(f"mp-onnx-capture{sfx}", f"modelport ONNX, capture 100%{tag}", path="onnx", capture=True, **mp))
        ours.append(BareASGI(f"asgi{sfx}", f"bare ASGI (granian){tag}", workers=w))
    theirs: list[Peer] = [
        MLServer("mlserver", "MLServer", batching=False),
        MLServer("mlserver-batch", "MLServer (batching)", batching=True),
        MLflow("mlflow", "MLflow serve"),
        BentoML("bentoml", "BentoML"),
    ]
    ours, theirs = [p for p in ours if base_key(p) in args.only_keys], [p for p in theirs if base_key(p) in args.only_keys]
    order: list[Peer] = []
    for i in range(max(len(ours), len(theirs))):
        order += ours[i : i + 1] + theirs[i : i + 1]
    return order


def base_key(peer: Peer) -> str:
    """``mp-onnx-w2`` → ``mp-onnx``: the name --only and the tables use."""
    return peer.key.split("-w")[0]


def display_order(peers: Sequence[Peer]) -> list[Peer]:
    rank = {k: i for i, k in enumerate(ALL_KEYS)}
    return sorted(peers, key=lambda p: (p.workers, rank[base_key(p)]))


def start(peer: Peer, model: BenchModel, workdir: Path, logs: Path, tag: str) -> tuple[ServerProcess, Probe]:
    launch = peer.launch(model, workdir)
    proc = ServerProcess(f"{peer.key}/{tag}", launch.cmd, env=launch.env, cwd=launch.cwd, log=logs / f"{peer.key}.log")
    return proc, launch.probe


def cold_starts(peer: Modelport, model: BenchModel, workdir: Path, logs: Path, rec: ServerRecord, say: Any) -> None:
    """On a fresh home: start a server, create the endpoint (timed), create a second one (timed), stop."""
    peer.fresh_home(workdir)
    proc, probe = start(peer, model, workdir, logs, "cold")
    try:
        wait_for_success(peer.ping(probe.port), timeout=START_TIMEOUT_S, alive=proc)
        for name, into in ((ENDPOINT, rec.cold_first), (f"{ENDPOINT}-cold", rec.cold_again)):
            t0 = time.perf_counter()
            status, body = peer.create_endpoint(probe.port, name).send()
            if status != 201:
                raise RuntimeError(f"endpoint create answered {status}: {body[:300]!r}")
            wait_for_success(peer.invocation(probe.port, name, model), timeout=COLD_TIMEOUT_S, alive=proc)
            into.append(time.perf_counter() - t0)
        peer.delete_endpoint(probe.port, f"{ENDPOINT}-cold").send()
        say(f"    cold start: first endpoint {rec.cold_first[-1]:.2f} s, another {rec.cold_again[-1]:.2f} s")
    finally:
        proc.stop()


def busy_cpu_s() -> float:
    """Machine CPU seconds in processes (irq/softirq left out: on loopback that is mostly our own traffic)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def visit(peer: Peer, model: BenchModel, args: argparse.Namespace, workdir: Path, logs: Path, rec: ServerRecord, say: Any) -> None:
    """Start one server, check its answer, warm it up, drive it at each concurrency, stop it."""
    if isinstance(peer, Modelport):
        cold_starts(peer, model, workdir, logs, rec, say)
    proc, probe = start(peer, model, workdir, logs, "load")
    try:
        rec.startups.append(wait_for_success(probe, timeout=START_TIMEOUT_S, alive=proc))
        _, body = probe.send()
        label = peer.label_from(body)
        if label is not None and label != model.expected_label:
            note = f"answered label {label!r}, expected {model.expected_label!r}: not the same model?"
            if note not in rec.notes:
                rec.notes.append(note)
        script = write_script(probe, workdir / f"{peer.key}.lua")
        wrk_log = logs / f"{peer.key}.wrk.log"
        if args.warmup:
            rec.warmup_errors += run_wrk(probe, script, connections=16, seconds=args.warmup, log=wrk_log).errors
        seconds = max(1, round(args.duration / args.rounds))
        ncpu = os.cpu_count() or 1
        for c in CONCURRENCIES:
            proc.take_peak()
            busy0, server0, wrk0, t0 = busy_cpu_s(), proc.tree_cpu(), children_cpu_s(), time.perf_counter()
            result = run_wrk(probe, script, connections=c, seconds=seconds, log=wrk_log)
            busy1, server1, wrk1, t1 = busy_cpu_s(), proc.tree_cpu(), children_cpu_s(), time.perf_counter()
            server_cpu = max(0.0, server1 - server0)
            other = max(0.0, (busy1 - busy0) - server_cpu - (wrk1 - wrk0)) / ((t1 - t0) * ncpu) * 100
            rec.runs.setdefault(c, []).append(Run(result, proc.take_peak(), server_cpu, other))
            say(
                f"    c={c:<3} {result.rps:>9,.0f} req/s  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:8.2f} ms"
                f"  errors {result.errors}  rss {rec.runs[c][-1].rss_bytes / 2**20:,.0f} MB  other cpu {other:.0f}%"
            )
    except Exception:
        tail = proc.log_tail()
        if tail:
            say(f"    --- last lines of {proc.log} ---\n" + tail)
        raise
    finally:
        proc.stop()


# -- the run --------------------------------------------------------------------


def machine_notes() -> dict[str, Any]:
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")),
        platform.processor(),
    )
    blas = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS") if k in os.environ}
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(psutil.virtual_memory().total / 2**30),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "blas_env": blas,
    }


def git_state() -> str:
    """The commit measured, and whether src/ had uncommitted changes (the server runs from the work tree)."""
    import subprocess

    def git(*a: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = [ln for ln in git("status", "--porcelain", "--", "src").splitlines() if ln.strip()]
    return f"commit {head}" + (f" + {len(dirty)} uncommitted change(s) under src/ (measured as they were)" if dirty else ", src/ clean")


def wait_quiet(limit_s: int, say: Any) -> str:
    """Wait (at most ``limit_s``) until the machine has been under 25% CPU for 5 s in a row; say how it went."""
    start = time.monotonic()
    quiet = 0
    while time.monotonic() - start < limit_s and quiet < 5:
        busy = psutil.cpu_percent(interval=1.0)
        quiet = quiet + 1 if busy < 25 else 0
        if quiet == 0:
            say(f"  waiting for a quiet machine: {busy:.0f}% CPU in use", end="\r")
    waited = time.monotonic() - start
    return f"waited {waited:.0f} s for a quiet machine" if quiet >= 5 else f"gave up waiting for a quiet machine after {waited:.0f} s"


def busy_note(load1: float, busy_pct: float, ncpu: int) -> str:
    facts = f"1-min load average {load1:.2f} on {ncpu} cores, {busy_pct:.0f}% CPU in use in the second before the start"
    return ("BUSY: " if load1 > 0.5 * ncpu or busy_pct > 25 else "quiet: ") + facts


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 200)
    say = console.print
    if Path(sys.prefix).resolve() != PROJECT_VENV.resolve():
        print(f"run it with the project venv: {PROJECT_VENV}/bin/python bench/online.py", file=sys.stderr)
        return 2
    if wrk_path() is None:
        print(f"wrk is not installed; install it with: {INSTALL_HINT}", file=sys.stderr)
        return 2

    waited = wait_quiet(args.wait_quiet, say) if args.wait_quiet else ""
    command = " ".join([".venv/bin/python", "bench/online.py", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    started = time.perf_counter()
    when = datetime.now(UTC)
    load_start = os.getloadavg()
    busy_start = psutil.cpu_percent(interval=1.0)
    machine = machine_notes()
    machine["git"] = git_state()
    machine["waited"] = waited
    say(f"[bold]bench/online.py[/bold]  {when:%Y-%m-%d %H:%M} UTC  {busy_note(load_start[0], busy_start, machine['nproc'])}")

    workdir = Path(tempfile.mkdtemp(prefix="modelport-bench-"))
    logs = workdir / "logs"
    logs.mkdir()
    peers = build_peers(args)
    records = {
        p.key: ServerRecord(p.key, p.label, p.versions(), workers=p.workers if p.key.startswith(("mp-", "asgi")) else None)
        for p in display_order(peers)
    }

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    # SIGINT too: a shell that starts this in the background ignores SIGINT, and Python then leaves it ignored
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    interrupted = False
    try:
        say("training the model …")
        model = train(workdir)
        say("installing / checking peer venvs (bench/.cache/venvs) …")
        venvs: dict[tuple[str, tuple[str, ...]], Path] = {}
        for peer in peers:
            if not peer.pins:
                continue
            wanted = (peer.venv_name, tuple(peer.pins))
            try:
                if wanted not in venvs:
                    path, took = ensure_venv(peer.venv_name, peer.pins, logs / "install.log")
                    venvs[wanted] = path
                    say(f"  {peer.venv_name}: {f'installed in {took:.0f} s' if took else 'cached'}  ({', '.join(peer.pins)})")
                peer.venv = venvs[wanted]
            except Exception as exc:
                records[peer.key].failures.append(f"install: {exc}")
                say(f"  [red]{peer.venv_name}: {exc}[/red]")
        say("preparing models for each server …")
        for peer in peers:
            if records[peer.key].failures:
                continue
            try:
                peer.prepare(model, workdir)
            except Exception as exc:
                records[peer.key].failures.append(f"prepare: {exc}")
                say(f"  [red]{peer.key}: {exc}[/red]")
        runnable = [p for p in peers if not records[p.key].failures]
        per_run = max(1, round(args.duration / args.rounds))
        say(
            f"{len(runnable)} servers x {args.rounds} round(s) x c={','.join(map(str, CONCURRENCIES))} x {per_run} s"
            f" (+{args.warmup} s warm-up per start); model sha256 {model.sha256[:12]}, expected label {model.expected_label}"
        )
        for rnd in range(args.rounds):
            order = runnable if rnd % 2 == 0 else list(reversed(runnable))
            for peer in order:
                rec = records[peer.key]
                say(f"[bold]round {rnd + 1}/{args.rounds}: {peer.label}[/bold]")
                try:
                    visit(peer, model, args, workdir, logs, rec, say)
                except Exception as exc:
                    rec.failures.append(f"round {rnd + 1}: {type(exc).__name__}: {exc}")
                    say(f"  [red]failed: {exc}[/red]")
    except KeyboardInterrupt:
        interrupted = True
        say("[yellow]interrupted: stopping every server started …[/yellow]")
    finally:
        stop_all()

    for peer in peers:
        records[peer.key].notes[:0] = peer.notes
    elapsed = time.perf_counter() - started
    load_end = os.getloadavg()
    rows = report.result_rows(records)
    cold = report.cold_rows(records)
    goals = report.targets(records, args.worker_counts)
    console.print(report.rich_table("Online serving: one-row requests, closed loop (wrk)", report.HEADER, rows))
    if cold:
        console.print(report.rich_table("modelport cold start: endpoint create → first 2xx", report.COLD_HEADER, cold))
    console.print(report.rich_table("Targets", report.TARGET_HEADER, report.target_rows(goals)))
    for line in server_notes(records):
        say(line, markup=False, highlight=False)
    say(
        f"wall time {elapsed / 60:.1f} min; load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end;"
        f" other people's work used {other_cpu_mean(records):.0f}% of the machine during the runs; {machine['git']}"
    )
    if not args.no_results and not interrupted:
        section = markdown(args, command, when, machine, load_start, busy_start, load_end, elapsed, model, records, rows, cold, goals)
        new = not args.results.exists()
        with args.results.open("a") as f:
            if new:
                f.write("# Benchmark results\n\nAppended by the scripts under `bench/`; newest last.\n")
            f.write("\n" + section)
        # a copy of every section, in case the shared RESULTS.md is rewritten by someone else
        backup = CACHE / "results" / f"online-{when:%Y%m%dT%H%M%S}.md"
        backup.parent.mkdir(parents=True, exist_ok=True)
        backup.write_text(section)
        say(f"appended to {args.results} (copy: {backup.relative_to(ROOT)})")
    if args.keep_tmp or interrupted:
        say(f"temp folder kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 130 if interrupted else 0


def other_cpu_mean(records: dict[str, ServerRecord]) -> float:
    values = [run.other_cpu_pct for rec in records.values() for runs in rec.runs.values() for run in runs]
    return sum(values) / len(values) if values else 0.0


def server_notes(records: dict[str, ServerRecord]) -> list[str]:
    lines = []
    for rec in records.values():
        extra = list(rec.notes)
        if rec.warmup_errors:
            extra.append(f"{rec.warmup_errors} errors during warm-up (not counted above)")
        extra += rec.failures
        lines.append(f"- {rec.label}: {rec.versions}" + (f"; {'; '.join(extra)}" if extra else ""))
    return lines


def markdown(
    args: argparse.Namespace,
    command: str,
    when: datetime,
    machine: dict[str, Any],
    load_start: tuple[float, float, float],
    busy_start: float,
    load_end: tuple[float, float, float],
    elapsed: float,
    model: BenchModel,
    records: dict[str, ServerRecord],
    rows: list[list[str]],
    cold: list[list[str]],
    goals: list[report.Target],
) -> str:
    per_run = max(1, round(args.duration / args.rounds))
    mode = "quick (indicative only)" if args.quick else "full"
    out = [
        f"## {when:%Y-%m-%d %H:%M} UTC — online serving, {mode}",
        "",
        f"Command: `{command}`",
        "",
        f"- Machine: {machine['nproc']} cores ({machine['cpu']}), {machine['memory_gib']} GiB, Linux {machine['kernel']}, Python {machine['python']}"
        + (f", {json.dumps(machine['blas_env'])}" if machine["blas_env"] else ""),
        f"- Load average at start {load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f} (1/5/15 min), "
        f"at end {load_end[0]:.2f}; {busy_note(load_start[0], busy_start, machine['nproc'])}"
        + (f"; {machine['waited']}" if machine["waited"] else ""),
        f"- Load: wrk (closed loop, threads = min(2, c), same machine as the servers), {per_run} s per run x {args.rounds} round(s)"
        f" per server and concurrency, {args.warmup} s warm-up at c=16 after each start; servers one at a time on 127.0.0.1,"
        " alternating modelport and peers" + (", order reversed in every other round" if args.rounds > 1 else ""),
        f"- Model: RandomForestClassifier(n_estimators=100), 20 float features, seeded synthetic data (sha256 {model.sha256[:12]}); "
        "one-row JSON body in each server's format; modelport answers label + probabilities, the peers their default (label)",
        f"- modelport: workers {args.workers}, MODELPORT_RUNTIME_THREADS {args.runtime_threads if args.runtime_threads is not None else 'unset (default)'}, "
        f"variant max_batch_size {args.max_batch_size}, max_batch_wait_ms {args.max_batch_wait_ms}",
        f"- Code measured: {machine['git']}",
        f"- Other people's work on the machine during the runs (CPU used by neither the server nor wrk): "
        f"mean {other_cpu_mean(records):.0f}% of the machine{' - absolute numbers are depressed; compare ratios' if other_cpu_mean(records) > 15 else ''}",
        f"- Wall time of the whole run: {elapsed / 60:.1f} min",
        "",
        "Columns: req/s over all rounds; x ONNX = req/s ÷ modelport ONNX (same workers) at the same c; p50 mean of rounds, "
        "p99 worst round; errors = non-2xx + socket errors; RSS = peak of the server's process tree during the run; "
        "CPU ms/req = server process-tree CPU per request; start-up = process start → first 2xx (median); "
        "spread = round-to-round req/s range; other CPU = machine CPU used by neither the server nor wrk (other people's work).",
        "",
        report.markdown_table(report.HEADER, rows),
        "",
    ]
    if cold:
        out += ["modelport cold start (endpoint create via `POST /api/v1/endpoints` → first 2xx, on a running server):", "", report.markdown_table(report.COLD_HEADER, cold), ""]
    out += ["Targets:", "", report.markdown_table(report.TARGET_HEADER, report.target_rows(goals)), ""]
    out += ["Servers and versions:", "", *server_notes(records), ""]
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
