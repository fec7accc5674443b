"""`modelport invoke --async`, `modelport async list/show/cancel` in-process (the SDK against a server:
tests/async_inference/test_live_async.py)."""

from __future__ import annotations

import json
from pathlib import Path

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
