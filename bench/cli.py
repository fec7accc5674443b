"""CLI start-up benchmark: the everyday read commands, each a fresh process, as a user runs them.

    .venv/bin/python bench/cli.py [--runs 15] [--baseline cadcd68] [--bytecode warm cold]

Builds a throwaway home (3 models of 2 versions, an alias, 2 endpoints, 2
tokens) with the oldest revision compared, copies it for that revision and
brings the original to this checkout's schema (``modelport db upgrade``), then
times ``modelport models list``, ``models show``,
``endpoints list`` and ``tokens list`` as whole processes (``python -m
modelport.cli.main …``): wall time from start to exit and the child's CPU
(user + system, from ``os.wait4``).  Each command runs ``--runs`` times after
one warm-up, alternating with the same command on ``--baseline`` (a git
revision exported with ``git archive`` into a temporary folder and put first
on ``PYTHONPATH``), so a drift in the machine's speed touches both alike; the
ratio is taken pair by pair and its median reported.  Before timing, each
command's output on both revisions is compared: the speed-up must not change
what the user sees (``--baseline`` must be the older revision; against one
with other features the outputs may rightly differ, and the report says which).

Bytecode: ``warm`` gives every contender its own bytecode cache
(``PYTHONPYCACHEPREFIX`` in a temporary folder, filled by the warm-up), which
is what an installed modelport runs with from its second command on; ``cold``
compiles every module from source on every run (``PYTHONDONTWRITEBYTECODE=1``
and an empty cache), which is what a read-only install without .pyc files, or
an environment that sets ``PYTHONDONTWRITEBYTECODE``, pays every time.  The
target (median ≤ 0.4 s) is stated for ``warm``.

This machine is shared and its load moves wall times a lot; ``--instructions``
also counts the instructions one warm run of each command executes, with
valgrind's callgrind (a minute or so per run): a figure the load does not move.

Nothing is asserted; a section is appended to bench/RESULTS.md (``--no-record``
to only print).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from revisions import export, revision  # noqa: E402 (bench/ on the path first)

TARGET_S = 0.4
COMMANDS: list[list[str]] = [
    ["models", "list"],
    ["models", "show", "churn@champion"],
    ["endpoints", "list"],
    ["tokens", "list"],
]


@dataclass
class Contender:
    label: str
    src: Path
    cache: Path
    home: Path = field(default_factory=Path)

    def env(self, bytecode: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
        env["PYTHONPATH"] = str(self.src)
        env["PYTHONPYCACHEPREFIX"] = str(self.cache / bytecode)
        if bytecode == "cold":
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        else:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each command on each revision")
    parser.add_argument("--baseline", default="cadcd68", help="git revision to compare with ('none': this checkout only)")
    parser.add_argument("--bytecode", nargs="+", default=["warm", "cold"], choices=["warm", "cold"])
    parser.add_argument("--instructions", action="store_true", help="also count instructions with valgrind (slow)")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-record", dest="record", action="store_false", help="print only")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="modelport-bench-cli-") as tmp:
        work = Path(tmp)
        current = Contender(f"this checkout ({revision()})", REPO / "src", work / "pyc-current")
        contenders = [current]
        if args.baseline != "none":
            contenders.append(Contender(f"baseline {args.baseline}", export(args.baseline, work / "baseline"), work / "pyc-baseline"))
        make_homes(work, contenders)
        load_before = os.getloadavg()[0]
        differ = check_outputs(contenders)
        results: dict[tuple[str, str, str], Timings] = {}
        for bytecode in args.bytecode:
            for command in COMMANDS:
                for c in contenders:  # warm-up: fills a warm cache, pages the files in
                    run(c, command, bytecode)
                for _ in range(args.runs):
                    for c in contenders:
                        wall, cpu = run(c, command, bytecode)
                        t = results.setdefault((bytecode, " ".join(command), c.label), Timings())
                        t.wall.append(wall)
                        t.cpu.append(cpu)
                print(bytecode, " ".join(command), "done", flush=True)
        load_after = os.getloadavg()[0]
        counts = {
            (" ".join(command), c.label): instructions(c, [*command, "--home", str(c.home)])
            for command in (COMMANDS if args.instructions else [])
            for c in contenders
        }

    text = report(args, contenders, results, differ, (load_before, load_after), counts)
    print(text)
    if args.record:
        with args.results.open("a") as fh:
            fh.write("\n" + text)
        print(f"appended to {args.results}")


def cli(contender: Contender, *args: str, bytecode: str = "warm") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelport.cli.main", *args],
        env=contender.env(bytecode),
        capture_output=True,
        text=True,
    )


def make_homes(work: Path, contenders: list[Contender]) -> None:
    """One home built by the oldest revision; each newer one gets a copy upgraded to its schema."""
    oldest = contenders[-1]
    oldest.home = build_home(work, oldest)
    for i, c in enumerate(contenders[:-1]):
        c.home = work / f"home-{i}"
        shutil.copytree(oldest.home, c.home)  # artifact URIs still name the first home: the blobs are the same
        done = cli(c, "db", "upgrade", "--home", str(c.home))
        if done.returncode != 0:
            sys.exit(f"upgrading the bench home for {c.label} failed: {done.stderr.strip()}")


def build_home(work: Path, contender: Contender) -> Path:
    """3 models x 2 versions, churn@champion, 2 endpoints, 2 tokens."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_iris(return_X_y=True)
    files = [work / "lr.joblib", work / "tree.joblib"]
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), files[0])
    joblib.dump(DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y), files[1])
    home = work / "home"
    steps = [
        *(
            ["models", "register", str(f), "--name", name, "--metric", "auc=0.9", "--tag", "team=risk"]
            for name in ("churn", "fraud", "upsell")
            for f in files
        ),
        ["models", "alias", "set", "churn@champion", "2"],
        ["endpoints", "create", "churn", "--variant", "a=churn:1:80", "--variant", "b=churn:2:20"],
        ["endpoints", "create", "fraud", "--variant", "main=fraud:2"],
        ["tokens", "create", "--scope", "read", "--name", "dashboard"],
        ["tokens", "create", "--scope", "invoke", "--name", "app"],
    ]
    for step in steps:
        done = cli(contender, *step, "--home", str(home))
        if done.returncode != 0:
            sys.exit(f"building the bench home failed at {' '.join(step)}: {done.stderr.strip()}")
    return home


def check_outputs(contenders: list[Contender]) -> list[str]:
    """The commands that print differently on some revision (stdout, stderr, exit code)."""
    differ = []
    for command in COMMANDS:
        seen = {c.label: cli(c, *command, "--home", str(c.home)) for c in contenders}
        first = next(iter(seen.values()))
        if first.returncode != 0:
            sys.exit(f"{' '.join(command)} failed: {first.stderr.strip()}")
        for label, done in seen.items():
            if (done.stdout, done.stderr, done.returncode) != (first.stdout, first.stderr, first.returncode):
                print(f"OUTPUT DIFFERS: {' '.join(command)} on {label}", file=sys.stderr)
                differ.append(" ".join(command))
                break
    return differ


def run(contender: Contender, command: list[str], bytecode: str) -> tuple[float, float]:
    """One whole process: wall seconds and the child's CPU seconds (user + system)."""
    argv = [*command, "--home", str(contender.home)]
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelport.cli.main", *argv],
        env=contender.env(bytecode),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(argv)} exited with {proc.returncode} on {contender.label}")
    return wall, usage.ru_utime + usage.ru_stime


def instructions(contender: Contender, argv: list[str]) -> int:
    """Instructions one run executes (warm bytecode), counted by callgrind."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, "-m", "modelport.cli.main", *argv],
        env=contender.env("warm"),
        capture_output=True,
        text=True,
    )
    for line in done.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split()[-1])
    sys.exit(f"valgrind gave no count for {' '.join(argv)}: {done.stderr[-500:]}")


def report(
    args: argparse.Namespace,
    contenders: list[Contender],
    results: dict[tuple[str, str, str], Timings],
    differ: list[str],
    load: tuple[float, float],
    counts: dict[tuple[str, str], int],
) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    current = contenders[0]
    lines = [
        f"## CLI start-up — {now}",
        "",
        f"Command: `.venv/bin/python bench/cli.py --runs {args.runs} --baseline {args.baseline} "
        f"--bytecode {' '.join(args.bytecode)}{' --instructions' if args.instructions else ''}` "
        f"({platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {load[0]:.2f} at the start, {load[1]:.2f} at the end). "
        f"Each command a fresh process, {args.runs} runs after a warm-up, revisions alternating; "
        f"medians, min-max in brackets; ratio = median of the pair-by-pair ratios. "
        "Output identical on every revision: "
        + ("yes." if not differ else "NO, for " + ", ".join(f"`{d}`" for d in differ) + "."),
        "",
    ]
    baseline = contenders[1] if len(contenders) > 1 else None
    header = ["bytecode", "command", f"{current.label}: wall s", "cpu s"]
    if baseline:
        header += [f"{baseline.label}: wall s", "cpu s", "wall ratio", "cpu ratio"]
    header.append(f"≤ {TARGET_S} s?")
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * 2 + "---:|" * (len(header) - 3) + "---|")
    for bytecode in args.bytecode:
        for command in COMMANDS:
            name = " ".join(command)
            a = results[(bytecode, name, current.label)]
            row = [bytecode, f"`{name}`", spread(a.wall), spread(a.cpu)]
            if baseline:
                b = results[(bytecode, name, baseline.label)]
                row += [
                    spread(b.wall),
                    spread(b.cpu),
                    f"{statistics.median(x / y for x, y in zip(a.wall, b.wall, strict=True)):.2f}",
                    f"{statistics.median(x / y for x, y in zip(a.cpu, b.cpu, strict=True)):.2f}",
                ]
            met = statistics.median(a.wall) <= TARGET_S
            row.append(("met" if met else "not met") if bytecode == "warm" else "(target is for warm)")
            lines.append("| " + " | ".join(row) + " |")
    if counts:
        lines += ["", "Instructions of one warm run (valgrind --tool=callgrind), millions:", ""]
        header = ["command", *(c.label for c in contenders)]
        if baseline:
            header.append("ratio")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|---|" + "---:|" * (len(header) - 1))
        for command in COMMANDS:
            name = " ".join(command)
            row = [f"`{name}`", *(f"{counts[(name, c.label)] / 1e6:,.0f}" for c in contenders)]
            if baseline:
                row.append(f"{counts[(name, current.label)] / counts[(name, baseline.label)]:.2f}")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


if __name__ == "__main__":
    main()
