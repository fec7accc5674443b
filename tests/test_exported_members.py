"""The public API is curated: `modelport.__all__` is sorted and every name resolves."""

import modelport


def test_all_is_sorted_and_resolves() -> None:
    assert modelport.__all__ == sorted(modelport.__all__)
    for name in modelport.__all__:
        assert getattr(modelport, name) is not None, name


def test_unknown_attribute() -> None:
    import pytest

    with pytest.raises(AttributeError):
        modelport.DoesNotExist  # noqa: B018
