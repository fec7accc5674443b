"""Turning PFA expressions (JSON) into typed :class:`Node` closures.

The compiler type-checks as it goes: every error names the place in the
document (``action[0].let.x``) and what is wrong there.  Special forms live
in :mod:`forms`, one module per family; this module dispatches on an
expression's keys, resolves symbols and compiles function calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from modelport.runtimes.pfa import library
from modelport.runtimes.pfa.coercion import coerce
from modelport.runtimes.pfa.errors import PfaSyntaxError, PfaUnsupported, join_path
from modelport.runtimes.pfa.fcnargs import FcnArg, InlineFcn, LibraryPartial, LibraryRef, PartialUserRef, UserRef
from modelport.runtimes.pfa.library.signature import Mismatch
from modelport.runtimes.pfa.node import Node, constant
from modelport.runtimes.pfa.schema import TypeRegistry
from modelport.runtimes.pfa.scope import Scope
from modelport.runtimes.pfa.types import NULL, AvroType, FcnType, accepts
from modelport.runtimes.pfa.userfcn import UserFunction
from modelport.runtimes.pfa.vector import apply_rows, is_rowwise

SYMBOL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FUNCTION_NAME = re.compile(r"^[A-Za-z_]([A-Za-z0-9_]|\.[A-Za-z][A-Za-z0-9_]*)*$")

#: keys that mark a special form, never a function call
RESERVED_KEYS = frozenset(
    [
        "args",
        "as",
        "attr",
        "base64",
        "call",
        "cases",
        "cast",
        "cell",
        "code",
        "cond",
        "del",
        "do",
        "doc",
        "double",
        "else",
        "emit",
        "error",
        "fcn",
        "fill",
        "filter",
        "float",
        "for",
        "foreach",
        "forkey",
        "format",
        "forval",
        "if",
        "ifnotnull",
        "in",
        "init",
        "int",
        "let",
        "log",
        "long",
        "namespace",
        "new",
        "pack",
        "params",
        "partial",
        "path",
        "pool",
        "ret",
        "seq",
        "set",
        "step",
        "string",
        "then",
        "to",
        "try",
        "type",
        "unpack",
        "until",
        "upcast",
        "value",
        "while",
    ]
)

FormCompiler = Callable[["Compiler", dict[str, Any], str, Scope], Node]


class Cell:
    """A read-only cell or pool: its type and initial value."""

    def __init__(self, avro_type: AvroType, value: Any) -> None:
        self.type = avro_type
        self.value = value


class Compiler:
    """Compiles the expressions of one document (types, cells, pools and functions shared)."""

    def __init__(self, types: TypeRegistry) -> None:
        self.types = types
        self.cells: dict[str, Cell] = {}
        self.pools: dict[str, Cell] = {}
        self.functions: dict[str, UserFunction] = {}
        #: every inline function, so the engine can settle their batchability up front
        self.inline_functions: list[InlineFcn] = []

    # ------------------------------------------------------------ types

    def parse_type(self, data: Any, path: str) -> AvroType:
        return self.types.parse(data, path)

    # ------------------------------------------------------------ expressions

    def compile(self, data: Any, path: str, scope: Scope) -> Node:
        """One expression."""
        from modelport.runtimes.pfa.forms import literals, symbols

        if data is None or isinstance(data, (bool, int, float)):
            return literals.compile_json_literal(data, path)
        if isinstance(data, str):
            return symbols.compile_reference(self, data, path, scope)
        if isinstance(data, list):
            if len(data) == 1 and isinstance(data[0], str):
                return literals.string_literal(data[0])
            raise PfaSyntaxError(
                'expected an expression, found a JSON array (write a literal array as {"type": ..., "value": [...]})',
                path,
            )
        if not isinstance(data, dict):
            raise PfaSyntaxError(f"expected an expression, found {type(data).__name__}", path)
        keys = frozenset(data)
        form = _form_for(keys)
        if form is not None:
            return form(self, data, path, scope)
        if len(keys) == 1 and not keys & RESERVED_KEYS:
            ((name, args),) = data.items()
            return self.compile_call(name, args, join_path(path, name), scope)
        raise PfaSyntaxError(f"unrecognised special form with keys {', '.join(sorted(keys))}", path)

    def compile_block(self, data: Any, path: str, scope: Scope) -> Node:
        """An expression or a list of them (``do``, ``then``, ...), in a new scope; its value is the last's."""
        from modelport.runtimes.pfa.forms.control import sequence

        items = data if isinstance(data, list) else [data]
        paths = [join_path(path, i) for i in range(len(items))] if isinstance(data, list) else [path]
        inner = scope.child()
        return sequence([self.compile(item, p, inner) for item, p in zip(items, paths, strict=False)])

    def compile_argument(self, data: Any, path: str, scope: Scope) -> Node | FcnArg:
        """A function argument: an expression or a function reference/definition."""
        if isinstance(data, dict) and ("fcn" in data or set(data) == {"params", "ret", "do"}):
            return self.compile_fcn_arg(data, path, scope)
        return self.compile(data, path, scope)

    def compile_fcn_arg(self, data: dict[str, Any], path: str, scope: Scope) -> FcnArg:
        keys = set(data)
        if keys == {"params", "ret", "do"}:
            return self._inline_function(data, path, scope)
        if keys not in ({"fcn"}, {"fcn", "fill"}):
            raise PfaSyntaxError(f"unrecognised function reference with keys {', '.join(sorted(keys))}", path)
        name = data["fcn"]
        if not isinstance(name, str) or not FUNCTION_NAME.match(name):
            raise PfaSyntaxError(f"invalid function name {name!r}", join_path(path, "fcn"))
        if name.startswith("u."):
            function = self._user_function(name, join_path(path, "fcn"))
            if "fill" not in data:
                return UserRef(function)
            return self._partial(function, data["fill"], join_path(path, "fill"), scope)
        found = library.lookup(name)
        if found is None:
            raise PfaUnsupported(f"unsupported PFA function {name!r}", join_path(path, "fcn"))
        if "fill" not in data:
            return LibraryRef(found)
        fill, where = data["fill"], join_path(path, "fill")
        if not isinstance(fill, dict) or not fill:
            raise PfaSyntaxError("'fill' must map parameter names to arguments", where)
        if not any(sig.names for sig in found.sigs):
            raise PfaUnsupported(f"'fill' on {name!r} is unsupported; wrap the call in a u.* function", path)
        arg_scope = scope.child(sealed_above=True, sealed_within=True)
        fills = {k: self.compile_argument(v, join_path(where, k), arg_scope) for k, v in fill.items()}
        return LibraryPartial(found, fills)

    def _partial(self, function: UserFunction, fill: Any, path: str, scope: Scope) -> PartialUserRef:
        if not isinstance(fill, dict) or not fill:
            raise PfaSyntaxError("'fill' must map parameter names to expressions", path)
        fills = {}
        arg_scope = scope.child(sealed_above=True, sealed_within=True)
        for pname, expr in fill.items():
            if pname not in function.param_names:
                raise PfaSyntaxError(f"{function.name} has no parameter {pname!r}", join_path(path, pname))
            index = function.param_names.index(pname)
            node = self.compile(expr, join_path(path, pname), arg_scope)
            expected = function.type.params[index]
            if not accepts(expected, node.type):
                raise PfaSyntaxError(
                    f"{function.name} parameter {pname!r} is {expected.describe()}, not {node.type.describe()}",
                    join_path(path, pname),
                )
            fills[index] = coerce(node, expected)
        return PartialUserRef(function, fills)

    def _inline_function(self, data: dict[str, Any], path: str, scope: Scope) -> InlineFcn:
        inner = scope.function_scope()
        _, types = self.declare_params(data["params"], join_path(path, "params"), inner)
        ret = self.parse_type(data["ret"], join_path(path, "ret"))
        body = self.function_body(data["do"], join_path(path, "do"), inner, ret)
        fcn = InlineFcn(FcnType(tuple(types), ret), inner.layout, body)
        self.inline_functions.append(fcn)
        return fcn

    def declare_params(self, params: Any, path: str, scope: Scope) -> tuple[list[str], list[AvroType]]:
        """Declare ``[{"x": type}, ...]`` in a fresh function scope (slots 1..k in order)."""
        if not isinstance(params, list):
            raise PfaSyntaxError("'params' must be a list of {name: type} objects", path)
        names: list[str] = []
        types: list[AvroType] = []
        for i, param in enumerate(params):
            where = join_path(path, i)
            if not isinstance(param, dict) or len(param) != 1:
                raise PfaSyntaxError("each parameter must be a single {name: type} pair", where)
            ((name, tdata),) = param.items()
            if not SYMBOL.match(name):
                raise PfaSyntaxError(f"{name!r} is not a valid symbol name", where)
            if name in names or scope.lookup(name) is not None:
                raise PfaSyntaxError(f"symbol {name!r} may not be redeclared or shadowed", where)
            ptype = self.parse_type(tdata, join_path(where, name))
            scope.declare(name, ptype)
            names.append(name)
            types.append(ptype)
        return names, types

    def function_body(self, data: Any, path: str, scope: Scope, ret: AvroType) -> Node:
        body = self.compile_block(data, path, scope)
        if not accepts(ret, body.type):
            raise PfaSyntaxError(
                f"function body returns {body.type.describe()}, but 'ret' declares {ret.describe()}", path
            )
        return coerce(body, ret)

    def _user_function(self, name: str, path: str) -> UserFunction:
        if name not in self.functions:
            known = ", ".join(sorted(self.functions)) or "none"
            raise PfaSyntaxError(f"unknown user function {name!r} (defined: {known})", path)
        return self.functions[name]

    # ------------------------------------------------------------ calls

    def compile_call(self, name: str, raw_args: Any, path: str, scope: Scope) -> Node:
        from modelport.runtimes.pfa.forms import logic

        items = raw_args if isinstance(raw_args, list) else [raw_args]
        if name in library.LAZY_OPERATORS:
            return logic.compile_lazy(self, name, items, path, scope)
        arg_scope = scope.child(sealed_above=True, sealed_within=True)
        if name.startswith("u."):
            function = self._user_function(name, path)
            args = [self.compile(a, join_path(path, i), arg_scope) for i, a in enumerate(items)]
            return self._call_user(function, args, path)
        found = library.lookup(name)
        if found is None:
            raise PfaUnsupported(f"unsupported PFA function {name!r}", path)
        lib_args = [self.compile_argument(a, join_path(path, i), arg_scope) for i, a in enumerate(items)]
        try:
            resolution = found.resolve(lib_args)
        except Mismatch as exc:
            if found.partial:
                raise PfaUnsupported(
                    f"{name}: {exc} (modelport implements only some of its signatures)", path
                ) from None
            raise PfaSyntaxError(f"{name}: {exc}", path) from None
        getters: list[Any] = []
        for i, arg in enumerate(lib_args):
            if isinstance(arg, FcnArg):
                getters.append(resolution.fcn_args[i])
            else:
                target = resolution.targets[i]
                getters.append(coerce(arg, target) if target is not None else arg)
        return _library_call(found, resolution.impl, resolution.ret, getters)

    def _call_user(self, function: UserFunction, args: list[Node], path: str) -> Node:
        params = function.type.params
        if len(args) != len(params):
            raise PfaSyntaxError(f"{function.name} expects {len(params)} arguments, got {len(args)}", path)
        nodes = []
        for i, (arg, expected) in enumerate(zip(args, params, strict=False)):
            if not accepts(expected, arg.type):
                raise PfaSyntaxError(
                    f"{function.name} argument {i + 1} ({function.param_names[i]}) must be {expected.describe()}, "
                    f"not {arg.type.describe()}",
                    join_path(path, i),
                )
            nodes.append(coerce(arg, expected))
        runs = [n.run for n in nodes]
        vecs = [n.vec for n in nodes]
        call, ret = function.call, function.type.ret

        def run(frame: list[Any]) -> Any:
            return call(*[r(frame) for r in runs])

        def vec(vframe: Any) -> Any:
            values = [v(vframe) for v in vecs]  # type: ignore[misc]
            if function.batchable:
                return function.call_vector(vframe.n, *values)
            # Arguments cannot modify the caller's symbols, so row by row is safe.
            return apply_rows(call, values, vframe.n, ret)

        return Node(ret, run, vec if all(v is not None for v in vecs) else None, children=nodes, pure=False)


def _library_call(function: library.LibFunction, impl: Any, ret: AvroType, getters: list[Any]) -> Node:
    nodes = [g for g in getters if isinstance(g, Node)]
    fcn_args = [g for g in getters if isinstance(g, FcnArg)]
    scalar = impl.scalar
    if function.pure and not fcn_args and all(n.is_const for n in nodes):
        try:
            return constant(ret, scalar(*[n.const for n in nodes]))
        except Exception:
            # A constant that fails ({"//": [1, 0]}) stays a runtime error,
            # raised for the rows that reach it, as the document says.
            pass
    run = _runner(scalar, getters)
    vec = None
    if not any(f.captures for f in fcn_args) and all(n.vec is not None for n in nodes):
        vec = _vectorised(impl, ret, getters)
    return Node(ret, run, vec, children=nodes, pure=function.pure)


def _runner(scalar: Callable[..., Any], getters: list[Any]) -> Callable[[list[Any]], Any]:
    if all(isinstance(g, Node) for g in getters):
        runs = [g.run for g in getters]
        if len(runs) == 0:
            return lambda frame: scalar()
        if len(runs) == 1:
            (a,) = runs
            return lambda frame: scalar(a(frame))
        if len(runs) == 2:
            a, b = runs
            return lambda frame: scalar(a(frame), b(frame))
        return lambda frame: scalar(*[r(frame) for r in runs])
    parts = [g.run if isinstance(g, Node) else g.bind for g in getters]
    return lambda frame: scalar(*[p(frame) for p in parts])


def _vectorised(impl: Any, ret: AvroType, getters: list[Any]) -> Callable[[Any], Any]:
    parts: list[Callable[[Any], Any]] = []
    for g in getters:
        if isinstance(g, Node):
            parts.append(g.vec)  # type: ignore[arg-type]
        else:
            parts.append(_always(g.bound()))
    scalar, vector = impl.scalar, impl.vector

    def vec(vframe: Any) -> Any:
        values = [p(vframe) for p in parts]
        if not any(is_rowwise(v) for v in values):
            return scalar(*values)
        if vector is not None:
            return vector(*values)
        return apply_rows(scalar, values, vframe.n, ret)

    return vec


def _always(value: Any) -> Callable[[Any], Any]:
    def get(vframe: Any) -> Any:
        return value

    return get


def _form_for(keys: frozenset[str]) -> FormCompiler | None:
    from modelport.runtimes.pfa.forms import FORMS

    return FORMS.get(keys)


def null_node() -> Node:
    return constant(NULL, None)
