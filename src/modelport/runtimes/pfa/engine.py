"""The PFA scoring engine: a compiled document (method ``map``).

    engine = PfaEngine.from_document(open("model.pfa").read())
    engine.action({"x": 1.0, "y": 2.0})              # one record -> one value
    engine.action_batch({"x": xs, "y": ys}, len(xs))  # columns -> columns

A batch is evaluated with numpy over whole columns when every expression in
the action has a batch form (:attr:`PfaEngine.vectorized`), else record by
record; both give identical results.  The engine holds no mutable state:
cells and pools are read-only, so one engine may score from many threads.
``begin`` and ``end`` are type-checked but never run (no state to set up).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from modelport.errors import InvalidArgument
from modelport.runtimes.pfa.columns import input_vector, output_columns
from modelport.runtimes.pfa.compiler import Cell, Compiler
from modelport.runtimes.pfa.document import check_top_level, load_document
from modelport.runtimes.pfa.errors import PfaSyntaxError, PfaUnsupported, join_path
from modelport.runtimes.pfa.node import Node, vectorizable
from modelport.runtimes.pfa.schema import TypeRegistry
from modelport.runtimes.pfa.scope import FrameLayout, Scope
from modelport.runtimes.pfa.types import AvroType, MapType, accepts
from modelport.runtimes.pfa.userfcn import UserFunction
from modelport.runtimes.pfa.values import ValueMismatch, convert, decode_json
from modelport.runtimes.pfa.vector import VFrame, VRecord, broadcast, from_rows, row_values

Mode = Literal["auto", "vector", "record"]

#: up to this many rows "auto" scores record by record: numpy's per-call
#: overhead outweighs the work (both paths give identical results)
SMALL_BATCH = 8


class PfaEngine:
    """A compiled, type-checked PFA document."""

    def __init__(
        self,
        *,
        name: str,
        input_type: AvroType,
        output_type: AvroType,
        action: Node,
        layout: FrameLayout,
        metadata: dict[str, str],
        options: dict[str, Any],
    ) -> None:
        self.name = name
        self.input_type = input_type
        self.output_type = output_type
        self.metadata = metadata
        self.options = options
        self._action = action
        self._layout = layout
        self.vectorized = vectorizable(action)

    @classmethod
    def from_document(cls, document: dict[str, Any] | str | bytes) -> PfaEngine:
        """Parse (JSON or YAML), type-check and compile a PFA document."""
        data = load_document(document)
        check_top_level(data)
        types = TypeRegistry()
        types.prescan(data)
        types.resolve_declarations()
        compiler = Compiler(types)
        input_type = types.parse(data["input"], "input")
        output_type = types.parse(data["output"], "output")
        _read_cells(compiler, data.get("cells", {}))
        _read_pools(compiler, data.get("pools", {}))
        _declare_functions(compiler, data.get("fcns", {}))
        for section in ("begin", "end"):
            if section in data:
                compiler.compile_block(data[section], section, Scope(FrameLayout()))
        layout = FrameLayout()
        scope = Scope(layout)
        scope.declare("input", input_type)
        action = compiler.compile_block(data["action"], "action", scope)
        if not accepts(output_type, action.type):
            raise PfaSyntaxError(
                f"the action returns {action.type.describe()}, but 'output' declares {output_type.describe()}", "action"
            )
        from modelport.runtimes.pfa.coercion import coerce

        engine = cls(
            name=data.get("name", "pfa"),
            input_type=input_type,
            output_type=output_type,
            action=coerce(action, output_type),
            layout=layout,
            metadata=dict(data.get("metadata", {})),
            options=dict(data.get("options", {})),
        )
        # Settle batchability now, single-threaded, so scoring only reads it.
        for function in compiler.functions.values():
            vectorizable(function)
        for inline in compiler.inline_functions:
            vectorizable(inline.body)
        return engine

    # ------------------------------------------------------------ scoring

    def action(self, record: Any) -> Any:
        """Score one input value (a dict for a record input); returns a plain value."""
        try:
            value = convert(self.input_type, record, "input", tagged_unions=False)
        except ValueMismatch as exc:
            raise InvalidArgument(
                f"input does not match the document's input type: {exc.reason} (at {exc.path})"
            ) from None
        return self._run(value)

    def _run(self, value: Any) -> Any:
        frame: list[Any] = [None] * self._layout.size
        frame[1] = value
        with np.errstate(all="ignore"):
            return self._action.run(frame)

    def action_batch(
        self, columns: Mapping[str, Any] | np.ndarray, n_rows: int | None = None, *, mode: Mode = "auto"
    ) -> dict[str, np.ndarray] | np.ndarray:
        """Score a batch given as columns.

        A record input takes one column per field; any other input one array
        (or ``{"input": array}``).  Returns one column per field of a record
        output, else a single array (see :mod:`columns` for the dtypes).
        ``mode`` forces ``"vector"`` (numpy over columns) or ``"record"``
        (one record at a time); ``"auto"`` picks vector when it can and the
        batch is larger than :data:`SMALL_BATCH` rows.
        """
        if n_rows is None:
            n_rows = _rows(columns)
        vector_input = input_vector(self.input_type, columns, n_rows)
        if mode not in ("auto", "vector", "record"):
            raise InvalidArgument(f"mode must be 'auto', 'vector' or 'record', not {mode!r}")
        if mode == "vector" and not self.vectorized:
            raise InvalidArgument(
                "this PFA document has no batch form (it uses loops, 'set' or similar); use mode='record'"
            )
        if n_rows == 0:
            result: Any = from_rows([], self.output_type)
        elif mode == "record" or not self.vectorized or (mode == "auto" and n_rows <= SMALL_BATCH):
            result = from_rows([self._run(v) for v in row_values(vector_input, n_rows)], self.output_type)
        else:
            slots: list[Any] = [None] * self._layout.size
            slots[1] = vector_input
            with np.errstate(all="ignore"):
                result = broadcast(self._action.vec(VFrame(slots, n_rows)), n_rows, self.output_type)  # type: ignore[misc]
        return _unshared(output_columns(self.output_type, result, n_rows), vector_input)


def _unshared(result: dict[str, np.ndarray] | np.ndarray, vector_input: Any) -> dict[str, np.ndarray] | np.ndarray:
    """Copy output columns that are input columns passed straight through.

    The caller owns its inputs; writing to a result must not change them.
    """
    inputs = {id(v) for v in (vector_input.fields.values() if isinstance(vector_input, VRecord) else [vector_input])}
    if isinstance(result, dict):
        return {k: v.copy() if id(v) in inputs else v for k, v in result.items()}
    return result.copy() if id(result) in inputs else result


def _rows(columns: Mapping[str, Any] | np.ndarray) -> int:
    if isinstance(columns, Mapping):
        for value in columns.values():
            return len(value)
        return 0
    return len(columns)


def _read_cells(compiler: Compiler, cells: dict[str, Any]) -> None:
    for name, spec in cells.items():
        path = join_path("cells", name)
        _check_storage(name, spec, path, {"type", "init", "shared", "rollback", "source"}, needs_init=True)
        avro_type = compiler.parse_type(spec["type"], join_path(path, "type"))
        compiler.cells[name] = Cell(avro_type, decode_json(avro_type, spec["init"], join_path(path, "init")))


def _read_pools(compiler: Compiler, pools: dict[str, Any]) -> None:
    for name, spec in pools.items():
        path = join_path("pools", name)
        _check_storage(name, spec, path, {"type", "init", "shared", "rollback", "source"}, needs_init=False)
        avro_type = compiler.parse_type(spec["type"], join_path(path, "type"))
        init = decode_json(MapType(avro_type), spec.get("init", {}), join_path(path, "init"))
        compiler.pools[name] = Cell(avro_type, init)


def _check_storage(name: str, spec: Any, path: str, allowed: set[str], *, needs_init: bool) -> None:
    from modelport.runtimes.pfa.forms.symbols import _valid

    if not _valid(name):
        raise PfaSyntaxError(f"{name!r} is not a valid cell or pool name", path)
    if not isinstance(spec, dict) or "type" not in spec or (needs_init and "init" not in spec):
        raise PfaSyntaxError("needs 'type'" + (" and 'init'" if needs_init else ""), path)
    extra = sorted(set(spec) - allowed)
    if extra:
        raise PfaSyntaxError(f"unexpected field {extra[0]!r}", path)
    source = spec.get("source", "embedded")
    if source != "embedded":
        raise PfaUnsupported(f"{name!r}: source {source!r} is unsupported (initial values must be embedded)", path)
    for flag in ("shared", "rollback"):
        if flag in spec and not isinstance(spec[flag], bool):
            raise PfaSyntaxError(f"{flag!r} must be true or false", join_path(path, flag))


def _declare_functions(compiler: Compiler, fcns: dict[str, Any]) -> None:
    """Declare every ``fcns`` signature, then compile the bodies (they may call each other)."""
    from modelport.runtimes.pfa.compiler import FUNCTION_NAME

    pending = []
    for key, spec in fcns.items():
        path = join_path("fcns", key)
        if not FUNCTION_NAME.match(key) or key.startswith("u."):
            raise PfaSyntaxError(f"{key!r} is not a valid function name", path)
        if not isinstance(spec, dict) or set(spec) != {"params", "ret", "do"}:
            raise PfaSyntaxError("a function needs exactly 'params', 'ret' and 'do'", path)
        scope = Scope(FrameLayout())
        names, param_types = compiler.declare_params(spec["params"], join_path(path, "params"), scope)
        ret = compiler.parse_type(spec["ret"], join_path(path, "ret"))
        function = UserFunction("u." + key, names, param_types, ret)
        function.layout = scope.layout
        compiler.functions[function.name] = function
        pending.append((function, spec, path, scope))
    for function, spec, path, scope in pending:
        function.body = compiler.function_body(spec["do"], join_path(path, "do"), scope, function.type.ret)
