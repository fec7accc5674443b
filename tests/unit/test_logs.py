"""Log lines stay one line each whatever a request put in them."""

from __future__ import annotations

import logging
import sys

import pytest

from modelport.api import access
from modelport.logs import Formatter, escape


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("/endpoints/churn/invocations", "/endpoints/churn/invocations"),
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("\x1b[31mred\x00\x7f", "\\x1b[31mred\\x00\\x7f"),
        ("line\u2028separator\x85next", "line\\u2028separator\\x85next"),
        ("abc\u202edcba", "abc\\u202edcba"),  # a bidi override would show the line reversed
        ("名前 ünïcode", "名前 ünïcode"),
    ],
)
def test_escape_writes_unprintable_characters_as_escapes(text: str, escaped: str) -> None:
    assert escape(text) == escaped


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad column 'x\n2026-01-01 00:00:00,000 INFO modelport.access: forged'")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("modelport.api", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_a_message_with_request_data_is_one_line() -> None:
    out = Formatter("%(levelname)s %(name)s: %(message)s").format(
        _record("unhandled error on %s %s", "GET", "/api/v1/models/x\nINFO modelport.access: GET / 200")
    )
    assert out == "ERROR modelport.api: unhandled error on GET /api/v1/models/x\\nINFO modelport.access: GET / 200"


def test_a_traceback_is_indented_so_it_cannot_forge_a_record() -> None:
    out = Formatter("%(levelname)s %(name)s: %(message)s").format(_record("failed on %s", "/p", exc=True))
    first, *rest = out.split("\n")
    assert first == "ERROR modelport.api: failed on /p"
    assert rest and all(line.startswith("    ") for line in rest)
    assert any("Traceback (most recent call last):" in line for line in rest)


def test_an_access_line_has_the_fields_in_order() -> None:
    line = access.line("POST", "/endpoints/churn/invocations", 200, 0.00084, "churn", "a", "req-1")
    assert line == "POST /endpoints/churn/invocations 200 0.84ms endpoint=churn variant=a inference_id=req-1"
    assert access.line("GET", "/api/v1/models", 404, 0.5) == "GET /api/v1/models 404 500.00ms endpoint=- variant=- inference_id=-"


def test_access_fields_from_the_request_are_escaped_and_quoted() -> None:
    line = access.line("POST", "/endpoints/a\nb/invocations", 400, 0.001, "a\nb", "", 'id with "quotes"\x1b')
    assert "\n" not in line and "\x1b" not in line
    assert line == (
        'POST /endpoints/a\\nb/invocations 400 1.00ms endpoint=a\\nb variant=- inference_id="id with \\"quotes\\"\\\\x1b"'
    )
