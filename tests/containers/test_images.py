"""`modelport build` with a real engine: images that run, answer three protocols like `modelport predict`, drain on SIGTERM.

The ONNX and PMML images are built once per module on the local Python 3.11 base
(tests/containers/dockerd.py); each runs with the host's network on a free loopback port.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import numpy as np
import pandas as pd
import pytest

from tests import infra
from tests.containers.conftest import Workspace
from tests.containers.dockerd import DockerEngine

pytestmark = pytest.mark.slow

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


@contextlib.contextmanager
def running(
    engine: DockerEngine, image: str, *, env: dict[str, str] | None = None, shell: str | None = None
) -> Iterator[tuple[str, str]]:
    """(container id, base URL) of ``image`` serving on a free loopback port of the host's network.

    ``shell``: a /bin/sh script run instead, ending by exec-ing the entry point (``$SERVE``).
    """
    port = infra.free_port()
    flags = [f"-e={k}={v}" for k, v in {"SAGEMAKER_BIND_TO_PORT": str(port), **(env or {})}.items()]
    command = [image, "serve", "--host", "127.0.0.1"]
    if shell is not None:
        serve = "exec /opt/venv/bin/python -m modelport.containers.entry serve --host 127.0.0.1"
        command = ["--entrypoint", "/bin/sh", image, "-c", shell.replace("$SERVE", serve)]
    cid = engine.docker("run", "-d", "--network", "host", *flags, *command).stdout.strip()
    url = f"http://127.0.0.1:{port}"
    try:
        infra.wait_for(lambda: _status(f"{url}/readyz") == 200 or not _running(engine, cid), 90, f"{image} to be ready")
        assert _running(engine, cid), engine.docker("logs", cid, check=False).stderr[-3000:]
        yield cid, url
    finally:
        engine.docker("rm", "-f", cid, check=False)


def _running(engine: DockerEngine, cid: str) -> bool:
    return engine.docker("inspect", "--format", "{{.State.Running}}", cid, check=False).stdout.strip() == "true"


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def predict_locally(ws: Workspace, ref: str, rows: Path, tmp: Path) -> pd.DataFrame:
    out = tmp / f"{ref.replace(':', '-')}.parquet"  # exact floats (JSON lines and CSV round them)
    ws.cli("predict", ref, "--input", str(rows), "--output", str(out))
    return pd.read_parquet(out)


@pytest.fixture(scope="module")
def iris_rows(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    return pd.DataFrame(x, columns=FEATURES), y


@pytest.fixture(scope="module")
def onnx_image(workspace: Workspace, iris_rows: tuple[pd.DataFrame, np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An endpoint of one ONNX version (a scikit-learn model registered --to-onnx), built as an image."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("onnx-model")
    x, y = iris_rows
    joblib.dump(LogisticRegression(max_iter=500).fit(x.to_numpy(), y), folder / "iris.joblib")
    x.head(20).to_csv(folder / "sample.csv", index=False)
    ws = workspace
    ws.cli("models", "register", str(folder / "iris.joblib"), "--name", "iris", "--to-onnx", "--sample", str(folder / "sample.csv"))
    ws.cli("endpoints", "create", "iris-ep", "--variant", "main=iris:1")
    return ws.build("iris-ep", "--tag", "modelport-test/iris-ep:1")


def test_an_onnx_endpoint_image_carries_only_what_onnx_needs(workspace: Workspace, onnx_image: dict[str, Any]) -> None:
    packages = {p.split("==")[0].lower() for p in onnx_image["packages"]}  # type: ignore[union-attr]
    assert {"onnxruntime", "modelport", "numpy"} <= packages
    assert not packages & {"scikit-learn", "jpype1", "jpmml-evaluator", "pyarrow", "torch", "onnx"}  # no trees: no onnx
    assert not packages & {"pandas", "jinja2"}  # CSV bodies are read without pandas; the console is the control plane's
    assert onnx_image["formats"] == ["onnx"]
    assert onnx_image["image_id"].startswith("sha256:")  # type: ignore[union-attr]
    assert 0 < onnx_image["size_above_base"] < onnx_image["size"]  # type: ignore[operator]
    assert onnx_image["run"] == "docker run --rm -p 8080:8080 modelport-test/iris-ep:1"
    config = json.loads(workspace.engine.docker("image", "inspect", "--format", "{{json .Config}}", "modelport-test/iris-ep:1").stdout)
    version = json.loads(workspace.cli("models", "show", "iris:1", "--json").stdout)
    labels = config["Labels"]
    assert labels["io.modelport.models"] == f"iris:1=sha256:{version['sha256']}"
    assert labels["io.modelport.model.iris.1.sha256"] == version["sha256"]
    assert labels["io.modelport.version"] and labels["org.opencontainers.image.created"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/opt/venv/bin/python", "-m", "modelport.containers.entry"]  # exec form
    assert config["Cmd"] == ["serve"]
    assert config["Healthcheck"]["Test"][0] == "CMD"
    no_jre = workspace.engine.docker("run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", "modelport-test/iris-ep:1",
                                     "-c", "test ! -e /opt/jre && ls /opt/ml/model && cat /opt/modelport/seed/seed.json",
                                     check=False)  # fmt: skip
    assert no_jre.returncode == 0 and "modelport.json" in no_jre.stdout
    assert '"endpoint": "iris-ep"' in no_jre.stdout  # the registry it starts from, seeded at build time


def test_the_onnx_image_answers_boto3_tritonclient_and_the_container_contract_like_modelport_predict(
    workspace: Workspace, onnx_image: dict[str, Any], iris_rows: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    import boto3
    import tritonclient.http as triton

    x, _ = iris_rows
    rows = tmp_path / "rows.csv"
    x.to_csv(rows, index=False)
    expected = predict_locally(workspace, "iris:1", rows, tmp_path)
    body = x.to_csv(index=False, header=False).encode()
    with running(workspace.engine, "modelport-test/iris-ep:1") as (_, url):
        runtime = boto3.client(
            "sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
            aws_access_key_id="container", aws_secret_access_key="container",
        )  # fmt: skip
        answer = runtime.invoke_endpoint(EndpointName="iris-ep", ContentType="text/csv", Accept="application/json", Body=body)
        assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-invoked-production-variant"] == "main"
        sagemaker = json.loads(answer["Body"].read())["predictions"]
        contract = httpx.post(f"{url}/invocations", content=body, headers={"content-type": "text/csv"}).json()["predictions"]
        client = triton.InferenceServerClient(url.removeprefix("http://"))
        inputs = []
        for name in FEATURES:
            column = triton.InferInput(name, [len(x)], "FP64")
            column.set_data_from_numpy(x[name].to_numpy())
            inputs.append(column)
        v2 = client.infer("iris-ep", inputs)
        assert httpx.get(f"{url}/ping").status_code == 200
        assert httpx.get(f"{url}/healthz").json() == {"status": "alive"}
    labels = expected["label"].tolist()
    probabilities = expected[["proba_0", "proba_1", "proba_2"]].to_numpy()
    for got in (sagemaker, contract):
        assert [r["label"] for r in got] == labels
        np.testing.assert_array_equal(np.array([r["probabilities"] for r in got], dtype=np.float32), probabilities.astype(np.float32))
    assert v2.as_numpy("label").tolist() == labels
    np.testing.assert_array_equal(v2.as_numpy("probabilities"), probabilities.astype(np.float32))


def _answers(response: httpx.Response) -> tuple[list[int], np.ndarray]:
    """(labels, float32 probabilities) of a prediction in whichever body type it came back."""
    assert response.status_code == 200, response.text
    kind = response.headers["content-type"]
    if kind.startswith("text/csv"):
        frame = pd.read_csv(io.StringIO(response.text))
        return frame["label"].tolist(), frame[["proba_0", "proba_1", "proba_2"]].to_numpy(np.float32)
    if "xml" in kind:
        rows = ElementTree.fromstring(response.content).findall("prediction")
        labels = [int(r.findtext("label") or "") for r in rows]
        return labels, np.array([[float(r.findtext(f"proba_{i}") or "") for i in range(3)] for r in rows], np.float32)
    data = response.json()
    if "outputs" in data:  # the v2 protocol
        outputs = {o["name"]: o for o in data["outputs"]}
        proba = np.array(outputs["probabilities"]["data"], np.float32).reshape(outputs["probabilities"]["shape"])
        return outputs["label"]["data"], proba
    predictions = data["predictions"]
    return [p["label"] for p in predictions], np.array([p["probabilities"] for p in predictions], np.float32)


LOAD_EVERY_SHARED_OBJECT = """
import ctypes, pathlib, sys
failed = []
for path in sorted(pathlib.Path(sys.prefix, "lib").rglob("*.so*")):
    try:
        ctypes.CDLL(str(path))
    except OSError as exc:
        failed.append(str(exc))
print("\\n".join(failed))
"""


def assert_every_shared_object_loads(engine: DockerEngine, image: str) -> None:
    """Stripped libraries still load (a library patchelf rewrote, stripped, no longer would)."""
    out = engine.docker("run", "--rm", "--network", "none", "--entrypoint", "/opt/venv/bin/python", image, "-c",
                        LOAD_EVERY_SHARED_OBJECT).stdout  # fmt: skip
    assert not [line for line in out.splitlines() if "ELF" in line or "aligned" in line], out


def test_the_slim_onnx_image_answers_every_body_type_like_modelport_predict_also_when_seeded_afresh(
    workspace: Workspace, onnx_image: dict[str, Any], iris_rows: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    """What the image leaves out (the CLI's libraries, ONNX Runtime's tools and C-API library) is never needed to serve."""
    packages = {p.split("==")[0].lower() for p in onnx_image["packages"]}  # type: ignore[union-attr]
    assert not packages & {"typer", "rich", "pygments", "protobuf", "flatbuffers", "sympy", "cryptography"}
    left_out = workspace.engine.docker(
        "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", "modelport-test/iris-ep:1", "-c",
        "cd /opt/venv/lib/python3.11/site-packages && ls onnxruntime/capi onnxruntime numpy; find . -name '*.pyi' -o -name '*.h'",
    ).stdout  # fmt: skip
    assert "libonnxruntime.so" not in left_out and "transformers" not in left_out
    assert ".pyi" not in left_out and ".h\n" not in left_out
    assert_every_shared_object_loads(workspace.engine, "modelport-test/iris-ep:1")
    x, _ = iris_rows
    rows = tmp_path / "rows.csv"
    x.to_csv(rows, index=False)
    expected = predict_locally(workspace, "iris:1", rows, tmp_path)
    labels = expected["label"].tolist()
    probabilities = expected[["proba_0", "proba_1", "proba_2"]].to_numpy().astype(np.float32)
    records = x.to_dict("records")
    csv_body = x.to_csv(index=False, header=False)
    xml = "<rows>" + "".join("<row>" + "".join(f"<{k}>{v!r}</{k}>" for k, v in r.items()) + "</row>" for r in records) + "</rows>"
    json_ = {"content-type": "application/json"}
    bodies: list[tuple[str, str, bytes | str, dict[str, str]]] = [
        ("csv", "/invocations", csv_body, {"content-type": "text/csv"}),
        ("csv with header, csv back", "/invocations", x.to_csv(index=False),
         {"content-type": "text/csv; header=present", "accept": "text/csv; header=present"}),
        ("gzip csv", "/invocations", gzip.compress(csv_body.encode()), {"content-type": "text/csv", "content-encoding": "gzip"}),
        ("records", "/invocations", json.dumps(records), json_),
        ("mlflow dataframe_split", "/invocations", json.dumps({"dataframe_split": x.to_dict("split")}), json_),
        ("mlflow dataframe_records", "/invocations", json.dumps({"dataframe_records": records}), json_),
        ("mlflow instances", "/invocations", json.dumps({"instances": records}), json_),
        ("mlflow inputs", "/invocations", json.dumps({"inputs": x.to_dict("list")}), json_),
        ("xml", "/invocations", xml, {"content-type": "application/xml", "accept": "application/xml"}),
        ("sagemaker runtime", "/endpoints/iris-ep/invocations", csv_body, {"content-type": "text/csv"}),
        ("v2", "/v2/models/iris-ep/infer", json.dumps({"inputs": [
            {"name": n, "shape": [len(x)], "datatype": "FP64", "data": x[n].tolist()} for n in FEATURES]}), json_),
    ]  # fmt: skip
    fresh = "mkdir -p /tmp/m && tar -C /opt/ml/model -czf /tmp/m/model.tar.gz . && MODELPORT_MODEL_DIR=/tmp/m $SERVE"
    for shell in (None, fresh):  # the registry seeded at build time; a fresh one (SageMaker's model.tar.gz)
        with running(workspace.engine, "modelport-test/iris-ep:1", shell=shell) as (_, url):
            assert httpx.get(f"{url}/ping").status_code == 200 and httpx.get(f"{url}/metrics").status_code == 200
            parquet = httpx.post(f"{url}/invocations", content=b"PAR1", headers={"content-type": "application/parquet"})
            assert parquet.status_code == 415 and "pyarrow" in parquet.json()["message"]
            for name, path, body, headers in bodies:
                got_labels, got_proba = _answers(httpx.post(f"{url}{path}", content=body, headers=headers, timeout=30))
                assert got_labels == labels, (shell, name)
                np.testing.assert_array_equal(got_proba, probabilities, err_msg=f"{name} ({shell})")


@pytest.fixture(scope="module")
def sklearn_image(workspace: Workspace, iris_rows: tuple[pd.DataFrame, np.ndarray]) -> dict[str, Any]:
    """A scikit-learn version (a pickled LogisticRegression) built as an image."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    x, y = iris_rows
    folder = workspace.home / "sklearn-model"
    folder.mkdir(exist_ok=True)
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), folder / "iris.joblib")  # its inputs: the column names
    workspace.cli("models", "register", str(folder / "iris.joblib"), "--name", "iris-sk")
    return workspace.build("iris-sk:1", "--tag", "modelport-test/iris-sk:1")


def test_the_slim_scikit_learn_image_loads_every_library_and_answers_like_modelport_predict(
    workspace: Workspace, sklearn_image: dict[str, Any], iris_rows: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    packages = {p.split("==")[0].lower() for p in sklearn_image["packages"]}  # type: ignore[union-attr]
    assert {"scikit-learn", "scipy", "numpy"} <= packages and not packages & {"typer", "rich", "onnxruntime", "pyarrow", "prettytable"}
    assert "pandas" not in packages  # fitted on a DataFrame, but its predictions need no column names: fed arrays
    assert_every_shared_object_loads(workspace.engine, "modelport-test/iris-sk:1")
    x, _ = iris_rows
    rows = tmp_path / "rows.csv"
    x.to_csv(rows, index=False)
    expected = predict_locally(workspace, "iris-sk:1", rows, tmp_path)
    proba = [c for c in expected.columns if c.startswith("proba")]
    with running(workspace.engine, "modelport-test/iris-sk:1") as (_, url):
        answers = [
            httpx.post(f"{url}/invocations", content=x.to_csv(index=False, header=False), headers={"content-type": "text/csv"}),
            httpx.post(f"{url}/invocations", content=json.dumps({"dataframe_split": x.to_dict("split")}),
                       headers={"content-type": "application/json"}),
            httpx.post(f"{url}/endpoints/iris-sk/invocations", content=x.to_csv(index=False),
                       headers={"content-type": "text/csv", "accept": "text/csv; header=present"}),
        ]  # fmt: skip
    for answer in answers:
        assert answer.status_code == 200, answer.text
        if answer.headers["content-type"].startswith("text/csv"):
            got = pd.read_csv(io.StringIO(answer.text))
            assert got["label"].tolist() == expected["label"].tolist()
            np.testing.assert_array_equal(got[proba].to_numpy(np.float64), expected[proba].to_numpy(np.float64))
        else:
            predictions = answer.json()["predictions"]
            assert [p["label"] for p in predictions] == expected["label"].tolist()
            np.testing.assert_array_equal(np.array([p["probabilities"] for p in predictions]), expected[proba].to_numpy())


def test_sigterm_under_load_turns_readiness_off_and_loses_no_accepted_request(
    workspace: Workspace, onnx_image: dict[str, Any], iris_rows: tuple[pd.DataFrame, np.ndarray]
) -> None:
    x, _ = iris_rows
    body = pd.concat([x] * 20).to_csv(index=False, header=False).encode()  # 3,000 rows: requests take a while
    engine = workspace.engine
    with running(engine, "modelport-test/iris-ep:1", env={"MODELPORT_DRAIN_SECONDS": "1"}) as (cid, url):
        stop = threading.Event()
        outcomes: list[tuple[float, float, int | str]] = []  # (sent, answered, status or error)
        lock = threading.Lock()

        def load() -> None:
            with httpx.Client(timeout=30) as client:
                while not stop.is_set():
                    sent = time.monotonic()
                    try:
                        status: int | str = client.post(f"{url}/invocations", content=body,
                                                        headers={"content-type": "text/csv"}).status_code
                    except httpx.ConnectError:
                        continue  # never accepted: a load balancer would have taken it elsewhere
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                    with lock:
                        outcomes.append((sent, time.monotonic(), status))

        def watch() -> None:  # what a load balancer does: stop sending once readiness fails
            while not stop.is_set():
                if _status(f"{url}/readyz") == 503:
                    stop.set()
                time.sleep(0.02)

        threads = [threading.Thread(target=load) for _ in range(4)] + [threading.Thread(target=watch)]
        for t in threads:
            t.start()
        infra.wait_for(lambda: len(outcomes) >= 8, 60, "the load to get going")
        term_at = time.monotonic()
        engine.docker("kill", "--signal", "TERM", cid)
        for t in threads:
            t.join(60)
        code = engine.docker("wait", cid, timeout=60).stdout.strip()
        exited_after = time.monotonic() - term_at
    assert stop.is_set(), "readiness never turned 503 after SIGTERM"
    assert code == "0"
    assert exited_after < 15  # SageMaker kills after 30 s
    assert outcomes and all(status == 200 for _, _, status in outcomes), [o for o in outcomes if o[2] != 200]
    assert any(sent < term_at < answered for sent, answered, _ in outcomes), "no request was in flight at SIGTERM"


@pytest.fixture(scope="module")
def pmml_image(workspace: Workspace, iris_rows: tuple[pd.DataFrame, np.ndarray], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    from tests.runtimes.test_pmml import nyoka_export

    x, y = iris_rows
    pipeline = Pipeline([("scale", StandardScaler()), ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))])
    path = nyoka_export(pipeline.fit(x, y), FEATURES, "species", tmp_path_factory.mktemp("pmml") / "iris.pmml")
    workspace.cli("models", "register", str(path), "--name", "iris-pmml")
    return workspace.build("iris-pmml:1")


def test_a_pmml_image_carries_a_slim_java_runtime_and_answers_like_modelport_predict(
    workspace: Workspace, pmml_image: dict[str, Any], iris_rows: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    import boto3

    packages = {p.split("==")[0].lower() for p in pmml_image["packages"]}  # type: ignore[union-attr]
    assert {"jpype1", "jpmml-evaluator"} <= packages or {"jpype1", "jpmml_evaluator"} <= packages
    assert not packages & {"onnxruntime", "scikit-learn", "pyarrow"}
    assert pmml_image["tag"] == "modelport/iris-pmml:1" and pmml_image["endpoint"] == "iris-pmml"
    x, _ = iris_rows
    rows = tmp_path / "rows.csv"
    x.to_csv(rows, index=False)
    expected = predict_locally(workspace, "iris-pmml:1", rows, tmp_path)
    with running(workspace.engine, "modelport/iris-pmml:1") as (_, url):
        runtime = boto3.client(
            "sagemaker-runtime", endpoint_url=url, region_name="us-east-1",
            aws_access_key_id="container", aws_secret_access_key="container",
        )  # fmt: skip
        answer = runtime.invoke_endpoint(EndpointName="iris-pmml", ContentType="text/csv", Accept="application/json",
                                         Body=x.to_csv(index=False).encode())  # fmt: skip
        got = json.loads(answer["Body"].read())["predictions"]
        assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-invoked-production-variant"] == "AllTraffic"
    assert pd.DataFrame(got).to_dict("list") == expected.to_dict("list")


# -- bad input -----------------------------------------------------------------------


def test_no_engine_is_one_line_naming_docker_host_and_no_build_still_writes_the_context(
    workspace: Workspace, onnx_image: dict[str, Any], tmp_path: Path
) -> None:
    missing = f"unix://{tmp_path}/no-engine.sock"
    failed = workspace.cli("build", "iris-ep", "--tag", "modelport-test/never:1", docker_host=missing, check=False)
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and f"DOCKER_HOST={missing}" in failed.stderr and "--no-build" in failed.stderr
    out = tmp_path / "context"
    written = workspace.cli("build", "iris-ep", "--no-build", "--output", str(out), "--json", docker_host=missing)
    assert json.loads(written.stdout)["context"] == str(out)
    dockerfile = (out / "Dockerfile").read_text()
    assert "USER 10001:10001" in dockerfile and 'ENTRYPOINT ["/opt/venv/bin/python"' in dockerfile
    assert (out / "model" / "modelport.json").is_file() and list((out / "wheels").glob("onnxruntime-*.whl"))
    assert "onnxruntime==" in (out / "requirements.txt").read_text()


def test_a_model_fed_dataframes_gets_pandas_and_a_library_its_pipeline_holds(
    workspace: Workspace, iris_rows: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    import joblib
    import lightgbm
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = iris_rows
    pipe = Pipeline([("scale", ColumnTransformer([("s", StandardScaler(), FEATURES[:2])], remainder="passthrough")),
                     ("model", lightgbm.LGBMClassifier(n_estimators=3, verbose=-1))])  # fmt: skip
    joblib.dump(pipe.fit(x, y), tmp_path / "pipe.joblib")
    workspace.cli("models", "register", str(tmp_path / "pipe.joblib"), "--name", "iris-frames")
    workspace.cli("build", "iris-frames:1", "--no-build", "--output", str(tmp_path / "context"))
    pinned = (tmp_path / "context" / "requirements.txt").read_text()
    assert "\npandas==" in pinned and "\nlightgbm==" in pinned and "\nscikit-learn==" in pinned


def test_an_unknown_target_is_one_line(workspace: Workspace) -> None:
    failed = workspace.cli("build", "no-such-endpoint", check=False)
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: no endpoint 'no-such-endpoint'") and failed.stderr.count("\n") == 1
    assert workspace.cli("build", "iris:99", check=False).stderr.count("\n") == 1


def test_a_base_without_python_311_fails_clearly_and_tags_nothing(
    workspace: Workspace, onnx_image: dict[str, Any], tmp_path: Path
) -> None:
    engine = workspace.engine
    if not engine.has_image("modelport-test/no-python:1"):
        (tmp_path / "Dockerfile").write_text(f"FROM {engine.base}\nRUN rm -f /usr/bin/python3 /usr/bin/python3.11\n")
        engine.docker("build", "--network", "none", "-t", "modelport-test/no-python:1", str(tmp_path))
    failed = workspace.cli("build", "iris-ep", "--base", "modelport-test/no-python:1", "--tag", "modelport-test/half:1",
                           check=False)  # fmt: skip
    assert failed.returncode == 1
    assert "base image modelport-test/no-python:1: the base image has no python3" in failed.stderr
    assert failed.stderr.count("\n") == 1
    assert not engine.has_image("modelport-test/half:1")


def test_an_artifact_failing_its_checksum_is_refused_and_nothing_is_tagged(
    workspace: Workspace, onnx_image: dict[str, Any], tmp_path: Path
) -> None:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    x, y = load_iris(return_X_y=True)
    joblib.dump(DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y), tmp_path / "tree.joblib")
    workspace.cli("models", "register", str(tmp_path / "tree.joblib"), "--name", "tree", "--to-onnx")
    version = json.loads(workspace.cli("models", "show", "tree:1", "--json").stdout)
    blob = Path(version["artifact_uri"])
    blob.write_bytes(blob.read_bytes() + b"tampered")
    failed = workspace.cli("build", "tree:1", "--tag", "modelport-test/tampered:1", "--base", workspace.engine.base,
                           check=False)  # fmt: skip
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1
    assert "tree:1" in failed.stderr and "integrity check" in failed.stderr
    assert not workspace.engine.has_image("modelport-test/tampered:1")


def test_the_control_plane_context_runs_modelport_server_with_postgres_and_s3(workspace: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "server"
    built = json.loads(workspace.cli("build", "--server", "--no-build", "--output", str(out), "--json").stdout)
    assert built["tag"].startswith("modelport/server:") and built["endpoint"] is None
    packages = {p.split("==")[0].lower().replace("_", "-") for p in built["packages"]}
    assert {"psycopg", "s3fs", "pyarrow", "alembic"} <= packages  # a server writes batch and monitoring output too
    dockerfile = (out / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/opt/venv/bin/modelport"]' in dockerfile and 'CMD ["server", "--host", "0.0.0.0"]' in dockerfile
    assert not (out / "model").exists()
    both = workspace.cli("build", "iris-ep", "--server", check=False)
    assert both.returncode == 1 and "not both" in both.stderr
