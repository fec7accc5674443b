"""Fixtures of the monitoring tests: the app in process (tests/api's), and the SDK talking to it over httpx."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import InProcess, in_process
from tests.cli.conftest import cli

__all__ = ["InProcess", "InProcessTransport", "cli", "in_process"]


class InProcessTransport(httpx.BaseTransport):
    """A synchronous httpx transport answered by an in-process app: the remote SDK without a server process."""

    def __init__(self, api: InProcess) -> None:
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.api.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://modelport") as client:
                response = await client.send(
                    client.build_request(
                        request.method,
                        request.url.path,
                        params=request.url.params,
                        headers=request.headers,
                        content=request.read(),
                    )
                )
                await response.aread()
                return response

        response = self.api.loop.run_until_complete(send())
        return httpx.Response(response.status_code, headers=response.headers, content=response.content)


def remote_client(api: InProcess, home: Any, token: str | None = None) -> Any:
    from modelport.client import Client

    http = httpx.Client(transport=InProcessTransport(api), base_url="http://testserver")
    secret = api.tokens.get(token, token) if token else None
    return Client(url="http://testserver", token=secret, home=home, http_client=http)
