"""Helpers the runtime tests pickle by reference (so they must live in an importable module)."""


class CustomThing:
    """Not part of scikit-learn: skops must refuse to load it."""

    def predict(self, x):  # type: ignore[no-untyped-def]
        return x
