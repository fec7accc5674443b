"""TuningSpec: what a tuning job is asked — in modelport's words, or in SageMaker's.

Every mistake that can be seen before a trial runs is refused here with one
line: a range whose min exceeds its max, an unknown strategy, a script that
does not exist, a command template whose placeholders and parameters differ.
The spec is stored with the job, so ``tune resume`` runs exactly what was asked.
"""

from __future__ import annotations

import math
import re
import shlex
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelport.errors import InvalidArgument

STRATEGIES = ("bayesian", "random", "grid", "hyperband")
SAMPLERS = ("tpe", "gp")
ENGINES = ("local", "dask")
EARLY_STOP = ("median", "off")
#: what modelport measures on a trial's model as it would be served (tuning/serving.py)
SERVING_METRICS = ("latency_p50_ms", "latency_p99_ms", "model_size_bytes", "parity_error")

#: trials run at once, at most (each is a process on the local engine)
MAX_PARALLEL = 256


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamRange(_Spec):
    """One hyperparameter's search range."""

    name: str
    kind: Literal["int", "float", "cat"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list[Any] = Field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> ParamRange:
        """``name=int:2:12``, ``name=float:0.001:0.3:log``, ``name=float:0:1:step=0.1``, ``name=cat:a,b``."""
        name, sep, rest = text.partition("=")
        name = name.strip()
        if not sep or not name or ":" not in rest:
            raise InvalidArgument(
                f"invalid --param {text!r}: expected NAME=int:MIN:MAX, NAME=float:MIN:MAX[:log] or NAME=cat:A,B"
            )
        kind, _, body = rest.partition(":")
        kind = kind.strip().lower()
        if kind in ("cat", "categorical"):
            choices = [_scalar(v.strip()) for v in body.split(",") if v.strip()]
            return cls.build(name=name, kind="cat", choices=choices)
        if kind not in ("int", "float"):
            raise InvalidArgument(f"invalid --param {text!r}: type {kind!r} is not int, float or cat")
        parts = body.split(":")
        if len(parts) < 2:
            raise InvalidArgument(f"invalid --param {text!r}: {kind} needs MIN:MAX")
        log = False
        step = None
        for extra in parts[2:]:
            extra = extra.strip().lower()
            if extra == "log":
                log = True
            elif extra.startswith("step="):
                step = _number(extra[5:], text)
            elif extra not in ("", "linear"):
                raise InvalidArgument(f"invalid --param {text!r}: {extra!r} is not log, linear or step=N")
        return cls.build(
            name=name, kind=kind, low=_number(parts[0], text), high=_number(parts[1], text), log=log, step=step
        )

    @classmethod
    def build(cls, **fields: Any) -> ParamRange:
        try:
            p = cls(**fields)
        except ValidationError as exc:
            raise _one_line(exc, f"parameter {fields.get('name')!r}") from None
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", p.name):
            raise InvalidArgument(f"invalid parameter name {p.name!r}: letters, digits, _ . - (not first)")
        if p.kind == "cat":
            if not p.choices:
                raise InvalidArgument(f"parameter {p.name}: a categorical range needs at least one value")
            if len({repr(c) for c in p.choices}) != len(p.choices):
                raise InvalidArgument(f"parameter {p.name}: categorical values repeat")
            return p
        if p.low is None or p.high is None:
            raise InvalidArgument(f"parameter {p.name}: an {p.kind} range needs min and max")
        if p.low > p.high:
            raise InvalidArgument(f"parameter {p.name}: min {p.low:g} is greater than max {p.high:g}")
        if p.log and p.low <= 0:
            raise InvalidArgument(f"parameter {p.name}: a log scale needs min > 0 (got {p.low:g})")
        if p.kind == "int" and (p.low != int(p.low) or p.high != int(p.high)):
            raise InvalidArgument(f"parameter {p.name}: int bounds must be whole numbers")
        if p.step is not None and p.step <= 0:
            raise InvalidArgument(f"parameter {p.name}: step must be > 0")
        if p.step is not None and p.log:
            raise InvalidArgument(f"parameter {p.name}: a step and a log scale cannot be combined")
        return p

    def grid_values(self) -> list[Any]:
        """The values a grid search tries."""
        if self.kind == "cat":
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            step = int(self.step or 1)
            return list(range(int(self.low), int(self.high) + 1, step))
        if self.step is None:
            raise InvalidArgument(
                f"grid search needs a step for float parameter {self.name} (e.g. {self.name}=float:{self.low:g}:{self.high:g}:step=0.1)"
            )
        n = math.floor((self.high - self.low) / self.step + 1e-9)
        return [round(self.low + i * self.step, 12) for i in range(n + 1)]

    def describe(self) -> str:
        if self.kind == "cat":
            return "cat:" + ",".join(str(c) for c in self.choices)
        extra = ":log" if self.log else (f":step={self.step:g}" if self.step else "")
        return f"{self.kind}:{self.low:g}:{self.high:g}{extra}"


class Objective(_Spec):
    metric: str
    direction: Literal["maximize", "minimize"]

    @classmethod
    def parse(cls, text: str) -> Objective:
        """``val_auc:max`` or ``latency_p99_ms:min``."""
        metric, _, way = text.rpartition(":")
        way = way.strip().lower()
        directions = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
        if not metric.strip() or way not in directions:
            raise InvalidArgument(f"invalid --objective {text!r}: expected METRIC:max or METRIC:min")
        return cls(metric=_metric_name(metric.strip()), direction=directions[way])  # type: ignore[arg-type]


class Bound(_Spec):
    """``metric<=value`` or ``metric>=value``: a constraint, or a target that ends the job."""

    metric: str
    op: Literal["<=", ">="]
    value: float

    @classmethod
    def parse(cls, text: str, what: str = "--constraint") -> Bound:
        m = re.fullmatch(r"\s*([^<>=\s]+)\s*(<=|>=)\s*(\S+)\s*", text)
        if not m:
            raise InvalidArgument(f"invalid {what} {text!r}: expected METRIC<=VALUE or METRIC>=VALUE")
        return cls(metric=_metric_name(m.group(1)), op=m.group(2), value=_number(m.group(3), text))  # type: ignore[arg-type]

    def met(self, value: float) -> bool:
        return value <= self.value if self.op == "<=" else value >= self.value

    def violation(self, value: float) -> float:
        """≤ 0 when satisfied (Optuna's constraint convention)."""
        return value - self.value if self.op == "<=" else self.value - value

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"


class MetricDefinition(_Spec):
    """SageMaker's MetricDefinitions: a metric read from the trial's output with a regex (group 1)."""

    name: str
    regex: str

    def compiled(self) -> re.Pattern[str]:
        try:
            rx = re.compile(self.regex)
        except re.error as exc:
            raise InvalidArgument(f"metric {self.name}: invalid regex {self.regex!r}: {exc}") from None
        if rx.groups < 1:
            raise InvalidArgument(f"metric {self.name}: the regex {self.regex!r} needs a group around the number, e.g. loss: ([0-9.]+)")
        return rx


class TuningSpec(_Spec):
    """A tuning job's definition (stored with the job; ``tune resume`` reruns it unchanged)."""

    name: str | None = None
    objectives: list[Objective]
    params: list[ParamRange]
    trials: int = 20
    parallel: int = 1
    strategy: Literal["bayesian", "random", "grid", "hyperband"] = "bayesian"
    #: the model behind bayesian (and hyperband) search: TPE, or a Gaussian process (needs PyTorch)
    sampler: Literal["tpe", "gp"] = "tpe"
    seed: int | None = None
    timeout_s: float | None = None
    target: Bound | None = None
    early_stop: Literal["median", "off"] = "off"
    #: ``module:function`` importable from ``workdir``, called as ``function(params, report)``
    trial: str | None = None
    #: a command template with ``{param}`` placeholders, run in ``workdir``; metrics read from stdout
    command: str | None = None
    metric_definitions: list[MetricDefinition] = Field(default_factory=list)
    workdir: str = "."
    max_failed: int | None = None
    constraints: list[Bound] = Field(default_factory=list)
    #: stop when the best has not improved for this many trials (SageMaker's BestObjectiveNotImproving)
    not_improving: int | None = None
    register_best: str | None = None
    alias: str | None = None
    to_onnx: bool = False
    warm_start: list[str] = Field(default_factory=list)
    engine: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    #: a running trial silent for this long is failed (its worker is replaced)
    heartbeat_timeout_s: float = 60.0

    # -- building -----------------------------------------------------------------------------

    @classmethod
    def build(cls, **fields: Any) -> TuningSpec:
        """Validate loose inputs (flags, YAML) into a spec; every mistake is one line."""
        fields = {k: v for k, v in fields.items() if v is not None}
        strategy = str(fields.get("strategy", "bayesian")).lower()
        if strategy not in STRATEGIES:
            raise InvalidArgument(f"unknown strategy {fields['strategy']!r}: expected one of {', '.join(STRATEGIES)}")
        fields["strategy"] = strategy
        model = str(fields.get("sampler", "tpe")).lower()
        if model not in SAMPLERS:
            raise InvalidArgument(f"unknown sampler {fields['sampler']!r}: expected tpe or gp")
        if model != "tpe" and strategy not in ("bayesian", "hyperband"):
            raise InvalidArgument(f"--sampler {model} is bayesian search's model: it does not apply to --strategy {strategy}")
        fields["sampler"] = model
        engine = str(fields.get("engine", "local")).lower()
        if engine not in ENGINES:
            raise InvalidArgument(f"unknown engine {engine!r}: expected local or dask")
        fields["engine"] = engine
        early = str(fields.get("early_stop", "off")).lower()
        if early not in EARLY_STOP:
            raise InvalidArgument(f"unknown --early-stop {early!r}: expected median or off")
        fields["early_stop"] = early
        fields["objectives"] = [o if isinstance(o, Objective) else _objective(o) for o in _listed(fields.get("objectives"))]
        fields["params"] = [p if isinstance(p, ParamRange) else _param(p) for p in _params(fields.get("params"))]
        fields["constraints"] = [c if isinstance(c, Bound) else Bound.parse(str(c)) for c in _listed(fields.get("constraints"))]
        if "target" in fields and not isinstance(fields["target"], Bound):
            fields["target"] = Bound.parse(str(fields["target"]), "--target")
        if "timeout_s" in fields:
            fields["timeout_s"] = parse_duration(fields["timeout_s"])
        if isinstance(fields.get("warm_start"), str):
            fields["warm_start"] = [w.strip() for w in fields["warm_start"].split(",") if w.strip()]
        fields["metric_definitions"] = [_metric_definition(m) for m in _listed(fields.get("metric_definitions"))]
        fields.setdefault("workdir", str(Path.cwd()))
        try:
            spec = cls(**fields)
        except ValidationError as exc:
            raise _one_line(exc, "tuning spec") from None
        spec.check()
        return spec

    def check(self) -> None:
        if not self.objectives:
            raise InvalidArgument("a tuning job needs an objective (--objective METRIC:max)")
        if not self.params:
            raise InvalidArgument("a tuning job needs at least one parameter (--param NAME=int:MIN:MAX)")
        for p in self.params:  # a spec that arrives as JSON (the API) gets the same checks as flags
            ParamRange.build(**p.model_dump())
        names = [p.name for p in self.params]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise InvalidArgument(f"parameter {dup[0]} is defined twice")
        metrics = [o.metric for o in self.objectives]
        if len(set(metrics)) != len(metrics):
            raise InvalidArgument("an objective metric is named twice")
        if self.trials < 1:
            raise InvalidArgument("--trials must be at least 1")
        if not 1 <= self.parallel <= MAX_PARALLEL:
            raise InvalidArgument(f"--parallel must be from 1 to {MAX_PARALLEL}")
        if self.timeout_s is not None and self.timeout_s <= 0:
            raise InvalidArgument("--timeout must be > 0")
        if self.not_improving is not None and self.not_improving < 1:
            raise InvalidArgument("--not-improving must be at least 1")
        for o in self.objectives:  # a spec that arrives as JSON (the API) gets the same checks as flags
            _metric_name(o.metric)
        for m in self.metric_definitions:
            m.compiled()
        if self.max_failed is not None and self.max_failed < 1:
            raise InvalidArgument("--max-failed must be at least 1")
        if (self.trial is None) == (self.command is None):
            raise InvalidArgument("give the trial to run: --trial module:function or --command 'python train.py …'")
        if self.trial is not None and not re.fullmatch(r"[\w.]+:[\w]+", self.trial):
            raise InvalidArgument(f"invalid --trial {self.trial!r}: expected module:function")
        if self.command is not None:
            self._check_command()
        if (len(self.objectives) > 1 and self.strategy == "hyperband") or (len(self.objectives) > 1 and self.early_stop != "off"):
            raise InvalidArgument("early stopping (hyperband, --early-stop median) needs a single objective")
        if self.strategy == "grid":
            for p in self.params:
                p.grid_values()
        if self.target is not None and len(self.objectives) == 1 and self.target.metric != self.objectives[0].metric:
            raise InvalidArgument(f"--target names {self.target.metric}, the objective is {self.objectives[0].metric}")
        if self.alias and not self.register_best:
            raise InvalidArgument("--alias needs --register-best NAME")
        if self.to_onnx and not self.register_best and not self.serving_metrics:
            raise InvalidArgument("--to-onnx needs --register-best NAME or a serving objective (latency_p99_ms …)")
        if self.scheduler and self.engine != "dask":
            raise InvalidArgument("--scheduler needs --engine dask")
        if self.heartbeat_timeout_s <= 0:
            raise InvalidArgument("the heartbeat timeout must be > 0")

    def _check_command(self) -> None:
        assert self.command is not None
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(self.command) if f is not None}
        except ValueError as exc:
            raise InvalidArgument(f"invalid --command template: {exc}") from None
        names = {p.name for p in self.params}
        unknown = sorted(fields - names)
        if unknown:
            raise InvalidArgument(f"the command template uses {{{unknown[0]}}}, which is not a parameter ({', '.join(sorted(names))})")
        unused = sorted(names - fields)
        if unused:
            raise InvalidArgument(f"the command template does not use parameter {unused[0]} (add {{{unused[0]}}})")
        try:
            words = shlex.split(self.command)
        except ValueError as exc:
            raise InvalidArgument(f"invalid --command: {exc}") from None
        for word in words:
            if re.fullmatch(r"[^{}\s]+\.(py|sh|R|jl)", word):
                path = Path(word) if Path(word).is_absolute() else Path(self.workdir) / word
                if not path.is_file():
                    raise InvalidArgument(f"script {word!r} does not exist (in {self.workdir})")

    # -- reading ------------------------------------------------------------------------------

    @property
    def serving_metrics(self) -> list[str]:
        """The serving measurements this job needs on each trial's model."""
        wanted = [o.metric for o in self.objectives] + [c.metric for c in self.constraints]
        return [m for m in SERVING_METRICS if m in wanted]

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> TuningSpec:
        """A YAML or JSON spec (modelport's keys or SageMaker's), with flags over it."""
        import yaml

        p = Path(path)
        if not p.is_file():
            raise InvalidArgument(f"spec file {str(p)!r} does not exist")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise InvalidArgument(f"spec file {p}: not YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise InvalidArgument(f"spec file {p}: expected a mapping at the top")
        fields = spec_fields(data)
        fields.setdefault("workdir", str(p.resolve().parent))
        fields.update({k: v for k, v in overrides.items() if v not in (None, [], ())})
        return cls.build(**fields)


# -- loose inputs → fields --------------------------------------------------------------------

_KEYS = {
    "name": "name",
    "objective": "objectives",
    "objectives": "objectives",
    "params": "params",
    "parameters": "params",
    "trials": "trials",
    "parallel": "parallel",
    "strategy": "strategy",
    "seed": "seed",
    "timeout": "timeout_s",
    "target": "target",
    "early_stop": "early_stop",
    "trial": "trial",
    "command": "command",
    "metric_definitions": "metric_definitions",
    "max_failed": "max_failed",
    "constraint": "constraints",
    "constraints": "constraints",
    "not_improving": "not_improving",
    "register_best": "register_best",
    "alias": "alias",
    "to_onnx": "to_onnx",
    "warm_start": "warm_start",
    "engine": "engine",
    "scheduler": "scheduler",
    "heartbeat_timeout": "heartbeat_timeout_s",
    "workdir": "workdir",
}


def spec_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """Fields from a spec document: modelport's keys (``max-failed`` or ``max_failed``) and SageMaker's."""
    fields: dict[str, Any] = {}
    sagemaker = {k: v for k, v in data.items() if k[:1].isupper()}
    for key, value in data.items():
        if key[:1].isupper():
            continue
        norm = key.replace("-", "_")
        if norm not in _KEYS:
            raise InvalidArgument(f"unknown spec key {key!r}: expected one of {', '.join(sorted(_KEYS))} or SageMaker's names")
        fields[_KEYS[norm]] = value
    if sagemaker:
        for k, v in from_sagemaker(sagemaker).items():
            fields.setdefault(k, v)
    return fields


def from_sagemaker(doc: Mapping[str, Any]) -> dict[str, Any]:
    """SageMaker's ``HyperParameterTuningJobConfig`` (and ``WarmStartConfig``, ``TrainingJobDefinition``
    metric definitions) as spec fields — without its caps on categorical values."""
    try:
        return _from_sagemaker(doc)
    except KeyError as exc:
        raise InvalidArgument(f"invalid SageMaker tuning config: {exc.args[0]} is missing") from None
    except (TypeError, AttributeError, ValueError) as exc:
        raise InvalidArgument(f"invalid SageMaker tuning config: {exc}") from None


def _from_sagemaker(doc: Mapping[str, Any]) -> dict[str, Any]:
    cfg = dict(doc.get("HyperParameterTuningJobConfig", {}))
    for key in doc:
        if key not in ("HyperParameterTuningJobConfig", "WarmStartConfig", "TrainingJobDefinition", "HyperParameterTuningJobName"):
            cfg.setdefault(key, doc[key])
    fields: dict[str, Any] = {}
    known = {
        "Strategy", "HyperParameterTuningJobObjective", "ParameterRanges", "ResourceLimits",
        "TrainingJobEarlyStoppingType", "TuningJobCompletionCriteria", "RandomSeed", "StrategyConfig",
    }  # fmt: skip
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise InvalidArgument(f"unknown SageMaker field {unknown[0]!r} in the tuning spec")
    if "HyperParameterTuningJobName" in doc:
        fields["name"] = doc["HyperParameterTuningJobName"]
    if "Strategy" in cfg:
        fields["strategy"] = str(cfg["Strategy"]).lower()
    obj = cfg.get("HyperParameterTuningJobObjective")
    if obj:
        direction = str(obj.get("Type", "")).lower()
        if direction not in ("maximize", "minimize"):
            raise InvalidArgument(f"HyperParameterTuningJobObjective.Type {obj.get('Type')!r}: expected Maximize or Minimize")
        fields["objectives"] = [Objective(metric=_metric_name(str(obj.get("MetricName", ""))), direction=direction)]  # type: ignore[arg-type]
    ranges = cfg.get("ParameterRanges") or {}
    params: list[ParamRange] = []
    for kind, key in (("int", "IntegerParameterRanges"), ("float", "ContinuousParameterRanges")):
        for r in ranges.get(key, []):
            scaling = str(r.get("ScalingType", "Auto")).lower()
            if scaling == "reverselogarithmic":
                raise InvalidArgument(f"parameter {r.get('Name')}: ReverseLogarithmic scaling is not supported; use Logarithmic or Linear")
            params.append(
                ParamRange.build(
                    name=r["Name"], kind=kind, low=_number(r["MinValue"], r["Name"]), high=_number(r["MaxValue"], r["Name"]),
                    log=scaling == "logarithmic",
                )
            )  # fmt: skip
    for r in ranges.get("CategoricalParameterRanges", []):
        params.append(ParamRange.build(name=r["Name"], kind="cat", choices=[_scalar(str(v)) for v in r["Values"]]))
    if params:
        fields["params"] = params
    limits = cfg.get("ResourceLimits") or {}
    if "MaxNumberOfTrainingJobs" in limits:
        fields["trials"] = int(limits["MaxNumberOfTrainingJobs"])
    if "MaxParallelTrainingJobs" in limits:
        fields["parallel"] = int(limits["MaxParallelTrainingJobs"])
    if "MaxRuntimeInSeconds" in limits:
        fields["timeout_s"] = float(limits["MaxRuntimeInSeconds"])
    if "TrainingJobEarlyStoppingType" in cfg:
        fields["early_stop"] = "median" if str(cfg["TrainingJobEarlyStoppingType"]).lower() == "auto" else "off"
    done = cfg.get("TuningJobCompletionCriteria") or {}
    if "TargetObjectiveMetricValue" in done and obj:
        op = ">=" if fields["objectives"][0].direction == "maximize" else "<="
        fields["target"] = Bound(metric=fields["objectives"][0].metric, op=op, value=float(done["TargetObjectiveMetricValue"]))  # type: ignore[arg-type]
    stale = (done.get("BestObjectiveNotImproving") or {}).get("MaxNumberOfTrainingJobsNotImproving")
    if stale:
        fields["not_improving"] = int(stale)
    if "RandomSeed" in cfg:
        fields["seed"] = int(cfg["RandomSeed"])
    warm = doc.get("WarmStartConfig") or {}
    parents = [p["HyperParameterTuningJobName"] for p in warm.get("ParentHyperParameterTuningJobs", [])]
    if parents:
        fields["warm_start"] = parents
    algo = (doc.get("TrainingJobDefinition") or {}).get("AlgorithmSpecification") or {}
    if algo.get("MetricDefinitions"):
        fields["metric_definitions"] = [MetricDefinition(name=m["Name"], regex=m["Regex"]) for m in algo["MetricDefinitions"]]
    return fields


def parse_duration(value: Any) -> float:
    """``1h``, ``30m``, ``90s``, ``1h30m`` or seconds."""
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        m = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", text)
        if not text or not m:
            raise InvalidArgument(f"invalid duration {value!r}: expected e.g. 90s, 30m, 1h or 1h30m")
        h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = h * 3600 + mi * 60 + s
    if seconds <= 0:
        raise InvalidArgument(f"invalid duration {value!r}: must be > 0")
    return seconds


def _objective(value: Any) -> Objective:
    if isinstance(value, Mapping):
        return Objective.parse(f"{value.get('metric')}:{value.get('direction', 'max')}")
    return Objective.parse(str(value))


def _one_line(exc: ValidationError, what: str) -> InvalidArgument:
    """pydantic's first complaint, in one line naming the field."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return InvalidArgument(f"invalid {what}: {where + ': ' if where else ''}{first['msg']}")


def _metric_definition(value: Any) -> MetricDefinition:
    if isinstance(value, MetricDefinition):
        return value
    if not isinstance(value, Mapping):
        raise InvalidArgument(f"invalid metric definition {value!r}: expected name and regex")
    try:
        return MetricDefinition(name=value.get("name", value.get("Name")), regex=value.get("regex", value.get("Regex")))
    except ValidationError as exc:
        raise _one_line(exc, "metric definition") from None


def _param(value: Any) -> ParamRange:
    if isinstance(value, Mapping):
        return ParamRange.build(**value)
    return ParamRange.parse(str(value))


def _params(value: Any) -> list[Any]:
    if isinstance(value, Mapping):  # YAML: {max_depth: "int:2:12"}
        return [f"{k}={v}" for k, v in value.items()]
    return _listed(value)


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | Mapping) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _metric_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:\-/]*", name):
        raise InvalidArgument(f"invalid metric name {name!r}")
    return name


def _number(text: Any, context: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise InvalidArgument(f"invalid number {text!r} in {context!r}") from None
    if not math.isfinite(value):
        raise InvalidArgument(f"invalid number {text!r} in {context!r}")
    return value


def _scalar(text: str) -> Any:
    """A categorical value as typed: ``3`` → 3, ``0.5`` → 0.5, ``true`` → True, else the string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text
