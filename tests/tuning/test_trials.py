"""One trial, run in-process: metrics from a callable or from a command's output, failures with their reason."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from modelport.tuning.engines import LocalEngine
from modelport.tuning.trials import TrialResult, TrialTask, run_trial
from tests.tuning.fixtures import MODULE

PY = sys.executable


def _task(workdir: Path, **fields: object) -> TrialTask:
    base: dict[str, object] = {"job": "j", "number": 0, "params": {"x": 1.5}, "objectives": ("score",), "workdir": str(workdir), "out_dir": str(workdir / "t0")}
    return TrialTask(**{**base, **fields})  # type: ignore[arg-type]


def test_a_command_reports_name_value_json_and_regex_metrics(workdir: Path) -> None:
    script = workdir / "train.py"
    script.write_text(
        "import json, sys\n"
        "x = float(sys.argv[1])\n"
        "print('epoch 1 loss: 0.52')\n"
        "print(json.dumps({'step': 1, 'score': x - 1}))\n"
        "print(json.dumps({'precision': 0.75}))\n"
        "print(f'score={x}')\n"
    )
    steps: list[tuple[int, float]] = []
    result = run_trial(
        _task(workdir, command=f"{PY} train.py {{x}}", metric_definitions=(("loss", r"loss: ([0-9.]+)"),)),
        lambda step, value: steps.append((step, value)) or False,
    )
    assert result.state == "complete", result.reason
    assert result.metrics == {"loss": 0.52, "precision": 0.75, "score": 1.5}
    assert steps == [(1, 0.5)] and result.intermediate == {"1": 0.5}


def test_a_trial_that_never_reports_its_objective_fails_at_once_with_the_reason(workdir: Path) -> None:
    (workdir / "quiet.py").write_text("print('accuracy=0.9')\n")
    result = run_trial(_task(workdir, command=f"{PY} quiet.py --x {{x}}"))
    assert result.state == "failed"
    assert result.reason == "the trial ended without reporting objective score (it reported: accuracy)"
    result = run_trial(_task(workdir, trial=f"{MODULE}:no_objective"))
    assert result.reason == "the trial ended without reporting objective score (it reported: other)"


def test_a_failing_command_fails_with_its_exit_code_and_last_error_line(workdir: Path) -> None:
    (workdir / "boom.py").write_text("import sys\nprint('score=1')\nsys.exit('bad data: column y missing')\n")
    result = run_trial(_task(workdir, command=f"{PY} boom.py {{x}}"))
    assert result.state == "failed"
    assert result.reason == "the command exited with code 1: bad data: column y missing"


def test_report_prunes_a_callable_and_a_raising_callable_fails_with_its_error(workdir: Path) -> None:
    pruned = run_trial(_task(workdir, trial=f"{MODULE}:quadratic"), lambda step, value: step >= 1)
    assert pruned.state == "pruned" and pruned.intermediate == {"0": -1.25, "1": -0.75}
    failed = run_trial(_task(workdir, trial=f"{MODULE}:flaky", params={"x": 0.9}))
    assert (failed.state, failed.reason) == ("failed", "ValueError: x too big")


def test_a_callable_returning_a_model_leaves_it_and_its_sample_for_registration(workdir: Path) -> None:
    result = run_trial(_task(workdir, trial=f"{MODULE}:tree", params={"max_depth": 3}, objectives=("val_auc",)), lambda s, v: False)
    assert result.state == "complete", result.reason
    assert Path(result.artifacts["model"]).is_file() and Path(result.artifacts["sample"]).is_file()
    assert 0.8 < result.metrics["val_auc"] <= 1.0


def test_serving_costs_are_measured_on_the_model_as_it_would_be_served(workdir: Path) -> None:
    serving = ("latency_p50_ms", "latency_p99_ms", "model_size_bytes", "parity_error")
    task = _task(workdir, trial=f"{MODULE}:tree", params={"max_depth": 4}, objectives=("val_auc",), serving=serving, to_onnx=True)
    result = run_trial(task, lambda s, v: False)
    assert result.state == "complete", result.reason
    onnx = Path(result.artifacts["model"]).with_suffix(".onnx")  # the converted graph is what was timed
    assert result.metrics["model_size_bytes"] == onnx.stat().st_size
    assert 0 < result.metrics["latency_p50_ms"] <= result.metrics["latency_p99_ms"]
    assert 0 <= result.metrics["parity_error"] < 1e-4

    no_model = run_trial(_task(workdir, trial=f"{MODULE}:quadratic", serving=("latency_p99_ms",)), lambda s, v: False)
    assert (no_model.state, no_model.reason) == ("failed", "latency_p99_ms needs the trial's model: return (metrics, model)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_stopping_a_command_trial_kills_what_the_command_started_too(workdir: Path) -> None:
    """The shell, the training process and its own children: `tune stop`, a timeout or a lost heartbeat
    used to kill only the trial's worker, and the training went on."""
    (workdir / "train.py").write_text(
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', sys.argv[0]])\n"
        "time.sleep(300)\n"
    )
    engine = LocalEngine(1)
    try:
        engine.submit(_task(workdir, command=f"{PY} {workdir / 'train.py'} {{x}}"))  # its path marks its child
        deadline = time.monotonic() + 30
        child = None
        while child is None and time.monotonic() < deadline:
            engine.poll(0.1)
            found = [p for p in _processes() if "time.sleep(300)" in p[1] and str(workdir) in p[1]]
            child = found[0][0] if found else None
        assert child is not None, "the command's child did not start"
        engine.stop(0, "stopped")
        assert [e.reason for e in engine.poll(0.1) if isinstance(e, TrialResult)] == ["stopped"]
        deadline = time.monotonic() + 5
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        engine.close()


def _processes() -> list[tuple[int, str]]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out.append((int(entry.name), (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()))
            except OSError:
                pass
    return out
