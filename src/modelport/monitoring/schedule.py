"""When monitors run: durations (``--every 1h``, ``--window 30m``) and 5-field cron expressions.

    >>> parse_duration("1h30m")
    5400
    >>> Cron.parse("0 * * * *").next_after(datetime(2024, 5, 1, 10, 15, tzinfo=UTC))
    datetime.datetime(2024, 5, 1, 11, 0, tzinfo=datetime.timezone.utc)

Cron is the classic 5 fields (minute hour day-of-month month day-of-week)
in UTC: ``*``, ``a-b``, ``a,b``, ``*/n``, ``a-b/n``, month and weekday names
(``jan``, ``mon``), weekday 0 or 7 for Sunday, and the ``@hourly`` /
``@daily`` / ``@weekly`` / ``@monthly`` / ``@yearly`` shorthands.  As in
Vixie cron, when both day fields are restricted a day matching either runs.
``--every`` intervals are aligned to the epoch: ``--every 1h`` runs on the
hour, ``--every 15m`` at :00, :15, :30 and :45.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from modelport.errors import InvalidArgument

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
MIN_EVERY_S = 60
"""Schedules run at most once a minute (windows resolve to the minute)."""


def parse_duration(text: str | int, what: str = "duration") -> int:
    """``90s``, ``30m``, ``1h``, ``1h30m``, ``2d``, ``1w`` (or a number of seconds) → seconds."""
    if isinstance(text, int) and not isinstance(text, bool):
        seconds = text
    else:
        value = str(text).strip().lower().replace(" ", "")
        if value.isdigit():
            seconds = int(value)
        else:
            parts = _DURATION.findall(value)
            if not value or "".join(n + u for n, u in parts) != value:
                raise InvalidArgument(f"invalid {what} {text!r}: expected e.g. 30m, 1h, 1h30m, 1d")
            seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise InvalidArgument(f"invalid {what} {text!r}: it must be longer than zero")
    return seconds


def format_duration(seconds: int) -> str:
    """``5400`` → ``1h30m``."""
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out) or "0s"


_MONTHS = {
    m: i + 1 for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_SHORTHANDS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


def _field(text: str, name: str, low: int, high: int, names: dict[str, int], expression: str) -> frozenset[int]:
    def number(token: str) -> int:
        token = token.lower()
        value = names.get(token)
        if value is None:
            if not token.isdigit():
                raise InvalidArgument(f"invalid cron expression {expression!r}: {token!r} is not a valid {name}")
            value = int(token)
        if not low <= value <= high:
            raise InvalidArgument(f"invalid cron expression {expression!r}: {name} {value} is outside {low}-{high}")
        return value

    values: set[int] = set()
    for part in text.split(","):
        body, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise InvalidArgument(f"invalid cron expression {expression!r}: bad step {step_text!r} in {name}")
            step = int(step_text)
        if body == "*":
            start, stop = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            start, stop = number(a), number(b)
            if start > stop:
                raise InvalidArgument(f"invalid cron expression {expression!r}: range {body!r} runs backwards")
        else:
            start = number(body)
            stop = high if slash else start
        values.update(range(start, stop + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday … 6 = Saturday."""
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        text = _SHORTHANDS.get(expression.strip().lower(), expression.strip())
        parts = text.split()
        if len(parts) != 5:
            raise InvalidArgument(
                f"invalid cron expression {expression!r}: expected 5 fields (minute hour day-of-month month day-of-week), "
                "e.g. '0 * * * *'"
            )
        fields = [
            _field(part, name, low, high, names, expression)
            for part, (name, low, high, names) in zip(parts, _FIELDS, strict=True)
        ]
        weekdays = frozenset(d % 7 for d in fields[4])
        return cls(expression, fields[0], fields[1], fields[2], fields[3], weekdays, parts[2] == "*", parts[4] == "*")

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return in_week
        if self.any_weekday:
            return in_month
        return in_month or in_week  # both restricted: either (Vixie cron)

    def next_after(self, when: datetime) -> datetime:
        """The first matching minute strictly after ``when`` (UTC)."""
        start = when.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(366 * 8):  # Feb 29 on a given weekday recurs within 28 years; 8 years covers sane ones
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        raise InvalidArgument(f"cron expression {self.expression!r} never matches")


def schedule_from(every: str | int | None, cron: str | None) -> dict[str, Any]:
    """What a monitor stores: ``{"every": seconds}``, ``{"cron": "…"}`` or ``{}`` (runs only when asked)."""
    if every is not None and cron is not None:
        raise InvalidArgument("pass --every or --cron, not both")
    if every is not None:
        seconds = parse_duration(every, "--every")
        if seconds < MIN_EVERY_S:
            raise InvalidArgument(f"--every {every}: monitors run at most once a minute")
        return {"every": seconds}
    if cron is not None:
        Cron.parse(cron).next_after(datetime.now(UTC))  # refuses one that never matches
        return {"cron": cron.strip()}
    return {}


def next_run(schedule: dict[str, Any], after: datetime) -> datetime | None:
    """The first scheduled time strictly after ``after``; None for a monitor that runs only when asked."""
    after = after.astimezone(UTC)
    if "every" in schedule:
        every = int(schedule["every"])
        epoch = int(after.timestamp())
        return datetime.fromtimestamp((epoch // every + 1) * every, UTC)
    if "cron" in schedule:
        return Cron.parse(schedule["cron"]).next_after(after)
    return None


def describe(schedule: dict[str, Any]) -> str:
    if "every" in schedule:
        return f"every {format_duration(int(schedule['every']))}"
    if "cron" in schedule:
        return f"cron {schedule['cron']}"
    return "on demand"
