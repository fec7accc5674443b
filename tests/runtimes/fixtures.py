"""Helpers the runtime tests pickle by reference (so they must live in an importable module)."""


class CustomThing:
    """Not part of scikit-learn: skops must refuse to load it."""

    def predict(self, x):  # type: ignore[no-untyped-def]
        return x


# -- PyTorch modules ----------------------------------------------------------------
# torch.save(model) pickles the class by reference, so the modules registered by the
# tests live here, at module level.  The [torch] extra is optional: without it these
# names do not exist and the tests that use them skip (pytest.importorskip("torch")).

try:
    import torch
    from torch import nn
except ImportError:
    torch = None  # type: ignore[assignment]

if torch is not None:

    class IrisNet(nn.Module):
        """Standardises four raw features and returns class probabilities ``[n, 3]``."""

        def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
            super().__init__()
            self.register_buffer("mean", mean)
            self.register_buffer("std", std)
            self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # buffers are typed Tensor | Module; a class-level annotation would break torch.jit.script
            return torch.softmax(self.net((x - self.mean) / self.std), dim=1)  # type: ignore[operator]
