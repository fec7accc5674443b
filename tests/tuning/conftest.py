"""Tuning tests: a folder with the trial module, and specs built from it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelport.tuning.spec import TuningSpec
from tests.tuning.fixtures import MODULE, write_module


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    write_module(folder)
    return folder


@pytest.fixture
def make_spec(workdir: Path) -> Callable[..., TuningSpec]:
    def make(function: str = "tree", **fields: Any) -> TuningSpec:
        defaults: dict[str, Any] = {
            "objectives": ["val_auc:max"],
            "params": ["max_depth=int:1:8", "criterion=cat:gini,entropy"],
            "trials": 6,
            "parallel": 2,
            "seed": 7,
            "workdir": str(workdir),
        }
        if "command" not in fields:
            defaults["trial"] = f"{MODULE}:{function}"
        return TuningSpec.build(**{**defaults, **fields})

    return make


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """Poll ``check`` until it returns something truthy, or fail after ``timeout`` seconds."""
    import time

    def wait(check: Callable[[], Any], timeout: float = 60.0, what: str = "the condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    return wait


from tests.api.conftest import in_process  # noqa: E402,F401 -- the app in process, shared with the API tests
from tests.cli.conftest import cli  # noqa: E402,F401 -- `modelport …` in process, shared with the CLI tests
