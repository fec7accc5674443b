"""User functions: the ``fcns`` section, called as ``u.name``."""

from __future__ import annotations

from typing import Any

from modelport.runtimes.pfa.node import Node, vectorizable
from modelport.runtimes.pfa.scope import FrameLayout
from modelport.runtimes.pfa.types import AvroType, FcnType
from modelport.runtimes.pfa.vector import VFrame


class UserFunction:
    """A compiled ``fcns`` entry.

    Its body is attached after every signature is known, since functions may
    call each other (and themselves) in any order.  It quacks like a
    :class:`Node` for :func:`vectorizable` so a call is batchable exactly when
    the body is.
    """

    def __init__(self, name: str, param_names: list[str], param_types: list[AvroType], ret: AvroType) -> None:
        self.name = name
        self.param_names = param_names
        self.type = FcnType(tuple(param_types), ret)
        self.layout = FrameLayout()
        self.body: Node | None = None
        self.vec = True  # vectorizable() looks for a batch form, then at children
        self.pure = False  # never folded into a constant
        self._vectorizable: Any = None

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.body,) if self.body is not None else ()

    def call(self, *args: Any) -> Any:
        frame: list[Any] = [None] * self.layout.size
        frame[1 : 1 + len(args)] = args
        return self.body.run(frame)  # type: ignore[union-attr]

    def call_vector(self, n: int, *args: Any) -> Any:
        slots: list[Any] = [None] * self.layout.size
        slots[1 : 1 + len(args)] = args
        return self.body.vec(VFrame(slots, n))  # type: ignore[union-attr, misc]

    @property
    def batchable(self) -> bool:
        return vectorizable(self)
