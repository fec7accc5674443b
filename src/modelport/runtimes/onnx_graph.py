"""Editing converted ONNX graphs: the standard input and output names.

The converters (skl2onnx, onnxmltools) name a graph's tensors their own way;
these helpers give the graph the names every runtime shares (see
:mod:`modelport.runtimes.base`) before the bytes are stored.  They import
``onnx`` (the ``[onnx]`` extra) but not ONNX Runtime, so the format modules
import this one inside their ``to_onnx``, where that extra is already needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import onnx

from modelport.errors import Internal, InvalidArgument

#: the symbolic batch dimension every renamed output gets
BATCH_DIM = "N"


def name_outputs(model: onnx.ModelProto, names: Sequence[str], opset: int) -> onnx.ModelProto:
    """Give the converter's outputs ``names`` (in order), and every output a symbolic batch dimension.

    A renamed output is produced by an Identity node (ONNX Runtime folds it
    away), so the converter's own tensor names stay untouched.  The batch
    dimension is reset because onnxmltools declares some outputs (a LightGBM
    label) as ``[1]``.  The model is checked and returned.
    """
    graph = model.graph
    if len(graph.output) != len(names):
        raise Internal(f"expected {len(names)} ONNX output(s) from the converter, got {len(graph.output)}")
    taken = {t for node in graph.node for t in (*node.input, *node.output)} | {i.name for i in graph.input}
    outputs = []
    for value, name in zip(graph.output, names, strict=True):
        renamed = onnx.ValueInfoProto()
        renamed.CopyFrom(value)
        if value.name != name:
            if name in taken:
                raise Internal(f"the converted ONNX graph already has a tensor named {name!r}")
            graph.node.append(onnx.helper.make_node("Identity", [value.name], [name], name=f"output_{name}"))
            renamed.name = name
        batch = renamed.type.tensor_type.shape.dim[0]
        batch.Clear()
        batch.dim_param = BATCH_DIM
        outputs.append(renamed)
    del graph.output[:]
    graph.output.extend(outputs)
    if not any(o.domain in ("", "ai.onnx") for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("", opset))
    onnx.checker.check_model(model)
    return model


def rename_tensors(model: onnx.ModelProto, mapping: Mapping[str, str]) -> None:
    """Rename graph inputs/outputs in place, and every node edge that uses them."""
    mapping = {old: new for old, new in mapping.items() if old != new}
    if not mapping:
        return
    graph = model.graph
    for value in (*graph.input, *graph.output):
        value.name = mapping.get(value.name, value.name)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = mapping.get(name, name)
        for i, name in enumerate(node.output):
            node.output[i] = mapping.get(name, name)


def encode_categories(
    model: onnx.ModelProto, columns: Sequence[tuple[str, str]], categories: Mapping[str, Sequence[Any]]
) -> onnx.ModelProto:
    """Give a graph that takes one float ``[N, k]`` matrix of codes one input per column instead.

    ``columns`` are the ``k`` signature columns in order, ``(name, dtype)``.
    A column with ``categories`` goes through an ``ai.onnx.ml`` LabelEncoder
    that maps each category to its code and anything else (an unknown value,
    a missing one) to NaN, as :class:`~modelport.runtimes.categories.CategoryCodes`
    does; the columns, each ``[N, 1]`` float, are concatenated into the matrix
    the rest of the graph takes.  String columns are ``tensor(string)``
    inputs, the others ``tensor(float)``.
    """
    graph = model.graph
    if len(graph.input) != 1:
        raise Internal(f"expected one ONNX input from the converter, got {len(graph.input)}")
    taken = {t for node in graph.node for t in (*node.input, *node.output)} | {o.name for o in graph.output}
    taken |= {i.name for i in graph.initializer}
    clash = [name for name, _ in columns if name in taken]
    if clash:
        raise InvalidArgument(
            f"column(s) {', '.join(map(repr, clash))} share a name with a tensor of the converted ONNX graph: "
            "register the model without --to-onnx"
        )
    features = _fresh("modelport_features", taken | {name for name, _ in columns})
    rename_tensors(model, {graph.input[0].name: features})
    del graph.input[:]
    nodes, parts = [], []
    for name, dtype in columns:
        elem = onnx.TensorProto.STRING if dtype == "string" else onnx.TensorProto.FLOAT
        graph.input.append(onnx.helper.make_tensor_value_info(name, elem, [BATCH_DIM, 1]))
        values = categories.get(name)
        if values is None:
            parts.append(name)
            continue
        code = _fresh(f"{name}_code", taken | {name for name, _ in columns} | set(parts) | {features})
        keys = {"keys_strings": [str(v) for v in values]} if dtype == "string" else {"keys_floats": [float(v) for v in values]}
        nodes.append(
            onnx.helper.make_node(
                "LabelEncoder",
                [name],
                [code],
                name=f"categories_{name}",
                domain="ai.onnx.ml",
                values_floats=[float(i) for i in range(len(values))],
                default_float=float("nan"),
                **keys,
            )
        )
        parts.append(code)
    nodes.append(onnx.helper.make_node("Concat", parts, [features], name="modelport_concat_features", axis=1))
    existing = list(graph.node)
    del graph.node[:]
    graph.node.extend([*nodes, *existing])
    for opset in model.opset_import:
        if opset.domain == "ai.onnx.ml" and opset.version < 2:  # LabelEncoder with floats: ai.onnx.ml 2
            opset.version = 2
    onnx.checker.check_model(model)
    return model


def _fresh(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``… when it is taken."""
    candidate, i = name, 1
    while candidate in taken:
        i += 1
        candidate = f"{name}_{i}"
    return candidate
