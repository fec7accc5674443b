"""The in-process CLI runner shared by the CLI tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modelport.cli.main import main


@pytest.fixture
def cli(home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run `modelport ARGS --home HOME` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str, home_opt: bool = True) -> tuple[int, str, str]:
        argv = ["modelport", *args, *(["--home", str(home)] if home_opt else [])]
        monkeypatch.setattr(sys, "argv", argv)
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run
