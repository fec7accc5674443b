"""`modelport invoke --async`, `modelport async list/show/cancel` in-process, and the SDK against a live server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelport.client import Client
from tests import infra

ROWS = "5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"


def test_invoke_async_waits_for_the_output_and_async_commands_show_it(cli, model_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "in.csv"
    data.write_text(ROWS * 50)
    assert cli("models", "register", str(model_file), "--name", "iris")[0] == 0
    assert cli("endpoints", "create", "iris", "--variant", "a=iris:1")[0] == 0
    code, _, err = cli("invoke", "iris", "--async", "--file", str(data))
    assert code == 1 and err.strip() == (
        "error: endpoint 'iris' is not configured for asynchronous inference: "
        "`modelport endpoints update iris --async-output PATH` turns it on"
    )
    out_dir = tmp_path / "out"
    code, out, _ = cli("endpoints", "update", "iris", "--async-output", str(out_dir))
    assert code == 0 and f"asynchronous inference: outputs → {out_dir}" in out
    code, out, err = cli("invoke", "iris", "--async", "--file", str(data), "--inference-id", "first")
    assert code == 0, err
    assert "completed" in out and "first" in out
    assert len((out_dir / "first.out").read_text().splitlines()) == 100
    code, out, _ = cli("invoke", "iris", "--async", "--file", str(data), "--no-wait")
    queued_id = out.strip()
    assert code == 0 and len(queued_id) == 36
    shown = json.loads(cli("async", "show", queued_id, "--json")[1])
    assert (shown["status"], shown["input_location"]) == ("queued", str(data))
    cancelled = json.loads(cli("async", "cancel", queued_id, "--json")[1])
    assert cancelled["status"] == "cancelled"
    listed = json.loads(cli("async", "list", "--endpoint", "iris", "--json")[1])
    assert [(i["id"], i["status"]) for i in listed] == [(queued_id, "cancelled"), ("first", "completed")]
    code, out, _ = cli("async", "list")
    assert code == 0 and "first" in out and "completed" in out
    code, _, err = cli("async", "show", "nope")
    assert (code, err.strip()) == (1, "error: no async inference 'nope'")


@pytest.mark.slow
def test_the_sdk_uploads_a_file_to_a_server_and_waits(model_file: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Client(home=home) as local:
        local.models.register(model_file, name="iris")
        local.endpoints.create("iris", ["a=iris:1"], async_inference={})
    data = tmp_path / "in.csv"
    data.write_text(ROWS * 10)
    with infra.live_server({"MODELPORT_HOME": str(home), "MODELPORT_ASYNC_POLL_S": "0.2"}) as server, Client(
        url=server.url
    ) as remote:
        item = remote.async_inference.submit("iris", file=data, content_type="text/csv")
        assert item.input_location.startswith(str(home / "artifacts" / "async" / "inputs"))
        seen: list[str] = []
        done = remote.async_inference.wait(item.id, timeout=60, progress=lambda i: seen.append(i.status))
        assert done.status == "completed" and seen[-1] == "completed"
        assert done.output_location == f"{home / 'artifacts'}/async/iris/output/{item.id}.out"
        assert len(Path(done.output_location).read_text().splitlines()) == 20
        assert remote.async_inference.show(item.id).progress["fraction"] == 1.0  # type: ignore[index]
