"""The PFA function library this engine implements, by name.

Anything not listed here is refused at load time as unsupported (see
``docs/pfa.md`` for the list).
"""

from __future__ import annotations

from modelport.runtimes.pfa.library import (
    arrays,
    cast,
    core,
    impute,
    linalg,
    maps,
    metric,
    models,
    pfamath,
    strings,
    trees,
)
from modelport.runtimes.pfa.library.function import LibFunction

_MODULES = (core, pfamath, arrays, maps, linalg, strings, models, trees, metric, impute, cast)

FUNCTIONS: dict[str, LibFunction] = {f.name: f for module in _MODULES for f in module.FUNCTIONS}

#: short-circuiting operators, compiled as special forms (see forms.logic)
LAZY_OPERATORS = ("&&", "||", "&&&", "|||")


def lookup(name: str) -> LibFunction | None:
    """The library function called ``name``, if this engine implements it."""
    return FUNCTIONS.get(name)


def names() -> list[str]:
    """Every supported library function name, plus the short-circuit operators."""
    return sorted([*FUNCTIONS, *LAZY_OPERATORS])
