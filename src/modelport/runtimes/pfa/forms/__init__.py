"""PFA special forms, recognised by their exact set of keys."""

from __future__ import annotations

from modelport.runtimes.pfa.forms import access, control, effects, literals, symbols, unions


def _keys(*names: str) -> frozenset[str]:
    return frozenset(names)


FORMS = {
    _keys("int"): literals.compile_int,
    _keys("long"): literals.compile_long,
    _keys("float"): literals.compile_float,
    _keys("double"): literals.compile_double,
    _keys("string"): literals.compile_string,
    _keys("base64"): literals.compile_base64,
    _keys("type", "value"): literals.compile_typed_value,
    _keys("new", "type"): literals.compile_new,
    _keys("do"): control.compile_do,
    _keys("let"): symbols.compile_let,
    _keys("set"): symbols.compile_set,
    _keys("attr", "path"): access.compile_attr,
    _keys("attr", "path", "to"): access.compile_attr,
    _keys("cell"): access.compile_cell,
    _keys("cell", "path"): access.compile_cell,
    _keys("cell", "to"): access.compile_cell,
    _keys("cell", "path", "to"): access.compile_cell,
    _keys("pool", "path"): access.compile_pool,
    _keys("pool", "path", "to", "init"): access.compile_pool,
    _keys("pool", "del"): access.compile_pool,
    _keys("if", "then"): control.compile_if,
    _keys("if", "then", "else"): control.compile_if,
    _keys("cond"): control.compile_cond,
    _keys("cond", "else"): control.compile_cond,
    _keys("while", "do"): control.compile_while,
    _keys("do", "until"): control.compile_do_until,
    _keys("for", "while", "step", "do"): control.compile_for,
    _keys("foreach", "in", "do"): control.compile_foreach,
    _keys("foreach", "in", "do", "seq"): control.compile_foreach,
    _keys("forkey", "forval", "in", "do"): control.compile_forkeyval,
    _keys("cast", "cases"): unions.compile_cast,
    _keys("cast", "cases", "partial"): unions.compile_cast,
    _keys("upcast", "as"): unions.compile_upcast,
    _keys("ifnotnull", "then"): unions.compile_ifnotnull,
    _keys("ifnotnull", "then", "else"): unions.compile_ifnotnull,
    _keys("try"): unions.compile_try,
    _keys("try", "filter"): unions.compile_try,
    _keys("doc"): effects.compile_doc,
    _keys("error"): effects.compile_error,
    _keys("error", "code"): effects.compile_error,
    _keys("log"): effects.compile_log,
    _keys("log", "namespace"): effects.compile_log,
    _keys("emit"): effects.refuse("'emit' (only method 'map' is supported)"),
    _keys("pack"): effects.refuse("'pack'"),
    _keys("unpack", "format", "then"): effects.refuse("'unpack'"),
    _keys("unpack", "format", "then", "else"): effects.refuse("'unpack'"),
    _keys("call", "args"): effects.refuse("'call' (calling a function chosen at run time)"),
    _keys("fcn"): effects.misplaced('a function reference {"fcn": ...}'),
    _keys("fcn", "fill"): effects.misplaced('a function reference {"fcn": ...}'),
    _keys("params", "ret", "do"): effects.misplaced('a function definition {"params", "ret", "do"}'),
}
