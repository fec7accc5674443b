"""PyTorch models: TorchScript archives and whole ``nn.Module`` saves.

A PyTorch file arrives as TorchScript (``torch.jit.save``) or as a module
pickled whole (``torch.save(model)``).  modelport converts it to ONNX at
registration (:func:`to_onnx`) and serves the ONNX; this runtime scores the
original, for the parity check and for downloads that want it back.

A torch model declares no inputs, so it needs a signature from the caller
(built from a sample): its ``k`` numeric columns are stacked, in signature
order, into one ``[n, k]`` tensor of the model's floating dtype (float32
unless the parameters say otherwise).  A single tensor output is named
``output``; a tuple of tensors becomes ``output_0``, ``output_1``, …  Shapes
are the model's own: an ``[n, 1]`` output stays ``(n, 1)`` unless the
signature declares that output 1-D (as :class:`OnnxRuntime` does).

``torch`` is imported only when a model is loaded, so recognising a file
(:func:`modelport.formats.sniff_format`) works without the ``[torch]`` extra.  The intra-op thread count
(``torch.set_num_threads``) is process-global: it belongs to server start-up,
not to one model, and this runtime never touches it.
"""

from __future__ import annotations

import io
import itertools
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from modelport.errors import InvalidArgument, ModelFailure
from modelport.formats import TORCH_LEGACY_MAGIC as _LEGACY_MAGIC
from modelport.formats import is_torch_archive
from modelport.runtimes.base import Runtime, as_2d_float, first_line, import_optional
from modelport.signature import Batch, Signature, batch_rows

OUTPUT = "output"
INPUT = "input"


_EXPECTED = "expected a TorchScript archive (torch.jit.save) or a whole nn.Module saved with torch.save(model)"

#: rows of the sample that are traced for the ONNX export (the batch axis is dynamic)
_EXPORT_ROWS = 16


def _torch() -> Any:
    return import_optional("torch", extra="torch", what="PyTorch models")


def _zip_names(path: Path) -> list[str] | None:
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return None


def _is_torchscript(names: list[str]) -> bool:
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)


def _check_file(path: Path) -> bool:
    """Refuse what is not a torch file with a one-liner; return whether it is TorchScript."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_LEGACY_MAGIC))
    except OSError as exc:
        raise InvalidArgument(f"cannot read the PyTorch model {path.name!r}: {exc.strerror or exc}") from None
    if head == _LEGACY_MAGIC:
        return False
    if head.startswith(b"PK\x03\x04"):
        names = _zip_names(path)
        if names is None:
            raise InvalidArgument(f"{path.name!r} is a truncated or corrupt zip archive: {_EXPECTED}")
        if is_torch_archive(names):
            return _is_torchscript(names)
    raise InvalidArgument(f"{path.name!r} is not a PyTorch model: {_EXPECTED}")


def _float_dtype(module: Any, torch: Any) -> Any:
    """The dtype the model computes in: that of its first floating parameter or buffer, else float32."""
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


class TorchRuntime(Runtime):
    """A TorchScript or pickled ``nn.Module`` in eval mode, scored under ``torch.inference_mode()``.

    Whole-module files are unpickled (``torch.load(weights_only=False)``), which
    runs code from the file.  That is acceptable only because modelport loads
    artifacts exclusively from its own store, after the sha256 recorded at
    registration has been checked, so the bytes that run are the bytes the
    registering user uploaded.  The module's class is pickled by reference: its
    Python module must be importable where the model is served.

    Thread-safe: ``predict`` keeps no state and an eval-mode module's forward
    does not mutate it; torch releases the GIL inside its kernels.
    """

    format: ClassVar[str] = "torch"
    needs_signature: ClassVar[bool] = True

    def __init__(self, module: Any, signature: Signature) -> None:
        if not signature.inputs:
            raise InvalidArgument("a PyTorch model needs --sample or --signature to know its inputs")
        text = [c.name for c in signature.inputs if c.dtype == "string"]
        if text:
            raise InvalidArgument(
                f"a PyTorch model takes numeric columns, stacked into one tensor; string column(s): {', '.join(text)}"
            )
        super().__init__(signature)
        torch = _torch()
        self.torch = torch
        self.module = module.eval()
        self.dtype = _float_dtype(module, torch)
        self._np_dtype = torch.empty((), dtype=self.dtype).numpy().dtype
        self._names = signature.input_names
        self._squeeze = {spec.name for spec in signature.outputs if len(spec.shape) == 1}

    @classmethod
    def load(
        cls, path: Path, *, signature: Signature | None = None, options: Mapping[str, Any] | None = None
    ) -> TorchRuntime:
        path = Path(path)
        scripted = _check_file(path)
        if signature is None or not signature.inputs:
            raise InvalidArgument("a PyTorch model needs --sample or --signature to know its inputs")
        torch = _torch()
        try:
            if scripted:
                with warnings.catch_warnings():
                    # torch deprecates TorchScript in favour of torch.export; the file is TorchScript
                    # all the same, and a warning per load tells the operator nothing they can act on.
                    warnings.filterwarnings(
                        "ignore", message=r"`torch\.jit\.load` is deprecated", category=DeprecationWarning
                    )
                    module = torch.jit.load(str(path), map_location="cpu")
            else:
                # Unpickles: see the class docstring for why that is acceptable here.
                module = torch.load(str(path), map_location="cpu", weights_only=False)
        except (AttributeError, ImportError) as exc:
            raise InvalidArgument(
                f"the PyTorch model's class cannot be imported here ({first_line(exc)}): torch.save(model) pickles "
                "the class by reference, so its module must be installed; or save it with torch.jit.save"
            ) from None
        except Exception as exc:  # torch raises RuntimeError/UnpicklingError/EOFError… for damaged files
            raise InvalidArgument(f"{path.name!r} is not a loadable PyTorch model: {first_line(exc)}") from None
        if not isinstance(module, torch.nn.Module):
            if isinstance(module, Mapping):
                raise InvalidArgument(
                    f"{path.name!r} holds a dict (a state_dict?), not a model: save the whole module with "
                    "torch.save(model) or torch.jit.save(torch.jit.script(model))"
                )
            raise InvalidArgument(f"{path.name!r} holds a {type(module).__name__}, not an nn.Module: {_EXPECTED}")
        return cls(module, signature)

    # -- scoring --------------------------------------------------------------------

    def tensor(self, batch: Batch) -> Any:
        """The model's input: the signature's columns stacked into one ``[n, k]`` tensor."""
        x = np.ascontiguousarray(as_2d_float(batch, self._names, dtype=self._np_dtype))
        return self.torch.from_numpy(x)

    def forward(self, x: Any) -> Any:
        """Call the module on one input tensor; a failure is the model's (MODEL_ERROR)."""
        with self.torch.inference_mode():
            try:
                return self.module(x)
            except Exception as exc:  # shape mismatches are RuntimeError, user code raises anything
                raise ModelFailure(
                    f"the PyTorch model failed on a {list(x.shape)} {str(x.dtype).removeprefix('torch.')} input: "
                    f"{first_line(exc)}"
                ) from None

    def outputs(self, result: Any) -> Batch:
        """Name the module's return value: ``output``, or ``output_0``… for a tuple."""
        torch = self.torch
        if isinstance(result, torch.Tensor):
            items = [(OUTPUT, result)]
        elif isinstance(result, tuple | list) and result and all(isinstance(t, torch.Tensor) for t in result):
            items = [(f"{OUTPUT}_{i}", t) for i, t in enumerate(result)]
        else:
            raise ModelFailure(
                f"the PyTorch model returned {type(result).__name__}: expected a tensor or a tuple of tensors"
            )
        out: Batch = {}
        for name, value in items:
            arr = value.detach().cpu().numpy()
            if name in self._squeeze and arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
            out[name] = arr
        return out

    def predict(self, batch: Batch) -> Batch:
        return self.outputs(self.forward(self.tensor(batch)))

    def close(self) -> None:
        self.module = None


# -- conversion -------------------------------------------------------------------


def to_onnx(runtime: Runtime, sample: Batch, *, opset: int | None = None) -> bytes:
    """Export with torch's TorchScript-based exporter: input ``input`` ``[batch, k]``, the runtime's output names.

    ``dynamo=False``: the TorchScript exporter takes ~60 ms where the torch.export
    one takes seconds, and it accepts TorchScript modules as well as eager ones.
    The sample's first rows are traced; the batch axis is dynamic.
    """
    assert isinstance(runtime, TorchRuntime)
    torch = runtime.torch
    if batch_rows(sample) == 0:
        raise InvalidArgument("converting a PyTorch model to ONNX needs at least one sample row")
    x = runtime.tensor({k: np.asarray(v)[:_EXPORT_ROWS] for k, v in sample.items()})
    names = list(runtime.outputs(runtime.forward(x)))
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            # The TorchScript-based exporter is deprecated in favour of dynamo=True (too slow for
            # registration, see above), and tracing warns (TracerWarning) where a Python value
            # becomes a constant; the parity check against the original catches what that breaks.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
            warnings.filterwarnings("ignore", message=r"You are using the legacy TorchScript-based ONNX export")
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            # A TorchScript module from torch.jit.load has no Python signature for the exporter to
            # match keyword arguments against; the model takes one positional tensor anyway.
            warnings.filterwarnings("ignore", message=r".*skipping _decide_input_format", category=UserWarning)
            torch.onnx.export(
                runtime.module,
                (x,),
                buf,
                dynamo=False,
                input_names=[INPUT],
                output_names=names,
                dynamic_axes={name: {0: "batch"} for name in (INPUT, *names)},
                opset_version=opset,
                do_constant_folding=True,
            )
    except Exception as exc:  # unsupported operators, untraceable control flow…
        raise InvalidArgument(f"torch.onnx cannot export this model: {first_line(exc)}") from None
    return buf.getvalue()
