"""TorchRuntime and the ONNX conversion of PyTorch models.

The models are defined here and trained for a few hundred full-batch steps on
datasets that ship with scikit-learn (iris, diabetes), then saved both ways a
user does it: TorchScript (``torch.jit.save``) and the whole module
(``torch.save(model)``).  A whole-module save pickles the class by reference,
so the classes live at module level: this module is in ``sys.modules`` when
the files are loaded, in the same process.
"""

from __future__ import annotations

import re
import sys
import threading
import types
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris

from modelport.errors import InvalidArgument, MissingExtra, ModelFailure
from modelport.formats import sniff_format
from modelport.parity import check_parity
from modelport.runtimes import runtime_class
from modelport.runtimes.onnx import OnnxRuntime
from modelport.runtimes.torch import TorchRuntime, to_onnx
from modelport.signature import Batch, ColumnSpec, Signature, frame_to_batch, signature_from_frame, validate_batch

pytest.importorskip("torch")

# imported after the skip, so the rest of the suite runs without the [torch] extra
import torch
from torch import nn


class IrisClassifier(nn.Module):
    """An MLP that standardises its raw inputs and returns (probabilities, label)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        # buffers are typed Tensor | Module; a class-level annotation would break torch.jit.script
        return self.net((x - self.mean) / self.std)  # type: ignore[operator]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.logits(x)
        return torch.softmax(logits, dim=1), logits.argmax(dim=1)


class DiabetesRegressor(nn.Module):
    """A linear regressor with one output column: ``[n, 1]``."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(10, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class ReturnsDict(nn.Module):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"y": x}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # Servers run torch with one intra-op thread (parallelism comes from concurrent requests);
    # on a busy 2-core machine torch's default OpenMP pool spin-waits and training these tiny
    # models takes seconds instead of ~0.2 s.  The setting is process-global: put it back.
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@contextmanager
def quiet_jit() -> Iterator[None]:
    # torch 2.13 deprecates every torch.jit entry point; users still save TorchScript files.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning)
        yield


def train(model: nn.Module, loss_of: object, steps: int, lr: float) -> None:
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_of()  # type: ignore[operator]
        loss.backward()
        opt.step()
    model.eval()


class Case:
    """A trained model, its sample batch, signature, and its files saved both ways."""

    def __init__(self, model: nn.Module, frame: object, directory: Path) -> None:
        self.model = model
        self.signature = Signature(inputs=signature_from_frame(frame))
        self.batch = frame_to_batch(frame, self.signature)
        self.x = torch.tensor(frame.to_numpy(), dtype=torch.float32)  # type: ignore[attr-defined]
        directory.mkdir()
        self.paths = {"script": directory / "script.pt", "module": directory / "module.pt"}
        with quiet_jit():
            torch.jit.save(torch.jit.script(model), self.paths["script"])
        torch.save(model, self.paths["module"])

    def expected(self) -> Batch:
        with torch.no_grad():
            out = self.model(self.x)
        if isinstance(out, tuple):
            return {f"output_{i}": t.numpy() for i, t in enumerate(out)}
        return {"output": out.numpy()}


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> Case:
    frame, y = load_iris(return_X_y=True, as_frame=True)
    x = torch.tensor(frame.to_numpy(), dtype=torch.float32)
    target = torch.tensor(y.to_numpy())
    torch.manual_seed(0)
    model = IrisClassifier(x.mean(dim=0), x.std(dim=0))
    train(model, lambda: nn.functional.cross_entropy(model.logits(x), target), steps=200, lr=0.05)
    accuracy = (model(x)[1] == target).float().mean().item()
    assert accuracy > 0.95
    return Case(model, frame, tmp_path_factory.mktemp("iris") / "files")


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory: pytest.TempPathFactory) -> Case:
    frame, y = load_diabetes(return_X_y=True, as_frame=True)
    x = torch.tensor(frame.to_numpy(), dtype=torch.float32)
    target = torch.tensor(y.to_numpy(), dtype=torch.float32).reshape(-1, 1)
    torch.manual_seed(0)
    model = DiabetesRegressor()
    train(model, lambda: nn.functional.mse_loss(model(x), target), steps=400, lr=2.0)
    with torch.no_grad():
        r2 = 1 - ((model(x) - target) ** 2).sum() / ((target - target.mean()) ** 2).sum()
    assert r2.item() > 0.4
    return Case(model, frame, tmp_path_factory.mktemp("diabetes") / "files")


@pytest.fixture(params=["iris", "diabetes"])
def case(request: pytest.FixtureRequest) -> Case:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.mark.parametrize("saved", ["script", "module"])
def test_predictions_match_calling_the_model(case: Case, saved: str) -> None:
    runtime = TorchRuntime.load(case.paths[saved], signature=case.signature)
    got = runtime.predict(case.batch)
    expected = case.expected()
    assert list(got) == list(expected)
    for name, value in expected.items():
        assert got[name].shape == value.shape
        assert got[name].dtype == value.dtype
        np.testing.assert_allclose(got[name], value, rtol=1e-6, atol=1e-6)
    one = runtime.predict({k: v[:1] for k, v in case.batch.items()})
    assert all(v.shape[0] == 1 for v in one.values())


def test_output_names_and_shapes(iris: Case, diabetes: Case) -> None:
    out = TorchRuntime.load(iris.paths["module"], signature=iris.signature).predict(iris.batch)
    assert {k: (v.shape, v.dtype.name) for k, v in out.items()} == {
        "output_0": ((150, 3), "float32"),
        "output_1": ((150,), "int64"),
    }
    out = TorchRuntime.load(diabetes.paths["script"], signature=diabetes.signature).predict(diabetes.batch)
    assert {k: v.shape for k, v in out.items()} == {"output": (442, 1)}  # the model's own shape


def test_a_declared_1d_output_is_squeezed_in_both_runtimes(diabetes: Case, tmp_path: Path) -> None:
    sig = Signature(inputs=diabetes.signature.inputs, outputs=(ColumnSpec("output", "float32", (-1,)),))
    runtime = TorchRuntime.load(diabetes.paths["module"], signature=sig)
    assert runtime.predict(diabetes.batch)["output"].shape == (442,)
    path = tmp_path / "model.onnx"
    path.write_bytes(to_onnx(runtime, diabetes.batch))
    assert OnnxRuntime.load(path, signature=sig).predict(diabetes.batch)["output"].shape == (442,)


@pytest.mark.parametrize("saved", ["script", "module"])
def test_onnx_conversion_passes_parity(case: Case, saved: str, tmp_path: Path) -> None:
    runtime = TorchRuntime.load(case.paths[saved], signature=case.signature)
    data = to_onnx(runtime, case.batch)
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    converted = OnnxRuntime.load(path, signature=case.signature)
    inputs = converted.session.get_inputs()
    assert [(i.name, i.type) for i in inputs] == [("input", "tensor(float)")]
    assert isinstance(inputs[0].shape[0], str)  # dynamic batch axis
    assert [o.name for o in converted.session.get_outputs()] == list(case.expected())

    report = check_parity(runtime, converted, case.batch)
    assert report.ok, report.summary()
    for output in report.outputs:
        if output.agreement is not None:
            assert output.agreement == 1.0
        else:
            assert output.max_rel_diff is not None and output.max_rel_diff < 1e-5
    single = {k: v[:1] for k, v in case.batch.items()}
    assert check_parity(runtime, converted, single).ok


def test_a_float64_model_takes_float64_input(diabetes: Case, tmp_path: Path) -> None:
    model = DiabetesRegressor().double().eval()
    torch.save(model, tmp_path / "double.pt")
    runtime = TorchRuntime.load(tmp_path / "double.pt", signature=diabetes.signature)
    assert runtime.predict(diabetes.batch)["output"].dtype == np.float64
    path = tmp_path / "double.onnx"
    path.write_bytes(to_onnx(runtime, diabetes.batch))
    converted = OnnxRuntime.load(path, signature=diabetes.signature)
    assert converted.session.get_inputs()[0].type == "tensor(double)"
    assert check_parity(runtime, converted, diabetes.batch).ok


def test_concurrent_predictions_are_independent(iris: Case) -> None:
    """Threads sharing one runtime each get the answer a lone caller gets for the same rows.

    Each thread's 10-row slice is compared exactly with that same 10-row slice
    scored alone: same rows, same batch size, so the same kernels.  (Scores of
    a row inside a 10-row and a 150-row batch may differ in the last bits on
    CPUs whose SIMD width changes the reduction order, e.g. AVX-512.)
    """
    runtime = TorchRuntime.load(iris.paths["script"], signature=iris.signature)
    slices = [slice(i * 15, i * 15 + 10) for i in range(8)]
    alone = [runtime.predict({k: v[rows] for k, v in iris.batch.items()})["output_0"] for rows in slices]
    # the slices really are different inputs, so a mixed-up answer would be caught
    assert not np.array_equal(alone[0], alone[-1])
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(50):
                got = runtime.predict({k: v[slices[i]] for k, v in iris.batch.items()})["output_0"]
                np.testing.assert_array_equal(got, alone[i])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(slices))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_legacy_pickle_format_loads(iris: Case, tmp_path: Path) -> None:
    path = tmp_path / "legacy.pt"
    torch.save(iris.model, path, _use_new_zipfile_serialization=False)
    assert sniff(path)
    got = TorchRuntime.load(path, signature=iris.signature).predict(iris.batch)
    np.testing.assert_allclose(got["output_0"], iris.expected()["output_0"], rtol=1e-6)


# -- sniffing and refusals -------------------------------------------------------------


def sniff(path: Path) -> bool:
    return sniff_format(path) == "torch"


def test_sniff(iris: Case, tmp_path: Path) -> None:
    assert sniff(iris.paths["script"])
    assert sniff(iris.paths["module"])
    text = tmp_path / "model.txt"
    text.write_text("not a model\n")
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("schema.json", "{}")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(iris.paths["module"].read_bytes()[:500])
    assert not sniff(text)
    assert not sniff(other_zip)
    assert not sniff(truncated)


def test_missing_signature_is_refused(iris: Case) -> None:
    message = "a PyTorch model needs --sample or --signature to know its inputs"
    with pytest.raises(InvalidArgument, match=f"^{message}$"):
        TorchRuntime.load(iris.paths["script"])
    with pytest.raises(InvalidArgument, match=f"^{message}$"):
        TorchRuntime.load(iris.paths["module"], signature=Signature())


def test_not_a_torch_file(iris: Case, tmp_path: Path) -> None:
    text = tmp_path / "model.pt"
    text.write_text("hello")
    with pytest.raises(InvalidArgument) as err:
        TorchRuntime.load(text, signature=iris.signature)
    assert err.value.message == (
        "'model.pt' is not a PyTorch model: expected a TorchScript archive (torch.jit.save) "
        "or a whole nn.Module saved with torch.save(model)"
    )
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as zf:
        zf.writestr("schema.json", "{}")
    with pytest.raises(InvalidArgument, match=r"^'other\.zip' is not a PyTorch model: expected a TorchScript"):
        TorchRuntime.load(other_zip, signature=iris.signature)


def test_truncated_file(iris: Case, tmp_path: Path) -> None:
    for saved in ("script", "module"):
        data = iris.paths[saved].read_bytes()
        path = tmp_path / f"{saved}.pt"
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(InvalidArgument, match=r"^'\w+\.pt' is a truncated or corrupt zip archive: expected a"):
            TorchRuntime.load(path, signature=iris.signature)


def test_a_state_dict_is_not_a_model(iris: Case, tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(iris.model.state_dict(), path)
    with pytest.raises(InvalidArgument, match=r"^'weights\.pt' holds a dict \(a state_dict\?\), not a model: save"):
        TorchRuntime.load(path, signature=iris.signature)


def test_a_module_whose_class_is_gone(iris: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gone = types.ModuleType("modelport_vanished_models")
    cls = type("Vanished", (DiabetesRegressor,), {"__module__": gone.__name__})
    gone.Vanished = cls  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, gone.__name__, gone)
    path = tmp_path / "vanished.pt"
    torch.save(cls(), path)
    monkeypatch.delitem(sys.modules, gone.__name__)
    with pytest.raises(InvalidArgument) as err:
        TorchRuntime.load(path, signature=iris.signature)
    assert err.value.message.startswith("the PyTorch model's class cannot be imported here (No module named ")
    assert err.value.message.endswith("so its module must be installed; or save it with torch.jit.save")


def test_string_columns_are_refused(iris: Case) -> None:
    sig = Signature(inputs=(*iris.signature.inputs, ColumnSpec("species", "string")))
    with pytest.raises(InvalidArgument, match=r"^a PyTorch model takes numeric columns, .*: species$"):
        TorchRuntime.load(iris.paths["script"], signature=sig)


def test_a_signature_of_the_wrong_width_fails_as_the_model(diabetes: Case) -> None:
    sig = Signature(inputs=diabetes.signature.inputs[:3])
    runtime = TorchRuntime.load(diabetes.paths["module"], signature=sig)
    batch = validate_batch(sig, {c.name: np.ones(2) for c in sig.inputs})
    with pytest.raises(ModelFailure, match=r"^the PyTorch model failed on a \[2, 3\] float32 input: mat1 and mat2"):
        runtime.predict(batch)


def test_bad_batches_are_refused_by_the_signature(iris: Case) -> None:
    with pytest.raises(InvalidArgument, match=r"^missing input column 'petal width \(cm\)'; expected"):
        validate_batch(iris.signature, {k: v for k, v in iris.batch.items() if k != "petal width (cm)"})
    column = iris.signature.input_names[0]
    with pytest.raises(InvalidArgument, match=rf"^column {re.escape(repr(column))}: expected float64, got strings$"):
        validate_batch(iris.signature, {**iris.batch, column: np.array(["a"] * 150)})


def test_a_model_returning_a_dict_fails_with_a_message(iris: Case, tmp_path: Path) -> None:
    path = tmp_path / "dict.pt"
    torch.save(ReturnsDict(), path)
    runtime = TorchRuntime.load(path, signature=iris.signature)
    with pytest.raises(
        ModelFailure, match=r"^the PyTorch model returned dict: expected a tensor or a tuple of tensors$"
    ):
        runtime.predict(iris.batch)


def test_without_torch_installed(iris: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    assert runtime_class("torch") is TorchRuntime  # importing the runtime does not need torch
    assert sniff(iris.paths["script"])
    with pytest.raises(MissingExtra) as err:
        TorchRuntime.load(iris.paths["script"], signature=iris.signature)
    assert err.value.message == "PyTorch models needs the optional dependencies: pip install 'modelport[torch]'"
