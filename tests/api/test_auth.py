"""Tokens: hashed at rest, auth switches on by itself, 401/403 in the JSON envelope, never logged."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from modelport.client import Client
from modelport.errors import PermissionDenied, Unauthenticated
from modelport.services import Services
from modelport.settings import Settings
from tests import infra


def test_tokens_are_stored_hashed(sqlite_settings: Settings) -> None:
    svc = Services.open(sqlite_settings)
    try:
        new = svc.tokens.create("read", "ci")
        with svc.db.read() as s:
            stored = s.execute(sa.text("SELECT token_hash, prefix FROM tokens")).one()
        assert new.secret not in stored and new.secret.startswith(stored.prefix)
        assert svc.tokens.verify(new.secret, "read").name == "ci"
    finally:
        svc.close()


@pytest.mark.slow  # starts its own server process
def test_auth_turns_on_when_a_token_exists(tmp_path: Path, model_file: Path) -> None:
    home = tmp_path / "h"
    with infra.live_server({"MODELPORT_HOME": str(home)}) as live:
        assert httpx.get(f"{live.url}/api/v1/models").status_code == 200  # no token yet: open
        with Client(home=home) as local:
            admin = local.tokens.create("admin", "ops").secret
            reader = local.tokens.create("read", "dash").secret
            invoker = local.tokens.create("invoke", "app").secret

        def get(token: str | None) -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return httpx.get(f"{live.url}/api/v1/models", headers=headers)

        infra.wait_for(lambda: get(None).status_code == 401, 5, "auth to switch on")
        r = get(None)
        assert r.json()["error"] == {
            "code": "UNAUTHENTICATED",
            "message": "this server requires a token: send 'Authorization: Bearer <token>'",
        }
        assert r.headers["www-authenticate"] == "Bearer"
        assert get("mp_nope_nope").json()["error"]["message"] == "the token is not valid (unknown or revoked)"
        assert get(reader).status_code == 200
        assert get(admin).status_code == 200
        forbidden = get(invoker)
        assert forbidden.status_code == 403
        assert forbidden.json()["error"] == {
            "code": "PERMISSION_DENIED",
            "message": "token 'app' has scope 'invoke'; this call needs 'read'",
        }
        assert httpx.get(f"{live.url}/ping").status_code == 200  # health stays open
        assert httpx.get(f"{live.url}/metrics").status_code == 401

        with Client(url=live.url, token=reader) as c, pytest.raises(PermissionDenied, match="needs 'admin'"):
            c.models.register(model_file, "m")
        with Client(url=live.url) as c, pytest.raises(Unauthenticated, match="requires a token"):
            c.models.list()
        with Client(url=live.url, token=admin) as c:
            mv = c.models.register(model_file, "m")
            assert mv.created_by == "ops"  # recorded as the token's name
            token_id = next(t.id for t in c.tokens.list() if t.name == "dash")
            c.tokens.revoke(token_id)
        assert get(reader).status_code == 401

        log = live.log()
        for secret in (admin, reader, invoker):
            assert secret not in log


@pytest.mark.slow  # starts its own server process
def test_auth_required_with_no_tokens(tmp_path: Path) -> None:
    env = {"MODELPORT_HOME": str(tmp_path / "h"), "MODELPORT_AUTH": "required"}
    with infra.live_server(env) as live:
        r = httpx.get(f"{live.url}/api/v1/models")
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED"
        r = httpx.get(f"{live.url}/api/v1/models", headers={"Authorization": "Basic abc"})
        assert r.json()["error"]["message"] == "malformed Authorization header: expected 'Bearer <token>'"


def test_invalid_scope(sqlite_settings: Settings) -> None:
    svc = Services.open(sqlite_settings)
    try:
        from modelport.errors import InvalidArgument

        with pytest.raises(InvalidArgument, match="invalid scope 'root': expected one of admin, invoke, read"):
            svc.tokens.create("root")
    finally:
        svc.close()
