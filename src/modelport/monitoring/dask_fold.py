"""``--engine dask``: capture files folded by the tasks of a ``dask.distributed`` cluster.

A fold is per file and profiles merge exactly, so files are cut into tasks of
about ``TASK_RECORDS`` records (judged by size) and folded where they run;
each worker reads its files itself (local paths must be visible to the
workers; ``s3://`` capture always is).  The coordinator stores each task's
folded files as they come back, so a run interrupted halfway keeps what was
folded.  A file folds to the same profile in any task (rows are folded in a
canonical order), so the numbers are those of the local engine.

Without a scheduler address a local cluster of one worker process per core
is started (processes, where transform jobs use threads: decoding and folding
hold the GIL).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from modelport.errors import MissingExtra, Unavailable
from modelport.monitoring.capture import CaptureFile, CaptureLocation, FoldedFile, fold_files
from modelport.monitoring.profiles import Binning
from modelport.signature import Signature

#: bytes of capture per task (~10k records of 20 features)
TASK_BYTES = 8 * 1024 * 1024


def tasks(
    files: Sequence[CaptureFile], size: Callable[[CaptureFile], int], budget: int = TASK_BYTES
) -> list[list[CaptureFile]]:
    """Files cut into consecutive groups of about ``budget`` bytes."""
    out: list[list[CaptureFile]] = []
    current: list[CaptureFile] = []
    total = 0
    for f in files:
        current.append(f)
        total += size(f)
        if total >= budget:
            out.append(current)
            current, total = [], 0
    if current:
        out.append(current)
    return out


def fold_task(
    files: list[CaptureFile], location: CaptureLocation, signature: dict[str, Any], binning: list[Any]
) -> list[FoldedFile]:
    """One task, on a worker."""
    return list(fold_files(files, location, Signature.from_dict(signature), Binning.from_json(binning)))


def fold_on_dask(
    files: Sequence[CaptureFile],
    location: CaptureLocation,
    signature: Signature,
    binning: Binning,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
) -> Iterator[list[FoldedFile]]:
    """Fold ``files`` on a Dask cluster; yields each task's folded files as it finishes."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise MissingExtra.for_extra("dask", "--engine dask") from None
    if not files:
        return
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="20s")
        else:
            # processes, not threads: decoding and folding hold the GIL (unlike a transform job's Arrow and ONNX)
            cluster = LocalCluster(
                n_workers=max(1, min(workers or os.cpu_count() or 1, len(files))),
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
    except OSError as exc:
        raise Unavailable(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    futures: list[Any] = []
    try:
        groups = tasks(files, lambda f: f.size)
        args = (location, signature.to_dict(), binning.to_json())
        futures = [client.submit(fold_task, group, *args, pure=False) for group in groups]
        for future in as_completed(futures):
            yield future.result()
    except BaseException:
        client.cancel(futures, force=True)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
