"""The Dask engine: the same blocks, scored by the tasks of a ``dask.distributed`` cluster.

Partitions follow the block grid (see :mod:`modelport.batch.blocks`): a run
of blocks of one text object (byte ranges aligned to line boundaries), one
Parquet row group, or a whole gzip object (a gzip stream cannot be entered
in the middle).  Each task scores its blocks with the model and commits them
to the staging area itself; the coordinator only learns what was committed,
finishes objects and writes outputs.  Since blocks are the same as the local
engine's, so are the outputs, byte for byte.

The model travels to the workers once (scattered, sha256-checked there) and
is loaded once per worker process.  Without ``--scheduler`` a local
in-process cluster is started: threads share one loaded model, and Arrow and
ONNX Runtime release the GIL.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelport.batch.blocks import count_blocks, open_stream, parquet_block_count, read_first_line
from modelport.batch.inputs import filesystem
from modelport.batch.plan import Plan
from modelport.batch.reader import ObjectEnd, parquet_layout, read_object
from modelport.batch.runner import Cancelled, JobRun
from modelport.batch.staging import Staging
from modelport.batch.transform import BlockProcessor
from modelport.domain import ModelVersion
from modelport.errors import DataLoss, MissingExtra, Unavailable
from modelport.scoring import LoadedModel

#: text blocks per task
BLOCKS_PER_TASK = 4


@dataclass(frozen=True)
class ModelPayload:
    """A model version and its bytes, as they are shipped to workers."""

    version: dict[str, Any]
    data: bytes
    sha256: str
    options: dict[str, Any]


@dataclass(frozen=True)
class Partition:
    obj: int
    first: int
    stop: int | None
    skip: frozenset[int] = field(default_factory=frozenset)


@dataclass
class PartitionResult:
    obj: int
    committed: list[tuple[int, dict[str, Any]]]
    blocks: int | None
    """The object's block count, when this task read it to its end."""
    bad: tuple[int, list[tuple[int, str]]] | None = None
    """(block, bad records) that stopped the task (``on_error=fail``)."""


def run_dask(
    run: JobRun,
    payload: ModelPayload,
    *,
    staging_url: str,
    scheduler: str | None,
    threads: int,
    s3_endpoint_url: str | None = None,
) -> None:
    """Score every block ``run`` has left on a Dask cluster; raises the first error, or Cancelled."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise MissingExtra.for_extra("dask", "--engine dask") from None
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="20s")
        else:
            cluster = LocalCluster(
                n_workers=1,
                threads_per_worker=threads,
                processes=False,
                dashboard_address=":0",  # a free port: never collide with another cluster on 8787
                silence_logs=logging.ERROR,
            )
            client = Client(cluster)
    except OSError as exc:
        raise Unavailable(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    inflight: set[Any] = set()
    try:
        slots = sum(client.nthreads().values()) + 1  # one task waiting per worker pool: flat memory
        model_f = client.scatter(payload, broadcast=True, hash=False)
        plan_f = client.scatter((staging_url, run.plan.to_dict()), broadcast=True, hash=False)
        work = iter(partitions(run, s3_endpoint_url))
        pending = as_completed()

        def submit() -> bool:
            part = next(work, None)
            if part is None:
                return False
            future = client.submit(run_partition, model_f, plan_f, part, staging_url, s3_endpoint_url, pure=False)
            inflight.add(future)
            pending.add(future)
            return True

        for _ in range(slots):
            if not submit():
                break
        for future in pending:
            inflight.discard(future)
            result: PartitionResult = future.result()
            for index, record in result.committed:
                run.on_block(result.obj, index, record)
            if result.bad is not None:
                run.check(result.obj, result.bad[0], result.bad[1])
            if result.blocks is not None:
                run.on_end(result.obj, result.blocks)
            if run.cancelled:
                raise Cancelled()
            submit()
    except BaseException:
        if inflight:
            client.cancel(list(inflight), force=True)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def partitions(run: JobRun, s3_endpoint_url: str | None = None) -> list[Partition]:
    """The tasks for the blocks left; objects whose block count is known are announced to ``run`` now."""
    plan = run.plan
    parts: list[Partition] = []
    for obj in run.todo():
        info = plan.objects[obj]
        skip = run.skip(obj)
        if plan.split == "none" or (plan.input_format != "parquet" and info.gzip):
            parts.append(Partition(obj, 0, None, skip))
            continue
        if plan.input_format == "parquet":
            slices = parquet_layout(plan, obj, s3_endpoint_url)
            ranges, base = [], 0
            for rows, per in slices:
                count = -(-rows // per) if rows else 0
                if count:
                    ranges.append((base, base + count))
                base += count
            n = parquet_block_count(slices)
        else:
            n = count_blocks(info.size, _data_start(plan, obj, s3_endpoint_url), plan.block_bytes)
            ranges = [(a, min(a + BLOCKS_PER_TASK, n)) for a in range(0, n, BLOCKS_PER_TASK)]
        run.on_end(obj, n)
        for a, b in ranges:
            left = [k for k in range(a, b) if k not in skip]
            if left:
                parts.append(Partition(obj, a, b, frozenset(k for k in skip if a <= k < b)))
    return parts


def _data_start(plan: Plan, obj: int, s3_endpoint_url: str | None) -> int:
    info = plan.objects[obj]
    fs, path = filesystem(info.url, s3_endpoint_url)
    with fs.open(path, "rb") as raw:
        return read_first_line(open_stream(raw, False), plan.header)[1]


# -- on the workers --------------------------------------------------------------------

_MODELS: dict[str, LoadedModel] = {}
_PLANS: dict[str, Plan] = {}
_LOCK = threading.Lock()


def run_partition(
    payload: ModelPayload,
    plan_data: tuple[str, dict[str, Any]],
    part: Partition,
    staging_url: str,
    s3_endpoint_url: str | None,
) -> PartitionResult:
    """One task: score and commit the partition's blocks."""
    model = _model(payload)
    plan = _plan(*plan_data)
    processor = BlockProcessor(plan, model)
    staging = Staging(staging_url, s3_endpoint_url)
    result = PartitionResult(obj=part.obj, committed=[], blocks=None)
    for item in read_object(plan, part.obj, first=part.first, stop=part.stop, skip=part.skip, s3_endpoint_url=s3_endpoint_url):
        if isinstance(item, ObjectEnd):
            result.blocks = item.blocks
            continue
        out = processor.run(item)
        if out.bad and plan.on_error == "fail":
            result.bad = (out.index, out.bad)
            return result
        data = processor.encode(out)
        record = out.record(len(data))
        staging.commit_block(part.obj, out.index, data, record)
        result.committed.append((out.index, record))
    return result


def _plan(key: str, data: dict[str, Any]) -> Plan:
    """One parsed plan per job (``key``: its staging URL) and worker process."""
    with _LOCK:
        plan = _PLANS.get(key)
        if plan is None:
            plan = _PLANS[key] = Plan.from_dict(data)
        return plan


def _model(payload: ModelPayload) -> LoadedModel:
    key = f"{payload.sha256}:{sorted(payload.options.items())}"
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            if hashlib.sha256(payload.data).hexdigest() != payload.sha256:
                raise DataLoss(f"the model bytes a Dask worker received do not match sha256 {payload.sha256}")
            folder = Path(tempfile.gettempdir()) / "modelport-dask" / payload.sha256[:2]
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / payload.sha256
            if not path.exists():
                tmp = folder / f"{payload.sha256}.{os.getpid()}.tmp"
                tmp.write_bytes(payload.data)
                os.replace(tmp, path)
            version = ModelVersion.model_validate(payload.version)
            model = _MODELS[key] = LoadedModel.from_path(version, path, shared=payload.options)
        return model
