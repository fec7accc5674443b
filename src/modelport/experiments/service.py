"""Starting, judging and ending experiments: what the API, CLI, SDK and the evaluator call.

An experiment owns its endpoint's weights between its two arms while it runs.
Every change it makes — the split at the start, a bandit's new weights, a
promotion, a rollback — is a normal endpoint update (a new revision, loaded
by every server without a failed request) recorded in the endpoint's history
as ``action: experiment``, ``created_by: experiment:NAME`` with a comment
saying why, and written with a compare-and-set on the revision it last saw.
A revision made by anyone else that changes the arms' weights or models
stops the experiment (recorded); other changes (capture, a shadow) are
adopted.

A *shadow experiment* has a shadow variant as its treatment: it answers a
copy of every request the control answers and its answers are never
returned, so there is no split to own and no sample ratio to check; the
arms are compared on the same requests (the shadow's comparison counters).
Promoting it makes the shadow a live variant with the control's traffic; a
breach with ``rollback`` takes the shadow off the endpoint.

:meth:`ExperimentService.evaluate` is one look (docs/experiments.md,
"Decisions and actions"): gather each arm's readings, :func:`judge`, act.
An experiment ends by a compare-and-set on its status *before* it acts, so a
user's ``stop`` and the evaluator's decision never both take effect.
"""

from __future__ import annotations

import builtins
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from modelport.domain import validate_alias, validate_name
from modelport.errors import Conflict, FailedPrecondition, InvalidArgument, ModelportError, NotFound
from modelport.experiments.experiment import Experiment, ExperimentDetails, ExperimentSpec
from modelport.experiments.metrics import SHADOW_METRICS, Metric, parse_metric
from modelport.experiments.store import ExperimentStore, NewEvent

if TYPE_CHECKING:
    from modelport.endpoints.config import Endpoint
    from modelport.endpoints.service import EndpointService
    from modelport.experiments.readings import ArmReader
    from modelport.registry.service import Registry

log = logging.getLogger("modelport.experiments")

#: decisions that end an experiment (``srm`` blocks decisions but keeps it running)
FINAL = ("treatment_wins", "control_wins", "no_difference", "guardrail_breached")
#: a bandit writes new weights only when an arm's share moved at least this much (not a revision every look)
BANDIT_STEP = 0.01
MODES = ("sequential", "fixed", "bandit")


def utcnow() -> datetime:
    return datetime.now(UTC)


class ExperimentService:
    def __init__(
        self,
        store: ExperimentStore,
        endpoints: EndpointService,
        registry: Registry,
        reader: Callable[[], ArmReader] | ArmReader,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: Any = None,
    ) -> None:
        self.store = store
        self.endpoints = endpoints
        self.registry = registry
        self._reader = reader
        self.clock = clock
        self.rng = rng
        """A ``numpy.random.Generator`` for bandits' draws (made on first use)."""

    @property
    def reader(self) -> ArmReader:
        """Built on first use: reading capture imports NumPy, pandas and Arrow (`experiments list` does not)."""
        if callable(self._reader) and not hasattr(self._reader, "read"):
            self._reader = self._reader()
        return self._reader  # type: ignore[return-value]

    # -- start ------------------------------------------------------------------------

    def start(
        self,
        name: str,
        *,
        endpoint: str,
        control: str,
        treatment: str,
        metric: str | None = None,
        direction: str | None = None,
        mode: str = "sequential",
        alpha: float = 0.05,
        mde: float | str | None = None,
        max_samples: int | None = None,
        guardrails: Sequence[str] = (),
        on_win: str = "none",
        on_breach: str = "rollback",
        unit: str | None = None,
        split: Mapping[str, float] | str | None = None,
        min_share: float = 0.05,
        promote_alias: str | None = None,
        srm: str = "chi-square",
        created_by: str,
    ) -> Experiment:
        """Check everything, then take the endpoint's weights between the arms (one new revision)."""
        validate_name(name, "experiment name")
        spec = self._spec(
            control=control,
            treatment=treatment,
            metric=metric,
            direction=direction,
            mode=mode,
            alpha=alpha,
            mde=mde,
            max_samples=max_samples,
            guardrails=guardrails,
            on_win=on_win,
            on_breach=on_breach,
            unit=unit,
            split=split,
            min_share=min_share,
            promote_alias=promote_alias,
            srm=srm,
        )
        ep = self.endpoints.get(endpoint)
        if self._check_arms(ep, control, treatment):
            spec = _shadow_spec(spec, treatment)
        for m in self._metrics(spec):
            self._check_metric(ep, m, (control, treatment), shadow=spec.shadow)
        running = self.store.list(status="running", endpoint=endpoint)
        if running:
            raise Conflict(
                f"experiment {running[0].name!r} is already running on endpoint {endpoint!r}: "
                f"stop it first (modelport experiments stop {running[0].name})"
            )

        live = {v.name: v.weight for v in ep.config.live}
        pool = live[control] + live.get(treatment, 0.0)
        if pool <= 0:  # the arms took no traffic: give them as much as the others together
            pool = sum(live.values()) or 100.0
        weights: dict[str, float] = {}  # a shadow experiment owns no weights: the shadow sees every request
        if not spec.shadow:
            shares = _split(spec, control, treatment)
            weights = {arm: _round(pool * share) for arm, share in shares.items()}
        now = self.clock()
        state: dict[str, Any] = {
            "revision": ep.revision,
            "pool": pool,
            "weights": weights,
            "models": {arm: ep.config.variant(arm).model for arm in (control, treatment)},
            "before": {"weights": live, "revision": ep.revision, "routing": ep.config.routing.model_dump()},
        }
        routing = ep.config.routing.model_dump()
        routing["experiment"] = name
        if spec.unit is not None:  # units placed by the experiment's own hash: independent of earlier ones
            routing.update(unit=spec.unit, salt=name)
        experiment = self.store.create(
            name,
            endpoint=endpoint,
            control=control,
            treatment=treatment,
            spec=spec,
            state=state,
            created_by=created_by,
            started_at=now,
        )
        started = f"started: {_describe(weights)}" if weights else f"started: shadow {treatment} next to {control}"
        try:
            revision = self._write(experiment, weights, started, expected=ep.revision, routing=routing)
        except BaseException:
            self.store.discard(name)  # nothing of the start stays behind
            raise
        state["revision"] = revision
        self.store.record(
            name,
            state=state,
            events=[("started", {"weights": weights, "revision": revision, "spec": spec.model_dump(mode="json")})],
            at=now,
        )
        return self.store.get(name)

    def _spec(self, *, control: str, treatment: str, **given: Any) -> ExperimentSpec:
        """The spec from what the caller gave, every part checked (nothing has changed yet)."""
        metric = parse_metric(given["metric"] or "error_rate")
        direction = given["direction"] or metric.direction
        if direction not in ("increase", "decrease"):
            raise InvalidArgument(f"invalid direction {direction!r}: use increase or decrease")
        mode = given["mode"] or "sequential"
        if mode not in MODES:
            raise InvalidArgument(f"invalid mode {mode!r}: use {', '.join(MODES)}")
        alpha = float(given["alpha"])
        if not 0 < alpha < 0.5:
            raise InvalidArgument(f"invalid alpha {alpha}: use a number between 0 and 0.5 (0.05)")
        mde = parse_mde(given["mde"])
        max_samples = given["max_samples"]
        if max_samples is not None and (isinstance(max_samples, bool) or int(max_samples) < 1):
            raise InvalidArgument(f"invalid max samples {max_samples}: use a whole number of samples per arm >= 1")
        if mode == "fixed" and max_samples is None and mde is None:
            raise InvalidArgument("a fixed-mode experiment needs its sample size: give --max-samples or --mde")
        from modelport.experiments.stats import parse_guardrail

        guardrails = [str(g) for g in given["guardrails"] or ()]
        for text in guardrails:
            guardrail = parse_guardrail(text)
            try:
                parse_metric(guardrail.metric)
            except InvalidArgument as exc:
                raise InvalidArgument(f"invalid guardrail {text!r}: {exc.message}") from None
        if given["on_win"] not in ("promote", "none"):
            raise InvalidArgument(f"invalid --on-win {given['on_win']!r}: use promote or none")
        if given["on_breach"] not in ("rollback", "none"):
            raise InvalidArgument(f"invalid --on-breach {given['on_breach']!r}: use rollback or none")
        unit = given["unit"]
        if unit is not None:
            from modelport.endpoints.config import RoutingConfig

            RoutingConfig(unit=str(unit)).check()  # the data plane's own rule for a unit header
        split = given["split"]
        if split is not None and mode == "bandit":
            raise InvalidArgument("a bandit sets its own weights: leave out --split")
        split_map = parse_split(split, control, treatment) if split is not None else {}
        min_share = float(given["min_share"])
        if not 0 <= min_share < 0.5:
            raise InvalidArgument(f"invalid minimum share {min_share}: use 0 to 0.5 (0.05 = 5% per arm)")
        alias = given["promote_alias"]
        if alias is not None:
            validate_alias(alias)
            if given["on_win"] != "promote":
                raise InvalidArgument(
                    "--promote-alias moves an alias when the winner is promoted: add --on-win promote"
                )
        if control == treatment:
            raise InvalidArgument(f"control and treatment are both {control!r}: compare two variants")
        if given["srm"] not in ("chi-square", "sequential"):
            raise InvalidArgument(f"invalid --srm {given['srm']!r}: use chi-square or sequential")
        if metric.source == "shadow":
            raise InvalidArgument(
                f"metric {metric.name!r} says how far a shadow strays from the live variant, not which is better: "
                f"use it as a guardrail of a shadow experiment (--guardrail {_SHADOW_GUARDRAIL[metric.name]})"
            )
        return ExperimentSpec(
            metric=metric.name,
            direction=direction,
            mode=mode,  # type: ignore[arg-type]  # checked above
            alpha=alpha,
            mde=mde,
            max_samples=None if max_samples is None else int(max_samples),
            guardrails=guardrails,
            on_win=given["on_win"],
            on_breach=given["on_breach"],
            unit=unit,
            split=split_map,
            min_share=min_share,
            promote_alias=alias,
            srm=given["srm"],
        )

    @staticmethod
    def _metrics(spec: ExperimentSpec) -> builtins.list[Metric]:
        from modelport.experiments.stats import parse_guardrail

        return [parse_metric(spec.metric), *(parse_metric(parse_guardrail(g).metric) for g in spec.guardrails)]

    @staticmethod
    def _check_arms(ep: Endpoint, control: str, treatment: str) -> bool:
        """Both arms are variants, the control a live one; True when the treatment is a shadow."""
        names = [v.name for v in ep.config.variants]
        for role, arm in (("control", control), ("treatment", treatment)):
            if arm not in names:
                raise InvalidArgument(
                    f"{role} {arm!r} is not a variant of endpoint {ep.name!r}; its variants: {', '.join(names)}"
                )
        if ep.config.variant(control).shadow:
            raise InvalidArgument(
                f"control {control!r} of endpoint {ep.name!r} is a shadow: its answers are never returned; the "
                "control is a live variant (a shadow can be the treatment, compared on the control's requests)"
            )
        return ep.config.variant(treatment).shadow

    def _check_metric(self, ep: Endpoint, metric: Metric, arms: Sequence[str], *, shadow: bool = False) -> None:
        """A metric the endpoint cannot produce is refused with what would make it work."""
        if shadow and metric.name not in SHADOW_METRICS and metric.quantile is None:
            raise InvalidArgument(
                f"metric {metric.name!r} cannot be read for shadow {arms[1]!r}: a shadow's answers are not "
                f"captured; a shadow experiment measures {', '.join(SHADOW_METRICS)} and latency percentiles"
            )
        if not shadow and metric.source == "shadow":
            raise InvalidArgument(
                f"metric {metric.name!r} compares a shadow with the live variant: the treatment "
                f"{arms[1]!r} is not a shadow of endpoint {ep.name!r}"
            )
        if not metric.needs_capture:
            return
        capture = ep.config.capture
        if not capture.enabled or capture.sampling_percent <= 0 or not capture.capture_output:
            what = "labels joined with the captured predictions" if metric.source == "feedback" else "captured replies"
            raise FailedPrecondition(
                f"metric {metric.name!r} needs {what}, and endpoint {ep.name!r} does not capture its replies: "
                f"enable capture (modelport endpoints update {ep.name} --capture 100)"
            )
        from modelport.monitoring.feedback import task_of

        for arm in arms:
            signature = self.registry.get_version(ep.config.variant(arm).model).signature
            outputs = {str(o.get("name")) for o in signature.get("outputs") or () if isinstance(o, Mapping)}
            if metric.name == "accuracy" and task_of(signature) != "classification":
                raise FailedPrecondition(
                    f"metric 'accuracy' needs classifiers; variant {arm!r} ({ep.config.variant(arm).model}) is not one "
                    "(use error, or reward)"
                )
            if metric.output == "prediction" and "prediction" not in outputs:
                raise FailedPrecondition(
                    f"metric {metric.name!r}: variant {arm!r} ({ep.config.variant(arm).model}) has no 'prediction' "
                    f"output; its outputs: {', '.join(sorted(outputs)) or 'none'}"
                )
            if metric.output == "probabilities":
                classes = signature.get("classes") or []
                if "probabilities" not in outputs or (metric.index or 0) >= len(classes):
                    raise FailedPrecondition(
                        f"metric {metric.name!r}: variant {arm!r} ({ep.config.variant(arm).model}) returns "
                        + (
                            f"probabilities of {len(classes)} classes"
                            if "probabilities" in outputs
                            else "no probabilities"
                        )
                    )

    # -- reads ------------------------------------------------------------------------------

    def get(self, name: str) -> Experiment:
        return self.store.get(name)

    def list(self, *, status: str | None = None, endpoint: str | None = None) -> builtins.list[Experiment]:
        return self.store.list(status=status, endpoint=endpoint)

    def show(self, name: str, *, events: int = 100) -> ExperimentDetails:
        return ExperimentDetails(experiment=self.store.get(name), events=self.store.events(name, limit=events))

    # -- stop ---------------------------------------------------------------------------------

    def stop(self, name: str, *, reason: str | None = None, restore: bool = False, by: str) -> Experiment:
        """End a running experiment; its weights stay as they are unless ``restore`` (those before it started)."""
        experiment = self.store.get(name)
        if experiment.status != "running":
            raise Conflict(f"experiment {name!r} has already ended ({experiment.decision}): nothing to stop")
        why = reason or f"stopped by {by}"
        if not self.store.finish(
            name, decision="stopped", reason=why, ended_at=self.clock(), events=[("stopped", {"by": by, "reason": why})]
        ):
            raise Conflict(f"experiment {name!r} ended meanwhile: see modelport experiments show {name}")
        if restore:
            before = experiment.state["before"]
            weights = {arm: float(before["weights"].get(arm, 0.0)) for arm in experiment.arms}
            why = f"stopped, weights restored: {_describe(weights)}"
            self._act(experiment, weights, "restored", why, routing=before.get("routing") or {})
        else:
            self._act(experiment, None, "", f"stopped by {by}")
        return self.store.get(name)

    # -- one look ---------------------------------------------------------------------------------

    def evaluate_all(self) -> builtins.list[Experiment]:
        """A look at every running experiment (what the evaluator does every few seconds)."""
        out = []
        for experiment in self.store.list(status="running"):
            try:
                out.append(self.evaluate(experiment.name))
            except NotFound:  # deleted meanwhile
                continue
        return out

    def evaluate(self, name: str) -> Experiment:
        """Look at an experiment now: readings → judge → act (end, promote, roll back, move bandit weights)."""
        experiment = self.store.get(name)
        if experiment.status != "running":
            return experiment
        now = self.clock()
        try:
            ep = self.endpoints.get(experiment.endpoint)
        except NotFound:
            self._end(experiment, "stopped", f"endpoint {experiment.endpoint!r} was deleted", experiment.state, None)
            return self.store.get(name)
        state = dict(experiment.state)
        changed = self._changed_by_hand(experiment, ep, state)
        if changed is not None:
            self._end(experiment, "stopped", changed["reason"], state, None, events=[("manual_change", changed)])
            return self.store.get(name)
        try:
            look = self._look(experiment, ep, state, now)
        except ModelportError as exc:
            self._error(experiment, state, exc.message, now)
            raise
        except Exception as exc:  # a bug: recorded, then raised as itself
            self._error(experiment, state, f"unexpected {type(exc).__name__}: {exc}", now)
            raise
        look.state.update(revision=state["revision"], weights=state["weights"])
        look.state.pop("error", None)
        look.state["trace"] = traced(state.get("trace"), now, look.result)
        events: builtins.list[NewEvent] = []
        if look.decision != experiment.decision:
            events.append(("decision", {"decision": look.decision, "reason": look.reason}))
        if look.decision in FINAL:
            self._finish(experiment, look, now)
            return self.store.get(name)
        if look.weights is not None and _moved(state, look.weights):
            weights = {arm: _round(float(state["pool"]) * share) for arm, share in look.weights.items()}
            try:
                state["revision"] = self._write(
                    experiment, weights, f"bandit: {_describe(weights)}", expected=state["revision"]
                )
                state["weights"] = weights
                events.append(("weights", {"weights": weights, "revision": state["revision"]}))
            except Conflict:  # changed by hand meanwhile: the next look sees it
                pass
        look.state.update(revision=state["revision"], weights=state["weights"])
        self.store.record(
            name, state=look.state, result=look.result, decision=look.decision, evaluated_at=now, events=events, at=now
        )
        return self.store.get(name)

    def _look(self, experiment: Experiment, ep: Endpoint, state: dict[str, Any], now: datetime) -> Any:
        from modelport.experiments.judge import judge

        shadow = experiment.spec.shadow
        readings = self.reader.read(
            ep,
            experiment.arms,
            self._metrics(experiment.spec),
            experiment.started_at,
            now,
            experiment=experiment.name,
            shadow=shadow,
        )
        weights = {arm: float(state["weights"].get(arm, 0.0)) for arm in experiment.arms}
        total = sum(weights.values()) or 1.0
        shares = {} if shadow else {arm: w / total for arm, w in weights.items()}
        if self.rng is None and experiment.spec.mode == "bandit":
            import numpy as np

            self.rng = np.random.default_rng()
        return judge(
            experiment.spec, experiment.control, experiment.treatment, state, readings, shares=shares, rng=self.rng
        )

    def _error(self, experiment: Experiment, state: dict[str, Any], message: str, now: datetime) -> None:
        """A look that failed: recorded once per distinct message (not an event every few seconds)."""
        if state.get("error") == message:
            return
        state["error"] = message
        self.store.record(experiment.name, state=state, events=[("error", {"message": message})], at=now)

    def _changed_by_hand(self, experiment: Experiment, ep: Endpoint, state: dict[str, Any]) -> dict[str, Any] | None:
        """None while the arms are as the experiment left them (a revision by someone else that leaves them
        alone is adopted); else what changed, by whom."""
        if ep.revision == state.get("revision"):
            return None
        expected_weights = state.get("weights") or {}
        expected_models = state.get("models") or {}
        differences = []
        names = {v.name: v for v in ep.config.variants}
        for arm in experiment.arms:
            variant = names.get(arm)
            shadow = experiment.spec.shadow and arm == experiment.treatment
            if variant is None or variant.shadow != shadow:
                made = "removed" if variant is None else "made a shadow" if variant.shadow else "made live"
                differences.append(f"variant {arm!r} was {made}")
                continue
            if not math.isclose(variant.weight, float(expected_weights.get(arm, variant.weight)), abs_tol=1e-9):
                differences.append(f"{arm} weight {_num(expected_weights.get(arm))} → {_num(variant.weight)}")
            if expected_models.get(arm, variant.model) != variant.model:
                differences.append(f"{arm} model {expected_models.get(arm)} → {variant.model}")
        if not differences:
            state["revision"] = ep.revision
            return None
        by = [
            r
            for r in self.endpoints.history(ep.name)
            if r.revision > int(state.get("revision") or 0) and r.created_by != experiment.cause
        ]
        who = f"revision {by[0].revision} by {by[0].created_by} ({by[0].action})" if by else f"revision {ep.revision}"
        return {
            "reason": f"the arms were changed by hand ({'; '.join(differences)}, {who}): the experiment no longer "
            "owns the weights",
            "revision": ep.revision,
            "changes": differences,
        }

    # -- actions ----------------------------------------------------------------------------------

    def _finish(self, experiment: Experiment, look: Any, now: datetime) -> None:
        """End on a final decision, then act on it (promote, roll back) — in that order, so a concurrent
        ``stop`` and this never both take effect."""
        spec = experiment.spec
        action: tuple[str, dict[str, float]] | None = None
        change: dict[str, Any] = {}
        pool = float(experiment.state["pool"])
        control, treatment = experiment.control, experiment.treatment
        if look.decision in ("treatment_wins", "control_wins") and spec.on_win == "promote":
            winner = treatment if look.decision == "treatment_wins" else control
            loser = control if winner == treatment else treatment
            action = ("promoted", {winner: _round(pool), loser: 0.0})
            if spec.shadow:  # the shadow goes live with the control's traffic; a control that won has it already
                action = ("promoted", {treatment: _round(pool), control: 0.0}) if winner == treatment else None
                if action is not None:
                    change["variants"] = [self._made_live(experiment)]
        elif look.decision == "guardrail_breached" and spec.on_breach == "rollback":
            action = ("rolled_back", {control: _round(pool), treatment: 0.0})
            if spec.shadow:  # the control has every request already: the shadow is taken off
                action = ("rolled_back", {})
                change["remove"] = [treatment]
        if not self._end(experiment, look.decision, look.reason, look.state, look.result, at=now):
            return
        why = f"{look.decision.replace('_', ' ')}: {look.reason}"
        if action is None:
            self._act(experiment, None, "", why)
            return
        kind, weights = action
        self._act(experiment, weights, kind, why, **change)
        if kind == "promoted" and spec.promote_alias:
            self._move_alias(experiment, max(weights, key=lambda a: weights[a]), spec.promote_alias)

    def _end(
        self,
        experiment: Experiment,
        decision: str,
        reason: str,
        state: dict[str, Any],
        result: dict[str, Any] | None,
        *,
        events: Sequence[NewEvent] = (),
        at: datetime | None = None,
    ) -> bool:
        return self.store.finish(
            experiment.name,
            decision=decision,
            reason=reason,
            ended_at=at or self.clock(),
            state=state,
            result=result,
            events=[*events, ("ended", {"decision": decision, "reason": reason})],
        )

    def _act(
        self,
        experiment: Experiment,
        weights: dict[str, float] | None,
        kind: str,
        why: str,
        *,
        routing: dict[str, Any] | None = None,
        variants: Sequence[Mapping[str, Any]] = (),
        remove: Sequence[str] = (),
    ) -> None:
        """After the experiment ended: move the weights (an event of ``kind``; a failure is an event too)
        and hand the routing back — as before it (``routing``), else without the experiment's name (its
        unit and salt stay, so units keep their arm while the split does); a shadow experiment's action
        also makes the shadow live (``variants``) or takes it off (``remove``)."""
        try:
            if routing is None:
                current = self.endpoints.get(experiment.endpoint).config.routing.model_dump()
                routing = {**current, "experiment": None} if current.get("experiment") == experiment.name else current
            revision = self._write(
                experiment, weights or {}, why, expected=None, routing=routing, variants=variants, remove=remove
            )
        except ModelportError as exc:
            log.warning("experiment %s could not change endpoint %s: %s", experiment.name, experiment.endpoint, exc)
            if kind:
                self.store.add_events(
                    experiment.name, [("error", {"action": kind, "message": exc.message})], self.clock()
                )
            return
        if kind:
            done: dict[str, Any] = {"weights": weights, "revision": revision}
            if remove:
                done["removed"] = list(remove)
            if variants:
                done["made_live"] = [v["name"] for v in variants]
            self.store.add_events(experiment.name, [(kind, done)], self.clock())

    def _made_live(self, experiment: Experiment) -> dict[str, Any]:
        """The shadow treatment as a live variant (same model, capture sampling and batching)."""
        variant = self.endpoints.get(experiment.endpoint).config.variant(experiment.treatment)
        return {**variant.model_dump(), "shadow": False, "weight": float(experiment.state["pool"])}

    def _move_alias(self, experiment: Experiment, winner: str, alias: str) -> None:
        model = str(experiment.state.get("models", {}).get(winner, ""))
        try:
            mv = self.registry.get_version(model)
            self.registry.set_alias(mv.name, alias, mv.version)
        except ModelportError as exc:
            self.store.add_events(
                experiment.name, [("error", {"action": "alias", "message": exc.message})], self.clock()
            )
            return
        moved = {"alias": f"{mv.name}@{alias}", "version": mv.version}
        self.store.add_events(experiment.name, [("alias_moved", moved)], self.clock())

    def _write(
        self,
        experiment: Experiment,
        weights: dict[str, float],
        why: str,
        *,
        expected: int | None,
        routing: dict[str, Any] | None = None,
        variants: Sequence[Mapping[str, Any]] = (),
        remove: Sequence[str] = (),
    ) -> int:
        """One endpoint revision with the arms' new weights (and ``routing``), named as the experiment's;
        the revision number.

        ``expected``: only if the endpoint is still at that revision (CONFLICT otherwise).  What is
        already so writes nothing.
        """
        ep = self.endpoints.get(experiment.endpoint)
        removed = set(remove)
        weights = {arm: w for arm, w in weights.items() if arm not in removed}
        same = all(math.isclose(ep.config.variant(arm).weight, w, abs_tol=1e-9) for arm, w in weights.items())
        same = same and not variants and not remove
        if routing is not None and routing == ep.config.routing.model_dump():
            routing = None
        if same and routing is None:
            if expected is not None and ep.revision != expected:
                raise Conflict(f"endpoint {ep.name!r} changed meanwhile")
            return ep.revision
        updated = self.endpoints.update(
            experiment.endpoint,
            weights=weights,
            variants=variants,
            remove=remove,
            routing=routing,
            created_by=experiment.cause,
            action="experiment",
            comment=f"experiment {experiment.name}: {why}",
            expected_revision=expected,
        )
        return updated.revision


#: a guardrail to suggest for each shadow metric
_SHADOW_GUARDRAIL = {"agreement": "agreement:-2pp", "abs_diff": "abs_diff:+0.05"}


def _shadow_spec(spec: ExperimentSpec, treatment: str) -> ExperimentSpec:
    """A shadow experiment's spec, checked: no split, no bandit, no units (the shadow sees every request)."""
    from modelport.experiments.stats import parse_guardrail

    refused = [
        (spec.mode == "bandit", "--mode bandit (there is no traffic to allocate)"),
        (spec.unit is not None, "--unit (every request is mirrored, whoever sent it)"),
        (bool(spec.split), "--split (the shadow sees every request its control answers)"),
    ]
    for wrong, what in refused:
        if wrong:
            raise InvalidArgument(f"treatment {treatment!r} is a shadow: a shadow experiment takes no {what}")
    for text in spec.guardrails:
        guardrail = parse_guardrail(text)
        if guardrail.metric == "abs_diff" and guardrail.relative:
            raise InvalidArgument(
                f"invalid guardrail {text!r}: the live variant's |Δ| from itself is 0, so the margin is absolute "
                "(abs_diff:+0.05, in the outputs' units)"
            )
    return spec.model_copy(update={"shadow": True})


def parse_mde(value: float | str | None) -> float | None:
    """The minimum detectable effect in the metric's units: ``0.02`` or ``2pp`` (percentage points)."""
    if value is None:
        return None
    text = str(value).strip().lower()
    scale = 1.0
    if text.endswith("pp"):
        text, scale = text[:-2], 0.01
    try:
        number = float(text) * scale
    except ValueError:
        raise InvalidArgument(
            f"invalid MDE {value!r}: give the smallest difference worth finding in the metric's units (0.02 or 2pp)"
        ) from None
    if not math.isfinite(number) or number <= 0:
        raise InvalidArgument(f"invalid MDE {value!r}: it must be a positive number")
    return number


def parse_split(split: Mapping[str, float] | str, control: str, treatment: str) -> dict[str, float]:
    """``90/10`` (control/treatment) or ``{"a": 90, "b": 10}`` → the arms' relative weights."""
    if isinstance(split, str):
        parts = split.replace(":", "/").split("/")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) != 2:
            raise InvalidArgument(f"invalid split {split!r}: expected CONTROL/TREATMENT, e.g. 50/50 or 90/10")
        out = {control: numbers[0], treatment: numbers[1]}
    else:
        out = {str(k): float(v) for k, v in split.items()}
        if set(out) != {control, treatment}:
            raise InvalidArgument(f"invalid split {dict(split)}: give a weight for {control!r} and {treatment!r}")
    if any(not math.isfinite(v) or v <= 0 for v in out.values()):
        raise InvalidArgument(f"invalid split {split!r}: both arms need a weight > 0")
    return out


def _split(spec: ExperimentSpec, control: str, treatment: str) -> dict[str, float]:
    if not spec.split:
        return {control: 0.5, treatment: 0.5}
    total = sum(spec.split.values())
    return {arm: spec.split[arm] / total for arm in (control, treatment)}


def _moved(state: Mapping[str, Any], shares: Mapping[str, float]) -> bool:
    weights = state.get("weights") or {}
    total = sum(float(w) for w in weights.values()) or 1.0
    return any(abs(float(weights.get(arm, 0.0)) / total - share) >= BANDIT_STEP for arm, share in shares.items())


def _round(x: float) -> float:
    return round(float(x), 4)


def _num(x: Any) -> str:
    return "?" if x is None else f"{float(x):g}"


def _describe(weights: Mapping[str, float]) -> str:
    total = sum(weights.values()) or 1.0
    return ", ".join(f"{arm} {100 * w / total:.4g}%" for arm, w in weights.items())


#: looks kept in an experiment's trace (the console's lift-over-time chart)
TRACE_POINTS = 500


def traced(trace: Any, now: datetime, result: dict[str, Any]) -> builtins.list[builtins.list[float | None]]:
    """The trace with this look appended: [time, lift, lower, upper] of the confidence sequence. When full,
    every other point goes (the whole span kept, half as dense)."""
    lift = result.get("lift") or {}
    low, high = (lift.get("ci") or [None, None])[:2]
    points = [list(p) for p in trace or ()]
    points.append([now.timestamp(), lift.get("absolute"), low, high])
    if len(points) > TRACE_POINTS:
        points = points[::2]
    return points
