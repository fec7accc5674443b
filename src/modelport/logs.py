"""How server processes log: one record per line, whatever the request put in it.

Request data reaches log lines (paths, endpoint names, inference ids, the
messages of errors about a payload).  A newline or an ANSI escape in it could
forge a record or repaint a terminal, so :class:`Formatter` writes every
unprintable character of a message as an escape (``\\n``, ``\\x1b``,
``\\u2028``) and indents tracebacks: a line that starts at column 0 is always
the start of a real record.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(text: str) -> str:
    """``text`` with each unprintable character (controls, line separators, bidi overrides) escaped."""
    if text.isprintable():  # the common case: one C-level scan
        return text
    return "".join(c if c.isprintable() else _escape_char(c) for c in text)


def _escape_char(c: str) -> str:
    named = _NAMED.get(c)
    if named is not None:
        return named
    code = ord(c)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _indented(text: str) -> str:
    return "\n".join("    " + escape(line) for line in text.split("\n"))


class Formatter(logging.Formatter):
    """A standard formatter whose messages stay on one line and whose tracebacks are indented."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = escape(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + _indented(record.exc_text)
        if record.stack_info:
            line += "\n" + _indented(self.formatStack(record.stack_info))
        return line


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure` installs (and replaces when called again)."""


def configure(level: LogLevel = "info", *, access_log: bool = True) -> None:
    """Log to stderr at ``level``; ``access_log=False`` silences ``modelport.access``.

    Other libraries log their warnings and errors only (Alembic's INFO
    lines are not news), whatever ``level`` is: ``debug`` means modelport's
    own debug records, not every dependency's.
    """
    number = logging.getLevelName(level.upper())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    handler = _Handler(sys.stderr)
    handler.setFormatter(Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(max(number, logging.WARNING))
    logging.getLogger("modelport").setLevel(number)
    logging.getLogger("modelport.access").setLevel(logging.NOTSET if access_log else logging.CRITICAL + 1)


def granian_config() -> dict[str, Any]:
    """granian's own records (start, workers, shutdown) in the same format, on stderr."""
    return {
        "formatters": {"modelport": {"()": f"{__name__}.Formatter", "fmt": FORMAT.replace("%(name)s", "granian")}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "modelport", "stream": "ext://sys.stderr"}},
        "loggers": {"_granian": {"handlers": ["console"], "level": "INFO", "propagate": False}},
    }
