"""The SDK against a modelport server: the same verbs over the control API."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from modelport.client.base import ModelsAPI, TokensAPI
from modelport.client.http import HttpTransport
from modelport.domain import (
    Alias,
    Model,
    ModelRef,
    ModelVersion,
    NewToken,
    Page,
    Token,
    check_metrics,
    check_version,
    validate_name,
)
from modelport.errors import DataLoss, InvalidArgument
from modelport.formats import check_format
from modelport.frames import table_format
from modelport.store import CHUNK, sha256_file


def _q(part: str) -> str:
    return quote(part, safe="")


def _version_path(ref: str) -> str:
    parsed = ModelRef.parse(ref)
    if parsed.alias is not None:
        return f"/api/v1/models/{_q(parsed.name)}/aliases/{_q(parsed.alias)}"
    version = "latest" if parsed.version is None else str(parsed.version)
    return f"/api/v1/models/{_q(parsed.name)}/versions/{version}"


def _tag_params(tags: Mapping[str, str] | None) -> builtins.list[tuple[str, str]]:
    return [("tag", f"{k}={v}") for k, v in (tags or {}).items()]


class RemoteModels(ModelsAPI):
    def __init__(self, http: HttpTransport, cache_dir: Path) -> None:
        self._http = http
        self._cache = cache_dir

    def _verified_path(self, mv: ModelVersion) -> Path:
        """Download once into the content-addressed cache, verifying the sha256."""
        f = mv.file("model")
        target = self._cache / "sha256" / f.sha256[:2] / f.sha256
        if target.exists() and sha256_file(target)[0] == f.sha256:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        return self.download(mv.ref, target)

    def register(
        self,
        path: str | Path,
        name: str,
        *,
        format: str | None = None,
        description: str = "",
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        signature: Mapping[str, Any] | None = None,
        sample: str | Path | None = None,
        to_onnx: bool = False,
        force: bool = False,
        atol: float = 1e-4,
        trust: bool = False,
    ) -> ModelVersion:
        validate_name(name)
        check_metrics(metrics or {})  # the same message as in process (JSON cannot carry NaN anyway)
        path = Path(path)
        if not path.is_file():
            raise InvalidArgument(f"model file {str(path)!r} does not exist or is not a file")
        if format:
            check_format(format)
        options: dict[str, Any] = {"to_onnx": to_onnx, "force": force, "atol": atol, "trust": trust}
        if sample is not None:
            sample = Path(sample)
            if not sample.is_file():
                raise InvalidArgument(f"sample file {str(sample)!r} does not exist or is not a file")
            table_format(sample)
            options.update(sample_sha256=self.upload(sample)["sha256"], sample_filename=sample.name)
        upload = self.upload(path)
        body = {
            "format": format,
            "options": options,
            "filename": path.name,
            "sha256": upload["sha256"],
            "size": upload["size"],
            "description": description,
            "metrics": dict(metrics or {}),
            "params": {k: str(v) for k, v in (params or {}).items()},
            "tags": dict(tags or {}),
            "source": {"path": str(path.resolve())},
            "signature": dict(signature or {}),
        }
        return ModelVersion.model_validate(self._http.json("POST", f"/api/v1/models/{_q(name)}/versions", json=body))

    def upload(self, path: Path) -> dict[str, Any]:
        """Stream a file to the server's store; the server checks the sha256 we announce."""
        sha256, size = sha256_file(path)

        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    yield chunk

        return self._http.json(  # type: ignore[no-any-return]
            "PUT",
            f"/api/v1/artifacts/{sha256}",
            content=chunks(),
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )

    def list(
        self,
        *,
        limit: int = 100,
        page_token: str | None = None,
        name_contains: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Page[Model]:
        params: builtins.list[tuple[str, Any]] = [("limit", limit), *_tag_params(tags)]
        if page_token:
            params.append(("page_token", page_token))
        if name_contains:
            params.append(("name_contains", name_contains))
        return Page[Model].model_validate(self._http.json("GET", "/api/v1/models", params=params))

    def get(self, name: str) -> Model:
        validate_name(name)
        return Model.model_validate(self._http.json("GET", f"/api/v1/models/{_q(name)}"))

    def show(self, ref: str) -> ModelVersion:
        return ModelVersion.model_validate(self._http.json("GET", _version_path(ref)))

    def versions(
        self,
        name: str,
        *,
        limit: int = 100,
        page_token: str | None = None,
        format: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Page[ModelVersion]:
        validate_name(name)
        params: builtins.list[tuple[str, Any]] = [("limit", limit), *_tag_params(tags)]
        if page_token:
            params.append(("page_token", page_token))
        if format:
            params.append(("format", format))
        data = self._http.json("GET", f"/api/v1/models/{_q(name)}/versions", params=params)
        return Page[ModelVersion].model_validate(data)

    def update(self, name: str, *, description: str | None = None, tags: Mapping[str, str] | None = None) -> Model:
        validate_name(name)
        body = {"description": description, "tags": dict(tags) if tags is not None else None}
        return Model.model_validate(self._http.json("PATCH", f"/api/v1/models/{_q(name)}", json=body))

    def delete(self, ref: str, *, force: bool = False) -> builtins.list[ModelVersion]:
        target = self._delete_target(ref)
        params = {"force": "true" if force else "false"}
        if target.version is None:
            data = self._http.json("DELETE", f"/api/v1/models/{_q(target.name)}", params=params)
            return [ModelVersion.model_validate(v) for v in data]
        data = self._http.json("DELETE", f"/api/v1/models/{_q(target.name)}/versions/{target.version}", params=params)
        return [ModelVersion.model_validate(data)]

    def set_alias(self, name: str, alias: str, version: int) -> Alias:
        validate_name(name)
        check_version(version)
        data = self._http.json("PUT", f"/api/v1/models/{_q(name)}/aliases/{_q(alias)}", json={"version": version})
        return Alias.model_validate(data)

    def delete_alias(self, name: str, alias: str) -> None:
        validate_name(name)
        self._http.request("DELETE", f"/api/v1/models/{_q(name)}/aliases/{_q(alias)}")

    def download(self, ref: str, dest: str | Path, *, role: str = "model") -> Path:
        import hashlib
        import os
        import uuid

        mv = self.show(ref)
        f = mv.file(role)
        target = Path(dest)
        if target.is_dir():
            target = target / f.filename
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        digest = hashlib.sha256()
        path = f"/api/v1/models/{_q(mv.name)}/versions/{mv.version}/files/{_q(role)}"
        try:
            with self._http.stream("GET", path) as resp, open(tmp, "wb") as fh:
                for chunk in resp.iter_bytes(CHUNK):
                    digest.update(chunk)
                    fh.write(chunk)
            if digest.hexdigest() != f.sha256:
                raise DataLoss(f"download of {mv.ref} is corrupted: sha256 {digest.hexdigest()}, expected {f.sha256}")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target


class RemoteTokens(TokensAPI):
    def __init__(self, http: HttpTransport) -> None:
        self._http = http

    def create(self, scope: str, name: str | None = None) -> NewToken:
        return NewToken.model_validate(self._http.json("POST", "/api/v1/tokens", json={"scope": scope, "name": name}))

    def list(self) -> list[Token]:
        return [Token.model_validate(t) for t in self._http.json("GET", "/api/v1/tokens")]

    def revoke(self, token_id: str) -> None:
        self._http.request("DELETE", f"/api/v1/tokens/{_q(token_id)}")
