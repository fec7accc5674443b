"""Transform jobs in the registry database, on SQLite and PostgreSQL: records, paging, one runner at a time."""

from __future__ import annotations

from pathlib import Path

import joblib
import pytest

from modelport.batch.spec import TransformSpec
from modelport.errors import Conflict, InvalidArgument
from modelport.services import Services
from tests.batch.conftest import FEATURES, BatchHome, write_csv


def test_jobs_on_both_databases(services: Services, batch_home: BatchHome, tmp_path: Path) -> None:
    joblib.dump(batch_home.model, tmp_path / "iris.joblib")
    batch_home.frame[FEATURES].to_csv(tmp_path / "sample.csv", index=False)
    services.registry.register(tmp_path / "iris.joblib", "iris", sample=tmp_path / "sample.csv")
    data = write_csv(batch_home.frame, tmp_path / "in.csv")
    spec = TransformSpec.build(model="iris", input=str(data), output=str(tmp_path / "out.csv"), max_payload_mb=0.01)
    transforms = services.transforms

    job = transforms.create(spec, created_by="ci")
    assert (job.status, job.model, job.runs, job.progress.inputs) == ("pending", "iris:1", 0, 1)
    done = transforms.run(job.id)
    assert (done.status, done.runs, done.progress.records, done.progress.inputs_done) == ("completed", 1, 600, 1)
    assert done.started_at is not None and done.finished_at is not None and done.progress.run_seconds > 0

    more = [transforms.create(spec, created_by="ci") for _ in range(3)]
    first = transforms.list(limit=2)
    assert [j.id for j in first.items] == [more[2].id, more[1].id]  # newest first
    second = transforms.list(limit=2, page_token=first.next_page_token)
    assert [j.id for j in second.items] == [more[0].id, job.id] and second.next_page_token is None
    assert [j.id for j in transforms.list(status="completed").items] == [job.id]
    with pytest.raises(InvalidArgument, match="invalid job status 'done'"):
        transforms.list(status="done")

    seen = more[0]
    transforms.store.claim(seen.id, seen=seen, host="elsewhere", pid=1)
    with pytest.raises(Conflict, match="was started or changed by another process"):
        transforms.store.claim(seen.id, seen=seen, host="here", pid=2)  # two resumes: one wins
    cancelled = transforms.cancel(more[1].id)
    assert cancelled.status == "cancelled"
    with pytest.raises(Conflict, match="already completed"):
        transforms.cancel(job.id)
