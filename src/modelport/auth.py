"""API tokens: created once, stored as sha256 hashes, checked by scope.

A token looks like ``mp_<id>_<secret>``; bearer tokens are checked against
its sha256, so a lookup is one indexed query (tokens are high-entropy random
strings: a plain, unsalted sha256 is enough).  AWS Signature V4 needs the
secret itself, so each token also keeps it sealed with the server key
(:mod:`modelport.server_key`): a copy of the database alone leaks no token.

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
from modelport.db.rows import token_from_row
from modelport.db.tables import tokens_table, utcnow
from modelport.domain import SCOPES, NewToken, Token, validate_name
from modelport.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from modelport.server_key import ServerKey

#: which scopes satisfy a required permission
GRANTS: dict[str, frozenset[str]] = {
    "read": frozenset({"read", "admin", "trust-code"}),
    "invoke": frozenset({"invoke", "admin", "trust-code"}),
    "admin": frozenset({"admin", "trust-code"}),
    # registering a pickle whose globals are outside the allow-list (runs the author's code)
    "trust-code": frozenset({"trust-code"}),
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

    def __init__(self, db: Database, key: ServerKey) -> None:
        self.db = db
        self.key = key
        self._lock = threading.Lock()
        self._any_cache: tuple[float, bool] | None = None
        self._verified: dict[str, tuple[float, Token | None]] = {}
        self._signing: dict[str, tuple[float, Token | None, str | None]] = {}

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
                    sealed_secret=self.key.seal(secret),
                )
            )
        self._any_cache = None
        token = Token(id=token_id, name=name, scope=scope, prefix=secret[:10], created_at=now, sigv4=True)  # type: ignore[arg-type]
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
        self._signing.clear()

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
        return self.grant(token, needed)

    def signing_secret(self, token_id: str) -> tuple[Token, str]:
        """A token and its secret, to check an AWS Signature V4 made with access key id ``token_id``.

        Unauthenticated when no such token exists, or its secret cannot be read
        back (made before tokens kept it, or sealed with another server key).
        """
        now = time.monotonic()
        cached = self._signing.get(token_id)
        if cached is not None and now - cached[0] < VERIFY_CACHE_S:
            token, secret = cached[1], cached[2]
        else:
            with self.db.read() as conn:
                row = conn.execute(sa.select(tokens_table).where(tokens_table.c.id == token_id)).first()
                token = self._token(row) if row is not None else None
                sealed = row.sealed_secret if row is not None else None
            secret = self.key.open(sealed) if sealed is not None else None
            if row is not None and secret is not None and hash_token(secret) != row.token_hash:
                secret = None  # another token's sealed secret: never accept it for this one
            if len(self._signing) > 10_000:
                self._signing.clear()  # bounded: unknown ids must not grow it forever
            self._signing[token_id] = (now, token, secret)
        if token is None:
            raise Unauthenticated(
                f"access key id {token_id!r} is not a modelport token id (unknown or revoked; "
                "`modelport tokens list` shows the ids)"
            )
        if secret is None:
            if not token.sigv4:
                raise Unauthenticated(
                    f"token {token.name!r} was created before modelport accepted AWS Signature V4: create a new "
                    "token to sign with (modelport tokens create --scope invoke), or send 'Authorization: Bearer <token>'"
                )
            raise Unauthenticated(
                f"token {token.name!r} was sealed with another server key than this server's ({self.key.source}): "
                "give every server and CLI sharing this database the same MODELPORT_SECRET_KEY, or create a new token"
            )
        return token, secret

    def grant(self, token: Token, needed: str) -> Token:
        """``token``, if its scope grants ``needed`` (PermissionDenied otherwise); notes its use."""
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
        return token_from_row(row._mapping)
