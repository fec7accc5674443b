"""Stored bytes no race can delete, metadata measured not trusted, and `modelport gc`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from modelport import registration
from modelport.api.routes.models import content_disposition
from modelport.domain import RegisterRequest
from modelport.errors import InvalidArgument
from modelport.services import Services
from modelport.settings import Settings
from tests.cli.conftest import cli  # noqa: F401  (the in-process CLI runner)


@pytest.fixture
def local(sqlite_settings: Settings) -> Any:
    svc = Services.open(sqlite_settings)
    yield svc
    svc.close()


def _bad_sample(folder: Path) -> Path:
    path = folder / "bad.csv"
    path.write_text("not_a_feature\n1\n")
    return path


def test_a_failed_registration_never_deletes_bytes_another_is_about_to_use(
    local: Services, model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race, made deterministic: registration B (same bytes) fails while A is between upload and commit."""
    real_prepare = registration.prepare
    bad = _bad_sample(tmp_path)

    def prepare_a(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(registration, "prepare", real_prepare)
        with pytest.raises(InvalidArgument):  # B uploads the same bytes, then fails on its sample
            local.registry.register(model_file, "b", sample=bad)
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(registration, "prepare", prepare_a)
    a = local.registry.register(model_file, "a")
    path = local.registry.artifact_path(a)  # verifies the sha256: the blob is there and intact
    assert path.read_bytes() == model_file.read_bytes()


def test_gc_deletes_only_unreferenced_blobs_outside_the_grace_period(
    local: Services, model_file: Path, other_model_file: Path, tmp_path: Path
) -> None:
    kept = local.registry.register(model_file, "kept")
    gone = local.registry.register(other_model_file, "gone")
    local.registry.delete_version("gone:1")
    with pytest.raises(InvalidArgument):
        local.registry.register(other_model_file, "failed", sample=_bad_sample(tmp_path))
    sample_only = local.artifacts.put_file(_bad_sample(tmp_path))  # an upload no version ever used

    fresh = local.registry.collect_garbage()  # default grace: an hour
    assert fresh.deleted == [] and fresh.kept == 2 and fresh.referenced == 1

    dry = local.registry.collect_garbage(grace_s=0, dry_run=True)
    assert sorted(dry.deleted) == sorted([gone.sha256, sample_only.sha256])
    assert local.artifacts.exists(gone.sha256)

    done = local.registry.collect_garbage(grace_s=0)
    assert sorted(done.deleted) == sorted(dry.deleted)
    assert done.freed_bytes == other_model_file.stat().st_size + sample_only.size
    assert not local.artifacts.exists(gone.sha256) and not local.artifacts.exists(sample_only.sha256)
    assert local.registry.artifact_path(kept).is_file()
    # uploading bytes again restarts their grace period
    again = local.artifacts.put_file(other_model_file)
    assert local.registry.collect_garbage(grace_s=60).deleted == []
    assert local.artifacts.exists(again.sha256)


def test_gc_from_the_cli(cli, model_file: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    assert cli("models", "register", str(model_file), "--name", "m")[0] == 0
    assert cli("models", "delete", "m:1")[0] == 0
    code, out, err = cli("gc", "--grace", "0s", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert len(report["deleted"]) == 1 and report["freed_bytes"] == model_file.stat().st_size
    code, _, err = cli("gc", "--grace", "soon")
    assert code == 1 and err.strip() == "error: invalid duration 'soon': expected e.g. 90s, 30m, 1h or 2d"


def test_declared_size_is_measured_not_trusted(local: Services, model_file: Path) -> None:
    upload = local.artifacts.put_file(model_file)
    lie = RegisterRequest(name="m", sha256=upload.sha256, size=1, filename="m.joblib")
    with pytest.raises(InvalidArgument, match=rf"declared size 1 does not match the artifact's {upload.size} bytes"):
        local.registry.register_uploaded(lie, created_by="t")
    with pytest.raises(ValidationError):
        RegisterRequest(name="m", sha256=upload.sha256, size=-5)
    mv = local.registry.register_uploaded(RegisterRequest(name="m", sha256=upload.sha256), created_by="t")
    assert mv.size == model_file.stat().st_size == mv.files[0].size


@pytest.mark.parametrize(
    ("filename", "header"),
    [
        ("model.joblib", "attachment; filename=\"model.joblib\"; filename*=UTF-8''model.joblib"),
        ('a"b\r\nX-Evil: 1.pkl', "attachment; filename=\"a_b__X-Evil: 1.pkl\"; filename*=UTF-8''a%22b%0D%0AX-Evil%3A%201.pkl"),
        ("modèle.onnx", "attachment; filename=\"mod_le.onnx\"; filename*=UTF-8''mod%C3%A8le.onnx"),
        ("../../etc/passwd", "attachment; filename=\"passwd\"; filename*=UTF-8''passwd"),
    ],
)
def test_download_names_are_encoded(filename: str, header: str) -> None:
    assert content_disposition(filename) == header
