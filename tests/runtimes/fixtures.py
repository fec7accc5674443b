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


IRIS_COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


class SlowModel:
    """A scikit-learn-shaped model that takes ``delay`` seconds per call on real iris rows.

    Synthetic rows (registration, warm-up: standard-normal values) are answered
    at once, so only traffic is slow.
    """

    def __init__(self, delay: float) -> None:
        import numpy as np

        self.delay = delay
        self.feature_names_in_ = np.array(IRIS_COLUMNS, dtype=object)
        self.n_features_in_ = 4

    def predict(self, x):  # type: ignore[no-untyped-def]
        import time

        import numpy as np

        if np.asarray(x)[:, 0].max() >= 4.0:
            time.sleep(self.delay)
        return np.zeros(len(x))


class FailingModel(SlowModel):
    """Raises on real iris rows (first column >= 4): a broken shadow or live variant that still registers."""

    def __init__(self) -> None:
        super().__init__(0.0)

    def predict(self, x):  # type: ignore[no-untyped-def]
        import numpy as np

        if np.asarray(x)[:, 0].max() >= 4.0:
            raise RuntimeError("this model always fails")
        return np.zeros(len(x))


class UnpickleRecorder(SlowModel):
    """A model from outside the allow-list whose unpickling appends this process's pid to ``marker``.

    It shows which process loaded a (trusted) pickle: never the server's own.
    """

    def __init__(self, marker: str) -> None:
        super().__init__(0.0)
        self.marker = marker

    def __setstate__(self, state: dict) -> None:  # type: ignore[type-arg]
        import os

        self.__dict__.update(state)
        with open(self.marker, "a") as f:
            f.write(f"{os.getpid()}\n")


class RunsCommand:
    """The attack: unpickling it runs a shell command (touch a marker file)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        import os

        return (os.system, (f"touch {self.marker}",))


# -- XGBoost with categorical features ------------------------------------------------------------
# Shared by the runtime, CLI and serving tests of categorical XGBoost models.

COLORS = ["blue", "green", "red", "amber", "violet"]
SIZES = ["S", "M", "L", "XL"]


def training_frame(rows: int = 600, seed: int = 0):  # type: ignore[no-untyped-def]
    """Strings as a CSV holds them (a DataFrame), and a 3-class target that depends on every column."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"num": rng.normal(size=rows).round(3), "color": rng.choice(COLORS, rows), "size": rng.choice(SIZES, rows)}
    )
    y = (frame["color"].isin(["red", "violet"]).astype(int) + (frame["num"] > 0) + (frame["size"] == "XL")) % 3
    return frame, y.to_numpy()


def as_categories(frame, categories=None):  # type: ignore[no-untyped-def]
    """``frame`` with its string columns as pandas categories (the given ones, or pandas' sorted ones)."""
    import pandas as pd

    out = frame.copy()
    for name in ("color", "size"):
        out[name] = pd.Categorical(out[name], categories=(categories or {}).get(name))
    return out


def xgboost_answer(booster, frame):  # type: ignore[no-untyped-def]
    """XGBoost's own prediction on a frame with categorical dtypes."""
    import numpy as np
    import xgboost

    return np.asarray(booster.predict(xgboost.DMatrix(frame, enable_categorical=True)))
