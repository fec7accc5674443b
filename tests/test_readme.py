"""The README's quick start works when pasted: its blocks run in order, in one shell, against this code."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests import infra

WRITTEN = ("train.csv", "rows.csv", "model.joblib", "preds.csv")


def quick_start_blocks() -> list[tuple[str, str]]:
    text = (infra.REPO / "README.md").read_text()
    start = text.index("## Quick start")
    section = text[start : text.index("\n## ", start)]
    return re.findall(r"```(bash|python)\n(.*?)```", section, re.S)


@pytest.mark.slow
def test_the_quick_start_works_when_pasted(tmp_path: Path) -> None:
    blocks = quick_start_blocks()
    assert [lang for lang, _ in blocks] == ["bash", "python", "bash"]
    install, *first = blocks[0][1].splitlines()
    assert install.startswith("make install && source .venv/bin/activate")  # this test runs in that environment
    # one shell session as a reader pastes it: the Python block in `python`, started in the same folder
    script = "\n".join(first) + f"\npython - <<'PY'\n{blocks[1][1]}PY\n" + blocks[2][1]
    port = str(infra.free_port())
    script = script.replace("8080", port)  # the README's port may be taken on a test machine
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
    env.pop("MODELPORT_HOME", None)
    try:
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], cwd=infra.REPO, env=env, capture_output=True, text=True, timeout=900
        )
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    finally:  # a server left running by a failed step
        for record in tmp_path.glob("*/home/run/server-*.json"):
            pid = int(re.search(r'"pid": (\d+)', record.read_text()).group(1))  # type: ignore[union-attr]
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    assert '{"predictions":[{"label":0' in proc.stdout  # curl's answer, right after the server started
    assert f"stopped the server on port {port}" in proc.stdout
    (scratch,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert all((scratch / name).is_file() for name in WRITTEN)
    assert not any((infra.REPO / name).exists() for name in WRITTEN)
