"""Pickles never run code the operator did not trust.

The attack: a pickle whose ``__reduce__`` calls ``os.system``.  Registered
through the CLI or the API it is refused by name before anything unpickles it,
and the command never runs (its marker file never appears).  The scan reads
joblib files (compressed or not, with object arrays), plain pickles and
PyTorch archives; what the libraries modelport serves write passes it.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import httpx
import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelport.client import Client
from modelport.errors import InvalidArgument, PermissionDenied
from modelport.pickles import allowed, check_pickle, scan_file
from tests import infra
from tests.cli.conftest import cli  # noqa: F401  (the in-process CLI runner)
from tests.runtimes.fixtures import RunsCommand, UnpickleRecorder


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "PWNED"


def evil_files(folder: Path, marker: Path) -> dict[str, Path]:
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(x, y)
    files = {
        "pickle": folder / "evil.pkl",
        "joblib": folder / "evil.joblib",
        "joblib-zlib": folder / "evil-z.joblib",
        "object-array": folder / "evil-array.joblib",
    }
    files["pickle"].write_bytes(pickle.dumps(RunsCommand(str(marker))))
    joblib.dump({"model": model, "payload": RunsCommand(str(marker))}, files["joblib"])
    joblib.dump([model, RunsCommand(str(marker))], files["joblib-zlib"], compress=3)
    joblib.dump([np.arange(5.0), np.array([RunsCommand(str(marker)), 1], dtype=object)], files["object-array"])
    return files


def test_the_scan_names_what_a_pickle_would_import_without_running_it(tmp_path: Path, marker: Path) -> None:
    for kind, path in evil_files(tmp_path, marker).items():
        result = scan_file(path, "sklearn")
        assert result.refused == ("posix.system",), kind
        with pytest.raises(InvalidArgument, match=r"refusing to unpickle .* it would import posix.system"):
            check_pickle(path, "sklearn", trusted=False)
    assert not marker.exists()


@pytest.mark.parametrize("compress", [0, 3, ("lzma", 3), ("gzip", 3)])
def test_what_the_served_libraries_write_passes(tmp_path: Path, compress: object) -> None:
    import lightgbm
    import xgboost

    x, y = load_iris(return_X_y=True, as_frame=True)
    models = {
        "forest": RandomForestClassifier(5, random_state=np.random.RandomState(0)).fit(x, y),
        "pipeline": make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(x, y),
        "xgboost": xgboost.XGBClassifier(n_estimators=3).fit(x, y),
        "lightgbm": lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(x, y),
        "frame": x.assign(kind=np.where(y > 0, "a", "b")),
    }
    for name, model in models.items():
        path = tmp_path / f"{name}.joblib"
        joblib.dump(model, path, compress=compress)
        assert scan_file(path, "sklearn").refused == (), name
        for protocol in (2, 5):
            path.write_bytes(pickle.dumps(model, protocol=protocol))
            assert scan_file(path, "sklearn").refused == (), (name, protocol)


def test_pytorch_archives_are_scanned(tmp_path: Path, marker: Path) -> None:
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(4, 2))
    torch.save(net, tmp_path / "net.pt")
    torch.save(net, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    assert scan_file(tmp_path / "net.pt", "torch").refused == ()
    assert scan_file(tmp_path / "legacy.pt", "torch").refused == ()
    torch.save({"net": net, "payload": RunsCommand(str(marker))}, tmp_path / "evil.pt")
    assert scan_file(tmp_path / "evil.pt", "torch").refused == ("posix.system",)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("builtins", "getattr"),
        ("builtins", "eval"),
        ("sklearn.utils", "os.system"),  # a dotted name walks into a module the allowed one imported
        ("numpy", "load"),
        ("joblib", "load"),
        ("pandas", "read_pickle"),
        ("numpy.testing._private.utils", "runstring"),
        ("scipy.io", "loadmat"),
        ("torch", "load"),
        ("subprocess", "Popen"),
    ],
)
def test_the_allow_list_refuses_loaders_and_escapes(module: str, name: str) -> None:
    assert not allowed(module, name, torch=True)


def test_cli_refuses_the_attack_and_trust_is_explicit(cli, tmp_path: Path, marker: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    code, _, err = cli("models", "register", str(evil_files(tmp_path, marker)["joblib"]), "--name", "evil")
    assert code == 1 and "posix.system" in err and "--trust" in err
    assert not marker.exists()
    assert json.loads(cli("models", "list", "--json")[1])["items"] == []

    recorder = tmp_path / "recorder.joblib"
    joblib.dump(UnpickleRecorder(str(tmp_path / "pids")), recorder)
    code, _, err = cli("models", "register", str(recorder), "--name", "custom")
    assert code == 1 and "tests.runtimes.fixtures.UnpickleRecorder" in err
    code, _, err = cli("models", "register", str(recorder), "--name", "custom", "--trust", "--signature", str(_signature(tmp_path)))
    assert code == 0, err


def _signature(folder: Path) -> Path:
    path = folder / "signature.json"
    columns = [{"name": c, "dtype": "float64"} for c in ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")]
    path.write_text(json.dumps({"inputs": columns}))
    return path


@pytest.mark.slow
def test_api_refuses_the_attack_and_loads_trusted_pickles_outside_the_server(tmp_path: Path, marker: Path) -> None:
    home = tmp_path / "home"
    with Client(home=home) as local:
        admin = local.tokens.create("admin", "ops").secret
        trusting = local.tokens.create("trust-code", "release").secret
    recorder = tmp_path / "recorder.joblib"
    pids = tmp_path / "pids"
    joblib.dump(UnpickleRecorder(str(pids)), recorder)
    env = {"MODELPORT_HOME": str(home), "PYTHONPATH": str(infra.REPO)}
    with infra.live_server(env) as live:
        with Client(url=live.url, token=admin) as client:
            for path in evil_files(tmp_path, marker).values():
                with pytest.raises(InvalidArgument, match="posix.system"):
                    client.models.register(path, "evil")
            with pytest.raises(PermissionDenied, match="needs a trust-code token"):
                client.models.register(recorder, "custom", trust=True, signature=json.loads(_signature(tmp_path).read_text()))
        with Client(url=live.url, token=trusting) as client:
            mv = client.models.register(recorder, "custom", trust=True, signature=json.loads(_signature(tmp_path).read_text()))
        assert mv.version == 1
        assert not marker.exists()
        loaded_in = {int(p) for p in pids.read_text().split()}
        assert loaded_in and live.proc.pid not in loaded_in and os.getpid() not in loaded_in
        assert httpx.get(f"{live.url}/ping").status_code == 200


@pytest.mark.slow
def test_pickles_can_be_refused_altogether(tmp_path: Path, model_file: Path) -> None:
    home = tmp_path / "home"
    with Client(home=home) as local:  # registered while pickles were allowed
        local.models.register(model_file, "iris")
        local.endpoints.create("iris", [{"name": "a", "requested": "iris:1"}])
    env = {"MODELPORT_HOME": str(home), "MODELPORT_ALLOW_PICKLE": "false"}
    refused = pytest.raises(InvalidArgument, match="MODELPORT_ALLOW_PICKLE=false")
    with infra.live_server(env) as live, Client(url=live.url) as client:
        with refused:
            client.models.register(model_file, "iris")

        def failed() -> bool:
            return client.endpoints.get("iris").status == "failed"

        infra.wait_for(failed, 30, "the pickle endpoint to fail")
        assert "pickles are refused here (MODELPORT_ALLOW_PICKLE=false)" in (client.endpoints.get("iris").failure_reason or "")
