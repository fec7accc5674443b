"""Crash safety: a job killed with SIGKILL mid-run is resumed, and its output is byte-identical."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest

from modelport.client import Client
from tests import infra
from tests.batch.conftest import BatchHome, cli_env, write_csv


def _inputs(home: BatchHome, folder: Path) -> None:
    folder.mkdir()
    frame = pd.concat([home.frame] * 3, ignore_index=True)
    write_csv(frame.iloc[:900], folder / "a.csv")
    write_csv(frame.iloc[900:], folder / "b.csv.gz", gz=True)


def _committed(home: Path, job_id: str) -> int:
    return len(list((home / "jobs" / job_id).glob("o*/b*.json")))


@pytest.mark.slow  # a `modelport transform` process killed and resumed, twice
@pytest.mark.parametrize(
    ("output", "options"),
    [
        ("all.csv", {"engine": "local", "join_input": True, "output_filter": "id,label,proba_1"}),
        ("preds/", {"engine": "dask", "accept": "application/x-parquet", "join_input": True}),
    ],
)
def test_kill_9_then_resume_gives_the_uninterrupted_output(
    batch_home: BatchHome, tmp_path: Path, output: str, options: dict[str, object]
) -> None:
    _inputs(batch_home, tmp_path / "in")
    home = batch_home.home
    options = {"max_payload_mb": 0.002, **options}
    flags = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-").removesuffix("-mb")
        flags += [flag] if value is True else [flag, str(value)]

    # The reference: the same job, never interrupted.
    ref_out = tmp_path / "reference" / output
    with Client(home=home) as client:
        client.transform("slow:1", str(tmp_path / "in"), str(ref_out), **options)

    out = tmp_path / output
    proc = subprocess.Popen(
        [*infra.modelport_cmd(), "transform", "slow:1", "-i", str(tmp_path / "in"), "-o", str(out), *flags, "--home", str(home)],
        env=cli_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    with Client(home=home) as client:
        def running() -> str | None:
            for job in client.jobs.list(status="running").items:
                if job.spec.output.rstrip("/") == str(out).rstrip("/"):
                    return job.id
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            return None

        infra.wait_for(lambda: running() is not None, 60, "the job to start")
        job_id = running()
        assert job_id is not None
        infra.wait_for(lambda: _committed(home, job_id) >= 6, 60, "some blocks to be committed")
        proc.kill()  # SIGKILL: no clean-up of any kind
        proc.wait()
        assert client.jobs.show(job_id).status == "running"  # as the dead process left it
        assert not any(p.is_file() for p in [out, *(out.rglob("*") if out.is_dir() else [])])  # nothing half-written

        resumed = subprocess.run(
            [*infra.modelport_cmd(), "jobs", "resume", job_id, "--home", str(home)],
            env=cli_env(home), capture_output=True, text=True, timeout=120,
        )
        assert resumed.returncode == 0, resumed.stderr
        job = client.jobs.show(job_id)
    assert (job.status, job.runs) == ("completed", 2)
    assert job.progress.records == 1800
    assert not (home / "jobs" / job_id).exists()
    if out.is_dir():
        names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
        assert names == sorted(p.relative_to(ref_out).as_posix() for p in ref_out.rglob("*")) == [
            "a.csv.out",
            "b.csv.gz.out",
        ]
        for name in names:
            assert (out / name).read_bytes() == (ref_out / name).read_bytes()
    else:
        assert out.read_bytes() == ref_out.read_bytes()


def test_a_live_job_cannot_be_resumed_twice(batch_home: BatchHome, tmp_path: Path) -> None:
    _inputs(batch_home, tmp_path / "in")
    with Client(home=batch_home.home) as client:
        job = client.transform(
            "slow:1", str(tmp_path / "in"), str(tmp_path / "out/"), max_payload_mb=0.002, wait=False
        )
        try:
            from modelport.errors import Conflict

            with pytest.raises(Conflict, match=rf"job {job.id} is running \(process \d+ on "):
                client.jobs.resume(job.id)
        finally:
            client.jobs.cancel(job.id)
            final = client.jobs.wait(job.id, timeout=30)
    assert final.status == "cancelled"
    assert not (tmp_path / "out").exists()
    assert not (batch_home.home / "jobs" / job.id).exists()
