"""Aggregate the runs, judge the targets, render the tables (terminal and RESULTS.md).

Over rounds: req/s is total requests over total time, p50 the mean of the
rounds' p50s, p99 the worst round's p99, errors the sum, RSS the peak;
start-up and cold start the median, and the cold-start target uses the worst.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from loadgen import LoadResult

CONCURRENCIES = (1, 16, 64)


@dataclass(frozen=True)
class Run:
    """One measured wrk run against one server."""

    load: LoadResult
    rss_bytes: int
    server_cpu_s: float
    other_cpu_pct: float
    """CPU used by neither the server nor wrk, as % of the machine: other people's work."""


@dataclass
class ServerRecord:
    key: str
    label: str
    versions: str
    workers: int | None = None
    notes: list[str] = field(default_factory=list)
    runs: dict[int, list[Run]] = field(default_factory=dict)
    startups: list[float] = field(default_factory=list)
    cold_first: list[float] = field(default_factory=list)
    cold_again: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    warmup_errors: int = 0


@dataclass(frozen=True)
class Level:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    rss_mb: float
    cpu_ms_per_req: float
    other_cpu_pct: float
    spread_pct: float | None
    """(max - min) / mean of the rounds' req/s: how much the machine drifted (None with one round)."""


def level(runs: Sequence[Run]) -> Level | None:
    if not runs:
        return None
    requests = sum(r.load.requests for r in runs)
    seconds = sum(r.load.seconds for r in runs)
    per_round = [r.load.rps for r in runs]
    mean_rps = statistics.fmean(per_round)
    return Level(
        rps=requests / seconds if seconds else 0.0,
        p50_ms=statistics.fmean(r.load.p50_ms for r in runs),
        p99_ms=max(r.load.p99_ms for r in runs),
        errors=sum(r.load.errors for r in runs),
        requests=requests,
        rss_mb=max(r.rss_bytes for r in runs) / 2**20,
        cpu_ms_per_req=1000 * sum(r.server_cpu_s for r in runs) / requests if requests else float("nan"),
        other_cpu_pct=statistics.fmean(r.other_cpu_pct for r in runs),
        spread_pct=100 * (max(per_round) - min(per_round)) / mean_rps if mean_rps and len(runs) > 1 else None,
    )


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


# -- targets ----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    text: str
    value: str
    met: bool | None
    margin: str


def _at_least(text: str, value: float | None, goal: float, fmt: str) -> Target:
    if value is None:
        return Target(text, "n/a", None, "not measured")
    met = value >= goal
    pct = 100 * (value / goal - 1)
    margin = f"{pct:+.0f}% vs target" if met else f"{-pct:.0f}% short ({goal / value:.2f}x needed)" if value > 0 else "nothing measured"
    return Target(text, fmt.format(value), met, margin)


def _at_most(text: str, value: float | None, limit: float, fmt: str) -> Target:
    if value is None:
        return Target(text, "n/a", None, "not measured")
    met = value <= limit
    pct = 100 * (value / limit - 1)
    margin = f"{-pct:.0f}% under the limit" if met else f"{pct:.0f}% over the limit ({value / limit:.2f}x)"
    return Target(text, fmt.format(value), met, margin)


def targets(records: dict[str, ServerRecord], workers: Sequence[int]) -> list[Target]:
    def lv(key: str, c: int) -> Level | None:
        rec = records.get(key)
        return level(rec.runs.get(c, [])) if rec else None

    out: list[Target] = []
    mls_b = lv("mlserver-batch", 64)
    for w in workers:
        sfx = "" if w == 1 else f"-w{w}"
        tag = f" [{w} worker{'s' if w > 1 else ''}]"
        onnx64, onnx1 = lv(f"mp-onnx{sfx}", 64), lv(f"mp-onnx{sfx}", 1)
        asgi64, pickle64 = lv(f"asgi{sfx}", 64), lv(f"mp-pickle{sfx}", 64)
        ratio = onnx64.rps / asgi64.rps if onnx64 and asgi64 and asgi64.rps else None
        out.append(_at_least("ONNX c=64 req/s ≥ 50% of bare ASGI" + tag, None if ratio is None else 100 * ratio, 50, "{:.0f}%"))
        out.append(_at_most("ONNX c=64 p99 ≤ 25 ms" + tag, onnx64.p99_ms if onnx64 else None, 25, "{:.1f} ms"))
        x = onnx64.rps / mls_b.rps if onnx64 and mls_b and mls_b.rps else None
        out.append(_at_least("ONNX c=64 req/s ≥ 30x MLServer (batching)" + tag, x, 30, "{:.1f}x"))
        out.append(_at_most("ONNX c=1 p50 ≤ 0.5 ms" + tag, onnx1.p50_ms if onnx1 else None, 0.5, "{:.2f} ms"))
        x = pickle64.rps / mls_b.rps if pickle64 and mls_b and mls_b.rps else None
        out.append(_at_least("pickle c=64 req/s ≥ 3x MLServer (batching)" + tag, x, 3, "{:.1f}x"))
        rec = records.get(f"mp-onnx{sfx}")
        colds = (rec.cold_first + rec.cold_again) if rec else []
        out.append(_at_most("ONNX cold start < 1 s (worst of all tries)" + tag, max(colds) if colds else None, 1.0, "{:.2f} s"))
        mp = [r for k, r in records.items() if k.startswith("mp-") and r.workers == w]
        errors = sum(run.load.errors for r in mp for runs in r.runs.values() for run in runs)
        measured = any(r.runs for r in mp)
        failed = any(r.failures for r in mp)
        out.append(
            Target(
                "zero errors (modelport runs)" + tag,
                "n/a" if not measured else str(errors) + (" + failed visits" if failed else ""),
                None if not measured else errors == 0 and not failed,
                "" if not measured else ("none" if errors == 0 and not failed else f"{errors} errors"),
            )
        )
    return out


# -- tables -----------------------------------------------------------------------

HEADER = [
    "server", "c", "req/s", "x ONNX", "p50 ms", "p99 ms", "p99 x ONNX", "errors",
    "RSS MB", "CPU ms/req", "start-up s", "spread", "other CPU",
]


def _f(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def result_rows(records: dict[str, ServerRecord]) -> list[list[str]]:
    rows: list[list[str]] = []
    for rec in records.values():
        base_key = "mp-onnx" if rec.workers in (None, 1) else f"mp-onnx-w{rec.workers}"
        base = records.get(base_key)
        if rec.failures and not rec.runs:
            rows.append([rec.label, "-", "failed: " + rec.failures[0][:80], *[""] * (len(HEADER) - 3)])
            continue
        startup = median(rec.startups)
        for c in CONCURRENCIES:
            lv = level(rec.runs.get(c, []))
            if lv is None:
                continue
            ref = level(base.runs.get(c, [])) if base else None
            rows.append(
                [
                    rec.label,
                    str(c),
                    f"{lv.rps:,.0f}",
                    _f(lv.rps / ref.rps if ref and ref.rps else None, "{:.2f}x"),
                    f"{lv.p50_ms:.2f}",
                    f"{lv.p99_ms:.2f}",
                    _f(lv.p99_ms / ref.p99_ms if ref and ref.p99_ms else None, "{:.1f}x"),
                    f"{lv.errors:,}",
                    f"{lv.rss_mb:,.0f}",
                    f"{lv.cpu_ms_per_req:.2f}",
                    _f(startup, "{:.2f}") if c == CONCURRENCIES[0] else "",
                    _f(lv.spread_pct, "{:.0f}%"),
                    f"{lv.other_cpu_pct:.0f}%",
                ]
            )
    return rows


def cold_rows(records: dict[str, ServerRecord]) -> list[list[str]]:
    rows = []
    for rec in records.values():
        if rec.cold_first or rec.cold_again:
            rows.append(
                [
                    rec.label,
                    _f(median(rec.cold_first), "{:.2f}"),
                    _f(median(rec.cold_again), "{:.2f}"),
                    _f(max(rec.cold_first + rec.cold_again), "{:.2f}"),
                    str(len(rec.cold_first) + len(rec.cold_again)),
                ]
            )
    return rows


COLD_HEADER = ["modelport config", "first endpoint, fresh server (s)", "another endpoint, same server (s)", "worst (s)", "tries"]
TARGET_HEADER = ["target", "measured", "met", "by how much"]


def target_rows(ts: Sequence[Target]) -> list[list[str]]:
    return [[t.text, t.value, {True: "met", False: "MISSED", None: "n/a"}[t.met], t.margin] for t in ts]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    right = {i for i, h in enumerate(header) if i > 0}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def rich_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]):  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right")
    previous = None
    for row in rows:
        if previous is not None and row[0] != previous:
            table.add_section()
        table.add_row(*row)
        previous = row[0]
    return table
