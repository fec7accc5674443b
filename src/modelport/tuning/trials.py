"""Running one trial, wherever a worker runs it: a Python callable or a command template.

A callable is ``function(params, report)`` returning a dict of metrics,
``(metrics, model)`` or ``(metrics, model, sample)``; ``report(step, value)``
sends an intermediate value and raises :class:`TrialPruned` when the job's
pruner says stop.  A command's metrics are read from its stdout: ``name=value``
lines, JSON lines (``{"step": 3, "val_auc": 0.91}`` is an intermediate value)
and the spec's regexes (SageMaker's MetricDefinitions).  A trial that ends
without its objective fails at once, with the reason.

Nothing here touches the database: a worker returns a :class:`TrialResult`
and the job's runner records it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: report(step, value) → should the trial stop now?
Reporter = Callable[[int, float], bool]

_NAME_VALUE = re.compile(r"^\s*([A-Za-z_][\w.\-/]*)\s*[=:]\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_MODEL_LINE = re.compile(r"^\s*model_path\s*=\s*(\S.*?)\s*$")
STDERR_TAIL = 2000


class TrialPruned(Exception):
    """The pruner stopped the trial (raised by ``report``)."""


@dataclass(frozen=True)
class TrialTask:
    """What a worker needs to run one trial (picklable: it travels to processes and Dask workers)."""

    job: str
    number: int
    params: dict[str, Any]
    objectives: tuple[str, ...]
    trial: str | None = None
    command: str | None = None
    metric_definitions: tuple[tuple[str, str], ...] = ()
    workdir: str = "."
    #: where the trial's model and sample are saved (a folder per trial)
    out_dir: str = ""
    serving: tuple[str, ...] = ()
    to_onnx: bool = False


@dataclass
class TrialResult:
    number: int
    state: str  # complete | pruned | failed
    metrics: dict[str, float] = field(default_factory=dict)
    intermediate: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)
    #: the objectives' values, set by the runner for a complete trial
    values: list[float] | None = None


def run_trial(task: TrialTask, report: Reporter | None = None) -> TrialResult:
    """Run one trial to its end; never raises (a failure is a result with its reason)."""
    intermediate: dict[str, float] = {}

    def reported(step: int, value: float) -> None:
        value = float(value)
        intermediate[str(int(step))] = value
        if report is not None and report(int(step), value):
            raise TrialPruned(f"pruned at step {step}")

    try:
        if task.trial is not None:
            metrics, model, sample = _call(task, reported)
            artifacts = _save(task, model, sample) if model is not None else {}
        else:
            metrics, artifacts = _command(task, reported)
        missing = [m for m in task.objectives if m not in metrics]
        if missing:
            got = ", ".join(sorted(metrics)) or "nothing"
            return TrialResult(
                task.number, "failed", metrics, intermediate, f"the trial ended without reporting objective {missing[0]} (it reported: {got})"
            )
        if task.serving:
            if "model" not in artifacts:
                how = "return (metrics, model)" if task.trial else "print model_path=PATH"
                return TrialResult(task.number, "failed", metrics, intermediate, f"{task.serving[0]} needs the trial's model: {how}")
            from modelport.tuning.serving import measure

            metrics.update(measure(Path(artifacts["model"]), artifacts.get("sample"), task.serving, to_onnx=task.to_onnx))
        return TrialResult(task.number, "complete", metrics, intermediate, None, artifacts)
    except TrialPruned as exc:
        return TrialResult(task.number, "pruned", {}, intermediate, str(exc) or "pruned")
    except Exception as exc:
        if type(exc).__name__ == "TrialPruned":  # optuna.TrialPruned raised by the trial itself
            return TrialResult(task.number, "pruned", {}, intermediate, str(exc) or "pruned")
        return TrialResult(task.number, "failed", {}, intermediate, _reason(exc))


def load_callable(spec: str, workdir: str) -> Callable[..., Any]:
    """``module:function``, the module importable from ``workdir`` (the folder the job was started in)."""
    from modelport.errors import InvalidArgument

    module_name, _, func = spec.partition(":")
    if workdir not in sys.path:
        sys.path.insert(0, workdir)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise InvalidArgument(f"trial module {module_name!r} not found in {workdir}") from None
        raise
    fn = getattr(module, func, None)
    if not callable(fn):
        raise InvalidArgument(f"trial module {module_name!r} has no function {func!r}")
    return fn  # type: ignore[no-any-return]


def _call(task: TrialTask, reported: Callable[[int, float], None]) -> tuple[dict[str, float], Any, Any]:
    assert task.trial is not None
    fn = load_callable(task.trial, task.workdir)
    out = fn(dict(task.params), reported)
    model = sample = None
    if isinstance(out, tuple):
        if not 2 <= len(out) <= 3:
            raise ValueError(f"the trial returned a tuple of {len(out)}: expected (metrics, model) or (metrics, model, sample)")
        metrics_in, model = out[0], out[1]
        sample = out[2] if len(out) == 3 else None
    else:
        metrics_in = out
    if not isinstance(metrics_in, dict):
        raise ValueError(f"the trial returned {type(metrics_in).__name__}: expected a dict of metrics")
    return _numbers(metrics_in), model, sample


def _command(task: TrialTask, reported: Callable[[int, float], None]) -> tuple[dict[str, float], dict[str, str]]:
    assert task.command is not None
    line = render_command(task.command, task.params)
    regexes = [(name, re.compile(rx)) for name, rx in task.metric_definitions]
    metrics: dict[str, float] = {}
    artifacts: dict[str, str] = {}
    err_path = Path(task.out_dir) / "stderr.txt" if task.out_dir else None
    if err_path is not None:
        err_path.parent.mkdir(parents=True, exist_ok=True)
    with open(err_path or os.devnull, "w+b") as err:
        proc = subprocess.Popen(
            line, shell=True, cwd=task.workdir, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1,
            env={**os.environ, "MODELPORT_TRIAL": str(task.number), "MODELPORT_TRIAL_DIR": task.out_dir},
            process_group=0,  # the shell, the training process and whatever it starts: killed together
        )  # fmt: skip
        assert proc.stdout is not None
        COMMANDS.add(proc.pid)
        try:
            for text in proc.stdout:
                step = _parse_line(text, regexes, metrics, artifacts)
                if step is not None and task.objectives and task.objectives[0] in step[1]:
                    reported(step[0], step[1][task.objectives[0]])
        except TrialPruned:
            _kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            COMMANDS.discard(proc.pid)
        code = proc.wait()
        if code != 0:
            err.seek(0)
            tail = err.read()[-STDERR_TAIL:].decode(errors="replace").strip().splitlines()
            last = tail[-1] if tail else "no output on stderr"
            raise _CommandFailed(f"the command exited with code {code}: {last}")
    if "model" in artifacts and not Path(artifacts["model"]).is_absolute():
        artifacts["model"] = str(Path(task.workdir) / artifacts["model"])
    return metrics, artifacts


#: process groups of the trial commands running in this process (a worker told to stop kills them first)
COMMANDS: set[int] = set()


def kill_commands() -> None:
    """Kill every running trial command with all it started (not only the shell ``proc.kill()`` would reach)."""
    for group in list(COMMANDS):
        _kill_group(group)


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def render_command(template: str, params: dict[str, Any]) -> str:
    """The trial's command line: the template's ``{name}`` fields filled with shell-quoted parameter values."""
    import shlex

    return template.format(**{k: shlex.quote(str(v)) for k, v in params.items()})


def _parse_line(
    text: str, regexes: list[tuple[str, re.Pattern[str]]], metrics: dict[str, float], artifacts: dict[str, str]
) -> tuple[int, dict[str, float]] | None:
    """Read metrics from one output line; a JSON line with ``step`` is also returned as an intermediate value."""
    for name, rx in regexes:
        m = rx.search(text)
        if m:
            with contextlib.suppress(ValueError, IndexError):
                metrics[name] = float(m.group(1))
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
        except ValueError:
            return None
        if isinstance(doc, dict):
            values = {k: float(v) for k, v in doc.items() if isinstance(v, int | float) and not isinstance(v, bool) and k != "step"}
            if isinstance(doc.get("model_path"), str):
                artifacts["model"] = doc["model_path"]
            if "step" in doc:
                return int(doc["step"]), values
            metrics.update(values)
        return None
    m = _MODEL_LINE.match(stripped)
    if m:
        artifacts["model"] = m.group(1)
        return None
    m = _NAME_VALUE.match(stripped)
    if m:
        metrics[m.group(1)] = float(m.group(2))
    return None


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in metrics.items():
        try:
            value = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"metric {k!r} is {type(v).__name__}, not a number") from None
        if math.isnan(value):
            raise ValueError(f"metric {k!r} is NaN")
        out[str(k)] = value
    return out


def _save(task: TrialTask, model: Any, sample: Any) -> dict[str, str]:
    """The trial's model (joblib) and sample (Parquet) in its folder: registered later from there."""
    import joblib

    folder = Path(task.out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.joblib"
    joblib.dump(model, path)
    artifacts = {"model": str(path)}
    if sample is not None:
        import pandas as pd

        frame = sample if isinstance(sample, pd.DataFrame) else pd.DataFrame(sample)
        frame.columns = [str(c) for c in frame.columns]
        spath = folder / "sample.parquet"
        frame.head(1000).to_parquet(spath, index=False)
        artifacts["sample"] = str(spath)
    return artifacts


class _CommandFailed(Exception):
    pass


def _reason(exc: BaseException) -> str:
    from modelport.errors import ModelportError

    if isinstance(exc, ModelportError):
        return exc.message
    if isinstance(exc, _CommandFailed):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
