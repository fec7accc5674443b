"""The format table is the one place format facts live: every row must hold together."""

from __future__ import annotations

import importlib

import pytest

from modelport.errors import InvalidArgument
from modelport.formats import FORMATS, TABLE, check_format, format_info
from modelport.runtimes import runtime_class


@pytest.mark.parametrize("name", FORMATS)
def test_each_row_names_a_runtime_for_its_own_format(name: str) -> None:
    row = TABLE[name]
    assert runtime_class(name).format == name
    assert row.platform and row.description
    if row.converter:
        module, func = row.converter.split(":")
        assert callable(getattr(importlib.import_module(module), func))
    assert not row.always_convert or row.converter, "a format always converted needs a converter"


def test_unknown_formats_name_the_known_ones() -> None:
    with pytest.raises(InvalidArgument, match=r"unknown format 'keras': expected one of onnx, sklearn, skops"):
        check_format("keras")
    with pytest.raises(InvalidArgument, match="unknown format 'h5'"):
        format_info("h5")
