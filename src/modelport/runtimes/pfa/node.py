"""Compiled expressions: one :class:`Node` per PFA expression.

A node carries its inferred Avro type and two closures over the same
semantics:

* ``run(frame)`` evaluates one record (``frame`` is the function body's slot
  list, see :mod:`scope`);
* ``vec(vframe)`` evaluates a whole batch (see :mod:`vector`), or is ``None``
  when this kind of expression has no batch form (loops, ``set``).

Whether a tree can run batched is only known once every user function is
compiled (a call is batchable when the callee's body is), so it is decided
afterwards by :func:`vectorizable`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from modelport.runtimes.pfa.types import AvroType

NOT_CONST: Any = type("NotConst", (), {"__repr__": lambda self: "NOT_CONST"})()

_IN_PROGRESS = "in-progress"


class Node:
    """A compiled expression."""

    __slots__ = ("_vectorizable", "children", "const", "pure", "run", "type", "vec")

    def __init__(
        self,
        avro_type: AvroType,
        run: Callable[[list[Any]], Any],
        vec: Callable[[Any], Any] | None = None,
        *,
        children: Iterable[Any] = (),
        const: Any = NOT_CONST,
        pure: bool = True,
    ) -> None:
        self.type = avro_type
        self.run = run
        self.vec = vec
        self.children = tuple(children)
        self.const = const
        #: no side effects anywhere below (no set, error, log)
        self.pure = pure and all(getattr(c, "pure", True) for c in self.children)
        self._vectorizable: Any = None

    @property
    def is_const(self) -> bool:
        return self.const is not NOT_CONST


def constant(avro_type: AvroType, value: Any) -> Node:
    """A node whose value is known at compile time."""
    return Node(avro_type, lambda frame: value, lambda vframe: value, const=value)


def vectorizable(node: Any) -> bool:
    """Whether ``node`` and everything it depends on has a batch form.

    Recursion between user functions is assumed batchable while it is being
    examined; it is, because a branch only runs for the rows that take it.
    """
    state = node._vectorizable
    if state is _IN_PROGRESS:
        return True
    if state is not None:
        return bool(state)
    if node.vec is None:
        node._vectorizable = False
        return False
    node._vectorizable = _IN_PROGRESS
    result = all(vectorizable(child) for child in node.children)
    node._vectorizable = result
    return result
