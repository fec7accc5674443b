"""20 parallel registrations of one model get 20 distinct consecutive versions.

Threads share one process; processes each open their own engine, like 20
CLI invocations or server workers would.  Both on SQLite and PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest

from modelport.services import Services
from modelport.settings import Settings

N = 20


def test_parallel_threads_get_consecutive_versions(settings: Settings, model_file: Path) -> None:
    svc = Services.open(settings)
    barrier = threading.Barrier(N)

    def register(_: int) -> int:
        barrier.wait()
        return svc.registry.register(model_file, "concurrent").version

    try:
        with ThreadPoolExecutor(N) as pool:
            versions = list(pool.map(register, range(N)))
        assert sorted(versions) == list(range(1, N + 1))
        assert [v.version for v in svc.registry.list_versions("concurrent").items] == list(range(N, 0, -1))
    finally:
        svc.close()


def _register_in_process(args: tuple[dict[str, str], str, object]) -> int:
    env, path, barrier = args
    svc = Services.open(Settings(**env))
    try:
        barrier.wait()  # type: ignore[attr-defined]
        return svc.registry.register(path, "concurrent").version
    finally:
        svc.close()


@pytest.mark.slow  # 20 processes
def test_parallel_processes_get_consecutive_versions(settings: Settings, model_file: Path) -> None:
    Services.open(settings).close()  # schema first, as a deployment would
    ctx = multiprocessing.get_context("forkserver")
    # Children fork from a server that already imported the heavy parts: this
    # measures registration, not 20 cold imports of scikit-learn on 2 cores.
    ctx.set_forkserver_preload(
        ["modelport.services", "modelport.registration", "modelport.runtimes.sklearn", "sklearn.linear_model", "psycopg"]
    )
    env = {"home": str(settings.home), "database_url": settings.resolved_database_url}
    with ctx.Manager() as manager:
        barrier = manager.Barrier(N)
        with ProcessPoolExecutor(N, mp_context=ctx) as pool:
            versions = list(pool.map(_register_in_process, [(env, str(model_file), barrier)] * N))
    assert sorted(versions) == list(range(1, N + 1))
    svc = Services.open(settings)
    try:
        assert len(svc.registry.list_versions("concurrent").items) == N
    finally:
        svc.close()
