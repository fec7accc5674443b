"""How a failed build is reported (a unit test: the engine's output is given, no engine runs)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from modelport.containers import dockerfile
from modelport.containers.engine import Engine
from modelport.errors import FailedPrecondition, InvalidArgument


class Replay(Engine):
    """An engine whose `docker build` printed ``output`` and exited 1."""

    def __init__(self, output: str) -> None:
        super().__init__("unix:///nowhere.sock")
        self.output = output

    def _run(self, args: Any, *, timeout: float | None = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(args), 1, self.output, "")


def _dockerfile() -> str:
    return dockerfile.render(base="b", labels={}, entrypoint=["modelport-entry"], cmd=["serve"])


def test_a_build_failing_after_the_base_check_is_not_blamed_on_the_base(tmp_path: Any) -> None:
    """The build echoes each RUN line: the base check's own text must not read as its failure."""
    echoed = "\n".join(f"Step {i}/9 : {line}" for i, line in enumerate(_dockerfile().splitlines()) if line.startswith("RUN"))
    engine = Replay(echoed + "\nERROR: No matching distribution found for numpy==2.3.0\n")
    with pytest.raises(FailedPrecondition, match="the image build failed: ERROR: No matching distribution found"):
        engine.build(tmp_path, "t:1", base="b")


def test_an_unfit_base_is_named() -> None:
    for printed, message in (
        ("modelport-base-check: the base image has no python3", "base image b: the base image has no python3"),
        (
            "modelport-base-check: the base image has Python 3.12, modelport images need 3.11",
            "base image b: the base image has Python 3.12, modelport images need 3.11",
        ),
    ):
        with pytest.raises(InvalidArgument, match=message):
            Replay(f"#5 0.21 {printed}\n").build(Path("."), "t:1", base="b")



