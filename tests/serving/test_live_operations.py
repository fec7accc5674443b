"""Operating live endpoints: weighted shares, updates under load, shadows, timeouts, capture, metrics."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path

import httpx
import pytest

from modelport.client import Client
from tests import infra
from tests.serving.conftest import Deployment, build_home, server_env

pytestmark = pytest.mark.slow  # every test here runs `modelport server` or `modelport serve` processes

CSV = "text/csv"


def invoke(client: httpx.Client, url: str, body: bytes, endpoint: str = "iris", **headers: str) -> httpx.Response:
    return client.post(f"{url}/endpoints/{endpoint}/invocations", content=body, headers={"Content-Type": CSV, **headers})


def test_weighted_shares_within_two_points(deployment: Deployment) -> None:
    body = deployment.x.iloc[[5]].to_csv(index=False, header=False).encode()
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def work(n: int) -> None:
        with httpx.Client() as c:
            for _ in range(n):
                r = invoke(c, deployment.url, body)
                assert r.status_code == 200
                with lock:
                    counts[r.headers["x-amzn-invoked-production-variant"]] += 1

    threads = [threading.Thread(target=work, args=(1250,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts.values()) == 5000
    assert abs(counts["a"] / 5000 - 0.90) <= 0.02 and abs(counts["b"] / 5000 - 0.10) <= 0.02


def test_slow_model_times_out_and_server_stays_responsive(deployment: Deployment) -> None:
    body = deployment.x.iloc[[5]].to_csv(index=False, header=False).encode()
    results: dict[str, httpx.Response] = {}

    def slow() -> None:
        with httpx.Client(timeout=30) as c:
            results["slow"] = invoke(c, deployment.url, body, endpoint="slow")

    t = threading.Thread(target=slow)
    start = time.monotonic()
    t.start()
    served = 0
    with httpx.Client() as c:
        # Other traffic flows while the slow call is pending: a server blocked by the slow
        # model would answer nothing until its 1 s deadline.
        while t.is_alive() and served < 500:
            assert c.get(f"{deployment.url}/ping").status_code == 200
            assert invoke(c, deployment.url, body).status_code == 200
            served += 1
    t.join()
    assert served >= 5
    r = results["slow"]
    assert time.monotonic() - start < 2.9  # answered at the 1 s deadline, not after the model's 3 s
    assert r.status_code == 424 and r.json()["OriginalStatusCode"] == 504
    assert "did not answer within 1 s" in r.json()["OriginalMessage"]


def test_capture_files_match_what_was_sent(deployment: Deployment) -> None:
    body = deployment.x.iloc[[7, 8]].to_csv(index=False, header=False).encode()
    with httpx.Client() as c:
        r = invoke(c, deployment.url, body, **{"X-Amzn-SageMaker-Inference-Id": "inf-capture-1", "X-Amzn-SageMaker-Target-Variant": "b"})
        assert r.status_code == 200 and r.headers["x-amzn-sagemaker-inference-id"] == "inf-capture-1"
        generated = invoke(c, deployment.url, body, **{"X-Amzn-SageMaker-Target-Variant": "b"})
    reply = r.content.decode()
    root = deployment.home / "artifacts" / "capture" / "iris" / "b"

    def records() -> list[dict[str, object]]:
        lines = [line for f in root.rglob("*.jsonl") for line in f.read_text().splitlines()]
        return [json.loads(line) for line in lines]

    infra.wait_for(lambda: any(rec["eventMetadata"].get("inferenceId") == "inf-capture-1" for rec in records()), 10, "capture")
    rec = next(rec for rec in records() if rec["eventMetadata"].get("inferenceId") == "inf-capture-1")
    assert rec["eventVersion"] == "0"
    data = rec["captureData"]
    assert data["endpointInput"] == {"observedContentType": CSV, "mode": "INPUT", "data": body.decode(), "encoding": "CSV"}
    assert data["endpointOutput"]["data"] == reply and data["endpointOutput"]["encoding"] == "JSON"
    assert data["endpointOutput"]["mode"] == "OUTPUT"
    assert rec["eventMetadata"]["eventId"]
    hour_dirs = {p.relative_to(root).parts[:4] for p in root.rglob("*.jsonl")}
    assert all(len(parts) == 4 and len(parts[0]) == 4 for parts in hour_dirs)  # yyyy/mm/dd/hh
    infra.wait_for(
        lambda: any(rec["eventMetadata"].get("inferenceId") == generated.headers["x-amzn-sagemaker-inference-id"] for rec in records()),
        10,
        "the generated inference id in capture",
    )


def test_metrics_and_stats(deployment: Deployment) -> None:
    text = httpx.get(f"{deployment.url}/metrics").text
    for needle in (
        'modelport_invocations_total{code="200",endpoint="iris",variant="a"}',
        'modelport_rows_total{endpoint="iris",variant="a"}',
        'modelport_payload_bytes_total{direction="in",endpoint="iris"}',
        "modelport_model_duration_seconds_bucket",
        "modelport_invocation_duration_seconds_bucket",
        'modelport_capture_records_total{endpoint="iris",result="written",variant="b"}',
    ):
        assert needle in text, needle
    with Client(url=deployment.url) as c:
        stats = c.endpoints.stats("iris")
    assert stats is not None and stats["variants"]["a"]["requests"] > 0 and stats["variants"]["a"]["p50_ms"] > 0


def test_updates_under_load_fail_no_request(tmp_path: Path) -> None:
    """Weights shift, a variant swaps version, a shadow joins, a rollback — across 2 workers, zero failures."""
    home, x, _models = build_home(tmp_path)
    with infra.live_server(server_env(home), "--workers", "2") as live:
        body = x.iloc[[10, 60]].to_csv(index=False, header=False).encode()
        stop = threading.Event()
        outcomes: Counter[int] = Counter()
        variants: Counter[str] = Counter()
        lock = threading.Lock()

        def load() -> None:
            with httpx.Client(timeout=30) as c:
                while not stop.is_set():
                    r = invoke(c, live.url, body)
                    with lock:
                        outcomes[r.status_code] += 1
                        variants[r.headers.get("x-amzn-invoked-production-variant", "?")] += 1

        with httpx.Client() as probe:
            infra.wait_for(lambda: invoke(probe, live.url, body).status_code == 200, 30, "iris in service")

        def served() -> int:
            with lock:
                return sum(outcomes.values())

        def in_every_worker(revision: int) -> bool:
            return live.log().count(f"endpoint iris revision {revision} in service") == 2

        def under_load(what: str, requests: int = 100) -> None:
            """Wait until the load has sent ``requests`` more requests (through the change just made)."""
            mark = served()
            infra.wait_for(lambda: served() >= mark + requests, 30, f"{requests} requests {what}")

        threads = [threading.Thread(target=load) for _ in range(6)]
        for t in threads:
            t.start()
        try:
            with Client(url=live.url) as c:
                under_load("before the first change")
                c.endpoints.update("iris", weights={"a": 0, "b": 1})
                changed = time.monotonic()
                with httpx.Client() as probe:
                    # Within a second every worker routes by the new weights.
                    infra.wait_for(
                        lambda: all(
                            invoke(probe, live.url, body).headers["x-amzn-invoked-production-variant"] == "b" for _ in range(20)
                        ),
                        3,
                        "new weights in every worker",
                    )
                assert time.monotonic() - changed < 2.0
                # Each change goes live in both workers with the load running through it.
                for change in (
                    lambda: c.endpoints.update("iris", variants=["b=iris:3"]),  # swap b's version live
                    lambda: c.endpoints.update("iris", shadows=["s=iris:1"]),
                    lambda: c.endpoints.rollback("iris"),
                ):
                    revision = change().revision
                    infra.wait_for(partial(in_every_worker, revision), 30, f"revision {revision} in both workers")
                    under_load(f"after revision {revision}")
                with httpx.Client() as probe:
                    r = invoke(probe, live.url, body, **{"X-Amzn-SageMaker-Target-Variant": "b"})
                    assert r.status_code == 200
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert outcomes[200] > 100
        assert set(outcomes) == {200}, outcomes
        assert live.stop() == 0


def test_shadow_compared_never_delays_or_fails(tmp_path: Path) -> None:
    home, x, _models = build_home(tmp_path)
    with infra.live_server(server_env(home)) as live:
        with Client(url=live.url) as c:
            c.endpoints.update("iris", shadows=["agree=iris:3", "fails=broken:1", "slow=slow:1:100"])
            body = x.iloc[[10, 60, 120]].to_csv(index=False, header=False).encode()
            with httpx.Client() as h:
                infra.wait_for(lambda: c.endpoints.get("iris").status == "in_service", 30, "update in service")
                start = time.monotonic()
                for _ in range(30):
                    r = invoke(h, live.url, body)
                    assert r.status_code == 200
                elapsed = time.monotonic() - start
            assert elapsed < 3.0  # the 3-second shadow never delayed a live answer

            def shadow_rows() -> float:
                figures = (c.endpoints.stats("iris") or {})["variants"]
                return figures.get("agree", {}).get("shadow_rows", 0.0)

            infra.wait_for(lambda: shadow_rows() >= 90, 10, "shadow comparisons")
            figures = c.endpoints.stats("iris")["variants"]  # type: ignore[index]
        assert 0.0 <= figures["agree"]["shadow_label_agreement"] <= 1.0
        assert "shadow_mean_abs_diff" in figures["agree"]
        assert figures["fails"]["shadow_failures"] >= 1
        assert figures["a"]["errors"] == 0 and figures.get("b", {}).get("errors", 0) == 0


def test_capture_is_flushed_on_shutdown(tmp_path: Path) -> None:
    home, x, _ = build_home(tmp_path)
    env = server_env(home, MODELPORT_CAPTURE_FLUSH_S="3600")
    with infra.live_server(env) as live:
        body = x.iloc[[1]].to_csv(index=False, header=False).encode()
        with httpx.Client() as h:
            infra.wait_for(lambda: invoke(h, live.url, body).status_code == 200, 30, "in service")
            for _ in range(5):
                assert invoke(h, live.url, body).status_code == 200
        root = home / "artifacts" / "capture" / "iris"
        assert not list(root.rglob("*.jsonl"))  # nothing flushed yet: the interval is an hour
        assert live.stop() == 0
    written = [line for f in root.rglob("*.jsonl") for line in f.read_text().splitlines()]
    assert len(written) >= 6


def test_single_endpoint_container_mode(tmp_path: Path) -> None:
    home, x, models = build_home(tmp_path)
    port = infra.free_port()
    env = {**server_env(home), "SAGEMAKER_BIND_TO_PORT": str(port)}
    import os
    import subprocess

    proc = subprocess.Popen([*infra.modelport_cmd(), "serve", "iris"], env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        infra.wait_for(lambda: _ok(f"{url}/ping"), 60, "container /ping")
        body = x.iloc[[0, 100]].to_csv(index=False, header=False).encode()
        r = httpx.post(f"{url}/invocations", content=body, headers={"Content-Type": CSV, "X-Amzn-SageMaker-Target-Variant": "a"})
        assert r.status_code == 200
        assert [p["label"] for p in r.json()["predictions"]] == models["iris:1"].predict(x.iloc[[0, 100]]).tolist()  # type: ignore[attr-defined]
        r = httpx.post(f"{url}/invocations", content=b"1,2", headers={"Content-Type": CSV})
        assert r.status_code == 400 and r.json()["error_code"] == "BAD_REQUEST"
        assert httpx.get(f"{url}/api/v1/models").status_code == 404  # no control API in a container
        assert httpx.post(f"{url}/endpoints/slow/invocations", content=body, headers={"Content-Type": CSV}).status_code == 400
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("bad", ["nope"])
def test_serve_unknown_endpoint_is_a_clear_error(tmp_path: Path, bad: str) -> None:
    import os
    import subprocess

    proc = subprocess.run(
        [*infra.modelport_cmd(), "serve", bad, "--port", str(infra.free_port())],
        env={**os.environ, "MODELPORT_HOME": str(tmp_path / "h")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1 and proc.stderr == f"error: endpoint '{bad}' does not exist\n"


def test_data_plane_needs_an_invoke_token_once_auth_is_on(tmp_path: Path) -> None:
    import boto3
    import tritonclient.http as triton
    from botocore.config import Config

    home, x, _ = build_home(tmp_path)
    with Client(home=home) as local:
        invoker = local.tokens.create("invoke", "app").secret
        reader = local.tokens.create("read", "dash").secret
    with infra.live_server(server_env(home)) as live:
        body = x.iloc[[1]].to_csv(index=False, header=False).encode()
        with httpx.Client() as h:
            infra.wait_for(lambda: invoke(h, live.url, body, Authorization=f"Bearer {invoker}").status_code == 200, 30, "in service")
            r = invoke(h, live.url, body)
            assert r.status_code == 401 and r.headers["x-amzn-errortype"].startswith("UnrecognizedClientException")
            r = invoke(h, live.url, body, Authorization=f"Bearer {reader}")
            assert r.status_code == 403 and "needs 'invoke'" in r.json()["message"]
            assert h.get(f"{live.url}/v2/health/live").status_code == 200  # liveness stays open
            assert h.get(f"{live.url}/v2/health/ready").status_code == 401  # readiness needs the token
            assert h.get(f"{live.url}/v2/health/ready", headers={"Authorization": f"Bearer {invoker}"}).status_code == 200
        client = triton.InferenceServerClient(live.url.removeprefix("http://"))
        auth = {"Authorization": f"Bearer {invoker}"}
        assert client.is_server_live() and not client.is_server_ready() and not client.is_model_ready("iris")
        assert client.is_server_ready(headers=auth) and client.is_model_ready("iris", headers=auth)
        inp = triton.InferInput("input", [1, 4], "FP32")
        inp.set_data_from_numpy(x.iloc[[1]].to_numpy("float32"))
        result = client.infer("iris", [inp], headers={"Authorization": f"Bearer {invoker}"})
        assert result.as_numpy("label").shape == (1,)
        from tritonclient.utils import InferenceServerException

        with pytest.raises(InferenceServerException) as err:
            client.infer("iris", [inp])
        assert err.value.status() == "401"
        runtime = boto3.client(
            "sagemaker-runtime", endpoint_url=live.url, region_name="us-east-1",
            aws_access_key_id="x", aws_secret_access_key="y", config=Config(retries={"max_attempts": 1}),
        )

        def add_token(request, **_):  # type: ignore[no-untyped-def]
            request.headers["Authorization"] = f"Bearer {invoker}"  # replaces the SigV4 header

        runtime.meta.events.register_last("before-send.sagemaker-runtime.InvokeEndpoint", add_token)
        assert runtime.invoke_endpoint(EndpointName="iris", Body=body, ContentType="text/csv")["InvokedProductionVariant"]
        with Client(url=live.url, token=invoker) as c:
            out = c.invoke("iris", x.iloc[[1, 2]])
            assert len(out.predictions) == 2 and out.variant in ("a", "b")
        assert invoker not in live.log() and reader not in live.log()


def test_a_variant_that_cannot_load_fails_the_revision_and_the_old_one_keeps_serving(tmp_path: Path) -> None:
    import os

    home, x, _ = build_home(tmp_path)
    with Client(home=home) as local:
        broken = local.models.show("iris:3")
        os.chmod(broken.artifact_uri, 0o644)
        with open(broken.artifact_uri, "ab") as fh:
            fh.write(b"tampered")  # the next load fails its sha256 check
    with infra.live_server(server_env(home)) as live:
        body = x.iloc[[1]].to_csv(index=False, header=False).encode()
        with httpx.Client() as h, Client(url=live.url) as c:
            infra.wait_for(lambda: invoke(h, live.url, body).status_code == 200, 30, "in service")
            c.endpoints.update("iris", variants=["b=iris:3"])
            infra.wait_for(lambda: c.endpoints.get("iris").status == "failed", 10, "the failed status")
            ep = c.endpoints.get("iris")
            assert ep.revision == 2 and "failed its integrity check" in (ep.failure_reason or "")
            for _ in range(20):  # revision 1 still answers
                r = invoke(h, live.url, body)
                assert r.status_code == 200
            c.endpoints.rollback("iris")
            infra.wait_for(lambda: c.endpoints.get("iris").status == "in_service", 10, "back in service")
