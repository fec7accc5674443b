"""AWS Signature V4 checks against requests signed by botocore's own signer; token secrets sealed for them."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import botocore.auth
import pytest
import sqlalchemy as sa
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from modelport.api import sigv4
from modelport.errors import FailedPrecondition, Unauthenticated
from modelport.services import Services
from modelport.settings import Settings

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SECRET = "mp_0123456789ab_s3cret"
URL = "http://127.0.0.1:8080/endpoints/churn/invocations"


def signed(
    monkeypatch: pytest.MonkeyPatch,
    *,
    url: str = URL,
    body: bytes = b"1,2,3,4",
    headers: dict[str, str] | None = None,
    secret: str = SECRET,
    when: datetime = NOW,
    region: str = "eu-west-3",
    service: str = "sagemaker",
) -> dict[str, str]:
    """The headers botocore sends for this request (lower-case names, Host included)."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: when.replace(tzinfo=None))
    request = AWSRequest(method="POST", url=url, data=body, headers=headers or {"Content-Type": "text/csv"})
    botocore.auth.SigV4Auth(Credentials("0123456789ab", secret), service, region).add_auth(request)
    out = {k.lower(): v for k, v in request.headers.items()}
    out["host"] = urlsplit(url).netloc
    return out


def verify(headers: dict[str, str], *, url: str = URL, body: bytes = b"1,2,3,4", now: datetime = NOW) -> None:
    parts = urlsplit(url)
    credential = sigv4.parse(headers["authorization"])
    stamp = sigv4.request_time(credential, headers, now)
    sigv4.check(
        credential, SECRET, stamp, method="POST", path=parts.path, query=parts.query, headers=headers, body=body
    )


def refusal(headers: dict[str, str], **kwargs: object) -> tuple[str, str]:
    with pytest.raises(Unauthenticated) as err:
        verify(headers, **kwargs)  # type: ignore[arg-type]
    return err.value.details["aws_error"], err.value.message


def test_botocore_signatures_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    verify(signed(monkeypatch))
    # any region, a query string, headers with runs of spaces, a body-less request
    url = URL + "?b=2&a=1&a=0"
    verify(signed(monkeypatch, url=url, region="local"), url=url)
    attrs = {"Content-Type": "text/csv", "X-Amzn-SageMaker-Custom-Attributes": "  a=1   b=2 "}
    verify(signed(monkeypatch, headers=attrs))
    verify(signed(monkeypatch, body=b""), body=b"")
    # the Date header instead of X-Amz-Date (botocore keeps whichever the request had)
    with_date = signed(monkeypatch, headers={"Date": "Sun, 01 Mar 2026 11:58:00 GMT"})
    assert "x-amz-date" not in with_date
    verify(with_date)
    # 5 minutes either way is still fresh
    verify(signed(monkeypatch, when=NOW - timedelta(minutes=4, seconds=59)))
    verify(signed(monkeypatch, when=NOW + timedelta(minutes=4, seconds=59)))


def test_wrong_secret_tampering_and_stale_times_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    kind, message = refusal(signed(monkeypatch, secret="mp_0123456789ab_wrong"))
    assert kind == "InvalidSignatureException"
    assert message.startswith("The request signature we calculated does not match the signature you provided")
    assert refusal(signed(monkeypatch), body=b"9,2,3,4")[0] == "InvalidSignatureException"
    headers = signed(monkeypatch)
    assert refusal({**headers, "content-type": "application/json"})[0] == "InvalidSignatureException"
    assert refusal(headers, url=URL.replace("churn", "other"))[0] == "InvalidSignatureException"
    assert refusal(headers, url=URL + "?x=1")[0] == "InvalidSignatureException"
    garbled = {**headers, "authorization": headers["authorization"].rsplit("=", 1)[0] + "=\u00e9t\u00e9"}
    assert refusal(garbled)[0] == "InvalidSignatureException"  # not a crash in compare_digest

    kind, message = refusal(signed(monkeypatch, when=NOW - timedelta(minutes=10)))
    assert kind == "InvalidSignatureException"
    assert message == "Signature expired: 20260301T115000Z is now earlier than 20260301T115500Z (20260301T120000Z - 5 min.)"
    kind, message = refusal(signed(monkeypatch, when=NOW + timedelta(minutes=6)))
    assert message.startswith("Signature not yet current: 20260301T120600Z is still later than 20260301T120500Z")


def test_a_body_hash_header_must_match_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    good = hashlib.sha256(b"1,2,3,4").hexdigest()
    verify(signed(monkeypatch, headers={"X-Amz-Content-SHA256": good}))
    headers = signed(monkeypatch, headers={"X-Amz-Content-SHA256": good})
    assert "does not match what was computed" in refusal(headers, body=b"9,2,3,4")[1]
    unsigned = signed(monkeypatch, headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert refusal(unsigned)[1] == "unsigned payloads are not accepted: sign the body (x-amz-content-sha256)"


@pytest.mark.parametrize(
    ("authorization", "kind", "needle"),
    [
        ("AWS4-HMAC-SHA256 Credential=k/20260301/r/sagemaker/aws4_request", "IncompleteSignatureException",
         "requires 'SignedHeaders', 'Signature'"),
        ("AWS4-HMAC-SHA256 Credential=k/20260301/sagemaker, SignedHeaders=host, Signature=ab",
         "IncompleteSignatureException", "Credential must have the form"),
        ("AWS4-HMAC-SHA256 Credential=k/20260301/r/s3/aws4_request, SignedHeaders=host, Signature=ab",
         "InvalidSignatureException", "scoped to correct service: 'sagemaker', not 's3'"),
        ("AWS4-HMAC-SHA256 Credential=k/20260301/r/sagemaker/aws4_request, SignedHeaders=x-amz-date, Signature=ab",
         "InvalidSignatureException", "'Host' must be a 'SignedHeader'"),
    ],
)  # fmt: skip
def test_malformed_headers_say_what_is_wrong(authorization: str, kind: str, needle: str) -> None:
    with pytest.raises(Unauthenticated) as err:
        sigv4.parse(authorization)
    assert err.value.details["aws_error"] == kind and needle in err.value.message


def test_the_scope_date_must_be_the_request_date(monkeypatch: pytest.MonkeyPatch) -> None:
    headers = signed(monkeypatch)
    headers["authorization"] = headers["authorization"].replace("/20260301/", "/20260228/")
    assert "Date in Credential scope does not match" in refusal(headers)[1]
    del headers["x-amz-date"]
    assert "requires existence of either a 'X-Amz-Date' or a 'Date' header" in refusal(headers)[1]


# -- token secrets, sealed with the server key ----------------------------------------


def test_token_secrets_are_sealed_and_opened_with_the_server_key(sqlite_settings: Settings) -> None:
    svc = Services.open(sqlite_settings)
    try:
        new = svc.tokens.create("invoke", "app")
        with svc.db.read() as s:
            row = s.execute(sa.text("SELECT * FROM tokens")).one()
        assert new.secret not in "".join(str(v) for v in row)  # neither hashed nor sealed form shows it
        key_file = sqlite_settings.home / "secret.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        token, secret = svc.tokens.signing_secret(new.token.id)
        assert (token.name, secret) == ("app", new.secret)
        assert [t.sigv4 for t in svc.tokens.list()] == [True]
        with pytest.raises(Unauthenticated, match=r"access key id 'nope' is not a modelport token id"):
            svc.tokens.signing_secret("nope")
    finally:
        svc.close()
    # Another server key (a server with another home, or MODELPORT_SECRET_KEY set) cannot open it.
    other = Services.open(sqlite_settings.with_overrides(secret_key="another key"))
    try:
        with pytest.raises(Unauthenticated, match=r"sealed with another server key than this server's"):
            other.tokens.signing_secret(new.token.id)
        assert other.tokens.verify(new.secret, "invoke").name == "app"  # bearer use never needs the key
    finally:
        other.close()


def test_tokens_made_before_sigv4_keep_working_as_bearer_tokens(settings: Settings) -> None:
    """A database with a token from before migration 0006, upgraded: bearer use as before, SigV4 says what to do."""
    from modelport.auth import hash_token
    from modelport.db.database import Database

    db = Database(settings.resolved_database_url)
    db.upgrade("0005")
    secret = "mp_0123456789ab_made-before-sigv4"
    with db.write() as s:
        s.execute(
            sa.text(
                "INSERT INTO tokens (id, name, scope, token_hash, prefix, created_at) "
                "VALUES ('0123456789ab', 'old', 'invoke', :hash, 'mp_0123456', :now)"
            ),
            {"hash": hash_token(secret), "now": NOW.replace(tzinfo=None)},
        )
    db.upgrade()
    db.dispose()
    svc = Services.open(settings)
    try:
        assert [(t.name, t.sigv4) for t in svc.tokens.list()] == [("old", False)]
        with pytest.raises(Unauthenticated) as err:
            svc.tokens.signing_secret("0123456789ab")
        assert err.value.message == (
            "token 'old' was created before modelport accepted AWS Signature V4: create a new token to sign with "
            "(modelport tokens create --scope invoke), or send 'Authorization: Bearer <token>'"
        )
        assert svc.tokens.verify(secret, "invoke").name == "old"
    finally:
        svc.close()


def test_the_key_file_is_made_once(tmp_path: Path) -> None:
    from modelport.server_key import ServerKey

    first, second = ServerKey(tmp_path / "k" / "secret.key"), ServerKey(tmp_path / "k" / "secret.key")
    assert first.open("gAAAA") is None  # nothing sealed yet: no file is made for reading
    assert not (tmp_path / "k" / "secret.key").exists()
    sealed = first.seal("hello")
    assert second.open(sealed) == "hello"
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["secret.key"]
    (tmp_path / "k" / "secret.key").write_text("\n")
    with pytest.raises(FailedPrecondition, match=r"secret\.key is empty: set MODELPORT_SECRET_KEY, or delete the file"):
        ServerKey(tmp_path / "k" / "secret.key").seal("hello")


def test_without_cryptography_sealing_a_token_is_one_line_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An endpoint's image leaves cryptography out (it never holds a token): asked to seal one anyway, it says why."""
    import sys

    from modelport.errors import MissingExtra
    from modelport.server_key import ServerKey

    monkeypatch.setitem(sys.modules, "cryptography.fernet", None)
    with pytest.raises(MissingExtra, match="^sealed token secrets need cryptography, which is not installed here"):
        ServerKey(tmp_path / "secret.key").seal("mp_x")
