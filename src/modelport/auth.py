"""API tokens: created once, stored as sha256 hashes, checked by scope.

A token looks like ``mp_<id>_<secret>``; only its sha256 is stored, so a
database leak does not leak tokens.  Tokens are high-entropy random strings,
so a plain (unsalted) sha256 is enough and lets a lookup be one indexed query.

Scopes: ``admin`` may do everything; ``read`` may read the control API;
``invoke`` may call endpoints (the data plane).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from modelport.db.database import Database
from modelport.db.tables import tokens_table, utcnow
from modelport.domain import SCOPES, NewToken, Token, validate_name
from modelport.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated

#: which scopes satisfy a required permission
GRANTS: dict[str, frozenset[str]] = {
    "read": frozenset({"read", "admin"}),
    "invoke": frozenset({"invoke", "admin"}),
    "admin": frozenset({"admin"}),
}

_LAST_USED_EVERY = timedelta(minutes=1)
#: a verified token is trusted this long without asking the database again
#: (the data plane checks a token per request); a revocation reaches every
#: server process within this delay
VERIFY_CACHE_S = 2.0


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise InvalidArgument(f"invalid scope {scope!r}: expected one of {', '.join(SCOPES)}")
    return scope


class TokenStore:
    """Create, list, revoke and verify tokens."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._any_cache: tuple[float, bool] | None = None
        self._verified: dict[str, tuple[float, Token | None]] = {}

    def create(self, scope: str, name: str | None = None) -> NewToken:
        check_scope(scope)
        token_id = secrets.token_hex(6)
        name = name or f"{scope}-{token_id}"
        validate_name(name, "token name")
        secret = f"mp_{token_id}_{secrets.token_urlsafe(32)}"
        now = utcnow()
        with self.db.write() as conn:
            conn.execute(
                sa.insert(tokens_table).values(
                    id=token_id,
                    name=name,
                    scope=scope,
                    token_hash=hash_token(secret),
                    prefix=secret[:10],
                    created_at=now,
                )
            )
        self._any_cache = None
        token = Token(id=token_id, name=name, scope=scope, prefix=secret[:10], created_at=now)  # type: ignore[arg-type]
        return NewToken(token=token, secret=secret)

    def list(self) -> list[Token]:
        with self.db.read() as conn:
            rows = conn.execute(sa.select(tokens_table).order_by(tokens_table.c.created_at))
            return [self._token(r) for r in rows]

    def revoke(self, token_id: str) -> None:
        with self.db.write() as conn:
            deleted = conn.execute(sa.delete(tokens_table).where(tokens_table.c.id == token_id)).rowcount
            if not deleted:
                raise NotFound(f"token {token_id!r} does not exist")
        self._any_cache = None
        self._verified.clear()

    def any_exist(self, *, max_age_s: float = 1.0) -> bool:
        """Whether any token exists, cached for ``max_age_s`` (auth switches on by itself)."""
        now = time.monotonic()
        cached = self._any_cache
        if cached is not None and now - cached[0] < max_age_s:
            return cached[1]
        with self.db.read() as conn:
            exists = (conn.scalar(sa.select(sa.func.count()).select_from(tokens_table)) or 0) > 0
        self._any_cache = (now, exists)
        return exists

    def verify(self, secret: str | None, needed: str) -> Token:
        """The token behind a bearer secret, if it grants ``needed``."""
        if not secret:
            raise Unauthenticated("this server requires a token: send 'Authorization: Bearer <token>'")
        digest = hash_token(secret)
        now = time.monotonic()
        cached = self._verified.get(digest)
        if cached is not None and now - cached[0] < VERIFY_CACHE_S:
            token = cached[1]
        else:
            with self.db.read() as conn:
                row = conn.execute(sa.select(tokens_table).where(tokens_table.c.token_hash == digest)).first()
                token = self._token(row) if row is not None else None
            if len(self._verified) > 10_000:
                self._verified.clear()  # bounded: unknown secrets must not grow it forever
            self._verified[digest] = (now, token)
        if token is None:
            raise Unauthenticated("the token is not valid (unknown or revoked)")
        if token.scope not in GRANTS[needed]:
            raise PermissionDenied(f"token {token.name!r} has scope {token.scope!r}; this call needs {needed!r}")
        self._touch(token)
        return token

    def _touch(self, token: Token) -> None:
        now = utcnow()
        if token.last_used_at is not None and now - token.last_used_at < _LAST_USED_EVERY:
            return
        with self._lock, self.db.write() as conn:
            conn.execute(sa.update(tokens_table).where(tokens_table.c.id == token.id).values(last_used_at=now))

    @staticmethod
    def _token(row: sa.Row[Any]) -> Token:
        return Token(
            id=row.id,
            name=row.name,
            scope=row.scope,  # type: ignore[arg-type]
            prefix=row.prefix,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
        )
