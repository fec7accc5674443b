"""Editing converted ONNX graphs: the standard input and output names.

The converters (skl2onnx, onnxmltools) name a graph's tensors their own way;
these helpers give the graph the names every runtime shares (see
:mod:`modelport.runtimes.base`) before the bytes are stored.  They import
``onnx`` (the ``[onnx]`` extra) but not ONNX Runtime, so the format modules
import this one inside their ``to_onnx``, where that extra is already needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import onnx

from modelport.errors import Internal

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
