"""`modelport endpoints …` and `modelport invoke` in-process, as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def registered(cli, model_file: Path, other_model_file: Path, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    import pandas as pd
    from sklearn.datasets import load_iris

    x, _ = load_iris(return_X_y=True, as_frame=True)
    x.columns = [f"x{i}" for i in range(4)]
    sample = tmp_path / "rows.csv"
    x.iloc[:3].to_csv(sample, index=False)
    assert cli("models", "register", str(model_file), "--name", "churn")[0] == 0
    assert cli("models", "register", str(other_model_file), "--name", "churn")[0] == 0
    assert cli("models", "alias", "set", "churn@challenger", "2")[0] == 0
    del pd
    return sample


def test_endpoint_lifecycle(cli, registered: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli("endpoints", "create", "churn", "--variant", "a=churn:1:90", "--variant", "b=churn@challenger:10", "--capture", "20")
    assert code == 0, err
    assert "Created endpoint churn (revision 1)" in out and "90 (90%)" in out and "data capture: 20%" in out
    code, out, _ = cli("invoke", "churn", "--file", str(registered), "--variant", "b")
    assert code == 0
    assert json.loads(out)["predictions"][0]["label"] in (0, 1, 2)
    code, out, err = cli("invoke", "churn", "--json", '{"instances": [[5.1, 3.5, 1.4, 0.2]]}')
    assert code == 0 and "variant " in err and "inference id" in err
    assert cli("endpoints", "update", "churn", "--weights", "a=50,b=50")[0] == 0
    code, out, _ = cli("endpoints", "update", "churn", "--variant", "b=churn:1")
    assert code == 0 and "revision 3" in out
    code, out, _ = cli("endpoints", "update", "churn", "--shadow", "c=churn:2:50")
    assert code == 0 and "shadow 50%" in out
    code, out, _ = cli("endpoints", "rollback", "churn")
    assert code == 0 and "revision 5: rollback to revision 3" in out
    code, out, _ = cli("endpoints", "history", "churn", "--json")
    assert [h["action"] for h in json.loads(out)] == ["rollback", "update", "update", "update", "create"]
    code, out, _ = cli("endpoints", "show", "churn")
    assert code == 0 and "no live figures" in out
    listed = json.loads(cli("endpoints", "list", "--json")[1])
    assert [e["name"] for e in listed] == ["churn"]
    code, _, err = cli("models", "delete", "churn:1")
    assert code == 1 and "served by endpoint churn" in err
    assert cli("endpoints", "delete", "churn", "--yes")[0] == 0
    assert json.loads(cli("endpoints", "list", "--json")[1]) == []


def test_rollback_to_a_deleted_version_is_one_line_and_changes_nothing(cli, registered: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("endpoints", "create", "churn", "--variant", "a=churn:1")[0] == 0
    assert cli("endpoints", "update", "churn", "--variant", "a=churn:2")[0] == 0
    assert cli("models", "delete", "churn:1")[0] == 0
    code, out, err = cli("endpoints", "rollback", "churn")
    assert (code, out) == (1, "")
    assert err == (
        "error: cannot roll back endpoint 'churn' to revision 1: variant 'a' serves model version churn:1, "
        "which no longer exists\n"
    )
    history = json.loads(cli("endpoints", "history", "churn", "--json")[1])
    assert [h["revision"] for h in history] == [2, 1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("endpoints", "create", "e1"), "error: an endpoint needs at least one --variant"),
        (("endpoints", "create", "e1", "--variant", "a=churn:9"), "error: model version churn:9 does not exist"),
        (("endpoints", "create", "e1", "--variant", "a=churn:1:0"), "error: no live variant takes traffic"),
        (("endpoints", "create", "e1", "--variant", "a=churn:1", "--capture", "lots"), "error: invalid --capture 'lots'"),
        (("endpoints", "update", "ghost", "--weights", "a=1"), "error: endpoint 'ghost' does not exist"),
        (("invoke", "ghost", "--json", "[[1,2,3,4]]"), "error: endpoint 'ghost' does not exist"),
        (("invoke", "ghost"), "error: pass exactly one of --file or --json"),
    ],
)
def test_endpoint_errors(cli, registered: Path, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    code, _, err = cli(*args)
    assert code == 1
    assert err.strip().splitlines()[-1].startswith(message)


def test_in_process_invoke_loads_only_its_endpoint_and_captures(cli, registered: Path, home: Path, other_model_file: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("endpoints", "create", "good", "--variant", "a=churn:1", "--capture", "100")[0] == 0
    assert cli("endpoints", "create", "broken", "--variant", "a=churn:2")[0] == 0
    # damage the other endpoint's artifact in the store: loading it would fail loudly
    stored = [p for p in (home / "artifacts").rglob("*") if p.is_file() and p.read_bytes() == other_model_file.read_bytes()]
    assert stored
    for p in stored:
        p.chmod(0o644)
        p.write_bytes(b"damaged")

    code, out, err = cli("invoke", "good", "--file", str(registered), "--inference-id", "inv-local-1")
    assert code == 0, err
    assert "broken" not in err and "failed" not in err
    assert json.loads(cli("endpoints", "show", "broken", "--json")[1])["endpoint"]["status"] != "failed"
    # the endpoint's data capture applies in-process too (flushed when the client closes)
    records = [json.loads(line) for f in (home / "artifacts" / "capture" / "good" / "a").rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert [r["eventMetadata"]["inferenceId"] for r in records] == ["inv-local-1"]
    assert records[0]["captureData"]["endpointOutput"]["data"] == out.strip() + "\n" or json.loads(records[0]["captureData"]["endpointOutput"]["data"]) == json.loads(out)

    code, _, err = cli("invoke", "broken", "--file", str(registered))
    assert code == 1 and "failed to load" in err


def test_sticky_routing_and_the_shadow_report_in_show(cli, registered: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(
        "endpoints", "create", "churn", "--variant", "a=churn:1:50", "--variant", "b=churn:2:50",
        "--shadow", "s=churn:2", "--unit", "header:X-User-Id",
    )  # fmt: skip
    assert code == 0, err
    assert "routing: sticky by header:X-User-Id" in out
    code, out, err = cli("endpoints", "update", "churn", "--unit", "header:Nope Nope")
    assert code == 1 and "is not an HTTP header name" in err
    for _ in range(3):
        code, _, err = cli("invoke", "churn", "--file", str(registered))
        assert code == 0, err
    code, out, err = cli("endpoints", "show", "churn")
    assert code == 0, err
    assert "Shadows vs live on the same requests" in out and "3 requests, 9 rows" in out
    shown = json.loads(cli("endpoints", "show", "churn", "--json")[1])
    assert shown["endpoint"]["config"]["routing"]["unit"] == "header:X-User-Id"
    [report] = shown["shadows"]
    assert (report["variant"], report["model"], report["pairs"], report["rows"]) == ("s", "churn:2", 3, 9)
    assert report["failures"]["shadow_failures"] == 0 and report["agreement"]["rows"] == 9
    code, out, _ = cli("endpoints", "update", "churn", "--unit", "off")
    assert code == 0 and "routing:" not in out
    history = json.loads(cli("endpoints", "history", "churn", "--json")[1])
    assert [h["config"]["routing"]["unit"] for h in history] == [None, "header:X-User-Id"]
