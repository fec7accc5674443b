"""``PrimaryContainer.ModelDataUrl`` → a model file the registry can take.

SageMaker packages a model as ``model.tar.gz`` with the model file inside
(what the container finds in ``/opt/ml/model``); modelport takes that, a bare
model file, a local path the server can read, or a registry reference
(``churn:3``, ``churn@champion``, ``churn``).  The format is detected from the
bytes, as for every registration: the container image says nothing modelport
uses.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from modelport.domain import ModelRef
from modelport.errors import ModelportError
from modelport.formats import sniff_format
from modelport.s3 import s3_errors
from modelport.sagemaker.shapes import resource_limit, validation


@dataclass(frozen=True, slots=True)
class ModelData:
    """Where ``ModelDataUrl`` points: a file to register, or a version already in the registry."""

    url: str
    reference: str | None = None
    """``churn:3``, ``churn@champion``, ``churn``: the registry has it."""


def classify(url: str) -> ModelData:
    """A URL that is not ``s3://``, ``file://`` or an absolute or relative path is a registry reference."""
    if url.startswith(("s3://", "file://", "/", "./", "../")) or url.endswith((".tar.gz", ".tgz")) or Path(url).exists():
        return ModelData(url)
    try:
        ModelRef.parse(url)
    except ModelportError:
        return ModelData(url)
    return ModelData(url, reference=url)


@contextlib.contextmanager
def model_file(url: str, *, s3_endpoint_url: str | None, max_bytes: int, tmp_dir: Path | None) -> Iterator[Path]:
    """The model file behind ``url`` (fetched and unpacked into a scratch folder removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="modelport-sagemaker-", dir=tmp_dir) as scratch:
        path = _fetch(url, Path(scratch), s3_endpoint_url=s3_endpoint_url, max_bytes=max_bytes)
        if tarfile.is_tarfile(path):
            path = _unpack(url, path, Path(scratch) / "model", max_bytes=max_bytes)
        yield path


def _fetch(url: str, scratch: Path, *, s3_endpoint_url: str | None, max_bytes: int) -> Path:
    if not url.startswith("s3://"):
        local = Path(url.removeprefix("file://")).expanduser()
        if not local.is_file():
            raise validation(f"ModelDataUrl {url!r}: no such file on the server")
        _check_size(url, local.stat().st_size, max_bytes)
        return local
    try:
        import s3fs
    except ImportError:
        raise validation(f"ModelDataUrl {url!r}: reading s3:// needs modelport[s3] on the server") from None
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint_url} if s3_endpoint_url else {})
    dest = scratch / (url.rstrip("/").rsplit("/", 1)[-1] or "model")
    with s3_errors(f"ModelDataUrl {url}"):
        try:
            info = fs.info(url)
        except FileNotFoundError:
            raise validation(f"ModelDataUrl {url!r}: no such object") from None
        except OSError as exc:
            raise validation(f"ModelDataUrl {url!r} cannot be read: {exc}") from None
        if info.get("type") != "file":
            raise validation(f"ModelDataUrl {url!r} is a prefix, not an object: point it at model.tar.gz")
        _check_size(url, int(info.get("size") or 0), max_bytes)
        fs.get_file(url, str(dest))
    return dest


def _check_size(url: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise resource_limit(
            f"ModelDataUrl {url!r} is {size} bytes, over this server's limit of {max_bytes} (MODELPORT_MAX_UPLOAD_BYTES)"
        )


def _unpack(url: str, archive: Path, dest: Path, *, max_bytes: int) -> Path:
    """Extract the archive (regular files only, nothing outside ``dest``) and pick its model file."""
    dest.mkdir()
    total = 0
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                if not member.isfile():
                    continue
                total += member.size
                _check_size(url, total, max_bytes)
                tar.extract(member, dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise validation(f"ModelDataUrl {url!r} is not a readable tar.gz archive: {exc}") from None
    found = []
    for root, _dirs, files in os.walk(dest):
        for file in sorted(files):
            path = Path(root) / file
            if path.stat().st_size and not file.startswith("._") and sniff_format(path) is not None:
                found.append(path)
    if not found:
        raise validation(
            f"ModelDataUrl {url!r} is not a model: the archive holds no model file modelport recognises "
            "(ONNX, scikit-learn, XGBoost, LightGBM, PMML, TorchScript…)"
        )
    if len(found) > 1:
        preferred = [p for p in found if p.name.split(".")[0] == "model"]
        if len(preferred) != 1:
            shown = ", ".join(str(p.relative_to(dest)) for p in found)
            raise validation(f"ModelDataUrl {url!r} holds several model files ({shown}): name the one to serve model.<ext>")
        found = preferred
    return found[0]

