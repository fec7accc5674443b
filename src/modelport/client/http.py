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
