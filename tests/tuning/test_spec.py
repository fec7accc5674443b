"""The spec refuses bad input with one line before any trial runs; SageMaker's config reads as the same spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.errors import InvalidArgument
from modelport.tuning.spec import Bound, Objective, ParamRange, TuningSpec, parse_duration, spec_fields
from modelport.tuning.trials import render_command


def test_params_parse_every_kind() -> None:
    assert ParamRange.parse("max_depth=int:2:12") == ParamRange(name="max_depth", kind="int", low=2, high=12)
    lr = ParamRange.parse("learning_rate=float:0.001:0.3:log")
    assert (lr.kind, lr.low, lr.high, lr.log) == ("float", 0.001, 0.3, True)
    assert ParamRange.parse("criterion=cat:gini,entropy").choices == ["gini", "entropy"]
    assert ParamRange.parse("n=cat:1,2,auto").choices == [1, 2, "auto"]
    assert ParamRange.parse("a=float:0:1:step=0.25").grid_values() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert Objective.parse("val_auc:max").direction == "maximize"
    assert Bound.parse("latency_p99_ms<=2").met(1.5)
    assert parse_duration("1h30m") == 5400 and parse_duration("90s") == 90 and parse_duration(12) == 12


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"params": ["max_depth=int:12:2"]}, "parameter max_depth: min 12 is greater than max 2"),
        ({"strategy": "annealing"}, "unknown strategy 'annealing': expected one of bayesian, random, grid, hyperband"),
        ({"objectives": ["val_auc:up"]}, "invalid --objective 'val_auc:up'"),
        ({"params": ["lr=float:0:1:log"]}, "parameter lr: a log scale needs min > 0"),
        ({"params": ["x=float:0:1"], "strategy": "grid"}, "grid search needs a step for float parameter x"),
        ({"timeout_s": "soon"}, "invalid duration 'soon'"),
        ({"trial": None}, "give the trial to run"),
        ({"early_stop": "mean"}, "unknown --early-stop 'mean'"),
        # as the API and YAML send them: a mapping per parameter, metric definitions, limits
        ({"params": [{"name": "x", "kind": "int"}]}, "parameter x: an int range needs min and max"),
        ({"params": [{"name": "x", "kind": "bogus"}]}, "invalid parameter 'x': kind:"),
        ({"metric_definitions": [{"name": "loss", "regex": "loss: ("}]}, "metric loss: invalid regex 'loss: ('"),
        ({"metric_definitions": [{"name": "loss", "regex": "loss: [0-9.]+"}]}, "needs a group around the number"),
        ({"metric_definitions": [{"regex": "x"}]}, "invalid metric definition: name:"),
        ({"metric_definitions": ["loss"]}, "invalid metric definition 'loss'"),
        ({"parallel": 100_000}, "--parallel must be from 1 to 256"),
        ({"timeout_s": 0}, "invalid duration 0: must be > 0"),
        ({"not_improving": 0}, "--not-improving must be at least 1"),
        ({"objectives": [Objective(metric="a b", direction="maximize")]}, "invalid metric name 'a b'"),
    ],
)
def test_bad_input_is_one_line_before_any_trial(fields: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"objectives": ["val_auc:max"], "params": ["max_depth=int:2:12"], "trial": "m:f"}
    with pytest.raises(InvalidArgument) as info:
        TuningSpec.build(**{**base, **fields})
    assert message in info.value.message
    assert "\n" not in info.value.message


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"ParameterRanges": {"IntegerParameterRanges": [{"Name": "n"}]}}, "invalid SageMaker tuning config: MinValue is missing"),
        ({"ParameterRanges": "all"}, "invalid SageMaker tuning config: 'str' object has no attribute 'get'"),
        ({"ResourceLimits": {"MaxNumberOfTrainingJobs": "many"}}, "invalid SageMaker tuning config: invalid literal"),
    ],
)
def test_a_bad_sagemaker_tuning_config_is_one_line(doc: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        spec_fields({"HyperParameterTuningJobConfig": doc})
    assert info.value.message.startswith(message) and "\n" not in info.value.message


def test_a_spec_sent_as_json_gets_the_same_checks_as_flags() -> None:
    spec = TuningSpec.build(objectives=["val_auc:max"], params=["max_depth=int:2:12"], trial="m:f")
    for field, value, message in [
        ("timeout_s", -1.0, "--timeout must be > 0"),
        ("parallel", 0, "--parallel must be from 1 to 256"),
        ("objectives", [Objective(metric="a b", direction="maximize")], "invalid metric name 'a b'"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            TuningSpec.model_validate({**spec.model_dump(), field: value}).check()


def test_a_command_template_must_match_the_parameters_and_its_script_exist(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('val_auc=1')\n")
    base: dict[str, object] = {"objectives": ["val_auc:max"], "params": ["max_depth=int:2:12"], "workdir": str(tmp_path)}
    ok = TuningSpec.build(**base, command="python train.py --max-depth {max_depth}")
    assert ok.command is not None
    assert render_command(ok.command, {"max_depth": 3}) == "python train.py --max-depth 3"
    assert render_command(ok.command, {"max_depth": "3; rm -rf /"}) == "python train.py --max-depth '3; rm -rf /'"
    with pytest.raises(InvalidArgument, match=r"script 'missing.py' does not exist"):
        TuningSpec.build(**base, command="python missing.py --max-depth {max_depth}")
    with pytest.raises(InvalidArgument, match=r"uses \{depth\}, which is not a parameter"):
        TuningSpec.build(**base, command="python train.py --max-depth {depth}")
    with pytest.raises(InvalidArgument, match=r"does not use parameter max_depth"):
        TuningSpec.build(**base, command="python train.py")


def test_a_sagemaker_tuning_config_reads_as_the_same_spec(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(
        """
HyperParameterTuningJobName: sm-job
trial: train:objective
HyperParameterTuningJobConfig:
  Strategy: Bayesian
  HyperParameterTuningJobObjective: {Type: Maximize, MetricName: validation:auc}
  ParameterRanges:
    IntegerParameterRanges: [{Name: max_depth, MinValue: "2", MaxValue: "12", ScalingType: Auto}]
    ContinuousParameterRanges: [{Name: eta, MinValue: "0.001", MaxValue: "0.3", ScalingType: Logarithmic}]
    CategoricalParameterRanges: [{Name: booster, Values: [gbtree, dart]}]
  ResourceLimits: {MaxNumberOfTrainingJobs: 40, MaxParallelTrainingJobs: 4, MaxRuntimeInSeconds: 3600}
  TrainingJobEarlyStoppingType: Auto
  TuningJobCompletionCriteria:
    TargetObjectiveMetricValue: 0.97
    BestObjectiveNotImproving: {MaxNumberOfTrainingJobsNotImproving: 10}
  RandomSeed: 11
WarmStartConfig:
  ParentHyperParameterTuningJobs: [{HyperParameterTuningJobName: earlier}]
  WarmStartType: IdenticalDataAndAlgorithm
"""
    )
    spec = TuningSpec.from_file(tmp_path / "spec.yaml", trials=30)
    flags = TuningSpec.build(
        name="sm-job",
        objectives=["validation:auc:max"],
        params=["max_depth=int:2:12", "eta=float:0.001:0.3:log", "booster=cat:gbtree,dart"],
        trials=30,
        parallel=4,
        timeout_s="1h",
        early_stop="median",
        target="validation:auc>=0.97",
        not_improving=10,
        seed=11,
        warm_start="earlier",
        trial="train:objective",
        workdir=str(tmp_path),
    )
    assert spec == flags  # the flag given on the command line (--trials 30) wins over the file's 40


def test_a_sagemaker_categorical_range_has_no_30_value_cap() -> None:
    values = [f"v{i}" for i in range(100)]
    spec = TuningSpec.build(objectives=["m:min"], params=[f"c=cat:{','.join(values)}"], trial="m:f")
    assert len(spec.params[0].choices) == 100
