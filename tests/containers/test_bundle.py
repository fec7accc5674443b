"""The model bundle an image carries in /opt/ml/model, and the single-endpoint app it serves: no engine needed."""

from __future__ import annotations

import asyncio
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelport.api.app import create_app
from modelport.api.rsgi import RSGIApp
from modelport.containers import bundle as bundles
from modelport.errors import DataLoss, FailedPrecondition, NotFound
from modelport.services import Services
from modelport.settings import Settings

ROWS = b"5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"


@pytest.fixture
def source(tmp_path: Path, model_file: Path) -> Iterator[Services]:
    """A registry with iris:1 and iris:2 (ONNX) behind endpoint `iris-ep`: a live variant, a shadow, capture on."""
    services = Services.open(Settings(home=tmp_path / "source"))
    for _ in range(2):
        services.registry.register(model_file, "iris", to_onnx=True)
    services.endpoints.create(
        "iris-ep",
        [{"name": "live", "model": "iris:2", "weight": 1.0}, {"name": "shadow", "model": "iris:1", "shadow": True,
                                                               "sample_percent": 50.0}],
        capture={"enabled": True, "sampling_percent": 10.0},
        created_by="test",
    )  # fmt: skip
    yield services
    services.close()


def test_a_bundle_in_a_sagemaker_model_tar_gz_seeds_the_same_endpoint_under_the_same_versions(
    source: Services, tmp_path: Path
) -> None:
    written = tmp_path / "bundle"
    bundle = bundles.resolve(source, "iris-ep")
    bundles.write_bundle(source, bundle, written)
    model_dir = tmp_path / "opt-ml-model"
    model_dir.mkdir()
    with tarfile.open(model_dir / "model.tar.gz", "w:gz") as tar:  # what SageMaker is given, and leaves unextracted
        for path in written.rglob("*"):
            tar.add(path, arcname=str(path.relative_to(written)))
    home = tmp_path / "container"
    found = bundles.find_bundle(model_dir, home)
    seeded = Services.open(Settings(home=home))
    try:
        loaded = bundles.load_bundle(seeded, found)
        endpoint = seeded.endpoints.get("iris-ep")
        assert loaded.endpoint == "iris-ep"
        original = source.endpoints.get("iris-ep").config
        assert [(v.name, v.model, v.weight, v.shadow, v.sample_percent) for v in endpoint.config.variants] == [
            (v.name, v.model, v.weight, v.shadow, v.sample_percent) for v in original.variants
        ]
        assert endpoint.config.capture == original.capture
        for ref in ("iris:1", "iris:2"):
            mine, theirs = seeded.registry.get_version(ref), source.registry.get_version(ref)
            assert (mine.sha256, mine.signature, mine.format) == (theirs.sha256, theirs.signature, theirs.format)
            assert seeded.registry.model_path(mine).read_bytes() == source.registry.model_path(theirs).read_bytes()
    finally:
        seeded.close()


def test_a_version_target_is_served_as_one_variant_and_unknown_targets_say_what_a_target_is(source: Services) -> None:
    bundle = bundles.resolve(source, "iris:1")
    assert bundle.endpoint == "iris"
    assert [(v.name, v.model) for v in bundle.config.variants] == [("AllTraffic", "iris:1")]
    with pytest.raises(NotFound, match="no endpoint 'nope' \\(a model version is NAME:VERSION"):
        bundles.resolve(source, "nope")
    with pytest.raises(NotFound):
        bundles.resolve(source, "iris:9")


def test_a_tampered_artifact_is_not_bundled(source: Services, tmp_path: Path) -> None:
    version = source.registry.get_version("iris:2")
    blob = Path(version.artifact_uri)
    blob.write_bytes(blob.read_bytes()[:-1])
    with pytest.raises(DataLoss, match="iris:2: .*failed its integrity check"):
        bundles.write_bundle(source, bundles.resolve(source, "iris-ep"), tmp_path / "bundle")


def test_a_model_folder_without_a_bundle_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FailedPrecondition, match="holds neither modelport.json nor model.tar.gz"):
        bundles.find_bundle(tmp_path, tmp_path / "scratch")


def test_the_container_app_is_live_ready_and_turns_unready_while_draining_but_keeps_serving(
    source: Services, tmp_path: Path
) -> None:
    written = tmp_path / "bundle"
    bundles.write_bundle(source, bundles.resolve(source, "iris-ep"), written)
    drain = tmp_path / "draining"
    settings = Settings(home=tmp_path / "container", drain_file=drain)
    seeded = Services.open(settings)
    bundles.load_bundle(seeded, written)
    seeded.close()
    app = create_app(settings, single_endpoint="iris-ep")
    lifespan = RSGIApp(app)  # type: ignore[arg-type]
    loop = asyncio.new_event_loop()
    lifespan.__rsgi_init__(loop)

    def call(method: str, path: str, **kwargs: object) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://container") as client:
                return await client.request(method, path, **kwargs)  # type: ignore[arg-type]

        return loop.run_until_complete(send())

    try:
        assert call("GET", "/healthz").json() == {"status": "alive"}
        assert call("GET", "/readyz").json() == {"status": "ready"}
        assert call("GET", "/ping").status_code == 200
        invoke = call("POST", "/invocations", content=ROWS, headers={"content-type": "text/csv"})
        assert [p["label"] for p in invoke.json()["predictions"]] == [0, 2]
        drain.touch()
        assert (call("GET", "/readyz").status_code, call("GET", "/readyz").json()) == (503, {"status": "draining"})
        assert call("GET", "/ping").status_code == 503  # SageMaker's readiness too
        assert call("GET", "/healthz").status_code == 200  # alive: not to be restarted
        again = call("POST", "/endpoints/iris-ep/invocations", content=ROWS, headers={"content-type": "text/csv"})
        assert again.status_code == 200 and again.json() == invoke.json()  # still serving what reaches it
    finally:
        lifespan.__rsgi_del__(loop)
        loop.close()


def test_onnx_images_carry_the_onnx_package_only_for_tree_ensembles(source: Services, tmp_path: Path) -> None:
    """modelport's tree kernel reads the graph with `onnx`; a linear model's image leaves it out (~60 MB)."""
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    from modelport.containers.build import has_tree_ensemble

    x, y = load_iris(return_X_y=True)
    joblib.dump(RandomForestClassifier(n_estimators=3, max_depth=2, random_state=0).fit(x, y), tmp_path / "forest.joblib")
    forest = source.registry.register(tmp_path / "forest.joblib", "forest", to_onnx=True)
    assert has_tree_ensemble(source.registry.model_path(forest))
    assert not has_tree_ensemble(source.registry.model_path(source.registry.get_version("iris:1")))


@pytest.mark.slow
def test_the_entry_point_serves_the_bundle_and_drains_on_sigterm_without_an_engine(
    source: Services, tmp_path: Path
) -> None:
    """The image's entry point as a process here: seed, serve, SIGTERM → readiness 503 while serving, exit 0."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests import infra

    bundles.write_bundle(source, bundles.resolve(source, "iris-ep"), tmp_path / "model")
    port = infra.free_port()
    env = {**os.environ, "PYTHONPATH": infra.PYTHONPATH, "MODELPORT_MODEL_DIR": str(tmp_path / "model"),
           "MODELPORT_HOME": str(tmp_path / "home"), "SAGEMAKER_BIND_TO_PORT": str(port), "MODELPORT_DRAIN_SECONDS": "3"}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "modelport.containers.entry", "serve", "--host", "127.0.0.1"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        infra.wait_for(lambda: _get(f"{url}/readyz") == 200, 60, "the entry point's server")
        assert httpx.post(f"{url}/invocations", content=ROWS, headers={"content-type": "text/csv"}).status_code == 200
        proc.send_signal(signal.SIGTERM)
        infra.wait_for(lambda: _get(f"{url}/readyz") == 503, 5, "readiness to turn 503")
        assert httpx.post(f"{url}/invocations", content=ROWS, headers={"content-type": "text/csv"}).status_code == 200
        started = time.monotonic()
        assert proc.wait(30) == 0
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
    empty = subprocess.run([sys.executable, "-m", "modelport.containers.entry"], capture_output=True, text=True,
                           env={**env, "MODELPORT_MODEL_DIR": str(tmp_path / "nothing")}, timeout=120)  # fmt: skip
    assert empty.returncode == 1
    assert empty.stderr.strip().endswith("holds neither modelport.json nor model.tar.gz: nothing to serve")


def _get(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def test_the_registry_seeded_at_build_time_is_used_only_for_the_same_bundle(source: Services, tmp_path: Path) -> None:
    from modelport.containers.entry import restore, seed_image

    model_dir = tmp_path / "model"
    bundles.write_bundle(source, bundles.resolve(source, "iris-ep"), model_dir)
    seed_dir = tmp_path / "seed"
    seed_image(Settings(home=seed_dir), model_dir)
    assert not (seed_dir / "secret.key").exists()
    home = tmp_path / "home"
    assert restore(Settings(home=home), model_dir, seed_dir) == ("iris-ep", ["onnx"])
    restored = Services.open(Settings(home=home))
    try:
        assert restored.endpoints.get("iris-ep").config.variants[0].model == "iris:2"
        assert restored.registry.model_path(restored.registry.get_version("iris:2")).is_file()  # verified on read
    finally:
        restored.close()
    other = tmp_path / "other-model"  # what SageMaker put in /opt/ml/model instead: seeded afresh
    bundles.write_bundle(source, bundles.resolve(source, "iris:1"), other)
    assert restore(Settings(home=tmp_path / "home2"), other, seed_dir) is None
    assert restore(Settings(home=tmp_path / "home3"), model_dir, tmp_path / "no-seed") is None


def test_a_model_tar_gz_is_read_where_tarfile_has_no_data_filter_and_a_link_in_it_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian 12's Python 3.11.2 (the tests' base image) predates ``extractall(filter=)``."""
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "modelport.json").write_text("{}")
    model_dir = tmp_path / "ml-model"
    model_dir.mkdir()
    with tarfile.open(model_dir / "model.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src", arcname=".")
    assert (bundles.find_bundle(model_dir, tmp_path / "home") / "modelport.json").read_text() == "{}"
    (tmp_path / "src" / "escape").symlink_to("/etc/passwd")
    with tarfile.open(model_dir / "model.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src", arcname=".")
    with pytest.raises(FailedPrecondition, match="'./escape' is not a plain file inside the archive"):
        bundles.find_bundle(model_dir, tmp_path / "home")
