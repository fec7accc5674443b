"""The format table is the one place format facts live: every row must hold together."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from modelport.errors import InvalidArgument
from modelport.formats import FORMATS, TABLE, check_format, format_info, sniff_format
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


@pytest.mark.parametrize("compress", [0, 1, 3, 9, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)])
def test_joblib_files_are_recognised_at_every_compression(tmp_path: Path, compress: object) -> None:
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump({"weights": [1.0, 2.0]}, path, compress=compress)
    assert sniff_format(path) == "sklearn"
