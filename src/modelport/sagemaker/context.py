"""What every operation shares: the services, the caller, ARNs, times, and listings (filter, sort, page)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from modelport.errors import NotFound
from modelport.sagemaker.records import RecordStore
from modelport.sagemaker.shapes import Members, validation

if TYPE_CHECKING:
    from modelport.domain import ModelVersion
    from modelport.services import Services

#: the account every ARN names: modelport has one tenant per server
ACCOUNT = "000000000000"
#: the region of callers that do not sign (auth off, bearer tokens)
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls (recorded as ``created_by``) and the region their client signs for (named in ARNs)."""

    name: str
    region: str = DEFAULT_REGION


@dataclass
class Context:
    services: Services
    records: RecordStore
    caller: Caller

    def arn(self, kind: str, name: str) -> str:
        """``arn:aws:sagemaker:<region>:<account>:<kind>/<name lowercased>``: derived from the name, so stable."""
        return f"arn:aws:sagemaker:{self.caller.region}:{ACCOUNT}:{kind}/{name.lower()}"

    def model_version(self, model_name: str) -> ModelVersion | None:
        """The version a SageMaker model name stands for: its record's, else the registry model's latest."""
        record = self.records.find("model", model_name)
        try:
            return self.services.registry.get_version(record.target if record and record.target else model_name)
        except NotFound:
            return None


def epoch(when: datetime | None) -> float | None:
    """A time as botocore parses it: seconds since the epoch."""
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def drop_none(data: dict[str, Any]) -> dict[str, Any]:
    """The members that are set: AWS omits the others."""
    return {k: v for k, v in data.items() if v is not None and v != {} and v != []}


@dataclass(frozen=True, slots=True)
class Listed:
    """One item of a listing with what filters and sorts read."""

    name: str
    created: datetime
    summary: dict[str, Any]
    modified: datetime | None = None
    status: str | None = None


def listing(
    req: Members,
    items: Iterator[Listed] | list[Listed],
    key: str,
    *,
    sort_by: tuple[str, ...] = ("Name", "CreationTime"),
    statuses: tuple[str, ...] = (),
    default_max: int = 10,
) -> dict[str, Any]:
    """Filter (NameContains, StatusEquals, Creation/LastModified time bounds), sort and page a listing.

    ``NextToken`` is the offset in the filtered, sorted listing (opaque to callers).
    """
    contains = req.text("NameContains", max_len=63, pattern=r"[a-zA-Z0-9\-]+")
    status = req.enum("StatusEquals", statuses) if statuses else None
    by = req.enum("SortBy", sort_by) or "CreationTime"
    order = req.enum("SortOrder", ("Ascending", "Descending")) or "Descending"
    limit = int(req.number("MaxResults", minimum=1, maximum=100, integer=True) or default_max)
    offset = _offset(req.text("NextToken", max_len=8192))
    bounds: list[tuple[str, Callable[[Listed], datetime | None], Callable[[float, float], bool]]] = [
        ("CreationTimeAfter", lambda x: x.created, lambda t, b: t > b),
        ("CreationTimeBefore", lambda x: x.created, lambda t, b: t < b),
        ("LastModifiedTimeAfter", lambda x: x.modified or x.created, lambda t, b: t > b),
        ("LastModifiedTimeBefore", lambda x: x.modified or x.created, lambda t, b: t < b),
    ]
    chosen = []
    limits = [(get, cmp, _time(req, name)) for name, get, cmp in bounds if req.data.get(name) is not None]
    for item in items:
        if contains is not None and contains.lower() not in item.name.lower():
            continue
        if status is not None and item.status != status:
            continue
        if any(not cmp(epoch(get(item)) or 0.0, bound) for get, cmp, bound in limits):
            continue
        chosen.append(item)

    def sort_key(x: Listed) -> Any:
        if by == "Name":
            return x.name.lower()
        if by == "Status":
            return (x.status or "", x.name.lower())
        return (x.created, x.name)

    chosen.sort(key=sort_key, reverse=order == "Descending")
    page = chosen[offset : offset + limit]
    out: dict[str, Any] = {key: [x.summary for x in page]}
    if offset + limit < len(chosen):
        out["NextToken"] = base64.urlsafe_b64encode(orjson.dumps({"offset": offset + limit})).decode()
    return out


def _time(req: Members, name: str) -> float:
    value = req.data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            return datetime.fromisoformat(str(value)).timestamp()
        except ValueError:
            raise validation(f"{name} must be a time (seconds since the epoch), got {value!r}") from None
    return float(value)


def _offset(token: str | None) -> int:
    if token is None:
        return 0
    try:
        offset = orjson.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise validation("Invalid NextToken: pass back the NextToken of a previous page") from None
    if not isinstance(offset, int) or offset < 0:
        raise validation("Invalid NextToken: pass back the NextToken of a previous page")
    return offset
