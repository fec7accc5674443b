"""AWS Signature Version 4, checked on the SageMaker runtime routes so unmodified boto3 works with auth on.

boto3 signs every request: access key id = a token's id (as ``modelport tokens
list`` shows it), secret access key = the whole token (``mp_<id>_…``).  The
check follows AWS's specification (and botocore's signer, which is what
callers run): the canonical request (method, double-encoded path, sorted
query, the signed headers with their values trimmed, the sha256 of the body
as received), the string to sign with the request time and credential scope
``<date>/<any region>/sagemaker/aws4_request``, and the signing key derived
from ``"AWS4" + secret`` through date, region, service.  A signature older or
newer than 5 minutes is refused, so a captured request cannot be replayed
later.  Only the ``Authorization`` header form is accepted (no presigned URLs).

Failures are :class:`~modelport.errors.Unauthenticated` with
``details["aws_error"]``, the code AWS answers with; the SageMaker envelope
renders it (403, or 400 for an incomplete header) so botocore raises
``ClientError`` with that code.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote

from modelport.errors import Unauthenticated

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "sagemaker"
MAX_SKEW = timedelta(minutes=5)
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

#: what AWS answers each kind of failure with (botocore takes the code from ``x-amzn-ErrorType``)
INCOMPLETE = "IncompleteSignatureException"  # 400: the header lacks a part
INVALID = "InvalidSignatureException"  # 403: wrong signature, stale time, tampered body
UNRECOGNIZED = "UnrecognizedClientException"  # 403: no usable token behind the access key id
STATUS = {INCOMPLETE: 400, INVALID: 403, UNRECOGNIZED: 403}

_MISMATCH = (
    "The request signature we calculated does not match the signature you provided: check the secret access key "
    "(the whole token, mp_…) and that nothing between the client and modelport rewrites the request (Host, body)"
)


def refused(kind: str, message: str) -> Unauthenticated:
    return Unauthenticated(message, details={"aws_error": kind})


def is_sigv4(authorization: str | None) -> bool:
    return authorization is not None and authorization.startswith(ALGORITHM + " ")


@dataclass(frozen=True, slots=True)
class Credential:
    """The parts of an ``Authorization: AWS4-HMAC-SHA256 …`` header."""

    access_key: str
    date: str  # YYYYMMDD
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def parse(authorization: str) -> Credential:
    """The credential, signed headers and signature of a SigV4 ``Authorization`` header."""
    parts: dict[str, str] = {}
    for item in authorization[len(ALGORITHM) :].split(","):
        key, _, value = item.strip().partition("=")
        parts[key] = value.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if not parts.get(k)]
    if missing:
        raise refused(INCOMPLETE, f"Authorization header requires {', '.join(repr(k) for k in missing)}")
    fields = parts["Credential"].split("/")
    if len(fields) != 5 or not all(fields):
        raise refused(INCOMPLETE, "Credential must have the form <access key id>/<date>/<region>/<service>/aws4_request")
    access_key, date, region, service, terminator = fields
    if terminator != "aws4_request":
        raise refused(INVALID, f"Credential should be scoped with a valid terminator: 'aws4_request', not {terminator!r}")
    if service != SERVICE:
        raise refused(INVALID, f"Credential should be scoped to correct service: {SERVICE!r}, not {service!r}")
    signed = tuple(parts["SignedHeaders"].split(";"))
    if "host" not in signed:
        raise refused(INVALID, "'Host' must be a 'SignedHeader' in the AWS Authorization")
    return Credential(access_key, date, region, service, signed, parts["Signature"])


def request_time(credential: Credential, headers: Mapping[str, str], now: datetime) -> str:
    """The signed request time (``YYYYMMDDTHHMMSSZ``), if within 5 minutes of ``now`` and the scope's date."""
    stamp = headers.get("x-amz-date")
    if stamp is not None:
        try:
            when = datetime.strptime(stamp, _TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            raise refused(INCOMPLETE, f"X-Amz-Date must be YYYYMMDDTHHMMSSZ, not {stamp!r}") from None
    elif "date" in headers:
        try:
            parsed = parsedate_to_datetime(headers["date"])
            when = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (TypeError, ValueError):
            raise refused(INCOMPLETE, f"Date must be an HTTP date, not {headers['date']!r}") from None
        stamp = when.strftime(_TIME_FORMAT)
    else:
        raise refused(INCOMPLETE, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header")
    if stamp[:8] != credential.date:
        raise refused(
            INVALID,
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"{credential.date!r} != {stamp[:8]!r}, from {stamp!r}",
        )
    now_text = now.strftime(_TIME_FORMAT)
    if when < now - MAX_SKEW:
        earliest = (now - MAX_SKEW).strftime(_TIME_FORMAT)
        raise refused(INVALID, f"Signature expired: {stamp} is now earlier than {earliest} ({now_text} - 5 min.)")
    if when > now + MAX_SKEW:
        latest = (now + MAX_SKEW).strftime(_TIME_FORMAT)
        raise refused(INVALID, f"Signature not yet current: {stamp} is still later than {latest} ({now_text} + 5 min.)")
    return stamp


def check(
    credential: Credential,
    secret: str,
    stamp: str,
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
) -> None:
    """Refuse (InvalidSignatureException) unless ``credential.signature`` signs this request with ``secret``."""
    body_hash = hashlib.sha256(body).hexdigest()
    claimed = headers.get("x-amz-content-sha256")
    if claimed is not None and claimed != body_hash:
        if claimed == UNSIGNED_PAYLOAD:
            raise refused(INVALID, "unsigned payloads are not accepted: sign the body (x-amz-content-sha256)")
        raise refused(INVALID, "The provided 'x-amz-content-sha256' header does not match what was computed")
    canonical = canonical_request(method, path, query, headers, credential.signed_headers, body_hash)
    expected = signature(secret, credential, stamp, canonical)
    if not hmac.compare_digest(expected.encode(), credential.signature.encode()):  # bytes: any header text compares
        raise refused(INVALID, _MISMATCH)


def canonical_request(
    method: str, path: str, query: str, headers: Mapping[str, str], signed: tuple[str, ...], body_hash: str
) -> str:
    # ``path`` arrives percent-decoded: encoded once it is what the client sent, and SigV4 (for every
    # service but S3) encodes that again.  Endpoint names are letters, digits and '-', which encoding keeps.
    uri = quote(quote(_remove_dot_segments(path), safe="/~"), safe="/~")
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&") if pair) if query else []
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    lines = [f"{name}:{' '.join(headers.get(name, '').split())}" for name in signed]
    return "\n".join([method.upper(), uri, canonical_query, "\n".join(lines) + "\n", ";".join(signed), body_hash])


def signature(secret: str, credential: Credential, stamp: str, canonical: str) -> str:
    to_sign = "\n".join([ALGORITHM, stamp, credential.scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (credential.date, credential.region, credential.service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal with empty segments dropped, as botocore normalises before signing."""
    if not path:
        return "/"
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment and segment != ".":
            out.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last
