"""Media types: parsing ``Content-Type`` and negotiating ``Accept``.

    >>> parse_media_type("Application/JSON; charset=UTF-8")
    MediaType(type='application/json', params={'charset': 'utf-8'})
    >>> negotiate("text/csv;q=0.5, application/json", ("application/json", "text/csv"))
    MediaType(type='application/json', params={})

Only what HTTP needs here (RFC 9110 §8.3, §12.5.1): quoted parameter values,
q-values, ``type/*`` and ``*/*`` ranges.  A range's own parameters (other than
``q``) are kept on the chosen type, so ``Accept: text/csv; header=present``
reaches the CSV encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from modelport.errors import NotAcceptable, UnsupportedMediaType

#: charsets a text body may declare; every decoder reads UTF-8 (ASCII is a subset)
UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


@dataclass(frozen=True)
class MediaType:
    """A media type in lower case, with its parameters (names lower case, values as sent)."""

    type: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def main(self) -> str:
        return self.type.partition("/")[0]

    @property
    def sub(self) -> str:
        return self.type.partition("/")[2]


def _split_unquoted(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def parse_media_type(value: str) -> MediaType:
    """``type/subtype; name=value …`` → :class:`MediaType`; a malformed value is an UnsupportedMediaType."""
    head, *rest = _split_unquoted(value, ";")
    mtype = head.strip().lower()
    if mtype.count("/") != 1 or not all(mtype.partition("/")[::2]) or " " in mtype:
        raise UnsupportedMediaType(f"malformed media type {value.strip()!r}: expected type/subtype")
    params: dict[str, str] = {}
    for part in rest:
        name, eq, val = part.partition("=")
        name = name.strip().lower()
        if not name:
            continue
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1].replace('\\"', '"')
        params[name] = val if eq else ""
    if "charset" in params:
        params["charset"] = params["charset"].lower()
    return MediaType(mtype, params)


def check_charset(media: MediaType) -> None:
    charset = media.params.get("charset")
    if charset is not None and charset not in UTF8_CHARSETS:
        raise UnsupportedMediaType(f"charset {charset!r} is not supported: send UTF-8 ({media.type}; charset=utf-8)")


def negotiate(accept: str | None, supported: Sequence[str]) -> MediaType:
    """The supported type the client prefers most; ``supported`` is in the server's order of preference.

    For each supported type the most specific matching range gives its q-value
    (exact beats ``type/*`` beats ``*/*``); the highest q wins, then an exact
    match over a wildcard, then the client's order, then the server's.
    Absent, empty or ``*/*`` → the first supported type.  NotAcceptable lists
    what the client could ask for instead.
    """
    if accept is None or not accept.strip():
        return MediaType(supported[0])
    ranges: list[tuple[MediaType, float, int]] = []
    for position, text in enumerate(p for p in _split_unquoted(accept, ",") if p.strip()):
        try:
            media = parse_media_type(text)
        except UnsupportedMediaType:
            if text.strip() == "*":  # some clients send a bare "*"
                media = MediaType("*/*")
            else:
                continue
        params = dict(media.params)
        try:
            q = float(params.pop("q", "1") or "1")
        except ValueError:
            q = 0.0
        ranges.append((MediaType(media.type, params), max(0.0, min(q, 1.0)), position))

    best: tuple[tuple[float, int, int, int], MediaType] | None = None
    for preference, candidate in enumerate(supported):
        main = candidate.partition("/")[0]
        match: tuple[int, MediaType, float, int] | None = None
        for media, q, position in ranges:
            if media.type == candidate:
                specificity = 2
            elif media.type == f"{main}/*":
                specificity = 1
            elif media.type == "*/*":
                specificity = 0
            else:
                continue
            if match is None or specificity > match[0]:
                match = (specificity, media, q, position)
        if match is None or match[2] <= 0:
            continue
        specificity, media, q, position = match
        rank = (q, specificity, -position, -preference)
        if best is None or rank > best[0]:
            params = media.params if specificity == 2 else {}
            best = (rank, MediaType(candidate, params))
    if best is None:
        raise NotAcceptable(f"cannot answer with {accept.strip()!r}: supported types are {', '.join(supported)}")
    return best[1]
