"""The server key: encrypts what the server must be able to read back, such as token secrets for SigV4.

Bearer tokens are checked against a sha256 hash, but an AWS Signature V4
check needs the secret itself (every signing key is an HMAC chain starting
from ``"AWS4" + secret``, so no stored derivative can stand in for it).
modelport keeps that copy encrypted (Fernet: AES-128-CBC + HMAC-SHA256) with
this key, so a copy of the database alone reveals no token.

The key is ``MODELPORT_SECRET_KEY`` when set (any string; its sha256 becomes
the Fernet key), else the text of ``<home>/secret.key``, made (mode 0600) the
first time something is sealed.  Every server and CLI sharing a database must
see the same key.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelport.errors import FailedPrecondition, MissingExtra

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

KEY_FILE = "secret.key"


class ServerKey:
    """Seal and open short secrets with the server key (the key file is made on first seal)."""

    def __init__(self, path: Path, secret: str | None = None) -> None:
        self.path = path
        self._secret = secret
        self._fernet: Fernet | None = None

    @property
    def source(self) -> str:
        """Where the key comes from, for error messages."""
        return "MODELPORT_SECRET_KEY" if self._secret is not None else str(self.path)

    def seal(self, plaintext: str) -> str:
        cipher = self._cipher(create=True)
        assert cipher is not None  # create=True always has a key
        return cipher.encrypt(plaintext.encode()).decode("ascii")

    def open(self, sealed: str) -> str | None:
        """The plaintext, or None when this key did not seal it (another key, or no key yet)."""
        InvalidToken = _fernet().InvalidToken

        cipher = self._cipher(create=False)
        if cipher is None:
            return None
        try:
            return cipher.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            return None

    def _cipher(self, *, create: bool) -> Fernet | None:
        if self._fernet is None:
            text = self._secret if self._secret is not None else _read_or_make(self.path, create=create)
            if text is None:
                return None
            Fernet = _fernet().Fernet

            self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()))
        return self._fernet


def _fernet() -> Any:
    """``cryptography.fernet``; an endpoint's image leaves it out (it has no tokens: containers/wheels.py)."""
    try:
        import cryptography.fernet
    except ImportError:
        raise MissingExtra("sealed token secrets need cryptography, which is not installed here: pip install cryptography") from None
    return cryptography.fernet


def _read_or_make(path: Path, *, create: bool) -> str | None:
    try:
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            if not create:
                return None
            text = _make(path)
    except OSError as exc:
        raise FailedPrecondition(f"cannot read or create the server key {path}: {exc.strerror}") from None
    if not text:
        raise FailedPrecondition(f"the server key {path} is empty: set MODELPORT_SECRET_KEY, or delete the file")
    return text


def _make(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside then linked into place: two processes making it at once both end up with the winner's key.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()
