"""client.tuning against a live server: the verbs the in-process tests use, over HTTP, with the same errors."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest

from modelport.client import Client
from modelport.errors import Conflict, NotFound
from modelport.tuning.runner import RunProgress
from tests import infra
from tests.tuning.fixtures import MODULE


@pytest.mark.slow
def test_the_sdk_runs_shows_lists_exports_and_stops_against_a_server(server: infra.LiveServer, workdir: Path, tmp_path: Path) -> None:
    client = Client(url=server.url)
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    seen: list[RunProgress] = []
    job = client.tuning.run(
        name=name, objectives=["score:max"], params=["x=float:-5:5"], trials=5, parallel=2, seed=2,
        trial=f"{MODULE}:quadratic", workdir=str(workdir), progress=seen.append,
    )  # fmt: skip
    assert job.status == "completed" and job.finished_trials == 5
    assert seen and seen[-1].done == 5 and seen[-1].best == job.best.values[0]  # type: ignore[union-attr]
    shown = client.tuning.show(name)
    assert [t.number for t in shown.trials] == list(range(5)) and set(shown.importances) == {"x"}
    assert name in [j.name for j in client.tuning.list(limit=100).items]
    path = client.tuning.export(name, tmp_path / "t.csv")
    assert list(pd.read_csv(path)["number"]) == [0, 1, 2, 3, 4]
    assert client.tuning.stop(name).status == "completed"  # a finished job stays as it is
    with pytest.raises(Conflict, match=f"tuning job {name} already completed"):
        client.tuning.resume(name)
    with pytest.raises(NotFound, match="tuning job 'absent' does not exist"):
        client.tuning.show("absent")
    client.close()
