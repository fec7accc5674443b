"""Function-valued arguments: ``{"fcn": "u.f"}``, ``{"fcn": "m.sqrt"}``,
``{"fcn": "u.f", "fill": {...}}`` and inline ``{"params": ..., "ret": ..., "do": ...}``.

At run time a library function receives a plain Python callable (one
record) or a :class:`BoundFcn` (a batch) that is also callable per record
and offers ``vector(n, *args)``.  A function argument that reads symbols of
the frame it is created in (an inline function using outer variables, a
``fill`` computed from them) *captures* that frame; a call passing one runs
only per record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

from modelport.runtimes.pfa.coercion import Converter, convert_vector, converter, floats_expected
from modelport.runtimes.pfa.library.function import LibFunction
from modelport.runtimes.pfa.node import Node, vectorizable
from modelport.runtimes.pfa.scope import FrameLayout
from modelport.runtimes.pfa.types import AvroType, FcnType
from modelport.runtimes.pfa.userfcn import UserFunction
from modelport.runtimes.pfa.vector import VFrame, apply_rows, is_rowwise


class BoundFcn:
    """A function value inside a batch evaluation."""

    __slots__ = ("_call", "_vector")

    def __init__(self, call: Callable[..., Any], vector: Callable[..., Any]) -> None:
        self._call = call
        self._vector = vector

    def __call__(self, *args: Any) -> Any:
        return self._call(*args)

    def vector(self, n: int, *args: Any) -> Any:
        """Apply to vector values for ``n`` rows."""
        if not any(is_rowwise(a) for a in args):
            return self._call(*args)
        return self._vector(n, *args)


class FcnArg:
    """A compiled function argument.

    Library references (``{"fcn": "m.sqrt"}``) have no callable form until
    ``specialise`` has fixed their argument types; the resolved forms override
    ``bind`` and ``vector_form``.
    """

    type: FcnType
    captures = False

    def specialise(self, params: Sequence[AvroType]) -> FcnArg:
        """This function, to be called with arguments of types ``params``."""
        return _Converting.wrap(self, params)

    def bind(self, frame: list[Any]) -> Callable[..., Any]:
        """The per-record callable, in the frame of the call."""
        raise TypeError(f"{type(self).__name__} must be specialised to argument types before it is called")

    def vector_form(self) -> Callable[..., Any]:
        """``(n, *vector args) -> vector result``; only for non-capturing arguments."""
        raise TypeError(f"{type(self).__name__} must be specialised to argument types before it is called")

    def bound(self) -> BoundFcn:
        return BoundFcn(self.bind(None), self.vector_form())  # type: ignore[arg-type]


class _Converting(FcnArg):
    """Promotes the arguments (an ``int`` passed to a ``double`` parameter)."""

    def __init__(self, inner: FcnArg, converters: list[tuple[Converter, bool] | None]) -> None:
        self.inner = inner
        self.type = inner.type
        self.captures = inner.captures
        self.converters = converters

    @classmethod
    def wrap(cls, inner: FcnArg, params: Sequence[AvroType]) -> FcnArg:
        convs: list[tuple[Converter, bool] | None] = []
        for declared, passed in zip(inner.type.params, params, strict=False):
            c = converter(declared, passed)
            convs.append(None if c is None else (c, floats_expected(declared, passed)))
        return inner if all(c is None for c in convs) else cls(inner, convs)

    def bind(self, frame: list[Any]) -> Callable[..., Any]:
        f = self.inner.bind(frame)
        convs = self.converters
        return lambda *args: f(*[a if c is None else c[0](a) for a, c in zip(args, convs, strict=False)])

    def vector_form(self) -> Callable[..., Any]:
        f = self.inner.vector_form()
        convs = self.converters

        def vector(n: int, *args: Any) -> Any:
            return f(
                n, *[a if c is None else convert_vector(c[0], c[1], a, n) for a, c in zip(args, convs, strict=False)]
            )

        return vector


class LibraryRef(FcnArg):
    """``{"fcn": "m.sqrt"}``: typed only once the caller says what it will pass."""

    def __init__(self, function: LibFunction) -> None:
        self.function = function

    @property
    def type(self) -> FcnType:  # type: ignore[override]
        raise AttributeError(f"{self.function.name} has no type until specialised")

    def specialise(self, params: Sequence[AvroType]) -> FcnArg:
        from modelport.runtimes.pfa.library.signature import Mismatch

        pseudo_args = [SimpleNamespace(type=p) for p in params]
        try:
            resolution = self.function.resolve(pseudo_args)
        except Mismatch as exc:
            raise Mismatch(f"function reference {self.function.name!r}: {exc}") from None
        resolved = _ResolvedLibraryRef(self.function.name, FcnType(tuple(params), resolution.ret), resolution)
        return _Converting.wrap(resolved, params)


class _ResolvedLibraryRef(FcnArg):
    def __init__(self, name: str, fcn_type: FcnType, resolution: Any) -> None:
        self.name = name
        self.type = FcnType(tuple(t for t in resolution.targets), fcn_type.ret)
        self.impl = resolution.impl

    def bind(self, frame: list[Any]) -> Callable[..., Any]:
        return self.impl.scalar

    def vector_form(self) -> Callable[..., Any]:
        impl, ret = self.impl, self.type.ret
        if impl.vector is not None:
            return lambda n, *args: impl.vector(*args)
        return lambda n, *args: apply_rows(impl.scalar, args, n, ret)


class LibraryPartial(FcnArg):
    """``{"fcn": "metric.euclidean", "fill": {"similarity": {"fcn": "metric.absDiff"}}}``."""

    def __init__(self, function: LibFunction, fills: dict[str, Any]) -> None:
        self.function = function
        self.fills = fills  # name -> Node or FcnArg

    @property
    def type(self) -> FcnType:  # type: ignore[override]
        raise AttributeError(f"{self.function.name} has no type until specialised")

    def specialise(self, params: Sequence[AvroType]) -> FcnArg:
        from modelport.runtimes.pfa.library.signature import Mismatch, match

        problems = []
        for sig in self.function.sigs:
            if sig.names is None or not set(self.fills) <= set(sig.names):
                continue
            free = [i for i, n in enumerate(sig.names) if n not in self.fills]
            if len(free) != len(params):
                continue
            args: list[Any] = [self.fills.get(n) for n in sig.names]
            for i, p in zip(free, params, strict=True):
                args[i] = SimpleNamespace(type=p)
            try:
                resolution = match(sig, args, self.function.name)
            except Mismatch as exc:
                problems.append(str(exc))
                continue
            return _Converting.wrap(_ResolvedPartial(resolution, free, args), params)
        filled = ", ".join(sorted(self.fills))
        detail = "; ".join(problems) or "no signature has those parameter names"
        raise Mismatch(f"function reference {self.function.name!r} filling {filled}: {detail}")


class _ResolvedPartial(FcnArg):
    def __init__(self, resolution: Any, free: list[int], args: list[Any]) -> None:
        from modelport.runtimes.pfa.coercion import coerce

        self.impl = resolution.impl
        self.free = free
        self.type = FcnType(tuple(resolution.targets[i] for i in free), resolution.ret)
        self.filled: dict[int, Any] = {}
        for i, arg in enumerate(args):
            if i in free:
                continue
            self.filled[i] = resolution.fcn_args[i] if isinstance(arg, FcnArg) else coerce(arg, resolution.targets[i])
        self.captures = any(f.captures if isinstance(f, FcnArg) else not f.is_const for f in self.filled.values())
        self.size = len(args)

    def _merge(self, filled: dict[int, Any], args: Sequence[Any]) -> list[Any]:
        merged = dict(filled)
        merged.update(zip(self.free, args, strict=True))
        return [merged[i] for i in range(self.size)]

    def bind(self, frame: list[Any]) -> Callable[..., Any]:
        filled = {i: f.bind(frame) if isinstance(f, FcnArg) else f.run(frame) for i, f in self.filled.items()}
        scalar = self.impl.scalar
        return lambda *args: scalar(*self._merge(filled, args))

    def vector_form(self) -> Callable[..., Any]:
        filled = {i: f.bound() if isinstance(f, FcnArg) else f.const for i, f in self.filled.items()}
        impl, ret = self.impl, self.type.ret

        def vector(n: int, *args: Any) -> Any:
            merged = self._merge(filled, args)
            if impl.vector is not None:
                return impl.vector(*merged)
            return apply_rows(impl.scalar, merged, n, ret)

        return vector


class UserRef(FcnArg):
    """``{"fcn": "u.f"}``."""

    def __init__(self, function: UserFunction) -> None:
        self.function = function
        self.type = function.type

    def bind(self, frame: list[Any]) -> Callable[..., Any]:
        return self.function.call

    def vector_form(self) -> Callable[..., Any]:
        f = self.function

        def vector(n: int, *args: Any) -> Any:
            if f.batchable:
                return f.call_vector(n, *args)
            return apply_rows(f.call, args, n, f.type.ret)

        return vector


class PartialUserRef(FcnArg):
    """``{"fcn": "u.f", "fill": {"p": expr}}``: some parameters given now."""

    def __init__(self, function: UserFunction, fills: dict[int, Node]) -> None:
        self.function = function
        self.fills = fills
        self.free = [i for i in range(len(function.param_names)) if i not in fills]
        self.type = FcnType(tuple(function.type.params[i] for i in self.free), function.type.ret)
        self.captures = not all(node.is_const for node in fills.values())

    def _merge(self, filled: dict[int, Any], args: Sequence[Any]) -> list[Any]:
        merged = dict(filled)
        merged.update(zip(self.free, args, strict=False))
        return [merged[i] for i in range(len(self.function.param_names))]

    def bind(self, frame: list[Any]) -> Callable[..., Any]:
        filled = {i: node.run(frame) for i, node in self.fills.items()}
        call = self.function.call
        return lambda *args: call(*self._merge(filled, args))

    def vector_form(self) -> Callable[..., Any]:
        filled = {i: node.const for i, node in self.fills.items()}
        f = self.function

        def vector(n: int, *args: Any) -> Any:
            merged = self._merge(filled, args)
            if f.batchable:
                return f.call_vector(n, *merged)
            return apply_rows(f.call, merged, n, f.type.ret)

        return vector


class InlineFcn(FcnArg):
    """``{"params": [...], "ret": T, "do": [...]}`` written in argument position."""

    def __init__(self, fcn_type: FcnType, layout: FrameLayout, body: Node) -> None:
        self.type = fcn_type
        self.layout = layout
        self.body = body
        self.captures = layout.captures

    def bind(self, frame: list[Any]) -> Callable[..., Any]:
        size, run = self.layout.size, self.body.run

        def call(*args: Any) -> Any:
            own: list[Any] = [None] * size
            own[0] = frame
            own[1 : 1 + len(args)] = args
            return run(own)

        return call

    def vector_form(self) -> Callable[..., Any]:
        size, body, ret, call = self.layout.size, self.body, self.type.ret, self.bind(None)  # type: ignore[arg-type]

        def vector(n: int, *args: Any) -> Any:
            if vectorizable(body):
                slots: list[Any] = [None] * size
                slots[1 : 1 + len(args)] = args
                return body.vec(VFrame(slots, n))  # type: ignore[misc]
            return apply_rows(call, args, n, ret)

        return vector
