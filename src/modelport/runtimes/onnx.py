"""ONNX models on ONNX Runtime (CPU).

Columns reach the graph in one of two ways, decided once at load:

- *by name*: every graph input is a signature column (a converted pipeline
  with string columns has one ``[N, 1]`` input per column); 1-D columns are
  reshaped to ``[N, 1]`` when the graph wants rank 2;
- *stacked*: the graph has a single ``[N, k]`` input and the signature lists
  ``k`` numeric columns; they are stacked in signature order (also when one
  column shares the input's name, as a feature called ``input`` does with a
  converted booster's or PyTorch model's ``input``).

Without a stored signature, the signature is the graph's own inputs and
outputs (an ``X`` of shape ``[-1, 4]`` stays one tensor).  ZipMap outputs
(lists of dicts) are turned into plain ``[N, k]`` probability matrices.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from modelport.errors import InvalidArgument, ModelFailure
from modelport.runtimes.base import PROBABILITIES, Runtime, first_line, import_optional, stack_columns
from modelport.runtimes.onnx_trees import Forest, native_forest
from modelport.signature import Batch, ColumnSpec, Signature

ORT_DTYPES: dict[str, str] = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "string",
}


def _ort() -> Any:
    return import_optional("onnxruntime", extra="onnx", what="ONNX models")


def _shape(dims: list[Any]) -> tuple[int, ...]:
    out = tuple(d if isinstance(d, int) and d > 0 else -1 for d in dims)
    return out or (-1,)


def _spec(arg: Any) -> ColumnSpec | None:
    dtype = ORT_DTYPES.get(arg.type)
    if dtype is None:
        return None
    return ColumnSpec(name=arg.name, dtype=dtype, shape=_shape(list(arg.shape)))


def session_options(options: Mapping[str, Any] | None) -> Any:
    ort = _ort()
    opts = ort.SessionOptions()
    options = options or {}
    # One intra-op thread per session by default: servers get their
    # parallelism from concurrent requests, and 2 cores are easily oversubscribed.
    opts.intra_op_num_threads = int(options.get("intra_op_threads", options.get("threads", 1)))
    opts.inter_op_num_threads = int(options.get("inter_op_threads", 1))
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return opts


class OnnxRuntime(Runtime):
    format: ClassVar[str] = "onnx"
    options: ClassVar[Mapping[str, str]] = {
        "threads": "intra-op threads per call (default 1)",
        "intra_op_threads": "ONNX Runtime's intra_op_num_threads (default: threads)",
        "inter_op_threads": "ONNX Runtime's inter_op_num_threads (default 1)",
        "native_trees": "score tree ensembles with modelport's kernel where bit-identical (default true)",
    }

    def __init__(self, session: Any, signature: Signature, trees: Forest | None = None) -> None:
        super().__init__(signature)
        self.session = session
        self._inputs = {i.name: i for i in session.get_inputs()}
        self._input_dtypes = {name: _numpy_type(i.type) for name, i in self._inputs.items()}
        self._outputs = [o.name for o in session.get_outputs()]
        self._zipmap = {o.name for o in session.get_outputs() if o.type.startswith("seq(map")}
        self._stack: list[str] | None = None
        names = signature.input_names
        if names and len(self._inputs) == 1 and _stacks(next(iter(self._inputs.values())), names):
            self._stack = names
        elif names and not set(self._inputs) <= set(names):
            raise InvalidArgument(
                f"the signature's columns ({', '.join(names)}) do not match the ONNX graph inputs "
                f"({', '.join(self._inputs)})"
            )
        self._squeeze = {
            spec.name for spec in signature.outputs if len(spec.shape) == 1 and spec.name in self._outputs
        }
        # a tree ensemble that modelport's kernel scores exactly as ONNX Runtime does (onnx_trees)
        self.trees = trees if trees is not None and trees.outputs == self._outputs and len(self._inputs) == 1 else None

    @property
    def engine(self) -> str:
        """What scores the model: ``"onnxruntime"``, or ``"native trees"`` (bit-identical, faster)."""
        return "native trees" if self.trees is not None else "onnxruntime"

    @classmethod
    def load(
        cls, path: Path, *, signature: Signature | None = None, options: Mapping[str, Any] | None = None
    ) -> OnnxRuntime:
        ort = _ort()
        try:
            session = ort.InferenceSession(
                os.fspath(path), sess_options=session_options(options), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own pybind classes; all mean "not a usable model"
            raise InvalidArgument(f"not a valid ONNX model: {first_line(exc)}") from None
        if signature is None or signature.is_empty:
            signature = cls.graph_signature(session)
        return cls(session, signature, native_forest(path, session, dict(options or {})))

    @staticmethod
    def graph_signature(session: Any) -> Signature:
        inputs = [_spec(i) for i in session.get_inputs()]
        if any(s is None for s in inputs):
            bad = [i.type for i in session.get_inputs() if _spec(i) is None]
            raise InvalidArgument(f"unsupported ONNX input type(s): {', '.join(bad)}")
        outputs = []
        for o in session.get_outputs():
            spec = _spec(o)
            if spec is None and o.type.startswith("seq(map"):
                spec = ColumnSpec(name=o.name, dtype="float32", shape=(-1, -1))
            if spec is not None:
                outputs.append(spec)
        return Signature(inputs=tuple(s for s in inputs if s), outputs=tuple(outputs))

    def feeds(self, batch: Batch) -> dict[str, np.ndarray]:
        if self._stack is not None:
            (name,) = self._inputs
            arr = stack_columns(batch, self._stack)
            return {name: arr.astype(self._input_dtypes[name], copy=False)}
        out = {}
        for name, arg in self._inputs.items():
            arr = np.asarray(batch[name])
            if len(arg.shape) == 2 and arr.ndim == 1:
                arr = arr.reshape(-1, 1)
            want = self._input_dtypes[name]
            if want is object:
                arr = arr.astype(str).astype(object) if arr.dtype.kind != "O" else arr
            else:
                arr = arr.astype(want, copy=False)
            out[name] = arr
        return out

    def predict(self, batch: Batch) -> Batch:
        feeds = self.feeds(batch)
        results: list[Any]
        try:
            if self.trees is not None and self.trees.takes(arr := next(iter(feeds.values()))):
                results = self.trees(arr)
            else:
                results = self.session.run(self._outputs, feeds)
        except Exception as exc:
            name = type(exc).__name__
            message = first_line(exc)
            if name in ("InvalidArgument", "InvalidGraph", "Fail") and "input" in message.lower():
                raise InvalidArgument(f"the ONNX model rejected the input: {message}") from None
            raise ModelFailure(f"the ONNX model failed: {message}") from None
        out: Batch = {}
        for name, value in zip(self._outputs, results, strict=True):
            if name in self._zipmap:
                value = _zipmap_to_matrix(value)
                name = PROBABILITIES if name == "output_probability" else name
            arr = np.asarray(value)
            if name in self._squeeze and arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
            out[name] = arr
        return out

    def close(self) -> None:
        self.session = None


def _stacks(arg: Any, names: list[str]) -> bool:
    """Whether the signature's columns are stacked into ``arg``, a graph's only input.

    They are when ``arg`` is ``[N, k]`` and not itself a column, and also when
    it is named like one of ``k > 1`` columns and is exactly ``k`` wide: a
    converted model's ``input`` stays the stacked tensor when a feature
    happens to be called ``input`` too.
    """
    if len(arg.shape) != 2:
        return False
    if arg.name not in names:
        return True
    return len(names) > 1 and arg.shape[1] == len(names)


def _numpy_type(ort_type: str) -> Any:
    dtype = ORT_DTYPES.get(ort_type)
    if dtype is None:
        raise InvalidArgument(f"unsupported ONNX input type {ort_type}")
    return object if dtype == "string" else np.dtype(dtype)


def _zipmap_to_matrix(value: list[dict[Any, float]]) -> np.ndarray:
    if not value:
        return np.zeros((0, 0), dtype=np.float32)
    keys = list(value[0])
    return np.array([[row[k] for k in keys] for row in value], dtype=np.float32)
