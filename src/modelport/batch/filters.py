"""Column filters: which input columns reach the model, which columns are written.

SageMaker expresses them in JSONPath (``$[1:]``, ``$[0,-1]``, ``$.features``);
modelport takes that and plainer spellings of the same thing:

    $            all columns (the default)
    $[1:]  1:    every column from the second (index ranges, Python-style)
    $[0,-1]      the first and the last column
    id,label     columns by name ('quoted' when a name looks like a number)
    $.features   one column by name

Filters resolve against a list of column names into column indices, once
per job, so every block is cut the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from modelport.errors import InvalidArgument

_SLICE = re.compile(r"^(-?\d*):(-?\d*)$")
_INDEX = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class ColumnFilter:
    """A parsed filter; ``items`` is None for "all columns"."""

    expr: str
    items: tuple[str | int | slice, ...] | None

    def select(self, names: Sequence[str], what: str = "filter") -> list[int]:
        """The indices of the chosen columns, in the filter's order, each at most once."""
        if self.items is None:
            return list(range(len(names)))
        chosen: list[int] = []
        positions = {n: i for i, n in reversed(list(enumerate(names)))}
        for item in self.items:
            if isinstance(item, str):
                if item not in positions:
                    raise InvalidArgument(
                        f"{what} {self.expr!r}: there is no column {item!r}; the columns are {_listing(names)}"
                    )
                found = [positions[item]]
            elif isinstance(item, slice):
                found = list(range(len(names)))[item]
            else:
                if not -len(names) <= item < len(names):
                    raise InvalidArgument(
                        f"{what} {self.expr!r}: column index {item} is out of range for {len(names)} columns "
                        f"({_listing(names)})"
                    )
                found = [item % len(names)]
            chosen.extend(i for i in found if i not in chosen)
        if not chosen:
            raise InvalidArgument(f"{what} {self.expr!r} selects no column of {_listing(names)}")
        return chosen


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:12])
    return shown + (f", … ({len(names)} in all)" if len(names) > 12 else "")


def parse_filter(expr: str | None, what: str = "filter") -> ColumnFilter:
    """Parse a filter expression; a malformed one is an InvalidArgument quoting it."""
    text = (expr or "").strip()
    if text in ("", "$", "*", "$[*]", "$.*"):
        return ColumnFilter(expr=text or "$", items=None)
    body = text
    if text.startswith("$"):
        rest = text[1:]
        if rest.startswith(".") and len(rest) > 1 and "." not in rest[1:] and "[" not in rest:
            return ColumnFilter(expr=text, items=(rest[1:],))
        if not (rest.startswith("[") and rest.endswith("]")):
            raise InvalidArgument(
                f"invalid {what} {text!r}: expected $, $[…] (indices, ranges or quoted names), $.name, "
                "or a comma-separated list such as 1: or id,label"
            )
        body = rest[1:-1]
    items: list[str | int | slice] = []
    for token in _split(body, text, what):
        if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
            items.append(token[1:-1])
        elif m := _SLICE.match(token):
            start, stop = (int(v) if v else None for v in m.groups())
            items.append(slice(start, stop))
        elif _INDEX.match(token):
            items.append(int(token))
        else:
            items.append(token)
    return ColumnFilter(expr=text, items=tuple(items))


def _split(body: str, text: str, what: str) -> list[str]:
    """Comma-separated tokens, commas inside quotes kept."""
    tokens: list[str] = []
    current = ""
    quote = ""
    for ch in body:
        if quote:
            current += ch
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current += ch
        elif ch == ",":
            tokens.append(current.strip())
            current = ""
        else:
            current += ch
    if quote:
        raise InvalidArgument(f"invalid {what} {text!r}: unclosed quote")
    tokens.append(current.strip())
    if any(not t for t in tokens):
        raise InvalidArgument(f"invalid {what} {text!r}: empty item between commas")
    return tokens
