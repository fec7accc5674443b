"""``client.endpoints`` and ``client.invoke``: deploy versions behind endpoints and call them."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport.endpoints.config import CaptureConfig, ConfigRevision, Endpoint, RoutingConfig, parse_variant_spec
from modelport.errors import InvalidArgument

if TYPE_CHECKING:
    from concurrent.futures import Future

    from modelport.client.local import LocalHome
    from modelport.endpoints.shadow_report import ShadowReport
    from modelport.services import Services

VariantLike = str | Mapping[str, Any]
RoutingLike = RoutingConfig | Mapping[str, Any]


def variant_fields(spec: VariantLike, *, shadow: bool = False) -> dict[str, Any]:
    """``"a=churn:3:90"`` or a dict → the fields the service takes."""
    if isinstance(spec, str):
        return parse_variant_spec(spec, shadow=shadow)
    data = dict(spec)
    if "model" in data:
        data["requested"] = data.pop("model")
    if shadow:
        data["shadow"] = True
    return data


def capture_config(capture: float | bool | Mapping[str, Any] | None, destination: str | None = None) -> dict[str, Any] | None:
    """``20`` → capture 20% of requests; ``False``/``0`` → off; a dict → as given."""
    if capture is None:
        return None
    if isinstance(capture, Mapping):
        return dict(capture)
    if capture is False:
        return CaptureConfig(enabled=False).model_dump()
    percent = 100.0 if capture is True else float(capture)
    return CaptureConfig(enabled=percent > 0, sampling_percent=percent, destination=destination).model_dump()


@dataclass
class InvocationResult:
    """What an endpoint answered: predictions as rows, and which variant answered."""

    predictions: Any
    variant: str
    inference_id: str
    content_type: str
    body: bytes


def encode_payload(data: Any, content_type: str | None = None) -> tuple[bytes, str]:
    """Any common input (DataFrame, ndarray, dict, list, file path, bytes) → a request body."""
    import numpy as np
    import orjson
    import pandas as pd

    if isinstance(data, bytes):
        return data, content_type or "application/json"
    if isinstance(data, str | Path) and Path(data).is_file():
        path = Path(data)
        name = path.name.lower().removesuffix(".gz")
        body = path.read_bytes()
        if path.name.lower().endswith(".gz"):
            import gzip

            body = gzip.decompress(body)
        if content_type:
            return body, content_type
        if name.endswith(".csv"):
            return body, "text/csv"
        if name.endswith((".parquet", ".pq")):
            return body, "application/vnd.apache.parquet"
        if name.endswith(".xml"):
            return body, "application/xml"
        if name.endswith(".jsonl"):
            rows = [orjson.loads(line) for line in body.splitlines() if line.strip()]
            return orjson.dumps({"instances": rows}), "application/json"
        return body, "application/json"
    if isinstance(data, str):
        if content_type is None and data.lstrip()[:1] in ("{", "["):
            return data.encode(), "application/json"
        if content_type is None:
            raise InvalidArgument(f"{data!r} is neither a file nor JSON: pass a file path, JSON text or data")
        return data.encode(), content_type
    if isinstance(data, pd.DataFrame):
        return orjson.dumps({"dataframe_split": data.to_dict(orient="split", index=False)}, option=orjson.OPT_SERIALIZE_NUMPY), "application/json"
    if isinstance(data, np.ndarray):
        matrix = data.reshape(1, -1) if data.ndim == 1 else data
        return orjson.dumps({"instances": matrix}, option=orjson.OPT_SERIALIZE_NUMPY), "application/json"
    if isinstance(data, Mapping):
        columnar = all(isinstance(v, list | tuple | np.ndarray) for v in data.values())
        payload = {"inputs": dict(data)} if columnar else {"instances": [dict(data)]}
        return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY), "application/json"
    if isinstance(data, list | tuple):
        return orjson.dumps({"instances": list(data)}, option=orjson.OPT_SERIALIZE_NUMPY), "application/json"
    raise InvalidArgument(f"cannot send a {type(data).__name__}: pass a DataFrame, ndarray, dict, list, file or bytes")


def decode_predictions(body: bytes, content_type: str) -> Any:
    import orjson

    if content_type.startswith("application/json"):
        data = orjson.loads(body)
        return data.get("predictions", data) if isinstance(data, dict) else data
    return body.decode("utf-8", errors="replace")


class EndpointsAPI(ABC):
    """``client.endpoints``: the verbs of ``modelport endpoints``."""

    @abstractmethod
    def create(
        self,
        name: str,
        variants: Sequence[VariantLike],
        *,
        shadows: Sequence[VariantLike] = (),
        capture: float | bool | Mapping[str, Any] | None = None,
        capture_destination: str | None = None,
        routing: RoutingLike | None = None,
        async_inference: Mapping[str, Any] | None = None,
    ) -> Endpoint:
        """Create an endpoint; aliases in model references are pinned to their current version.

        ``routing``: e.g. ``{"unit": "header:X-User-Id"}`` for sticky assignment (docs/experiments.md).
        ``async_inference``: e.g. ``{"output_path": "s3://bucket/out"}`` to take asynchronous invocations (docs/async.md).
        """

    @abstractmethod
    def update(
        self,
        name: str,
        *,
        weights: Mapping[str, float] | None = None,
        variants: Sequence[VariantLike] = (),
        shadows: Sequence[VariantLike] = (),
        remove: Sequence[str] = (),
        capture: float | bool | Mapping[str, Any] | None = None,
        capture_destination: str | None = None,
        routing: RoutingLike | None = None,
        async_inference: Mapping[str, Any] | None = None,
        remove_async: bool = False,
    ) -> Endpoint:
        """A new revision: weights, swapped or added variants, shadows, capture, routing (``{}`` clears it),
        asynchronous inference (replaced as a whole; ``remove_async`` turns it off). Applied live."""

    @abstractmethod
    def rollback(self, name: str, revision: int | None = None) -> Endpoint:
        """Make the previous (or a given) revision current again."""

    @abstractmethod
    def get(self, name: str) -> Endpoint: ...

    @abstractmethod
    def list(self) -> list[Endpoint]: ...

    @abstractmethod
    def history(self, name: str) -> builtins.list[ConfigRevision]: ...

    @abstractmethod
    def delete(self, name: str) -> None: ...

    @abstractmethod
    def stats(self, name: str) -> dict[str, Any] | None:
        """Recent figures from a running server (None in-process: no server, no figures)."""

    @abstractmethod
    def shadow_report(
        self, name: str, *, since: datetime | None = None, until: datetime | None = None, confidence: float = 0.95
    ) -> builtins.list[ShadowReport]:
        """Each shadow next to the live traffic (every server's counts): agreement, |diff|, latency, failures."""

    @abstractmethod
    def invoke(
        self,
        name: str,
        data: Any,
        *,
        content_type: str | None = None,
        accept: str = "application/json",
        variant: str | None = None,
        inference_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> InvocationResult:
        """Call an endpoint with a DataFrame, ndarray, dict, list, file or bytes; ``headers``: sent with the
        request, e.g. the endpoint's unit header (``{"X-User-Id": "u42"}``: sticky assignment)."""


class LocalEndpoints(EndpointsAPI):
    """Endpoint changes straight to the registry; invocations on an in-process data plane."""

    def __init__(self, home: LocalHome, user: str) -> None:
        self._home = home
        self._user = user
        self._runner: _LoopThread | None = None

    @property
    def _svc(self) -> Services:
        return self._home.services

    def create(self, name, variants, *, shadows=(), capture=None, capture_destination=None, routing=None, async_inference=None):  # type: ignore[no-untyped-def]
        specs = [variant_fields(v) for v in variants] + [variant_fields(v, shadow=True) for v in shadows]
        return self._svc.endpoints.create(
            name, specs, capture=capture_config(capture, capture_destination), routing=routing,
            async_inference=async_inference, created_by=self._user,
        )  # fmt: skip

    def update(  # type: ignore[no-untyped-def]
        self, name, *, weights=None, variants=(), shadows=(), remove=(), capture=None, capture_destination=None, routing=None,
        async_inference=None, remove_async=False,
    ):
        specs = [variant_fields(v) for v in variants] + [variant_fields(v, shadow=True) for v in shadows]
        return self._svc.endpoints.update(
            name,
            weights=weights,
            variants=specs,
            remove=list(remove),
            capture=capture_config(capture, capture_destination),
            routing=routing,
            async_inference=async_inference,
            remove_async=remove_async,
            created_by=self._user,
        )

    def rollback(self, name: str, revision: int | None = None) -> Endpoint:
        return self._svc.endpoints.rollback(name, to_revision=revision, created_by=self._user)  # type: ignore[no-any-return]

    def get(self, name: str) -> Endpoint:
        return self._svc.endpoints.get(name)  # type: ignore[no-any-return]

    def list(self) -> list[Endpoint]:
        return self._home.reads.endpoints.list()

    def history(self, name: str) -> builtins.list[ConfigRevision]:
        return self._svc.endpoints.history(name)  # type: ignore[no-any-return]

    def delete(self, name: str) -> None:
        self._svc.endpoints.delete(name)

    def stats(self, name: str) -> dict[str, Any] | None:
        self._svc.endpoints.get(name)
        return None

    def shadow_report(self, name, *, since=None, until=None, confidence=0.95):  # type: ignore[no-untyped-def]
        return self._svc.endpoints.shadow_report(name, since=since, until=until, confidence=confidence)

    def invoke(self, name, data, *, content_type=None, accept="application/json", variant=None, inference_id=None, headers=None):  # type: ignore[no-untyped-def]
        from modelport.serving.dataplane import InvokeRequest

        body, ctype = encode_payload(data, content_type)
        if self._runner is None:
            self._runner = _LoopThread(self._svc)
        result = self._runner.call(
            InvokeRequest(
                endpoint=name, body=body, content_type=ctype, accept=accept, target_variant=variant,
                inference_id=inference_id, headers={k.lower(): str(v) for k, v in (headers or {}).items()},
            )
        )
        return InvocationResult(
            predictions=decode_predictions(result.body, result.content_type),
            variant=result.variant,
            inference_id=result.inference_id,
            content_type=result.content_type,
            body=result.body,
        )

    def close(self) -> None:
        if self._runner is not None:
            self._runner.stop()
            self._runner = None


class _LoopThread:
    """An event loop in a thread hosting an in-process data plane (models stay loaded between calls)."""

    def __init__(self, services: Any) -> None:
        import asyncio
        import threading

        from modelport.metrics import Metrics
        from modelport.serving.plane import Serving

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="modelport-local-dataplane", daemon=True)
        self.thread.start()
        # Only the endpoints this process calls are loaded (the first call of each loads it),
        # with the same batching and data capture as a server.
        self.serving = Serving(services, Metrics(), only=(), threads=4)
        self.dataplane = self.serving.dataplane
        self._submit(self.serving.start()).result()

    def _submit(self, coro: Any) -> Future[Any]:
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, request: Any) -> Any:
        async def run() -> Any:
            manager = self.serving.manager
            await manager.serve(request.endpoint)
            await manager.sync()  # see changes made a moment ago in this process
            return await self.dataplane.invoke(request)

        return self._submit(run()).result()

    def stop(self) -> None:
        self._submit(self.serving.stop()).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class RemoteEndpoints(EndpointsAPI):
    def __init__(self, http: Any) -> None:
        self._http = http

    @staticmethod
    def _spec(fields: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in fields.items() if v is not None}
        out["model"] = out.pop("requested")
        return out

    def create(self, name, variants, *, shadows=(), capture=None, capture_destination=None, routing=None, async_inference=None):  # type: ignore[no-untyped-def]
        specs = [self._spec(variant_fields(v)) for v in variants] + [self._spec(variant_fields(v, shadow=True)) for v in shadows]
        body: dict[str, Any] = {"name": name, "variants": specs}
        if async_inference is not None:
            body["async_inference"] = dict(async_inference)
        cap = capture_config(capture, capture_destination)
        if cap is not None:
            body["capture"] = cap
        if routing is not None:
            body["routing"] = _routing_body(routing)
        return Endpoint.model_validate(self._http.json("POST", "/api/v1/endpoints", json=body))

    def update(  # type: ignore[no-untyped-def]
        self, name, *, weights=None, variants=(), shadows=(), remove=(), capture=None, capture_destination=None, routing=None,
        async_inference=None, remove_async=False,
    ):
        specs = [self._spec(variant_fields(v)) for v in variants] + [self._spec(variant_fields(v, shadow=True)) for v in shadows]
        body = {"weights": weights, "variants": specs, "remove": list(remove), "capture": capture_config(capture, capture_destination)}
        if async_inference is not None:
            body["async_inference"] = dict(async_inference)
        if remove_async:
            body["remove_async"] = True
        if routing is not None:
            body["routing"] = _routing_body(routing)
        return Endpoint.model_validate(self._http.json("PATCH", f"/api/v1/endpoints/{_q(name)}", json=body))

    def rollback(self, name: str, revision: int | None = None) -> Endpoint:
        data = self._http.json("POST", f"/api/v1/endpoints/{_q(name)}/rollback", json={"revision": revision})
        return Endpoint.model_validate(data)

    def get(self, name: str) -> Endpoint:
        return Endpoint.model_validate(self._http.json("GET", f"/api/v1/endpoints/{_q(name)}"))

    def list(self) -> list[Endpoint]:
        return [Endpoint.model_validate(e) for e in self._http.json("GET", "/api/v1/endpoints")]

    def history(self, name: str) -> builtins.list[ConfigRevision]:
        return [ConfigRevision.model_validate(r) for r in self._http.json("GET", f"/api/v1/endpoints/{_q(name)}/history")]

    def delete(self, name: str) -> None:
        self._http.request("DELETE", f"/api/v1/endpoints/{_q(name)}")

    def stats(self, name: str) -> dict[str, Any] | None:
        return self._http.json("GET", f"/api/v1/endpoints/{_q(name)}/stats")  # type: ignore[no-any-return]

    def shadow_report(self, name, *, since=None, until=None, confidence=0.95):  # type: ignore[no-untyped-def]
        from modelport.endpoints.shadow_report import ShadowReport

        params: dict[str, Any] = {"confidence": confidence}
        for key, value in (("since", since), ("until", until)):
            if value is not None:
                params[key] = value.isoformat()
        data = self._http.json("GET", f"/api/v1/endpoints/{_q(name)}/shadow-report", params=params)
        return [ShadowReport.model_validate(r) for r in data]

    def invoke(self, name, data, *, content_type=None, accept="application/json", variant=None, inference_id=None, headers=None):  # type: ignore[no-untyped-def]
        body, ctype = encode_payload(data, content_type)
        sent = {**(headers or {}), "Content-Type": ctype, "Accept": accept}
        if variant:
            sent["X-Amzn-SageMaker-Target-Variant"] = variant
        if inference_id:
            sent["X-Amzn-SageMaker-Inference-Id"] = inference_id
        resp = self._http.raw("POST", f"/endpoints/{_q(name)}/invocations", content=body, headers=sent)
        rtype = resp.headers.get("content-type", "")
        return InvocationResult(
            predictions=decode_predictions(resp.content, rtype),
            variant=resp.headers.get("x-amzn-invoked-production-variant", ""),
            inference_id=resp.headers.get("x-amzn-sagemaker-inference-id", ""),
            content_type=rtype,
            body=resp.content,
        )


def _routing_body(routing: RoutingLike) -> dict[str, Any]:
    return routing.model_dump(exclude_none=True) if isinstance(routing, RoutingConfig) else dict(routing)


def _q(part: str) -> str:
    from urllib.parse import quote

    return quote(part, safe="")
