"""Request bodies → a validated columnar batch, whatever the media type.

    batch = decode_request(body, "text/csv", signature, sniff_missing=True)

Supported types:

- ``application/json`` — every MLflow / TF-Serving shape (:mod:`.json_body`);
- ``text/csv`` — with or without a header (:mod:`.csv_body`);
- ``application/xml``, ``text/xml`` — records as elements (:mod:`.xml_body`);
- ``application/vnd.apache.parquet``, ``application/x-parquet``,
  ``application/parquet`` (:mod:`.parquet_body`).

As MLflow's scoring server does (PROTOCOLS.md §4), the only parameter a text
type takes is ``charset``, which must be UTF-8; CSV also takes RFC 4180's
``header=present|absent``.  Anything else (``format=pandas-split``, an MLflow 1
leftover that changes the body's shape) is an UnsupportedMediaType rather than
a guess.

A missing ``Content-Type`` is an UnsupportedMediaType, except on SageMaker
routes (``sniff_missing=True``), where boto3 callers may omit it: a body that
starts with ``{`` or ``[`` is JSON, ``<`` is XML, Parquet's ``PAR1`` magic is
Parquet, anything else is CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from modelport.errors import InvalidArgument, UnsupportedMediaType
from modelport.serving.codecs.csv_body import decode_csv
from modelport.serving.codecs.json_body import decode_json
from modelport.serving.codecs.media import MediaType, check_charset, parse_media_type
from modelport.serving.codecs.parquet_body import decode_parquet
from modelport.serving.codecs.xml_body import decode_xml
from modelport.signature import Batch, Signature, validate_batch

JSON = "application/json"
CSV = "text/csv"
XML_TYPES = ("application/xml", "text/xml")
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet", "application/parquet")
SUPPORTED_REQUEST_TYPES = (JSON, CSV, *XML_TYPES, *PARQUET_TYPES)


def _json(body: bytes, signature: Signature, media: MediaType) -> dict[str, Any]:
    return decode_json(body, signature)


def _csv(body: bytes, signature: Signature, media: MediaType) -> dict[str, Any]:
    flag = media.params.get("header", "").lower()
    if flag not in ("", "present", "absent"):
        raise UnsupportedMediaType(f"text/csv; header={flag!r} is not understood: use header=present or header=absent")
    return decode_csv(body, signature, header={"present": True, "absent": False}.get(flag))


def _xml(body: bytes, signature: Signature, media: MediaType) -> dict[str, Any]:
    return decode_xml(body, signature)


def _parquet(body: bytes, signature: Signature, media: MediaType) -> dict[str, Any]:
    return decode_parquet(body, signature)


_DECODERS: dict[str, Callable[[bytes, Signature, MediaType], dict[str, Any]]] = {
    JSON: _json,
    CSV: _csv,
    **dict.fromkeys(XML_TYPES, _xml),
    **dict.fromkeys(PARQUET_TYPES, _parquet),
}
#: the parameters each type accepts
_PARAMETERS: dict[str, frozenset[str]] = {
    JSON: frozenset({"charset"}),
    CSV: frozenset({"charset", "header"}),
    **dict.fromkeys(XML_TYPES, frozenset({"charset"})),
    **dict.fromkeys(PARQUET_TYPES, frozenset()),
}


@lru_cache(maxsize=256)
def _decoder_for(content_type: str) -> tuple[Callable[[bytes, Signature, MediaType], dict[str, Any]], MediaType]:
    """The decoder for a Content-Type, checked once per distinct value (a server sees a handful)."""
    media = parse_media_type(content_type)
    decoder = _DECODERS.get(media.type)
    if decoder is None:
        raise UnsupportedMediaType(
            f"unsupported Content-Type {media.type!r}: send one of {', '.join(SUPPORTED_REQUEST_TYPES)}"
        )
    unknown = [name for name in media.params if name not in _PARAMETERS[media.type]]
    if unknown:
        allowed = " or ".join(sorted(_PARAMETERS[media.type])) or "no parameters"
        given = "; ".join(f"{n}={media.params[n]}" for n in unknown)
        raise UnsupportedMediaType(f"unsupported Content-Type parameter {given!r}: {media.type} takes {allowed}")
    check_charset(media)
    return decoder, media


def sniff(body: bytes) -> str:
    """The media type a body without ``Content-Type`` most likely has."""
    if body.startswith(b"PAR1"):
        return PARQUET_TYPES[0]
    head = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        return JSON
    if head[:1] == b"<":
        return XML_TYPES[0]
    return CSV


def decode_request(body: bytes, content_type: str | None, signature: Signature, *, sniff_missing: bool) -> Batch:
    """Decode a request body of any supported type and validate it against the signature's inputs.

    UnsupportedMediaType for a missing (unless ``sniff_missing``) or unknown
    type; InvalidArgument naming what is wrong with the body.
    """
    if content_type is None or not content_type.strip():
        if not sniff_missing:
            raise UnsupportedMediaType(f"missing Content-Type: send one of {', '.join(SUPPORTED_REQUEST_TYPES)}")
        decoder, media = _decoder_for(sniff(body))
    else:
        decoder, media = _decoder_for(content_type)
    if not body or body.isspace():  # isspace stops at the first non-space; strip would copy the body
        raise InvalidArgument(f"empty request body: send the rows to score as {media.type}")
    return validate_batch(signature, decoder(body, signature, media))
