"""A corpus of hostile request bodies, replayed on every data-plane protocol of live servers.

Each body goes to the SageMaker runtime (``/endpoints/{name}/invocations``),
the container contract (``/invocations`` of ``modelport serve``) and the Open
Inference Protocol (``/v2/models/{name}/infer``, JSON and the binary tensor
extension).  Every answer must be a 4xx in that protocol's envelope, and the
server must still answer a good request right after.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

import httpx
import joblib
import orjson
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelport.services import Services
from modelport.settings import Settings
from tests import infra

pytestmark = pytest.mark.slow

JSON, CSV, XML = "application/json", "text/csv", "application/xml"
ROW = [5.1, 3.5, 1.4, 0.2]


@dataclass(frozen=True)
class Hostile:
    body: bytes
    headers: dict[str, str]


def _v2(doc: object, *, tail: bytes = b"", **headers: str) -> Hostile:
    head = orjson.dumps(doc)
    if tail:
        headers = {"Inference-Header-Content-Length": str(len(head)), **headers}
    return Hostile(head + tail, {"Content-Type": JSON, **headers})


def _tensor(**fields: object) -> dict[str, object]:
    return {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ROW, **fields}]}


def _billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return f'<?xml version="1.0"?><!DOCTYPE rows [{"".join(entities)}]><rows><row><a>&lol9;</a></row></rows>'.encode()


@cache
def _gzip_bomb(size: int = 1 << 30) -> bytes:
    """1 GiB of zeros in ~1 MB of gzip."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(size >> 20)) + packer.flush()


def _deep(levels: int = 100_000) -> bytes:
    return b'{"instances": ' + b"[" * levels + b"]" * levels + b"}"


CORPUS: dict[str, Callable[[], Hostile]] = {
    # parsers
    "xml-billion-laughs": lambda: Hostile(_billion_laughs(), {"Content-Type": XML}),
    "xml-external-entity": lambda: Hostile(
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><rows><row><a>&x;</a></row></rows>',
        {"Content-Type": XML},
    ),
    "json-100k-deep": lambda: Hostile(_deep(), {"Content-Type": JSON}),
    "json-100k-deep-bare": lambda: Hostile(b"[" * 100_000 + b"]" * 100_000, {"Content-Type": JSON}),
    "json-not-json": lambda: Hostile(b'{"instances": [[1, 2,', {"Content-Type": JSON}),
    "json-invalid-utf8": lambda: Hostile(b'{"instances": [["\xff\xfe", 1, 2, 3]]}', {"Content-Type": JSON}),
    "csv-invalid-utf8": lambda: Hostile(b"\xff\xfe,1,2,3\n", {"Content-Type": CSV}),
    "csv-ragged": lambda: Hostile(b"1,2\n1,2,3,4,5,6\n", {"Content-Type": CSV}),
    "csv-100k-columns": lambda: Hostile(b",".join([b"1"] * 100_000) + b"\n", {"Content-Type": CSV}),
    "empty": lambda: Hostile(b"", {"Content-Type": JSON}),
    # numbers
    "json-nan-inf": lambda: Hostile(b'{"instances": [[NaN, Infinity, -Infinity, 1]]}', {"Content-Type": JSON}),
    "json-overflowing-float": lambda: Hostile(b'{"instances": [[1e999, 1, 1, 1]]}', {"Content-Type": JSON}),
    "json-5000-digit-int": lambda: Hostile(b'{"instances": [[' + b"9" * 5000 + b", 1, 1, 1]]}", {"Content-Type": JSON}),
    "csv-5000-digit-number": lambda: Hostile(b"9" * 5000 + b",1,1,1\n", {"Content-Type": CSV}),
    # MLflow-style payloads
    "mlflow-two-format-keys": lambda: Hostile(orjson.dumps({"instances": [ROW], "inputs": [ROW]}), {"Content-Type": JSON}),
    "mlflow-split-wrong-columns": lambda: Hostile(
        orjson.dumps({"dataframe_split": {"columns": ["a"], "data": [[1, 2, 3]]}}), {"Content-Type": JSON}
    ),
    "mlflow-records-not-a-list": lambda: Hostile(orjson.dumps({"dataframe_records": 5}), {"Content-Type": JSON}),
    "mlflow-strings-for-numbers": lambda: Hostile(orjson.dumps({"instances": [["a", "b", "c", "d"]]}), {"Content-Type": JSON}),
    "mlflow-unknown-key": lambda: Hostile(orjson.dumps({"dataframe": [ROW]}), {"Content-Type": JSON}),
    # tensors (Open Inference Protocol; the others see JSON they cannot use)
    "v2-shape-disagrees-with-data": lambda: _v2(_tensor(data=ROW[:3])),
    "v2-unknown-datatype": lambda: _v2(_tensor(datatype="FP99")),
    "v2-negative-shape": lambda: _v2(_tensor(shape=[-5, 4])),
    "v2-huge-shape": lambda: _v2(_tensor(shape=[2**62, 2**62])),
    "v2-shape-past-int64": lambda: Hostile(orjson.dumps(_tensor(shape=[1, 4])).replace(b"[1,4]", b"[18446744073709551616,4]"), {"Content-Type": JSON}),
    "v2-inputs-not-a-list": lambda: _v2({"inputs": {"name": "input"}}),
    # (one tensor of any name is the model's [N, 4] input; a second one is not)
    "v2-unknown-second-input": lambda: _v2({"inputs": [*_tensor()["inputs"], *_tensor(name="nope")["inputs"]]}),
    "v2-strings-as-fp32": lambda: _v2(_tensor(data=["a", "b", "c", "d"])),
    "v2-binary-size-past-body": lambda: _v2(
        _tensor(data=None, parameters={"binary_data_size": 1 << 30}), tail=struct.pack("<4f", *ROW)
    ),
    "v2-binary-size-negative": lambda: _v2(_tensor(data=None, parameters={"binary_data_size": -16}), tail=struct.pack("<4f", *ROW)),
    "v2-binary-wrong-size": lambda: _v2(_tensor(data=None, parameters={"binary_data_size": 12}), tail=struct.pack("<3f", *ROW[:3])),
    "v2-header-length-past-body": lambda: Hostile(
        orjson.dumps(_tensor()), {"Content-Type": JSON, "Inference-Header-Content-Length": str(1 << 40)}
    ),
    "v2-header-length-not-a-number": lambda: Hostile(
        orjson.dumps(_tensor()), {"Content-Type": JSON, "Inference-Header-Content-Length": "12abc"}
    ),
    "v2-bytes-length-past-body": lambda: _v2(
        {"inputs": [{"name": "input", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 8}}]},
        tail=struct.pack("<I", 1 << 31) + b"abcd",
    ),
    # compression
    "gzip-bomb": lambda: Hostile(_gzip_bomb(), {"Content-Type": JSON, "Content-Encoding": "gzip"}),
    "gzip-not-gzip": lambda: Hostile(b"not gzip at all", {"Content-Type": JSON, "Content-Encoding": "gzip"}),
}


@dataclass
class Servers:
    full: infra.LiveServer  # modelport server: SageMaker runtime and /v2
    single: infra.LiveServer  # one endpoint's data plane: /invocations (container contract) and /v2


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("hostile")
    home = root / "home"
    x, y = load_iris(return_X_y=True, as_frame=True)
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), root / "iris.joblib")
    x.to_csv(root / "iris.csv", index=False)
    svc = Services.open(Settings(home=home))
    try:
        svc.registry.register(root / "iris.joblib", "iris", sample=root / "iris.csv")
        svc.endpoints.create("iris", [{"name": "a", "requested": "iris:1"}], created_by="tests")
    finally:
        svc.close()
    env = {"MODELPORT_HOME": str(home), "MODELPORT_SYNC_INTERVAL_S": "0.2"}
    with infra.live_server(env) as full, infra.live_server({**env, "MODELPORT_SERVE_ENDPOINT": "iris"}) as single:
        servers = Servers(full, single)
        infra.wait_for(lambda: _good(servers, "sagemaker").status_code == 200, 60, "iris in service")
        yield servers
        for live in (full, single):
            assert "Traceback" not in live.log(), live.log()[-5000:]


ROUTES = ["sagemaker", "container", "v2-json"]


def _url(servers: Servers, route: str) -> str:
    if route == "sagemaker":
        return f"{servers.full.url}/endpoints/iris/invocations"
    if route == "container":
        return f"{servers.single.url}/invocations"
    return f"{servers.full.url}/v2/models/iris/infer"


def _good(servers: Servers, route: str) -> httpx.Response:
    if route.startswith("v2"):
        return httpx.post(_url(servers, route), content=orjson.dumps(_tensor()), timeout=30)
    return httpx.post(_url(servers, route), content=b"5.1,3.5,1.4,0.2\n", headers={"Content-Type": CSV}, timeout=30)


def _check_envelope(route: str, r: httpx.Response) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/json"), r.headers
    body = r.json()
    if route == "sagemaker":  # boto3 reads the code from x-amzn-ErrorType and the message from "message"
        assert r.headers["x-amzn-errortype"].split(":")[0] in ("ValidationError", "ModelError"), r.headers
        assert isinstance(body["message"], str) and body["message"]
    elif route == "container":  # MLflow's scoring server
        assert set(body) == {"error_code", "message"} and body["error_code"] == "BAD_REQUEST", body
    else:  # tritonclient raises InferenceServerException(body["error"])
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("case", sorted(CORPUS))
def test_a_hostile_body_is_a_4xx_and_the_server_stays_well(servers: Servers, case: str, route: str) -> None:
    hostile = CORPUS[case]()
    r = httpx.post(_url(servers, route), content=hostile.body, headers=hostile.headers, timeout=60)
    _check_envelope(route, r)
    assert _good(servers, route).status_code == 200  # still serving


def test_an_oversize_body_is_413_on_every_protocol(servers: Servers) -> None:
    body = b"1," * (3 << 20) + b"1\n"  # 6 MiB + 2 bytes: one past SageMaker's limit
    for route in ROUTES:
        r = httpx.post(_url(servers, route), content=body, headers={"Content-Type": CSV}, timeout=60)
        assert r.status_code == 413, (route, r.text)
        _check_envelope(route, r)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/iris/versions/²/infer",
        "/v2/models/iris/versions/٣/ready",
        "/v2/models/iris/versions/" + "1" * 5000 + "/ready",
        f"/v2/models/iris/versions/{2**63}",
        "/v2/models/iris/versions/1%0A2026-01-01 00:00:00 INFO forged/ready",
        "/endpoints/ir%0Ais/invocations",
    ],
    ids=["superscript", "arabic-indic", "5000-digits", "2^63", "newline", "newline-endpoint"],
)
def test_a_hostile_path_is_a_4xx_and_forges_no_log_line(servers: Servers, path: str) -> None:
    r = httpx.post(f"{servers.full.url}{path}", content=orjson.dumps(_tensor()), timeout=30)
    route = "sagemaker" if path.startswith("/endpoints/") else "v2-json"
    _check_envelope(route, r)
    if route == "v2-json":
        assert r.status_code == 400 and r.json()["error"].startswith("invalid version "), r.text
    assert not any(line.startswith("2026-01-01") for line in servers.full.log().splitlines())
    assert _good(servers, route).status_code == 200
