"""``client.async_inference``: asynchronous inference, in-process or on a server (docs/async.md).

``submit`` queues a request for an input location (``s3://…`` or a file; with a server, ``file=`` uploads
the file first) and returns at once; ``wait`` polls until it ends.  In-process, ``wait`` runs the
request in this process when no server has taken it (a server sharing the home takes it otherwise).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from modelport.async_inference.queue import AsyncInference
from modelport.domain import Page
from modelport.errors import DeadlineExceeded, InvalidArgument

if TYPE_CHECKING:
    from modelport.client.http import HttpTransport
    from modelport.services import Services

#: called while waiting with the request (its ``progress`` is None until it runs)
Progress = Callable[[AsyncInference], None]


class AsyncAPI(ABC):
    @abstractmethod
    def submit(
        self,
        endpoint: str,
        input_location: str | None = None,
        *,
        file: str | Path | None = None,
        inference_id: str | None = None,
        content_type: str | None = None,
        accept: str | None = None,
        custom_attributes: str | None = None,
        ttl_s: float | None = None,
        timeout_s: float | None = None,
    ) -> AsyncInference:
        """Queue a request (``input_location`` or ``file``); the same ``inference_id`` again returns the first."""

    @abstractmethod
    def list(
        self, *, endpoint: str | None = None, status: str | None = None, limit: int = 100, page_token: str | None = None
    ) -> Page[AsyncInference]:
        """One page of requests, newest first."""

    @abstractmethod
    def show(self, inference_id: str) -> AsyncInference: ...

    @abstractmethod
    def cancel(self, inference_id: str) -> AsyncInference:
        """Cancel a queued request now, or ask a running one to stop (it does within seconds)."""

    def wait(
        self, inference_id: str, *, timeout: float | None = None, progress: Progress | None = None
    ) -> AsyncInference:
        """Poll until the request ended (completed, failed, expired, cancelled or dead-lettered)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            item = self.show(inference_id)
            if progress is not None:
                progress(item)
            if item.final:
                return item
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded(f"async inference {inference_id} still {item.status} after {timeout:g} s")
            time.sleep(0.5)


def _input(input_location: str | None, file: str | Path | None) -> None:
    if (input_location is None) == (file is None):
        raise InvalidArgument("pass exactly one of input_location or file")
    if file is not None and not Path(file).is_file():
        raise InvalidArgument(f"file {str(file)!r} does not exist")


class LocalAsync(AsyncAPI):
    def __init__(self, services: Services, user: str) -> None:
        self.services = services
        self.user = user

    def submit(self, endpoint, input_location=None, *, file=None, **options):  # type: ignore[no-untyped-def]
        _input(input_location, file)
        location = str(Path(file).resolve()) if file is not None else input_location
        item, _ = self.services.async_inference.submit(endpoint, location, created_by=self.user, **options)
        return item

    def list(self, *, endpoint=None, status=None, limit=100, page_token=None):  # type: ignore[no-untyped-def]
        return self.services.async_inference.list(endpoint=endpoint, status=status, limit=limit, page_token=page_token)

    def show(self, inference_id: str) -> AsyncInference:
        return self.services.async_inference.get(inference_id)

    def cancel(self, inference_id: str) -> AsyncInference:
        return self.services.async_inference.cancel(inference_id)

    def wait(self, inference_id, *, timeout=None, progress=None):  # type: ignore[no-untyped-def]
        """Run the request here unless a server (sharing this home) holds it, then poll until it ends."""
        from modelport.db.leases import holder_id

        service = self.services.async_inference
        holder = holder_id()
        claimed = service.queue.claim(holder, self.services.settings.async_lease_s, inference_id=inference_id)
        if claimed is not None:
            runner = threading.Thread(target=service.process, args=(claimed, holder), daemon=True)
            runner.start()
        return super().wait(inference_id, timeout=timeout, progress=progress)


class RemoteAsync(AsyncAPI):
    def __init__(self, http: HttpTransport) -> None:
        self.http = http

    def submit(self, endpoint, input_location=None, *, file=None, **options):  # type: ignore[no-untyped-def]
        _input(input_location, file)
        if file is not None:
            with open(file, "rb") as fh:
                stored = self.http.json(
                    "POST", "/api/v1/async-inputs", content=fh, headers={"Content-Type": "application/octet-stream"}
                )
            input_location = stored["location"]
        body = {"input_location": input_location, **{k: v for k, v in options.items() if v is not None}}
        data = self.http.json("POST", f"/api/v1/endpoints/{quote(endpoint, safe='')}/async-invocations", json=body)
        return AsyncInference.model_validate(data)

    def list(self, *, endpoint=None, status=None, limit=100, page_token=None):  # type: ignore[no-untyped-def]
        params: dict[str, Any] = {"limit": limit}
        for key, value in (("endpoint", endpoint), ("status", status), ("page_token", page_token)):
            if value is not None:
                params[key] = value
        data = self.http.json("GET", "/api/v1/async-invocations", params=params)
        return Page[AsyncInference].model_validate(data)

    def show(self, inference_id: str) -> AsyncInference:
        return AsyncInference.model_validate(
            self.http.json("GET", f"/api/v1/async-invocations/{quote(inference_id, safe='')}")
        )

    def cancel(self, inference_id: str) -> AsyncInference:
        return AsyncInference.model_validate(
            self.http.json("POST", f"/api/v1/async-invocations/{quote(inference_id, safe='')}/cancel")
        )
