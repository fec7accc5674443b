"""Request ``Content-Encoding``: gzip and deflate bodies, inflated a bounded step at a time.

    inflater = Inflater(body, "gzip", limit=6 * 1024 * 1024)
    if not inflater.run(64 * 1024):   # a first, cheap step (on the event loop)
        inflater.run()                # the rest, in a worker thread
    plain = inflater.result()

The limit is on the *inflated* body: a request of a few hundred KB can
inflate to gigabytes, so output is produced in small chunks and counted, and
the request is refused (PayloadTooLarge, 413) as soon as it passes the limit,
never holding more than ``limit`` bytes of it.  Accepted codings (PROTOCOLS.md
§1): ``gzip`` (several members allowed, ``x-gzip`` as an alias) and
``deflate`` (zlib-wrapped, or raw deflate as some clients send it); others are
an UnsupportedMediaType (415).
"""

from __future__ import annotations

import zlib

from modelport.errors import InvalidArgument, PayloadTooLarge, UnsupportedMediaType

#: inflated bytes produced per zlib call: small enough that no single allocation is large
CHUNK_BYTES = 64 * 1024
#: compressed bytes handed to zlib at a time
INPUT_BYTES = 16 * 1024
_ALIASES = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


def coding(content_encoding: str | None) -> str | None:
    """The coding a ``Content-Encoding`` value names (``gzip`` or ``deflate``), None for identity."""
    value = (content_encoding or "").strip().lower()
    if value in ("", "identity"):
        return None
    found = _ALIASES.get(value)
    if found is None:
        raise UnsupportedMediaType(f"Content-Encoding {value!r} is not supported: send gzip, deflate or identity")
    return found


class Inflater:
    """One compressed body being inflated, refused once it passes ``limit`` bytes."""

    def __init__(self, body: bytes, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.size = 0
        self._body = memoryview(body)
        self._offset = 0  # how much of the body has been handed to zlib
        self._pending: bytes | memoryview = b""  # handed over, not consumed yet
        self._out: list[bytes] = []
        self._raw_fallback = encoding == "deflate"  # a bad zlib header may be raw deflate
        self._z = self._new()
        self.done = not body

    def _new(self) -> zlib._Decompress:
        wbits = zlib.MAX_WBITS | 16 if self.encoding == "gzip" else zlib.MAX_WBITS
        return zlib.decompressobj(wbits)

    def run(self, budget: int | None = None) -> bool:
        """Inflate about ``budget`` more bytes (None: to the end); True once the whole body is inflated."""
        produced = 0
        while not self.done and (budget is None or produced < budget):
            if not self._pending and self._offset < len(self._body):
                # input in slices too: zlib copies what it leaves unconsumed on every call
                self._pending = self._body[self._offset : self._offset + INPUT_BYTES]
                self._offset += INPUT_BYTES
            before = len(self._pending)
            try:
                chunk = self._z.decompress(self._pending, min(CHUNK_BYTES, self.limit + 1 - self.size))
            except zlib.error as exc:
                if self._raw_fallback:
                    self._raw_fallback = False
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                    self._pending, self._offset = b"", 0
                    continue
                raise InvalidArgument(f"the request body is not valid {self.encoding} data: {exc}") from None
            self._raw_fallback = False
            self._pending = self._z.unconsumed_tail
            self.size += len(chunk)
            produced += len(chunk)
            if self.size > self.limit:
                self._out.clear()
                raise PayloadTooLarge(f"the {self.encoding} request body inflates beyond {self.limit} bytes, the limit")
            if chunk:
                self._out.append(chunk)
            if self._z.eof:
                rest = self._z.unused_data
                if self.encoding == "gzip" and (rest or self._offset < len(self._body)):  # another member follows
                    self._z = self._new()
                    self._pending = rest
                else:
                    self.done = True
            elif not chunk and len(self._pending) == before:  # no progress: the input ended early
                raise InvalidArgument(f"the {self.encoding} request body is truncated")
        return self.done

    def result(self) -> bytes:
        if not self.done:
            raise RuntimeError("the body is not inflated yet")
        return self._out[0] if len(self._out) == 1 else b"".join(self._out)


def inflate(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body as sent before ``Content-Encoding``, at most ``limit`` bytes (in one go: small bodies, threads)."""
    encoding = coding(content_encoding)
    if encoding is None:
        return body
    inflater = Inflater(body, encoding, limit)
    inflater.run()
    return inflater.result()
