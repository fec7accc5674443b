"""Feedback over the API, the SDK (in-process and remote) and the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

from modelport.client import Client
from modelport.errors import InvalidArgument, NotFound, PermissionDenied
from modelport.services import Services
from modelport.settings import Settings
from tests.monitoring.conftest import InProcess, remote_client


@pytest.fixture
def regressor_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LinearRegression

    x, y = load_iris(return_X_y=True)
    path = tmp_path_factory.mktemp("models") / "reg.joblib"
    joblib.dump(LinearRegression().fit(x, y.astype(float)), path)
    return path


def deploy(home: Path, model_file: Path, regressor_file: Path) -> None:
    svc = Services.open(Settings(home=home))
    try:
        svc.registry.register(model_file, "iris")
        svc.registry.register(regressor_file, "size")
        svc.endpoints.create("cls", [{"name": "a", "requested": "iris:1"}], created_by="me")
        svc.endpoints.create("reg", [{"name": "a", "requested": "size:1"}], created_by="me")
    finally:
        svc.close()


@pytest.fixture
def api(in_process: Callable[..., InProcess], tmp_path: Path, model_file: Path, regressor_file: Path) -> InProcess:
    app = in_process(tokens=("admin", "invoke", "read"), max_api_body_bytes=64 * 1024)
    deploy(tmp_path / "home0", model_file, regressor_file)
    return app


def test_json_and_csv_bodies_are_stored_and_resent_labels_replace(api: InProcess, tmp_path: Path) -> None:
    r = api.post(
        "/api/v1/endpoints/cls/feedback",
        token="invoke",
        json=[{"inference_id": "a", "label": "setosa"}, {"inference_id": "b", "label": ["x", None]}],
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 2, "updated": 0}
    r = api.post(
        "/api/v1/endpoints/cls/feedback?id_column=id&label_column=truth",
        token="admin",
        content=b"id,truth\na,versicolor\nc,setosa\n",
        headers={"Content-Type": "text/csv"},
    )
    assert r.json() == {"received": 2, "updated": 1}
    r = api.post(
        "/api/v1/endpoints/cls/feedback",
        token="invoke",
        content=b'{"inference_id": "d", "label": 1}\n',
        headers={"Content-Type": "application/jsonlines"},
    )
    assert r.json() == {"received": 1, "updated": 0}
    with closing(Services.open(Settings(home=tmp_path / "home0"))) as svc:
        labels = svc.feedback.store.labels_for("cls", ["a", "b", "c", "d"]).set_index("inference_id")["label"].to_dict()
    assert labels == {"a": "versicolor", "b": ["x", None], "c": "setosa", "d": 1}


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code", "message"),
    [
        ("/api/v1/endpoints/nope/feedback", b"[]", {}, 404, "NOT_FOUND", "endpoint 'nope' does not exist"),
        (
            "/api/v1/endpoints/cls/feedback",
            b'[{"inference_id": "a", "label": {"k": 1}}]',
            {},
            400,
            "INVALID_ARGUMENT",
            "record 1: the label must be a string, number or boolean (or a list of them), not an object",
        ),
        (
            "/api/v1/endpoints/reg/feedback",
            b"inference_id,label\na,1.5\nb,big\n",
            {"Content-Type": "text/csv"},
            400,
            "INVALID_ARGUMENT",
            "line 3: label str 'big' is not a number (endpoint 'reg' serves a regression model)",
        ),
        (
            "/api/v1/endpoints/cls/feedback",
            b"<x/>",
            {"Content-Type": "application/xml"},
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "feedback of type 'application/xml': send application/json, application/jsonlines or text/csv",
        ),
        (
            "/api/v1/endpoints/cls/feedback",
            b'{"inference_id": "a"}',
            {},
            400,
            "INVALID_ARGUMENT",
            'feedback must be a JSON list of records or {"records": [...]}, each {"inference_id": ..., "label": ...}',
        ),
        (
            "/api/v1/endpoints/cls/feedback",
            b"inference_id,label\n" + b"x" * 70_000 + b",1\n",
            {"Content-Type": "text/csv"},
            413,
            "PAYLOAD_TOO_LARGE",
            "request body of 70022 bytes exceeds the control API's limit of 65536 bytes",
        ),
    ],
    ids=["unknown-endpoint", "object-label", "word-for-a-regressor", "xml", "not-a-list", "too-large"],
)
def test_caller_mistakes_are_4xx_naming_the_record(
    api: InProcess, path: str, body: bytes, headers: dict[str, str], status: int, code: str, message: str
) -> None:
    r = api.post(path, token="invoke", content=body, headers={"Content-Type": "application/json", **headers})
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert error["message"].startswith(message)


def test_a_bad_request_stores_nothing(api: InProcess, tmp_path: Path) -> None:
    r = api.post(
        "/api/v1/endpoints/reg/feedback",
        token="invoke",
        json=[{"inference_id": "a", "label": 1}, {"inference_id": "b", "label": "x"}],
    )
    assert r.status_code == 400
    with closing(Services.open(Settings(home=tmp_path / "home0"))) as svc:
        assert svc.feedback.store.count("reg") == 0


def test_feedback_needs_the_invoke_scope(api: InProcess) -> None:
    assert api.post("/api/v1/endpoints/cls/feedback", json=[]).status_code == 401
    r = api.post("/api/v1/endpoints/cls/feedback", token="read", json=[])
    assert r.status_code == 403 and "this call needs 'invoke'" in r.json()["error"]["message"]


@pytest.mark.parametrize("mode", ["local", "remote"])
def test_sdk_sends_records_frames_and_files(api: InProcess, tmp_path: Path, mode: str) -> None:
    home = tmp_path / "home0"
    client = Client(home=home) if mode == "local" else remote_client(api, tmp_path / "client-home", "invoke")
    with client:
        assert client.send_feedback("cls", [{"inference_id": "a", "label": "setosa"}]).to_json() == {
            "received": 1,
            "updated": 0,
        }
        frame = pd.DataFrame({"id": ["a", "b"], "y": ["virginica", "setosa"]})
        assert client.send_feedback("cls", frame, id_column="id", label_column="y").to_json() == {
            "received": 2,
            "updated": 1,
        }
        (tmp_path / "labels.csv").write_text("inference_id,label\nc,1.5\n")
        assert client.feedback.send("reg", tmp_path / "labels.csv").received == 1
        with pytest.raises(NotFound, match="endpoint 'nope' does not exist"):
            client.send_feedback("nope", [{"inference_id": "a", "label": 1}])
        (tmp_path / "bad.csv").write_text("inference_id,label\nc,1.5\nd,2\ne,tall\n")
        with pytest.raises(InvalidArgument, match=r"^line 4: label str 'tall' is not a number"):
            client.feedback.send("reg", tmp_path / "bad.csv")


def test_remote_sdk_splits_large_sends_under_the_body_limit(api: InProcess, tmp_path: Path) -> None:
    records = [{"inference_id": f"id-{i:05d}", "label": "setosa"} for i in range(5000)]  # ~200 kB of JSON, limit 64 kB
    with remote_client(api, tmp_path / "client-home", "invoke") as client:
        client.feedback._chunk_bytes = 32 * 1024
        assert client.send_feedback("cls", records).to_json() == {"received": 5000, "updated": 0}
        records[4321]["label"] = {"nested": True}
        with pytest.raises(InvalidArgument, match=r"^record 4322: the label must be a string"):
            client.send_feedback("cls", records)
        (tmp_path / "big.csv").write_text(
            "inference_id,label\n" + "".join(f"id-{i:05d},{i}\n" for i in range(5000)) + "x,tall\n"
        )
        with pytest.raises(
            InvalidArgument,
            match=r"^line 5002: label str 'tall' is not a number .* \(\d{4} labels before it were stored; resending is safe\)$",
        ):
            client.feedback.send("reg", tmp_path / "big.csv")


def test_remote_sdk_needs_an_invoke_token(api: InProcess, tmp_path: Path) -> None:
    with remote_client(api, tmp_path / "client-home", "read") as client, pytest.raises(PermissionDenied):
        client.send_feedback("cls", [{"inference_id": "a", "label": 1}])


def test_cli_feedback_send(cli, tmp_path: Path, home: Path, model_file: Path, regressor_file: Path) -> None:  # type: ignore[no-untyped-def]
    deploy(home, model_file, regressor_file)
    (tmp_path / "l.csv").write_text('rid,truth,when\na,setosa,2024-05-01T12:00:00Z\nb,"[""setosa"", ""virginica""]",\n')
    code, out, err = cli(
        "feedback",
        "send",
        "cls",
        "--file",
        str(tmp_path / "l.csv"),
        "--id-column",
        "rid",
        "--label-column",
        "truth",
        "--timestamp-column",
        "when",
    )
    assert code == 0, err
    assert out.strip() == "Sent 2 labels for endpoint cls"
    (tmp_path / "l.jsonl").write_text('{"inference_id": "a", "label": "virginica"}\n')
    code, out, err = cli("feedback", "send", "cls", "--file", str(tmp_path / "l.jsonl"), "--json")
    assert code == 0, err
    assert json.loads(out) == {"endpoint": "cls", "received": 1, "updated": 1}
    code, out, err = cli("feedback", "send", "cls", "--file", str(tmp_path / "l.csv"))
    assert (
        code == 1
        and err.strip()
        == "error: the feedback CSV has no column 'inference_id' (--id-column); its columns: rid, truth, when"
    )
    code, out, err = cli("feedback", "send", "nope", "--file", str(tmp_path / "l.jsonl"))
    assert code == 1 and err.strip() == "error: endpoint 'nope' does not exist"
    code, out, err = cli("feedback", "send", "cls", "--file", str(tmp_path / "missing.csv"))
    assert code == 1 and "feedback file" in err and "does not exist" in err


@pytest.mark.slow
def test_cli_sends_feedback_to_a_live_server(
    cli, tmp_path: Path, model_file: Path, regressor_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """`modelport feedback send` with MODELPORT_URL: the file is read here, the labels stored by the server."""
    from tests import infra

    server_home = tmp_path / "server-home"
    deploy(server_home, model_file, regressor_file)
    with infra.live_server({"MODELPORT_HOME": str(server_home)}) as live:
        with Client(url=live.url) as client:
            inference_id = client.invoke("cls", [[5.1, 3.5, 1.4, 0.2]]).inference_id
        (tmp_path / "l.csv").write_text(f"inference_id,label\n{inference_id},0\nunknown-id,1\n")
        monkeypatch.setenv("MODELPORT_URL", live.url)
        code, out, err = cli("feedback", "send", "cls", "--file", str(tmp_path / "l.csv"), "--json", home_opt=False)
        assert code == 0, err
        assert json.loads(out) == {"endpoint": "cls", "received": 2, "updated": 0}
        code, out, err = cli("feedback", "send", "reg", "--file", str(tmp_path / "l.csv"), home_opt=False)
        assert code == 0 and out.strip() == "Sent 2 labels for endpoint reg"
    with closing(Services.open(Settings(home=server_home))) as svc:
        assert svc.feedback.store.labels_for("cls", [inference_id])["label"].tolist() == ["0"]
        assert svc.feedback.store.labels_for("reg", [inference_id])["label"].tolist() == [0.0]
