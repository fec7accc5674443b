"""The artifact store, locally and on a real S3-compatible server (moto on loopback)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from modelport.errors import DataLoss, InvalidArgument
from modelport.settings import Settings
from modelport.store import ArtifactStore, sha256_file, url_protocol
from tests import infra


@pytest.fixture(params=["local", "s3"])
def store_settings(request: pytest.FixtureRequest, home: Path) -> Settings:
    if request.param == "local":
        return Settings(home=home)
    s3: infra.S3Server = request.getfixturevalue("s3")
    bucket = s3.create_bucket()
    return Settings(home=home, artifacts=f"s3://{bucket}/modelport", s3_endpoint_url=s3.url)


def test_content_addressed_and_deduplicated(store_settings: Settings, make_services, model_file: Path) -> None:
    svc = make_services(store_settings)
    a = svc.registry.register(model_file, "m")
    b = svc.registry.register(model_file, "n")
    sha, size = sha256_file(model_file)
    assert a.sha256 == b.sha256 == sha and a.size == size
    assert a.artifact_uri == b.artifact_uri and a.artifact_uri.endswith(f"/blobs/sha256/{sha[:2]}/{sha}")
    assert svc.artifacts.exists(sha)
    path = svc.registry.artifact_path(a)
    assert path.read_bytes() == model_file.read_bytes()
    svc.registry.delete_version("m:1")
    assert svc.artifacts.exists(sha), "a blob another version uses must stay"
    svc.registry.delete_version("n:1")
    assert svc.artifacts.exists(sha), "deleting never removes bytes (a registration may be about to use them)"
    assert svc.registry.collect_garbage(grace_s=0).deleted == [sha]
    assert not svc.artifacts.exists(sha), "gc removes an unreferenced blob"


def test_tampered_artifact_is_refused(store_settings: Settings, make_services, model_file: Path) -> None:
    svc = make_services(store_settings)
    mv = svc.registry.register(model_file, "m")
    tampered = model_file.read_bytes() + b"evil"
    if svc.artifacts.is_local:
        os.chmod(mv.artifact_uri, 0o644)
        Path(mv.artifact_uri).write_bytes(tampered)
    else:
        svc.artifacts.fs.pipe_file(mv.artifact_uri, tampered)
        # The local cache of this machine holds verified bytes; another machine has none.
        shutil.rmtree(svc.artifacts.cache_dir, ignore_errors=True)
    with pytest.raises(DataLoss, match=r"failed its integrity check .* will not be loaded"):
        svc.registry.artifact_path(mv)


def test_damaged_cache_copy_is_fetched_again(s3: infra.S3Server, home: Path, make_services, model_file: Path) -> None:
    bucket = s3.create_bucket()
    svc = make_services(Settings(home=home, artifacts=f"s3://{bucket}/mp", s3_endpoint_url=s3.url))
    mv = svc.registry.register(model_file, "m")
    cached = svc.registry.artifact_path(mv)
    os.chmod(cached, 0o644)
    cached.write_bytes(b"bit rot")
    assert svc.registry.artifact_path(mv).read_bytes() == model_file.read_bytes()


def test_local_blobs_are_read_only(sqlite_settings: Settings, make_services, model_file: Path) -> None:
    svc = make_services(sqlite_settings)
    mv = svc.registry.register(model_file, "m")
    assert not os.stat(mv.artifact_uri).st_mode & 0o222


def test_failed_database_write_registers_nothing_and_gc_takes_the_upload(sqlite_settings: Settings, make_services, model_file: Path) -> None:
    svc = make_services(sqlite_settings)
    with svc.db.write() as s:
        s.execute(
            sa.text(
                "CREATE TRIGGER refuse BEFORE INSERT ON model_versions BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        )
    with pytest.raises(Exception, match="disk full"):
        svc.registry.register(model_file, "m")
    sha, _ = sha256_file(model_file)
    assert svc.registry.list_models().items == []  # the model row rolled back too
    assert svc.registry.collect_garbage(grace_s=0).deleted == [sha]  # the upload is an orphan gc removes


def test_corrupt_upload_is_refused(sqlite_settings: Settings, make_services, tmp_path: Path) -> None:
    svc = make_services(sqlite_settings)
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    with pytest.raises(InvalidArgument, match="upload is corrupted"):
        svc.artifacts.put_file(f, sha256="0" * 64)
    with pytest.raises(InvalidArgument, match="invalid sha256"):
        svc.artifacts.uri_for("xyz")


_SLOW_UPLOAD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from modelport.store import ArtifactStore
    store = ArtifactStore(sys.argv[1], cache_dir=Path(sys.argv[2]), s3_endpoint_url=sys.argv[3] or None)
    def chunks():
        for i in range(10_000):
            yield b"x" * 65536
            if i == 3:
                print("uploading", flush=True)
            time.sleep(0.01)
    store.put_stream(chunks(), limit=1 << 40)
    """
)


def test_killed_upload_leaves_nothing_visible(store_settings: Settings, tmp_path: Path) -> None:
    """kill -9 in the middle of an upload: no blob appears, ever."""
    root = store_settings.resolved_artifacts
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_UPLOAD, root, str(tmp_path / "cache"), store_settings.s3_endpoint_url or ""],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "uploading"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = ArtifactStore(root, cache_dir=tmp_path / "cache", s3_endpoint_url=store_settings.s3_endpoint_url)
    assert not store.fs.exists(f"{store.root}/blobs") or store.fs.find(f"{store.root}/blobs") == []


def test_killed_s3_multipart_upload_is_invisible(s3: infra.S3Server, tmp_path: Path) -> None:
    """The S3 write itself (multipart) killed half-way: the object never appears."""
    import boto3

    bucket = s3.create_bucket()
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        for _ in range(48):
            fh.write(os.urandom(1 << 20))
    sha, _ = sha256_file(big)
    script = textwrap.dedent(
        """
        import sys
        from pathlib import Path
        import s3fs
        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": sys.argv[3]})
        fs.put_file(sys.argv[1], sys.argv[2], chunksize=5 * 2**20)
        """
    )
    key = f"{bucket}/modelport/blobs/sha256/{sha[:2]}/{sha}"
    s3c = boto3.client("s3", endpoint_url=s3.url, region_name="us-east-1")
    proc = subprocess.Popen([sys.executable, "-c", script, str(big), key, s3.url])
    infra.wait_for(
        lambda: bool(s3c.list_multipart_uploads(Bucket=bucket).get("Uploads")) or proc.poll() is not None,
        60,
        "a multipart upload to start",
        interval=0.005,
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = ArtifactStore(f"s3://{bucket}/modelport", cache_dir=tmp_path / "c", s3_endpoint_url=s3.url)
    assert proc.returncode == -signal.SIGKILL, "the upload finished before it could be killed"
    assert s3c.list_multipart_uploads(Bucket=bucket).get("Uploads"), "killed mid-upload"
    assert not store.exists(sha)


@pytest.mark.parametrize(
    "url", ["/srv/models", "relative/dir", "file:///srv/x", "s3://bucket/prefix", "gs://b/p", "simplecache::s3://b/p", "C:\\models"]
)
def test_store_protocol_is_fsspecs(url: str) -> None:
    """The store tells local from S3 without importing fsspec, by fsspec's own rule."""
    import fsspec.utils

    assert url_protocol(url) == fsspec.utils.get_protocol(url)
