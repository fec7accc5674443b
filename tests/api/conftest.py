"""The server app in process: the real ASGI app, its lifespan run, requests through httpx (no port, no process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from modelport.api.app import create_app
from modelport.api.rsgi import RSGIApp
from modelport.services import Services
from modelport.settings import Settings


@dataclass
class InProcess:
    """One app and the loop its lifespan runs on; ``request`` is httpx's, answered by the app."""

    app: Any
    loop: asyncio.AbstractEventLoop
    tokens: dict[str, str] = field(default_factory=dict)  # scope -> secret

    def request(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {self.tokens.get(token, token)}"

        content = kwargs.get("content")
        if content is not None and not isinstance(content, bytes | str):  # a generator: sent chunked
            chunks = list(content)

            async def stream() -> AsyncIterator[bytes]:
                for chunk in chunks:
                    yield chunk

            kwargs["content"] = stream()

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://modelport") as client:
                return await client.request(method, path, headers=headers, **kwargs)

        return self.loop.run_until_complete(send())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture
def in_process(tmp_path: Any) -> Iterator[Callable[..., InProcess]]:
    """``in_process(tokens=("admin", …), **settings)``: the app on a fresh home; auth is on once a token exists."""
    started: list[tuple[RSGIApp, asyncio.AbstractEventLoop]] = []

    def start(*, tokens: tuple[str, ...] = (), **settings: Any) -> InProcess:
        conf = Settings(home=tmp_path / f"home{len(started)}", **settings)
        secrets: dict[str, str] = {}
        if tokens:
            svc = Services.open(conf)
            try:
                secrets = {scope: svc.tokens.create(scope, f"{scope}-token").secret for scope in tokens}
            finally:
                svc.close()
        app = create_app(conf)
        lifespan = RSGIApp(app)  # type: ignore[arg-type]  # its hooks drive the ASGI lifespan on a loop
        loop = asyncio.new_event_loop()
        lifespan.__rsgi_init__(loop)
        started.append((lifespan, loop))
        return InProcess(app, loop, secrets)

    yield start
    for lifespan, loop in started:
        lifespan.__rsgi_del__(loop)
        loop.close()
