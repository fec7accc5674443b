"""Jobs as records: the CLI, the SDK against a live server, the API's scopes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from modelport.client import Client
from modelport.errors import Conflict, InvalidArgument, NotFound
from tests.batch.conftest import ApiHome, BatchHome, write_csv


@pytest.fixture
def run(cli, batch_home: BatchHome):  # type: ignore[no-untyped-def]
    """``modelport ARGS --home <batch home>`` in-process: (exit code, stdout, stderr)."""
    return lambda *args: cli(*args, "--home", str(batch_home.home), home_opt=False)


def test_transform_and_jobs_commands(run, batch_home: BatchHome, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(batch_home.frame, tmp_path / "in.csv")
    out = tmp_path / "out.csv"
    code, stdout, stderr = run("transform", "iris:1", "-i", str(path), "-o", str(out), "--join-input", "--max-payload", "0.01")
    assert code == 0, stderr
    assert "completed" in stdout and "600" in stdout and f"output: {out}" in stdout
    job_id = stderr.split()[1].rstrip(":")  # "job tj-…: iris:1 in.csv → out.csv" when not on a terminal
    assert job_id.startswith("tj-")

    code, stdout, _ = run("jobs", "list", "--json")
    listed = json.loads(stdout)
    assert listed[0]["id"] == job_id and listed[0]["status"] == "completed"

    code, stdout, _ = run("jobs", "show", job_id)
    assert code == 0 and "join_input" in stdout and "600 (0 bad, 600 written)" in stdout

    code, _, stderr = run("jobs", "resume", job_id)
    assert (code, stderr.strip()) == (1, f"error: job {job_id} already completed")


def test_cli_errors_are_one_line(run, batch_home: BatchHome, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(batch_home.frame.head(3), tmp_path / "in.csv")
    code, _, stderr = run("transform", "iris:1", "-i", str(path), "-o", str(tmp_path / "o.csv"), "--output-filter", "nope")
    assert code == 1
    assert stderr.startswith("error: output filter 'nope': there is no column 'nope'")
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    code, _, stderr = run("jobs", "show", "tj-nope")
    assert (code, stderr.strip()) == (1, "error: transform job 'tj-nope' does not exist")
    code, _, stderr = run("transform", "iris:1", "-i", str(path), "-o", "x.csv", "--detach")
    assert stderr.startswith("error: --detach needs a server")


def test_cancel_a_failed_job(run, client: Client, batch_home: BatchHome, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "in.csv"
    path.write_text("sl,sw,pl,pw\n1,2,3,x\n")
    with pytest.raises(InvalidArgument, match="row 2"):
        client.transform("iris:1", str(path), str(tmp_path / "o.csv"))
    job = client.jobs.list(status="failed").items[0]
    code, stdout, _ = run("jobs", "cancel", job.id)
    assert code == 0 and f"job {job.id}: cancelled" in stdout
    with pytest.raises(Conflict, match="was cancelled; start a new job"):
        client.jobs.resume(job.id)


# -- against a live server ---------------------------------------------------------------


def _remote(api: ApiHome, token: str | None = None) -> Client:
    return Client(url=api.server.url, token=token or api.admin)


def test_remote_transform_matches_local(api_home: ApiHome, tmp_path: Path) -> None:
    with _remote(api_home) as remote, Client(home=api_home.home) as local:
        seen = []
        job = remote.transform(
            "iris:1", str(api_home.data / "in.csv"), str(tmp_path / "remote.csv"), join_input=True, progress=seen.append
        )
        assert job.status == "completed" and seen[0].id == job.id
        local.transform("iris:1", str(api_home.data / "in.csv"), str(tmp_path / "local.csv"), join_input=True)
        # Same bytes: both cut the input by the same block grid and score each block alike.
        assert (tmp_path / "remote.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
        assert remote.jobs.show(job.id) == local.jobs.show(job.id)
        assert job.id in [j.id for j in remote.jobs.list(status="completed").items]


def test_remote_errors_are_the_local_errors(api_home: ApiHome, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("sl,sw,pl,pw\n1,2,3,4\n1,2,3,x\n")
    with _remote(api_home) as remote, Client(home=api_home.home) as local:
        messages = []
        for client in (local, remote):
            with pytest.raises(InvalidArgument) as refused:
                client.transform("iris:1", str(bad), str(tmp_path / "o.csv"), input_filter="$[9]")
            with pytest.raises(InvalidArgument) as failed:
                client.transform("iris:1", str(bad), str(tmp_path / "o.csv"))
            with pytest.raises(NotFound) as missing:
                client.jobs.show("tj-missing")
            messages.append((refused.value.message, failed.value.message.split(" failed: ")[1], missing.value.message))
        assert messages[0] == messages[1]
        assert messages[0][1].startswith("bad.csv row 3: column 'pw': 'x' is not a number (float64)")


def test_remote_cancel_and_resume(api_home: ApiHome, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for i in range(3):
        (big / f"{i}.csv").write_bytes((api_home.data / "in.csv").read_bytes())
    with _remote(api_home) as remote:
        job = remote.transform("slow:1", str(big), str(tmp_path / "out/"), max_payload_mb=0.002, wait=False)
        assert job.status == "running"
        with pytest.raises(Conflict, match="is running"):
            remote.jobs.resume(job.id)
        remote.jobs.cancel(job.id)
        final = remote.jobs.wait(job.id, timeout=30)
        assert final.status == "cancelled"
        assert 0 < final.progress.records < 1800 or final.progress.records == 0
        assert not (tmp_path / "out").exists()


def test_scopes(api_home: ApiHome, tmp_path: Path) -> None:
    url = f"{api_home.server.url}/api/v1/jobs"
    body = {"model": "iris:1", "input": str(api_home.data / "in.csv"), "output": str(tmp_path / "o.csv")}
    read = {"Authorization": f"Bearer {api_home.reader}"}
    admin = {"Authorization": f"Bearer {api_home.admin}"}
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers=read).status_code == 200
    denied = httpx.post(url, json=body, headers=read)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "PERMISSION_DENIED"
    bad = httpx.post(url, json={**body, "split": "RecordIO"}, headers=admin)
    assert bad.status_code == 400 and "split" in bad.json()["error"]["message"]
    created = httpx.post(url, json=body, headers=admin)
    assert created.status_code == 201
    job_id = created.json()["id"]
    assert httpx.post(f"{url}/{job_id}/cancel", headers=read).status_code == 403
    assert httpx.get(f"{url}/{job_id}", headers=read).json()["spec"]["model"] == "iris:1"
