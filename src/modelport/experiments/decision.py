"""The experiment's decision: a pure policy over one look's results."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from modelport.experiments.arms import Direction, Interval
from modelport.experiments.fixed import FixedResult
from modelport.experiments.guardrails import GuardrailResult
from modelport.experiments.sequential import SequentialResult
from modelport.experiments.srm import SRMResult

DecisionKind = Literal["running", "treatment_wins", "control_wins", "no_difference", "guardrail_breached", "srm"]


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    reasons: tuple[str, ...] = ()

    @property
    def final(self) -> bool:
        """Everything but ``running`` ends the experiment."""
        return self.kind != "running"

    @property
    def winner(self) -> Literal["control", "treatment"] | None:
        return {"treatment_wins": "treatment", "control_wins": "control"}.get(self.kind)  # type: ignore[return-value]

    def to_json(self) -> dict[str, Any]:
        return {"decision": self.kind, "reasons": list(self.reasons), "final": self.final, "winner": self.winner}


def decide(
    *,
    primary: SequentialResult | FixedResult | None,
    direction: Direction = "higher",
    srm: SRMResult | None = None,
    guardrails: Sequence[GuardrailResult] = (),
    max_samples: int | None = None,
    mde: float | None = None,
    require_guardrails: bool = True,
) -> Decision:
    """The experiment's decision from this look's results (pure: same inputs, same decision).

    In order: a flagged SRM blocks everything (``srm``); a breached guardrail ends it
    (``guardrail_breached``); a significant primary metric names the winner by ``direction``: the
    control wins outright, the treatment only once every guardrail has passed (with
    ``require_guardrails``: shipping needs superiority *and* non-inferiority); ``no_difference`` when
    the difference's confidence sequence lies inside ±``mde`` (sequential), at ``max_samples`` per arm
    undecided (sequential), or not significant at the planned n (fixed).  Else ``running``.
    """
    reasons: list[str] = []
    breached = [g for g in guardrails if g.status == "breached"]
    if srm is not None and srm.flagged:
        observed = ", ".join(f"{a} {c}" for a, c in srm.observed.items())
        expected = ", ".join(f"{a} {c:.0f}" for a, c in srm.expected.items())
        reasons.append(
            f"sample-ratio mismatch: observed {observed}, expected {expected} ({_srm_p(srm)} < "
            f"{srm.threshold:g}): assignment or logging is broken, no result can be trusted"
        )
        reasons.extend(f"guardrail {g.guardrail} also breached" for g in breached)
        return Decision("srm", tuple(reasons))
    if breached:
        for g in breached:
            reasons.append(f"guardrail {g.guardrail} breached: {g.statistic} {_fmt(g.estimate)} {_fmt_ci(g.ci)}")
        return Decision("guardrail_breached", tuple(reasons))
    if primary is None:
        return Decision("running", ("no data for the metric yet",))
    pending = [g for g in guardrails if g.status != "pass"]
    if isinstance(primary, FixedResult):
        if primary.status == "waiting":
            n = min(primary.n_control, primary.n_treatment)
            return Decision("running", (f"fixed horizon: {n} of {primary.planned_n} samples per arm",))
    elif primary.reason:
        reasons.append(primary.reason)
    estimate = f"difference {_fmt(primary.diff)} {_fmt_ci(primary.diff_ci)}, p = {_fmt(primary.p_value)}"
    if isinstance(primary, FixedResult):  # complete: the planned n is the end
        at_max, max_samples = True, primary.planned_n
    else:
        at_max = max_samples is not None and min(primary.n_control, primary.n_treatment) >= max_samples
    if primary.significant and primary.diff is not None:
        better = primary.diff > 0 if direction == "higher" else primary.diff < 0
        if not better:
            return Decision("control_wins", (f"control better: {estimate}",))
        if require_guardrails and pending:
            names = ", ".join(g.guardrail for g in pending)
            if at_max:
                return Decision(
                    "no_difference",
                    (f"treatment better ({estimate}) but guardrails {names} not shown within their margins by "
                     f"{max_samples} samples per arm: not promoted",),
                )  # fmt: skip
            return Decision("running", (f"treatment better ({estimate}); waiting for guardrails {names}",))
        return Decision("treatment_wins", (f"treatment better: {estimate}",))
    if isinstance(primary, FixedResult):
        return Decision("no_difference", (f"not significant at the planned {primary.planned_n} per arm: {estimate}",))
    low, high = primary.diff_ci
    if mde is not None and low is not None and high is not None and -mde < low and high < mde:
        return Decision("no_difference", (f"any difference is smaller than the MDE {mde:g}: {estimate}",))
    if at_max:
        return Decision(
            "no_difference", (f"no significant difference after {max_samples} samples per arm: {estimate}",)
        )
    return Decision("running", (*reasons, estimate))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _fmt_ci(ci: Interval) -> str:
    low, high = ci
    return f"[{'-inf' if low is None else f'{low:.4g}'}, {'inf' if high is None else f'{high:.4g}'}]"


def _srm_p(srm: SRMResult) -> str:
    """The p-value that flagged it: the test the experiment chose."""
    if srm.sequential:
        return f"anytime-valid p = {srm.sequential_p_value:.2g}"
    return f"chi-square p = {srm.p_value:.2g}"
