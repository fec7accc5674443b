"""Experiment statistics by simulation: false positives, power, samples to a decision, SRM, guardrails, bandits.

    .venv/bin/python bench/experiments_sim.py [--runs 2000] [--seed 20261207] [--no-record]

No server: seeded NumPy simulations of the formulas in ``modelport.experiments`` (the same module the
service calls; ``simulation.py`` applies them to arrays of runs).  Every sequential experiment is looked
at after every 100 samples per arm, up to the maximum sample size from ``plan()``.  Rich tables go to
the terminal and a markdown section is appended to bench/RESULTS.md (docs/experiments.md quotes it).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from report import markdown_table, rich_table  # noqa: E402

from modelport.experiments.simulation import simulate_fixed, simulate_sequential, simulate_srm  # noqa: E402
from modelport.experiments.stats import (  # noqa: E402
    GUARDRAIL_SPREAD,
    LATENCY_BUCKETS_MS,
    ArmStats,
    SequentialState,
    histogram,
    latency_guardrail_update,
    merge_histograms,
    mixture_tau,
    parse_guardrail,
    plan,
    thompson_weights,
)

LOOK = 100

# (label, distribution, control mean, sd, mde, alpha)
SEQUENTIAL_CASES = [
    ("rate 10 %, MDE +2 pt", "bernoulli", 0.10, 1.0, 0.02, 0.01),
    ("rate 10 %, MDE +2 pt", "bernoulli", 0.10, 1.0, 0.02, 0.05),
    ("rate 10 %, MDE +2 pt", "bernoulli", 0.10, 1.0, 0.02, 0.10),
    ("rate 1 %, MDE +0.5 pt", "bernoulli", 0.01, 1.0, 0.005, 0.05),
    ("rate 50 %, MDE +2 pt", "bernoulli", 0.50, 1.0, 0.02, 0.05),
    ("normal mean, sd 1, MDE 0.1", "normal", 1.0, 1.0, 0.1, 0.05),
    ("lognormal mean 1, sd 2, MDE 0.1", "lognormal", 1.0, 2.0, 0.1, 0.05),
]


def pct(x: float) -> str:
    return f"{100 * x:.2f} %"


def sequential_table(runs: int, rng: np.random.Generator) -> list[list[str]]:
    rows = []
    for label, dist, mean, sd, mde, alpha in SEQUENTIAL_CASES:
        p = (
            plan(mde, proportion=mean, alpha=alpha)
            if dist == "bernoulli"
            else plan(mde, baseline_var=sd**2, alpha=alpha)
        )
        common = dict(
            distribution=dist, control_mean=mean, sd=sd, look_every=LOOK, max_n=p.max_samples, alpha=alpha, tau=p.tau
        )
        aa = simulate_sequential(treatment_mean=mean, runs=runs, rng=rng, **common)  # type: ignore[arg-type]
        at_mde = simulate_sequential(treatment_mean=mean + mde, runs=runs, rng=rng, mde=mde, **common)  # type: ignore[arg-type]
        at_2mde = simulate_sequential(treatment_mean=mean + 2 * mde, runs=runs, rng=rng, mde=mde, **common)  # type: ignore[arg-type]
        bound = alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)
        rows.append(
            [
                label,
                f"{alpha:g}",
                f"{p.fixed_samples:,}",
                f"{p.max_samples:,}",
                pct(aa.rejection_rate) + (" ✓" if aa.rejection_rate <= bound else " ✗"),
                pct(aa.coverage),
                pct(at_mde.rejection_rate) + (" ✓" if at_mde.rejection_rate >= 0.8 else " ✗"),
                pct(at_mde.coverage),
                f"{at_mde.mean_decided_at:,.0f} ({at_mde.mean_decided_at / p.fixed_samples:.2f}x)",
                f"{at_2mde.mean_decided_at:,.0f} ({at_2mde.mean_decided_at / p.fixed_samples:.2f}x)",
            ]
        )
    return rows


def fixed_table(runs: int, rng: np.random.Generator) -> list[list[str]]:
    rows = []
    for label, dist, mean, sd, mde, alpha in (SEQUENTIAL_CASES[1], SEQUENTIAL_CASES[5]):
        p = plan(mde, proportion=mean) if dist == "bernoulli" else plan(mde, baseline_var=sd**2)
        common = dict(distribution=dist, control_mean=mean, sd=sd, runs=runs, n=p.fixed_samples, alpha=alpha, rng=rng)
        aa = simulate_fixed(treatment_mean=mean, **common)  # type: ignore[arg-type]
        power = simulate_fixed(treatment_mean=mean + mde, **common)  # type: ignore[arg-type]
        rows.append([label, f"{alpha:g}", f"{p.fixed_samples:,}", pct(aa), pct(power)])
    return rows


def srm_table(runs: int, rng: np.random.Generator) -> list[list[str]]:
    rows = []
    for share, total in ((0.50, 20_000), (0.51, 20_000), (0.52, 20_000), (0.50, 200_000)):
        r = simulate_srm(share=share, total=total, look_every=2 * LOOK, runs=runs, rng=rng)
        rows.append(
            [
                f"true {100 * share:.0f}/{100 - 100 * share:.0f}, {total:,} requests",
                pct(r.flagged_once),
                pct(r.flagged_any_look),
                pct(r.sequential_flagged_any_look),
            ]
        )
    return rows


def _latency_runs(
    slowdown: float, runs: int, looks: int, per_look: int, rng: np.random.Generator
) -> tuple[float, float, float]:
    """(share breached, median requests per arm at the breach, share passed at the end)."""
    guardrail = parse_guardrail("latency_p99:+20%")
    breached_at, passed = [], 0
    for _ in range(runs):
        state = SequentialState()
        control = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        treatment = list(control)
        status = "pending"
        for look in range(1, looks + 1):
            control = merge_histograms(control, histogram(rng.lognormal(math.log(20), 0.5, per_look)))
            treatment = merge_histograms(treatment, histogram(slowdown * rng.lognormal(math.log(20), 0.5, per_look)))
            state, result = latency_guardrail_update(state, guardrail, control, treatment)
            status = result.status
            if status == "breached":
                breached_at.append(look * per_look)
                break
        passed += status == "pass"
    median = float(np.median(breached_at)) if breached_at else math.nan
    return len(breached_at) / runs, median, passed / runs


def guardrail_table(runs: int, rng: np.random.Generator) -> list[list[str]]:
    rows = []
    margin = 0.005
    for treatment, label in (
        (0.20, "20 %"),
        (0.018, "1.8 % (+0.8 pt)"),
        (0.013, "1.3 % (+0.3 pt)"),
        (0.01, "1 % (equal)"),
    ):
        r = simulate_sequential(
            distribution="bernoulli",
            control_mean=0.01,
            treatment_mean=treatment,
            runs=runs,
            look_every=LOOK,
            max_n=20_000,
            alpha=0.05,
            tau=mixture_tau(margin),
            rng=rng,
            spread=GUARDRAIL_SPREAD,
            cross_above=margin,
        )
        assert r.crossed_at is not None
        crossed = r.crossed_at[r.crossed_at > 0]
        rows.append(
            [
                "error_rate:+0.5pp, control 1 %",
                f"treatment {label}",
                pct(float((r.crossed_at > 0).mean())),
                f"{np.median(crossed):,.0f}" if crossed.size else "-",
                pct(float((r.high < margin).mean())),
            ]
        )
    latency_runs = max(runs // 10, 50)
    for slowdown, label in ((1.6, "1.6x slower"), (1.05, "1.05x slower"), (1.0, "equal")):
        share, median, passed = _latency_runs(slowdown, latency_runs, 40, 500, rng)
        rows.append(
            [
                "latency_p99:+20%, lognormal 20 ms",
                f"treatment {label}",
                pct(share),
                "-" if math.isnan(median) else f"{median:,.0f}",
                pct(passed),
            ]
        )
    return rows


def bandit_table(runs: int, rng: np.random.Generator) -> list[list[str]]:
    rows = []
    for rates, kind in (((0.10, 0.12), "proportion"), ((0.10, 0.10), "proportion")):
        final_best, traffic_best = [], []
        for _ in range(runs):
            arms = {"a": ArmStats(), "b": ArmStats()}
            weights = {"a": 0.5, "b": 0.5}
            for _ in range(100):
                counts = rng.multinomial(200, [weights["a"], weights["b"]])
                for (name, rate), count in zip(zip(arms, rates, strict=True), counts, strict=True):
                    arms[name] += ArmStats.proportion(int(rng.binomial(count, rate)), int(count))
                weights = thompson_weights(arms, kind=kind, rng=rng, draws=2000)  # type: ignore[arg-type]
            final_best.append(weights["b"])
            traffic_best.append(arms["b"].n / (arms["a"].n + arms["b"].n))
        rows.append(
            [
                f"{100 * rates[0]:g} % vs {100 * rates[1]:g} %, 100 updates of 200 requests",
                f"{np.mean(final_best):.3f}",
                f"{np.mean(traffic_best):.3f}",
                f"{min(min(w, 1 - w) for w in final_best):.3f}",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    from rich.console import Console

    console = Console(width=200)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    tables = [
        (
            f"Sequential (mSPRT), a look every {LOOK} samples per arm, {args.runs:,} runs per cell",
            [
                "metric",
                "alpha",
                "fixed n",
                "max n",
                "A/A significant",
                "A/A CS coverage",
                "power at MDE",
                "CS coverage at MDE",
                "mean n to decision at MDE",
                "at 2x MDE",
            ],
            sequential_table(args.runs, rng),
        ),
        (
            f"Fixed horizon (z / Welch at the planned n), {args.runs:,} runs",
            ["metric", "alpha", "n per arm", "A/A significant", "power at MDE"],
            fixed_table(args.runs, rng),
        ),
        (
            f"Sample-ratio mismatch, configured 50/50, {args.runs:,} runs (flag: p < 0.001)",
            [
                "truth",
                "chi-square once at the end",
                "chi-square every 200 requests",
                "anytime-valid every 200 requests",
            ],
            srm_table(args.runs, rng),
        ),
        (
            f"Guardrails, a look every {LOOK} (error rate: {args.runs:,} runs to 20,000 per arm) or 500 requests "
            f"(latency: {max(args.runs // 10, 50)} runs to 20,000)",
            ["guardrail", "truth", "breached", "median n per arm at breach", "shown within margin at the end"],
            guardrail_table(args.runs, rng),
        ),
        (
            f"Thompson sampling (min share 5 %), {max(args.runs // 10, 50)} runs",
            ["arms", "final weight of b", "b's share of all traffic", "smallest final weight"],
            bandit_table(max(args.runs // 10, 50), rng),
        ),
    ]
    elapsed = time.perf_counter() - started
    for title, header, rows in tables:
        console.print(rich_table(title, header, rows))
    console.print(f"{elapsed:.1f} s")
    if args.no_record:
        return
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = "python bench/experiments_sim.py" + "".join(
        f" --{k} {v}" for k, v in (("runs", args.runs), ("seed", args.seed)) if v != parser.get_default(k)
    )
    section = [
        f"## Experiment statistics by simulation — {now} (commit {commit})",
        "",
        f"`{command}` — seed {args.seed}, {elapsed:.0f} s on 2 shared cores.",
        "",
    ]
    for title, header, rows in tables:
        section += [f"**{title}**", "", markdown_table(header, rows), ""]
    with args.results.open("a") as out:
        out.write("\n" + "\n".join(section) + "\n")
    console.print(f"appended to {args.results}")


if __name__ == "__main__":
    main()
