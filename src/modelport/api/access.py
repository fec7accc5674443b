"""The access log: one line per request, on the ``modelport.access`` logger.

    POST /endpoints/churn/invocations 200 0.84ms endpoint=churn variant=a inference_id=7c9e…

Method, path, status, latency (request in to reply handed to the server),
then which endpoint and variant served it and the inference id, ``-`` where
there is none (control-API calls).  A client that went away before its reply
is logged with status 499.

What is never in it: the query string (presigned-style ``?token=`` or
``X-Amz-Security-Token=`` parameters are secrets), headers (``Authorization``)
and bodies.  Every field that comes from the request is escaped
(:func:`modelport.logs.escape`), so a path or an inference id holding a
newline or a terminal escape cannot forge a line; a value with a space or a
double quote is written as a quoted string.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import TextIO

from modelport.logs import escape

CLIENT_CLOSED = 499  # nginx's status for "the client closed the connection before the reply"

log = logging.getLogger("modelport.access")


def field(value: str) -> str:
    """A value as one space-free token: escaped, ``-`` when empty, quoted when it has a space or a quote."""
    if not value:
        return "-"
    text = escape(value)
    if " " in text or '"' in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def line(
    method: str, path: str, status: int, seconds: float, endpoint: str = "", variant: str = "", inference_id: str = ""
) -> str:
    return (
        f"{field(method)} {field(path)} {status} {seconds * 1000:.2f}ms "
        f"endpoint={field(endpoint)} variant={field(variant)} inference_id={field(inference_id)}"
    )


class AccessLog:
    """Writes :func:`line` for each request to ``stream``, in the format of every other log line.

    Not through :mod:`logging`'s records: building and formatting one costs
    ~30 µs here, about what the data plane spends on a whole request; this
    costs ~5.  The lines of one turn of the event loop go out in one write.
    Build it with :meth:`if_enabled`, so that a log that is off costs nothing.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._pending: list[str] = []
        self._second = -1
        self._second_text = ""

    @classmethod
    def if_enabled(cls, stream: TextIO | None = None) -> AccessLog | None:
        """An access log on ``stream`` (default stderr) if ``modelport.access`` logs INFO, else None."""
        return cls(stream or sys.stderr) if log.isEnabledFor(logging.INFO) else None

    def write(
        self,
        method: str,
        path: str,
        status: int,
        seconds: float,
        endpoint: str = "",
        variant: str = "",
        inference_id: str = "",
    ) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._second_text = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        text = line(method, path, status, seconds, endpoint, variant, inference_id)
        self._pending.append(f"{self._second_text},{int((now - second) * 1000):03d} INFO {log.name}: {text}\n")
        if len(self._pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop: write now
                self.flush()

    def flush(self) -> None:
        lines, self._pending = self._pending, []
        if lines:
            self.stream.write("".join(lines))
            self.stream.flush()
