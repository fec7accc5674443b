"""Creating monitors and running them: capture of a window against the baseline, one report per run.

A run, per variant of the endpoint (or the one the monitor names):

1. the reference: the version's newest dataset baseline (``monitors
   baseline``), else the baseline of its registration sample;
2. the capture files of every hour the window overlaps; the ones not folded
   yet on this reference's bins are folded (once: ``capture_folds``);
3. the profiles of the window's minutes merged (windows resolve to the
   minute: ``since`` and ``until`` are cut to whole minutes);
4. ``drift.evaluate`` → per-feature results and SageMaker violations;
5. the run and its report (``monitoring/<monitor>/<run id>/``: per variant
   ``statistics.json`` of the window and ``constraint_violations.json``, and
   ``report.json``) written together: never a run without its report, nor a
   half-written report a run points at.

A window without capture is a completed run whose features are ``no_data``;
records that cannot be decoded are counted in the result.  A run that fails
(the endpoint is gone, the version has no baseline) is recorded as failed
with the reason.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from modelport.errors import FailedPrecondition, InvalidArgument, ModelportError, NotFound
from modelport.monitoring.capture import (
    CaptureLocation,
    capture_root,
    floor_hour,
    floor_minute,
    fold_files,
    minute_key,
)
from modelport.monitoring.config import check_sections, split_config
from modelport.monitoring.monitor import DatasetBaseline, Monitor, MonitorDetails, MonitorRun
from modelport.monitoring.profiles import Profile, Reference, merge_all
from modelport.monitoring.schedule import next_run, parse_duration, schedule_from
from modelport.monitoring.store import MonitorStore, NewRun
from modelport.signature import Signature

if TYPE_CHECKING:
    from modelport.domain import ModelVersion
    from modelport.endpoints.config import Endpoint, Variant
    from modelport.endpoints.service import EndpointService
    from modelport.monitoring.config import MonitorConfig
    from modelport.monitoring.feedback import FeedbackStore
    from modelport.monitoring.quality import Task
    from modelport.registry.service import Registry
    from modelport.store import ArtifactStore

log = logging.getLogger("modelport.monitoring")

DEFAULT_WINDOW_S = 3600
ENGINES = ("local", "dask")
#: distinct decoding errors a run reports per variant
REPORTED_ERRORS = 5


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)


class MonitorService:
    def __init__(
        self,
        store: MonitorStore,
        endpoints: EndpointService,
        registry: Registry,
        artifacts: ArtifactStore,
        feedback: FeedbackStore,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.feedback = feedback
        self.endpoints = endpoints
        self.registry = registry
        self.artifacts = artifacts
        self.clock = clock

    # -- monitors -------------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        endpoint: str,
        variant: str | None = None,
        every: str | int | None = None,
        cron: str | None = None,
        window: str | int | None = None,
        config: Mapping[str, Any] | None = None,
        created_by: str,
    ) -> Monitor:
        """A monitor on an endpoint that captures its traffic; validated before anything is written."""
        ep = self.endpoints.get(endpoint)
        capture = ep.config.capture
        if not capture.enabled or not capture.capture_input:
            raise FailedPrecondition(
                f"endpoint {endpoint!r} does not capture data: enable capture "
                f"(modelport endpoints update {endpoint} --capture 100) so a monitor has traffic to judge"
            )
        variants = self._variants(ep, variant)
        schedule = schedule_from(every, cron)
        window_s = parse_duration(window, "--window") if window is not None else schedule.get("every", DEFAULT_WINDOW_S)
        settings = dict(config or {})
        for v in variants:
            self._check_config(settings, self.registry.get_version(v.model))
        return self.store.create(
            name,
            endpoint=endpoint,
            variant=variant,
            schedule=schedule,
            window_s=int(window_s),
            config=settings,
            next_run_at=next_run(schedule, self.clock()),
            created_by=created_by,
        )

    def get(self, name: str) -> Monitor:
        return self.store.get(name)

    def list(self) -> list[Monitor]:
        return self.store.list()

    def show(self, name: str, *, runs: int = 10) -> MonitorDetails:
        monitor = self.store.get(name)
        return MonitorDetails(monitor=monitor, runs=self.store.runs(name, limit=runs), alerts=self.store.alerts(name))

    def runs(self, name: str, *, limit: int = 20) -> builtins.list[MonitorRun]:
        return self.store.runs(name, limit=limit)

    def delete(self, name: str) -> None:
        self.store.delete(name)

    @staticmethod
    def _variants(ep: Endpoint, variant: str | None) -> builtins.list[Variant]:
        if variant is None:
            return ep.config.live
        chosen = ep.config.variant(variant)
        if chosen.shadow:
            raise InvalidArgument(
                f"variant {variant!r} of {ep.name!r} is a shadow: its answers are not captured, so there is nothing to monitor"
            )
        return [chosen]

    def _check_config(self, config: Mapping[str, Any], mv: ModelVersion) -> None:
        from modelport.monitoring.config import MonitorConfig

        check_sections(config)
        parsed = MonitorConfig.from_mapping(split_config(config)[0])
        reference = self._reference_or_none(mv)
        if reference is not None:
            parsed.check_features(reference.binning.names, {f.name: f.kind for f in reference.binning.features})
        else:
            parsed.check_features(Signature.from_dict(mv.signature).input_names)

    # -- baselines --------------------------------------------------------------------

    def _reference_or_none(self, mv: ModelVersion) -> Reference | None:
        return self._reference(mv)[0]

    def _reference(self, mv: ModelVersion) -> tuple[Reference | None, str, dict[str, Any] | None]:
        """The reference a version's capture is judged against, where it comes from, and its constraints."""
        baseline, source, constraints = self.judged_against(mv)
        return (Reference.from_baseline(baseline) if source else None), source, constraints

    def judged_against(self, mv: ModelVersion) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
        """The baseline (features and their bins) a version's capture is judged against — the latest dataset
        baseline, else the registration sample's — where it comes from ("" when there is none), and its constraints."""
        dataset = self.store.latest_baseline(mv.name, mv.version)
        if dataset is not None:
            from modelport.monitoring.sagemaker import baseline_from_statistics

            baseline = baseline_from_statistics(dataset.statistics, dataset.constraints)
            return baseline, f"dataset baseline {dataset.id} ({dataset.source})", dataset.constraints
        if mv.baseline.get("features"):
            return mv.baseline, "registration sample", None
        return {}, "", None

    def baseline(
        self,
        model: str,
        *,
        data: str | Path | None = None,
        data_name: str | None = None,
        statistics: Mapping[str, Any] | None = None,
        constraints: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        source: str | None = None,
        created_by: str,
    ) -> DatasetBaseline:
        """A dataset baseline for a model version (SageMaker's suggest_baseline), from a CSV/Parquet/JSONL
        file restricted to the signature's inputs, or imported from SageMaker's statistics.json (+ constraints.json).

        ``data_name``: the dataset's file name when ``data`` is a stored copy (its format comes from it).
        """
        from modelport.monitoring.config import MonitorConfig
        from modelport.monitoring.sagemaker import baseline_from_statistics, constraints_json, statistics_json

        if (data is None) == (statistics is None):
            raise InvalidArgument("make a baseline from a dataset (--data) or import one (--statistics), not both")
        if constraints is not None and statistics is None:
            raise InvalidArgument("--constraints comes with --statistics")
        mv = self.registry.get_version(model)
        settings = MonitorConfig.from_mapping(config)
        if data is not None:
            path = Path(data)
            name = data_name or path.name
            baseline = _dataset_baseline(path, name, mv)
            reference = Reference.from_baseline(baseline)
            settings.check_features(reference.binning.names)
            stats = statistics_json(reference)
            cons = constraints_json(reference, settings)
            origin = source or f"{name}, {baseline['item_count']} rows"
        else:
            assert statistics is not None
            reference = Reference.from_baseline(baseline_from_statistics(statistics, constraints))
            _check_names(reference.binning.names, mv)
            stats = dict(statistics)
            cons = dict(constraints) if constraints is not None else constraints_json(reference, settings)
            origin = source or "imported statistics.json"
        return self.store.add_baseline(
            mv.name, mv.version, statistics=stats, constraints=cons, source=origin, created_by=created_by
        )

    # -- runs -----------------------------------------------------------------------------

    def window(self, monitor: Monitor, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
        """``[since, until)`` cut to whole minutes; by default the monitor's window up to now, this minute
        included (what was captured of it so far)."""
        end = floor_minute(_utc(until)) if until is not None else floor_minute(self.clock()) + timedelta(minutes=1)
        start = floor_minute(_utc(since)) if since is not None else end - timedelta(seconds=monitor.window_s)
        if start >= end:
            raise InvalidArgument(
                f"empty window: since ({start:%Y-%m-%d %H:%M}) must be before until ({end:%Y-%m-%d %H:%M}) "
                "(windows resolve to whole minutes)"
            )
        return start, end

    def run(
        self,
        name: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        trigger: str = "manual",
        engine: str = "local",
        scheduler: str | None = None,
    ) -> MonitorRun:
        """Judge the window's capture now; the run is recorded (a failed one too, then its error is raised)."""
        if engine not in ENGINES:
            raise InvalidArgument(f"unknown engine {engine!r}: use local or dask")
        monitor = self.store.get(name)
        start, end = self.window(monitor, since, until)
        started = self.clock()
        try:
            variants, statistics = self._evaluate(monitor, start, end, engine, scheduler)
        except ModelportError as exc:
            self._record_failure(monitor, trigger, start, end, started, exc.message)
            raise
        except Exception as exc:  # a bug: recorded, then raised as itself
            self._record_failure(monitor, trigger, start, end, started, f"unexpected {type(exc).__name__}: {exc}")
            raise
        violations = sum(len(v["violations"]) + len(v.get("quality_violations", [])) for v in variants.values())
        result = {"window": {"since": start.isoformat(), "until": end.isoformat()}, "variants": variants}
        record = NewRun(
            status="completed",
            trigger=trigger,
            since=start,
            until=end,
            result=result,
            violations=violations,
            started_at=started,
            finished_at=self.clock(),
        )
        try:
            run = self.store.add_run(
                name, record, lambda run_id: self._write_report(monitor, run_id, result, statistics)
            )
        except ModelportError as exc:
            self._record_failure(
                monitor, trigger, start, end, started, f"the report could not be written: {exc.message}"
            )
            raise
        self._after_run(monitor, run)
        return run

    def _record_failure(
        self, monitor: Monitor, trigger: str, since: datetime, until: datetime, started: datetime, error: str
    ) -> MonitorRun | None:
        try:
            return self.store.add_run(
                monitor.name,
                NewRun(
                    status="failed",
                    trigger=trigger,
                    since=since,
                    until=until,
                    result={},
                    violations=0,
                    started_at=started,
                    finished_at=self.clock(),
                    error=error,
                ),
            )
        except NotFound:  # deleted meanwhile: nothing to record it on
            return None

    def _evaluate(
        self, monitor: Monitor, since: datetime, until: datetime, engine: str, scheduler: str | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Per variant: its result, and the window's statistics.json."""
        from modelport.monitoring.drift import evaluate

        ep = self.endpoints.get(monitor.endpoint)
        location = CaptureLocation(
            capture_root(ep.config.capture.destination, self.artifacts.root), self.artifacts.s3_endpoint_url
        )
        out: dict[str, Any] = {}
        statistics: dict[str, Any] = {}
        for variant in self._variants(ep, monitor.variant):
            mv = self.registry.get_version(variant.model)
            reference, origin, constraints = self._reference(mv)
            if reference is None:
                raise FailedPrecondition(
                    f"model version {mv.ref} (variant {variant.name!r} of {ep.name!r}) has no baseline to compare with: "
                    f"register it with a sample (--sample) or make one: modelport monitors baseline {mv.ref} --data train.parquet"
                )
            config = _config(monitor.config, constraints)
            config.check_features(reference.binning.names, {f.name: f.kind for f in reference.binning.features})
            window = self._window_profile(
                location,
                ep.name,
                variant.name,
                Signature.from_dict(mv.signature),
                reference,
                since,
                until,
                engine,
                scheduler,
            )
            evaluation = evaluate(reference, window.profile, config)
            result = {
                "model": mv.ref,
                "baseline": origin,
                "rows": window.profile.rows,
                "undecodable": window.undecodable,
                "errors": window.errors,
                "files": window.files,
                "status": _status(evaluation),
                **evaluation.to_json(),
            }
            result.update(self._variant_extras(monitor, variant.name, mv, since, until, result))
            out[variant.name] = result
            statistics[variant.name] = _statistics(window.profile, reference)
        return out, statistics

    def _window_profile(
        self,
        location: CaptureLocation,
        endpoint: str,
        variant: str,
        signature: Signature,
        reference: Reference,
        since: datetime,
        until: datetime,
        engine: str,
        scheduler: str | None,
    ) -> _Window:
        """Fold the window's files not folded yet on this reference's bins, then merge its minutes."""
        binning = reference.binning
        files = location.files(endpoint, variant, since, until)
        # every file of the hours listed, records after ``until`` too: a file is folded once, whatever the window
        known = self.store.folded_paths(
            endpoint, variant, binning.digest, floor_hour(since), floor_hour(until) + timedelta(hours=1)
        )
        new = [f for f in files if f.url not in known]
        if new:
            if engine == "dask":
                from modelport.monitoring.dask_fold import fold_on_dask

                for folded in fold_on_dask(new, location, signature, binning, scheduler=scheduler):
                    self.store.save_folds(endpoint, variant, binning.digest, folded)
            else:
                batch = []
                for folded_file in fold_files(new, location, signature, binning):
                    batch.append(folded_file)
                    if len(batch) >= 500:
                        self.store.save_folds(endpoint, variant, binning.digest, batch)
                        batch = []
                self.store.save_folds(endpoint, variant, binning.digest, batch)
        first, last = minute_key(since), minute_key(until)
        profiles: list[Profile] = []
        undecodable = 0
        errors: dict[str, int] = {}
        for fold in self.store.folds(endpoint, variant, binning.digest, since, until):
            profiles += [p for minute, p in fold.profiles.items() if first <= minute < last]
            inside = sum(n for minute, n in fold.undecodable.items() if first <= minute < last)
            undecodable += inside
            if inside:
                for message, n in fold.errors.items():
                    if message in errors or len(errors) < REPORTED_ERRORS:
                        errors[message] = errors.get(message, 0) + n
        return _Window(
            profile=merge_all(profiles, binning),
            undecodable=undecodable,
            errors=errors,
            files={"listed": len(files), "folded": len(new), "reused": len(files) - len(new)},
        )

    # -- where quality, estimates and alerts plug in ------------------------------------

    def _variant_extras(
        self, monitor: Monitor, variant: str, mv: ModelVersion, since: datetime, until: datetime, result: dict[str, Any]
    ) -> dict[str, Any]:
        """Model quality (feedback joined with the window's predictions), the label-free estimate, and the
        quality thresholds they break; merged into the variant's result (report.json, ``monitors show``)."""
        from modelport.monitoring.estimate import estimate
        from modelport.monitoring.predictions import predictions_frame
        from modelport.monitoring.quality import assess, breaches

        predictions = predictions_frame(self.store.predictions(monitor.endpoint, variant, since, until), since, until)
        classes = Signature.from_dict(mv.signature).extra.get("classes")
        task: Task = "classification" if classes or predictions["label"].notna().any() else "regression"
        feedback = self.feedback.window(monitor.endpoint, since, until)
        quality = assess(predictions, feedback, task=task, classes=classes, window=(since, until))
        extras: dict[str, Any] = {"quality": quality}
        if task == "classification":
            extras["estimate"] = estimate(predictions, classes)
        thresholds = split_config(monitor.config)[1]
        extras["quality_violations"] = breaches(variant, quality, thresholds, estimate=extras.get("estimate"))
        return extras

    def _after_run(self, monitor: Monitor, run: MonitorRun) -> None:
        """Alerts for the run's violations (fired, kept while they last, resolved; webhooks), after the run is
        recorded: a delivery that fails is recorded on the alert and tried again by the next run."""
        from modelport.monitoring.alerts import Alerter

        violations = [
            {"variant": variant, **violation}
            for variant, section in run.result.get("variants", {}).items()
            for violation in section.get("violations", [])
        ]
        violations += [
            v for section in run.result.get("variants", {}).values() for v in section.get("quality_violations", [])
        ]
        try:
            summary = {
                "id": run.id,
                "since": run.since.isoformat(),
                "until": run.until.isoformat(),
                "violations": run.violations,
                "report_uri": run.report_uri,
            }
            Alerter(self.store.db).process(monitor, violations, config=split_config(monitor.config)[2], run=summary)
        except Exception:  # the run is recorded; an alerting bug must not turn it into a failure
            log.exception("alerts of monitor %s, run %s, could not be processed", monitor.name, run.id)

    # -- the report ----------------------------------------------------------------------

    def _write_report(self, monitor: Monitor, run_id: int, result: dict[str, Any], statistics: dict[str, Any]) -> str:
        """``monitoring/<monitor>/<run id>/``: report.json and, per variant, statistics.json and
        constraint_violations.json (SageMaker's formats); returns the folder's URI."""
        from modelport.monitoring.drift import Evaluation
        from modelport.monitoring.sagemaker import violations_json

        folder = f"monitoring/{monitor.name}/{run_id}"
        for variant, section in result["variants"].items():
            self.artifacts.write_object(f"{folder}/{variant}/statistics.json", _json(statistics[variant]))
            violations = violations_json(Evaluation.from_json(section))
            self.artifacts.write_object(f"{folder}/{variant}/constraint_violations.json", _json(violations))
        report = {"monitor": monitor.name, "run": run_id, "endpoint": monitor.endpoint, **result}
        self.artifacts.write_object(f"{folder}/report.json", _json(report))
        return self.artifacts.key(folder)


def _utc(t: datetime) -> datetime:
    """A time without a zone is UTC (capture times are)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


class _Window:
    def __init__(self, profile: Profile, undecodable: int, errors: dict[str, int], files: dict[str, int]) -> None:
        self.profile = profile
        self.undecodable = undecodable
        self.errors = errors
        self.files = files


def _status(evaluation: Any) -> str:
    """The variant at a glance: violations, else drift, else no_data when nothing was captured, else ok."""
    if evaluation.violations:
        return "violations"
    statuses = {f.status for f in evaluation.features}
    if "drift" in statuses:
        return "drift"
    if statuses and statuses <= {"no_data"}:
        return "no_data"
    return "ok"


def _statistics(profile: Profile, reference: Reference) -> dict[str, Any]:
    from modelport.monitoring.sagemaker import statistics_json

    return statistics_json(profile, reference.binning, reference.inferred_types)


def _config(settings: Mapping[str, Any], constraints: Mapping[str, Any] | None) -> MonitorConfig:
    """The monitor's config over the dataset baseline's constraints.json (when it has one), over the defaults."""
    from modelport.monitoring.config import MonitorConfig

    settings = split_config(settings)[0]

    if constraints is None:
        return MonitorConfig.from_mapping(settings)
    base = MonitorConfig.from_constraints(constraints).to_json()
    features = {**base.get("features", {})}
    for name, overrides in (settings.get("features") or {}).items():
        features[name] = {**features.get(name, {}), **dict(overrides)}
    merged = {**base, **{k: v for k, v in settings.items() if k != "features"}}
    if features:
        merged["features"] = features
    return MonitorConfig.from_mapping(merged)


def _check_names(names: list[str], mv: ModelVersion) -> None:
    """The baseline's features must be the version's inputs (a tensor input takes any k named columns)."""
    signature = Signature.from_dict(mv.signature)
    from modelport.serving.codecs.columns import tensor_input

    if not signature.inputs or tensor_input(signature) is not None:
        return
    unknown = [n for n in names if n not in signature.input_names]
    if unknown:
        raise InvalidArgument(
            f"the baseline has feature(s) {', '.join(map(repr, unknown))} that {mv.ref} does not take; "
            f"its inputs are {', '.join(signature.input_names)}"
        )


def _dataset_baseline(path: Path, name: str, mv: ModelVersion) -> dict[str, Any]:
    """compute_baseline of a dataset's columns that are the version's inputs."""
    from modelport.baseline import compute_baseline
    from modelport.frames import read_table, table_format
    from modelport.serving.codecs.columns import tensor_input

    if not path.is_file():
        raise InvalidArgument(f"dataset {str(path)!r} does not exist or is not a file")
    frame = read_table(path, fmt=table_format(name))
    if len(frame) == 0:
        raise InvalidArgument(f"dataset {name!r} has no rows")
    signature = Signature.from_dict(mv.signature)
    tensor = tensor_input(signature)
    if tensor is not None or not signature.inputs:
        # a tensor input's columns are named by the registration sample (its baseline), else the dataset's own
        known = [f["name"] for f in mv.baseline.get("features", ())]
        names = known or [str(c) for c in frame.columns]
    else:
        names = signature.input_names
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise InvalidArgument(f"dataset {name!r} lacks the input column(s) {', '.join(map(repr, missing))} of {mv.ref}")
    return compute_baseline(frame, columns=names)
