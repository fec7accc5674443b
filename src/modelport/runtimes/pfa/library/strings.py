"""``s.*``: string functions (indexes as in ``a.subseq``: negative counts from the end)."""

from __future__ import annotations

import numpy as np

from modelport.runtimes.pfa.errors import PfaRuntimeError
from modelport.runtimes.pfa.library.function import LibFunction, fn, sig
from modelport.runtimes.pfa.library.signature import Arr, T
from modelport.runtimes.pfa.types import BOOLEAN, INT, STRING, ArrayType

S = T(STRING)


def _repeat(s: str, n: int) -> str:
    if n < 0:
        raise PfaRuntimeError("n < 0", function="s.repeat")
    return s * n


def _replace_last(s: str, original: str, replacement: str) -> str:
    i = s.rfind(original)
    return s if i < 0 else s[:i] + replacement + s[i + len(original) :]


def _split(s: str, sep: str) -> list[str]:
    if not sep:
        raise PfaRuntimeError("empty separator", function="s.split")
    return s.split(sep)


FUNCTIONS: list[LibFunction] = [
    fn("s.len", sig([S], T(INT), len)),
    fn("s.substr", sig([S, T(INT), T(INT)], S, lambda s, start, end: s[start:end])),
    fn("s.concat", sig([S, S], S, lambda x, y: x + y, lambda x, y: np.add(x, y, dtype=object))),
    fn("s.repeat", sig([S, T(INT)], S, _repeat)),
    fn("s.contains", sig([S, S], T(BOOLEAN), lambda s, x: x in s)),
    fn("s.count", sig([S, S], T(INT), lambda s, x: s.count(x) if x else 0)),
    fn("s.index", sig([S, S], T(INT), lambda s, x: s.find(x))),
    fn("s.rindex", sig([S, S], T(INT), lambda s, x: s.rfind(x))),
    fn("s.startswith", sig([S, S], T(BOOLEAN), lambda s, x: s.startswith(x))),
    fn("s.endswith", sig([S, S], T(BOOLEAN), lambda s, x: s.endswith(x))),
    fn("s.join", sig([Arr(S), S], S, lambda parts, sep: sep.join(parts))),
    fn("s.split", sig([S, S], T(ArrayType(STRING)), _split)),
    fn("s.lower", sig([S], S, str.lower)),
    fn("s.upper", sig([S], S, str.upper)),
    fn("s.lstrip", sig([S, S], S, lambda s, chars: s.lstrip(chars))),
    fn("s.rstrip", sig([S, S], S, lambda s, chars: s.rstrip(chars))),
    fn("s.strip", sig([S, S], S, lambda s, chars: s.strip(chars))),
    fn("s.replaceAll", sig([S, S, S], S, lambda s, o, r: s.replace(o, r) if o else s)),
    fn("s.replaceFirst", sig([S, S, S], S, lambda s, o, r: s.replace(o, r, 1) if o else s)),
    fn("s.replaceLast", sig([S, S, S], S, lambda s, o, r: _replace_last(s, o, r) if o else s)),
    fn("s.reverse", sig([S], S, lambda s: s[::-1])),
]
