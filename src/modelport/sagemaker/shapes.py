"""Reading SageMaker requests as the service does: members checked, mistakes said in AWS's words.

botocore checks only that required members are there and of the right type;
lengths, patterns and enums are the server's to check (PROTOCOLS.md §6).  A
mistake is one ``ValidationException`` naming the member by its path
(``ProductionVariants.1.VariantName``), worded as AWS words it:

    1 validation error detected: Value 'my_ep' at 'EndpointName' failed to satisfy constraint: ...

The errors are modelport's (one tree), with the AWS error code in
``details["aws_error"]``: the SageMaker envelope answers with that code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from modelport.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, PayloadTooLarge

#: names of endpoints, configs, models, jobs and variants (SageMaker's EntityName/VariantName pattern)
NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"

VALIDATION = "ValidationException"
RESOURCE_NOT_FOUND = "ResourceNotFound"
RESOURCE_IN_USE = "ResourceInUse"
RESOURCE_LIMIT = "ResourceLimitExceeded"


def validation(message: str) -> InvalidArgument:
    return InvalidArgument(message, details={"aws_error": VALIDATION})


def could_not_find(what: str, arn: str) -> NotFound:
    """What AWS answers for a missing endpoint, config or model, and what boto3's waiters look for."""
    return NotFound(f'Could not find {what} "{arn}".', details={"aws_error": VALIDATION})


def already_exists(what: str, arn: str) -> AlreadyExists:
    return AlreadyExists(f'Cannot create already existing {what} "{arn}".', details={"aws_error": VALIDATION})


def resource_not_found(message: str) -> NotFound:
    return NotFound(message, details={"aws_error": RESOURCE_NOT_FOUND})


def resource_in_use(message: str) -> Conflict:
    return Conflict(message, details={"aws_error": RESOURCE_IN_USE})


def resource_limit(message: str) -> PayloadTooLarge:
    return PayloadTooLarge(message, details={"aws_error": RESOURCE_LIMIT})


def _invalid(value: Any, where: str, constraint: str) -> InvalidArgument:
    shown = value if isinstance(value, str | int | float) else type(value).__name__
    return validation(f"1 validation error detected: Value '{shown}' at '{where}' failed to satisfy constraint: {constraint}")


def _missing(where: str) -> InvalidArgument:
    return validation(f"1 validation error detected: Value null at '{where}' failed to satisfy constraint: Member must not be null")


class Members:
    """A JSON object of a request, read member by member; ``where`` is its path for messages."""

    def __init__(self, data: Any, where: str = "") -> None:
        if not isinstance(data, Mapping):
            raise _invalid(data, where or "request", "Member must be a structure")
        self.data = data
        self.where = where

    def _path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None and required:
            raise _missing(self._path(key))
        return value

    def text(
        self, key: str, *, required: bool = False, max_len: int = 1024, min_len: int = 0, pattern: str | None = None
    ) -> str | None:
        value = self._get(key, required)
        if value is None:
            return None
        where = self._path(key)
        if not isinstance(value, str):
            raise _invalid(value, where, "Member must be a string")
        if len(value) > max_len:
            raise _invalid(value, where, f"Member must have length less than or equal to {max_len}")
        if len(value) < min_len:
            raise _invalid(value, where, f"Member must have length greater than or equal to {min_len}")
        if pattern is not None and not re.match(pattern + "$", value):
            raise _invalid(value, where, f"Member must satisfy regular expression pattern: {pattern}")
        return value

    def name(self, key: str, *, required: bool = True) -> str | None:
        """An entity name: an endpoint, a config, a model, a job, a variant."""
        return self.text(key, required=required, max_len=63, pattern=NAME_PATTERN)

    def required_name(self, key: str) -> str:
        value = self.name(key)
        assert value is not None
        return value

    def enum(self, key: str, values: tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.text(key, required=required)
        if value is not None and value not in values:
            raise _invalid(value, self._path(key), f"Member must satisfy enum value set: [{', '.join(values)}]")
        return value

    def number(
        self,
        key: str,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        integer: bool = False,
        required: bool = False,
    ) -> float | None:
        value = self._get(key, required)
        if value is None:
            return None
        where = self._path(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _invalid(value, where, f"Member must be {'an integer' if integer else 'a number'}")
        if integer and value != int(value):
            raise _invalid(value, where, "Member must be an integer")
        if minimum is not None and value < minimum:
            raise _invalid(value, where, f"Member must have value greater than or equal to {minimum:g}")
        if maximum is not None and value > maximum:
            raise _invalid(value, where, f"Member must have value less than or equal to {maximum:g}")
        return value

    def boolean(self, key: str) -> bool | None:
        value = self._get(key, False)
        if value is not None and not isinstance(value, bool):
            raise _invalid(value, self._path(key), "Member must be a boolean")
        return value

    def struct(self, key: str, *, required: bool = False) -> Members | None:
        value = self._get(key, required)
        return None if value is None else Members(value, self._path(key))

    def items(self, key: str, *, required: bool = False, min_items: int = 0, max_items: int = 100) -> list[Any]:
        value = self._get(key, required)
        if value is None:
            return []
        where = self._path(key)
        if not isinstance(value, list):
            raise _invalid(value, where, "Member must be a list")
        if len(value) < min_items:
            raise _invalid(len(value), where, f"Member must have length greater than or equal to {min_items}")
        if len(value) > max_items:
            raise _invalid(len(value), where, f"Member must have length less than or equal to {max_items}")
        return value

    def structs(self, key: str, *, required: bool = False, min_items: int = 0, max_items: int = 100) -> list[Members]:
        where = self._path(key)
        found = self.items(key, required=required, min_items=min_items, max_items=max_items)
        return [Members(item, f"{where}.{i}") for i, item in enumerate(found, start=1)]

    def strings(self, key: str, *, max_items: int = 100, max_len: int = 256) -> list[str]:
        where = self._path(key)
        out = []
        for i, item in enumerate(self.items(key, max_items=max_items), start=1):
            if not isinstance(item, str) or not item or len(item) > max_len:
                raise _invalid(item, f"{where}.{i}", f"Member must be a string of length 1-{max_len}")
            out.append(item)
        return out

    def string_map(self, key: str, *, max_items: int = 100, max_len: int = 1024) -> dict[str, str]:
        value = self._get(key, False)
        if value is None:
            return {}
        where = self._path(key)
        if not isinstance(value, Mapping) or len(value) > max_items:
            raise _invalid(value, where, f"Member must be a map of at most {max_items} entries")
        for k, v in value.items():
            if not isinstance(v, str) or len(k) > 1024 or len(v) > max_len:
                raise _invalid(v, f"{where}.{k}", f"Member must be a string of length at most {max_len}")
        return dict(value)

