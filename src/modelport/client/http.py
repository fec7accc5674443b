"""The HTTP transport of the remote SDK: auth header, error envelope, retries none."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from modelport import __version__
from modelport.errors import Internal, ModelportError, Unavailable, error_from_code


class HttpTransport:
    """Sends control-API calls and turns error bodies back into modelport errors."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        user: str | None = None,
        timeout: float = 60.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"User-Agent": f"modelport/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if user:
            headers["X-Modelport-User"] = user
        if client is None:
            client = httpx.Client(base_url=self.url, timeout=timeout)
        client.headers.update(headers)
        self.http = client

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._translate():
            resp = self.http.request(method, path, **kwargs)
        self.raise_for_error(resp)
        return resp

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A data-plane call: errors come in the SageMaker envelope (``x-amzn-ErrorType`` + message)."""
        with self._translate():
            resp = self.http.request(method, path, **kwargs)
        if resp.status_code >= 400:
            self.raise_sagemaker_error(resp)
        return resp

    @staticmethod
    def raise_sagemaker_error(resp: httpx.Response) -> None:
        from modelport.errors import (
            InvalidArgument,
            ModelFailure,
            NotReady,
            PayloadTooLarge,
            PermissionDenied,
            Unauthenticated,
        )

        try:
            body = resp.json()
        except ValueError:
            body = {}
        kind = resp.headers.get("x-amzn-errortype", "").split(":")[0]
        message = body.get("OriginalMessage") or body.get("message") or body.get("Message") or resp.reason_phrase
        if kind == "ModelError":
            original = int(body.get("OriginalStatusCode", 500))
            raise (InvalidArgument if original < 500 else ModelFailure)(message)
        errors = {
            400: InvalidArgument,
            401: Unauthenticated,
            403: PermissionDenied,
            413: PayloadTooLarge,
            429: NotReady,
        }
        if resp.status_code == 400 and "not found" in message:
            from modelport.errors import NotFound

            raise NotFound(message)
        raise errors.get(resp.status_code, Internal)(message)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    @contextlib.contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        with self._translate(), self.http.stream(method, path, **kwargs) as resp:
            if resp.status_code >= 400:
                resp.read()
                self.raise_for_error(resp)
            yield resp

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            raise Unavailable(f"modelport server at {self.url} did not answer in time ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise Unavailable(f"cannot reach the modelport server at {self.url}: {exc}") from None

    @staticmethod
    def raise_for_error(resp: httpx.Response) -> None:
        if resp.status_code < 400:
            return
        try:
            err = resp.json()["error"]
            raise error_from_code(err["code"], err["message"], err.get("details"))
        except ModelportError:
            raise
        except (ValueError, KeyError, TypeError):
            raise Internal(f"server answered {resp.status_code} {resp.reason_phrase}: {resp.text[:200]}") from None

    def close(self) -> None:
        self.http.close()
