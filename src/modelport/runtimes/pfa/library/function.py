"""A library function: a name and its signatures (see :mod:`signature`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from modelport.runtimes.pfa.library.signature import Builder, Impl, Mismatch, Pattern, Resolution, Sig, match
from modelport.runtimes.pfa.types import AvroType

Resolver = Callable[[Sequence[Any], str], Resolution]


@dataclass(frozen=True)
class LibFunction:
    """One PFA library function.

    ``partial`` marks functions for which PFA defines signatures this engine
    does not implement, so a mismatch is reported as unsupported rather
    than as a user error.  ``pure`` functions (no side effects) are folded
    into constants when every argument is one.
    """

    name: str
    sigs: tuple[Sig, ...] = ()
    resolver: Resolver | None = None
    pure: bool = True
    partial: bool = False

    def resolve(self, args: Sequence[Any]) -> Resolution:
        if self.resolver is not None:
            return self.resolver(args, self.name)
        problems = []
        for sig in self.sigs:
            try:
                return match(sig, args, self.name)
            except Mismatch as exc:
                problems.append(f"{sig.describe()}: {exc}")
        given = ", ".join(_describe_arg(a) for a in args)
        if len(self.sigs) == 1:
            raise Mismatch(f"arguments ({given}) do not fit {problems[0]}")
        raise Mismatch(f"arguments ({given}) fit none of its signatures; " + "; ".join(problems))


def _describe_arg(arg: Any) -> str:
    t = getattr(arg, "type", None)
    return t.describe() if t is not None else "function"


def sig(
    params: Sequence[Pattern],
    ret: Pattern | Callable[[dict[str, AvroType]], AvroType],
    scalar: Callable[..., Any] | None = None,
    vector: Callable[..., Any] | None = None,
    *,
    build: Builder | None = None,
    names: Sequence[str] | None = None,
) -> Sig:
    """A signature whose implementation is fixed (``scalar``/``vector``) or built per call (``build``).

    ``names`` (PFA's parameter names) let a function reference ``fill`` them.
    """
    if build is None:
        if scalar is None:
            raise TypeError("sig() needs scalar= or build=")
        build = _fixed(Impl(scalar, vector))
    if names is not None and len(names) != len(params):
        raise TypeError("one name per parameter")
    return Sig(tuple(params), ret, build, tuple(names) if names is not None else None)


def _fixed(impl: Impl) -> Builder:
    def build(ctx: Any) -> Impl:
        return impl

    return build


def fn(name: str, *sigs: Sig, pure: bool = True, partial: bool = False) -> LibFunction:
    return LibFunction(name, tuple(sigs), pure=pure, partial=partial)
