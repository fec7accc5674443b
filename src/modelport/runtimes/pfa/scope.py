"""Compile-time symbol tables, and where each symbol lives at run time.

Every function body (the action, each ``u.*`` function, each inline function
passed as an argument) owns a *frame*: a Python list indexed by slots fixed
at compile time.  Slot 0 links an inline function's frame to the frame it was
created in, so it can read (never write) the symbols around it.

The scoping rules are PFA's: symbols may not be redeclared or shadowed;
expressions in argument position (function arguments, ``let`` values, ``if``
predicates) may neither declare nor modify symbols (``sealed_within``); a
function body may read but not modify the symbols around it
(``sealed_above``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelport.runtimes.pfa.types import AvroType


@dataclass
class FrameLayout:
    """The slots of one function body's frame; slot 0 is the parent-frame link."""

    parent: FrameLayout | None = None
    size: int = 1
    #: an inline function body that reads symbols of an enclosing frame
    captures: bool = False

    def allocate(self) -> int:
        slot = self.size
        self.size += 1
        return slot


@dataclass
class Symbol:
    name: str
    type: AvroType
    slot: int
    layout: FrameLayout


@dataclass
class Scope:
    """One level of the symbol table."""

    layout: FrameLayout
    parent: Scope | None = None
    sealed_above: bool = False
    sealed_within: bool = False
    symbols: dict[str, Symbol] = field(default_factory=dict)

    def child(self, *, sealed_above: bool = False, sealed_within: bool = False) -> Scope:
        """A nested scope in the same frame (a ``do`` block, a branch, an argument)."""
        return Scope(self.layout, self, sealed_above, sealed_within)

    def function_scope(self) -> Scope:
        """The scope of an inline function body: a new frame, outer symbols read-only."""
        return Scope(FrameLayout(parent=self.layout), self, sealed_above=True)

    def lookup(self, name: str) -> tuple[Symbol, int] | None:
        """The symbol and how many frame links separate it from this scope."""
        scope: Scope | None = self
        while scope is not None:
            if name in scope.symbols:
                symbol = scope.symbols[name]
                return symbol, _depth(self.layout, symbol.layout)
            scope = scope.parent
        return None

    def declare(self, name: str, avro_type: AvroType) -> Symbol:
        symbol = Symbol(name, avro_type, self.layout.allocate(), self.layout)
        self.symbols[name] = symbol
        return symbol

    def writable(self, name: str) -> bool:
        if self.sealed_within:
            return False
        if name in self.symbols:
            return True
        if self.sealed_above or self.parent is None:
            return False
        return self.parent.writable(name)

    def visible_names(self) -> list[str]:
        names: set[str] = set()
        scope: Scope | None = self
        while scope is not None:
            names.update(scope.symbols)
            scope = scope.parent
        return sorted(names)


def _depth(inner: FrameLayout, outer: FrameLayout) -> int:
    depth = 0
    layout: FrameLayout | None = inner
    while layout is not None and layout is not outer:
        layout = layout.parent
        depth += 1
    return depth
