"""Server time of every console page at scale: 10,000 model versions, 200 endpoints.

    .venv/bin/python bench/console.py                 # --versions 10000 --endpoints 200 --repeat 40

Seeds a home (in a temporary folder): the test suite's churn classifier registered with its sample
(a real baseline), a monitor run and an experiment over real traffic (tests/ui/conftest.py ``seed_all``),
then 10,000 more versions (100 models of 100 versions; one of them, ``big``, 5,000) and 200 endpoints
written through the stores (the same rows registration writes, without re-uploading the artifact).
Tuning trials are not seeded: the console's Tuning section is a hook until a page for P12's jobs lands.

Each page is requested ``--repeat`` times through the real ASGI app in process, logged in with a read
token (no network: the time is the server's: routing, auth, database reads, rendering); p50/p95/max in
milliseconds. Target: p95 <= 200 ms for every page.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO))

TARGET_MS = 200.0


def seed(home: Path, versions: int, endpoints: int) -> dict[str, str]:
    from tests.ui.conftest import seed_all, train_churn

    from modelport.domain import ModelRef
    from modelport.endpoints.config import EndpointConfig, Variant
    from modelport.endpoints.store import EndpointStore
    from modelport.registry.store import RegistryStore
    from modelport.services import Services
    from modelport.settings import Settings

    work = home.parent / "work"
    work.mkdir()
    tokens = seed_all(home, train_churn(work))
    svc = Services.open(Settings(home=home))
    try:
        template = svc.registry.get_version(ModelRef.parse("churn:1"))
        store = RegistryStore(svc.db)
        started = time.perf_counter()
        big = versions // 2
        rest = versions - big
        plan = [("big", big)] + [(f"model-{i:03d}", rest // 99 + (i < rest % 99)) for i in range(99)]
        for name, count in plan:
            for n in range(count):
                store.add_version(
                    name,
                    format=template.format,
                    artifact_uri=template.artifact_uri,
                    sha256=template.sha256,
                    size=template.size,
                    files=template.files,
                    signature=template.signature,
                    metrics={"auc": 0.8 + (n % 100) / 1000},
                    params={"C": str(n % 7)},
                    tags={"team": f"t{n % 5}"},
                    source={"run": f"run-{n}"},
                    description="",
                    created_by="bench",
                    baseline=template.baseline,
                )
        print(f"seeded {sum(c for _, c in plan)} versions in {time.perf_counter() - started:.1f}s", flush=True)
        ep_store = EndpointStore(svc.db)
        for i in range(endpoints):
            model = f"model-{i % 99:03d}"
            config = EndpointConfig(
                variants=[
                    Variant(name="a", model=f"{model}:1", weight=80),
                    Variant(name="b", model=f"{model}:2", weight=20),
                ]
            )
            ep_store.create(f"ep-{i:03d}", config, created_by="bench")
        from modelport.db import tables

        trials = (
            "not seeded (the tables exist; the console's Tuning section is a hook until its own page lands)"
            if hasattr(tables, "tuning_trials_table")
            else "skipped (no tuning tables on this revision)"
        )
        print(f"seeded {endpoints} endpoints; tuning trials: {trials}", flush=True)
    finally:
        svc.close()
    return tokens


def measure(home: Path, tokens: dict[str, str], repeat: int) -> list[tuple[str, list[float]]]:
    import httpx

    from modelport.api.app import create_app
    from modelport.services import Services
    from modelport.settings import Settings

    svc = Services.open(Settings(home=home))
    # the app without its lifespan: nothing is served, so the 200 endpoints are not loaded; pages only read
    app = create_app(services=svc)
    loop = asyncio.new_event_loop()
    transport = httpx.ASGITransport(app=app)

    async def login() -> dict[str, str]:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench.local") as client:
            form = await client.get("/ui/login")
            import re

            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
            await client.post("/ui/login", data={"csrf": csrf, "next": "/ui/models", "token": tokens["read"]})
            return dict(client.cookies)

    cookies = loop.run_until_complete(login())
    cursor_page = loop.run_until_complete(_next_cursor(transport, cookies))
    pages = [
        ("models, first page", "/ui/models"),
        ("models, search", "/ui/models?q=model-05"),
        ("models, next page (cursor)", cursor_page),
        ("model with 5,000 versions", "/ui/models/big"),
        ("version (baseline histograms)", "/ui/models/big/versions/4000"),
        ("compare two versions", "/ui/models/big/compare?a=10&b=4000&diff=1"),
        ("endpoints, first page", "/ui/endpoints"),
        ("endpoints, later page", "/ui/endpoints?after=ep-150"),
        ("endpoint", "/ui/endpoints/ep-100"),
        ("endpoint live figures (JSON)", "/ui/endpoints/ep-100/live"),
        ("try it", "/ui/endpoints/ep-100/try"),
        ("monitoring", "/ui/monitoring"),
        ("monitor (heatmap, distributions)", "/ui/monitoring/churn-drift"),
        ("experiments", "/ui/experiments"),
        ("experiment", "/ui/experiments/churn-ab"),
        ("jobs", "/ui/jobs"),
        ("404 page", "/ui/models/big/versions/999999"),
    ]

    async def run() -> list[tuple[str, list[float]]]:
        out = []
        async with httpx.AsyncClient(transport=transport, base_url="http://bench.local", cookies=cookies) as client:
            for label, path in pages:
                times = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    answer = await client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    if answer.status_code not in (200, 404):
                        raise SystemExit(f"{path}: {answer.status_code} {answer.text[:200]}")
                out.append((f"{label} `{path}`", times))
        return out

    try:
        return loop.run_until_complete(run())
    finally:
        loop.close()
        svc.close()


async def _next_cursor(transport: Any, cookies: dict[str, str]) -> str:
    import html
    import re

    import httpx

    async with httpx.AsyncClient(transport=transport, base_url="http://bench.local", cookies=cookies) as client:
        first = await client.get("/ui/models")
        link = re.search(r'href="(/ui/models\?[^"]*cursor=[^"]+)"', first.text)
        return html.unescape(link.group(1)) if link else "/ui/models"


def main() -> None:
    import faulthandler

    faulthandler.dump_traceback_later(120, exit=True)  # a stuck run says where
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="modelport-console-bench-") as tmp:
        home = Path(tmp) / "home"
        tokens = seed(home, args.versions, args.endpoints)
        results = measure(home, tokens, args.repeat)
    print(f"\n| page | p50 ms | p95 ms | max ms | p95 <= {TARGET_MS:.0f} ms |\n|---|---|---|---|---|")
    worst = 0.0
    for label, times in results:
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        worst = max(worst, p95)
        print(f"| {label} | {statistics.median(times):.1f} | {p95:.1f} | {times[-1]:.1f} | {'yes' if p95 <= TARGET_MS else '**no**'} |")
    print(f"\nworst p95: {worst:.1f} ms ({'met' if worst <= TARGET_MS else 'NOT met'})")


if __name__ == "__main__":
    main()
