"""Schedules: durations, cron expressions, the next run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelport.errors import InvalidArgument
from modelport.monitoring.schedule import Cron, format_duration, next_run, parse_duration, schedule_from

T = datetime(2024, 5, 1, 10, 15, 30, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("1h", 3600), ("1h30m", 5400), ("2d", 172800), ("1w", 604800), ("600", 600)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["", "1x", "h", "-1h", "0m", "1h foo"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(InvalidArgument, match="--window"):
        parse_duration(text, "--window")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 * * * *", datetime(2024, 5, 1, 11, 0, tzinfo=UTC)),
        ("*/20 * * * *", datetime(2024, 5, 1, 10, 20, tzinfo=UTC)),
        ("15 10 * * *", datetime(2024, 5, 2, 10, 15, tzinfo=UTC)),
        ("0 9-17/4 * * mon-fri", datetime(2024, 5, 1, 13, 0, tzinfo=UTC)),
        ("0 0 1 jan *", datetime(2025, 1, 1, 0, 0, tzinfo=UTC)),
        ("30 6 * * 0", datetime(2024, 5, 5, 6, 30, tzinfo=UTC)),  # Sunday
        ("30 6 * * 7", datetime(2024, 5, 5, 6, 30, tzinfo=UTC)),  # 7 is Sunday too
        ("0 0 13 * fri", datetime(2024, 5, 3, 0, 0, tzinfo=UTC)),  # both day fields: either matches
        ("0 0 29 2 *", datetime(2028, 2, 29, 0, 0, tzinfo=UTC)),
        ("@daily", datetime(2024, 5, 2, 0, 0, tzinfo=UTC)),
    ],
)
def test_cron_next_run(expression: str, expected: datetime) -> None:
    assert Cron.parse(expression).next_after(T) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "expected 5 fields"),
        ("60 * * * *", "minute 60 is outside 0-59"),
        ("0 25 * * *", "hour 25"),
        ("0 0 * foo *", "'foo' is not a valid month"),
        ("*/0 * * * *", "bad step"),
        ("0 0 31 2 *", "never matches"),
    ],
)
def test_bad_cron_expressions_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        schedule_from(None, expression)


def test_every_is_aligned_to_the_clock() -> None:
    assert next_run({"every": 3600}, T) == datetime(2024, 5, 1, 11, 0, tzinfo=UTC)
    assert next_run({"every": 900}, T) == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert next_run({}, T) is None
    with pytest.raises(InvalidArgument, match="not both"):
        schedule_from("1h", "0 * * * *")
    with pytest.raises(InvalidArgument, match="at most once a minute"):
        schedule_from("30s", None)
