"""Creating and changing endpoints: every change is a new, validated revision."""

from __future__ import annotations

import builtins
import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from modelport.endpoints.config import (
    AsyncInferenceConfig,
    CaptureConfig,
    ConfigRevision,
    Endpoint,
    EndpointConfig,
    RoutingConfig,
    Variant,
)
from modelport.endpoints.counters import ArmCounters, ShadowCounts
from modelport.endpoints.shadow_report import ShadowReport, build_shadow_report
from modelport.endpoints.store import EndpointStore
from modelport.errors import Conflict, InvalidArgument, NotFound
from modelport.registry.service import Registry


class EndpointService:
    def __init__(self, store: EndpointStore, registry: Registry) -> None:
        self.store = store
        self.registry = registry

    def _pin(self, spec: Mapping[str, Any]) -> Variant:
        """Resolve the requested model (alias or latest) to the version it is now."""
        data = dict(spec)
        requested = data.pop("requested", None) or data.get("model")
        if not requested:
            raise InvalidArgument(f"variant {data.get('name')!r} names no model")
        mv = self.registry.get_version(requested)
        data["model"] = mv.ref
        try:
            return Variant(requested=requested, **data)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"invalid variant {spec.get('name')!r}: {exc}") from None

    def _check_versions_exist(self, config: EndpointConfig, *, action: str, pinned: set[str]) -> None:
        """Refuse, before anything is written, a config serving a version deleted since it was pinned.

        Versions an endpoint serves now cannot be deleted, but earlier revisions
        (rollback) and endpoints written before that rule can name one; served,
        it would only leave the endpoint failed.  ``pinned`` were resolved just now.
        """
        for v in config.variants:
            if v.model in pinned:
                continue
            try:
                self.registry.get_version(v.model)
            except NotFound:
                raise Conflict(
                    f"{action}: variant {v.name!r} serves model version {v.model}, which no longer exists"
                ) from None

    def create(
        self,
        name: str,
        variants: Sequence[Mapping[str, Any]],
        *,
        capture: CaptureConfig | Mapping[str, Any] | None = None,
        routing: RoutingConfig | Mapping[str, Any] | None = None,
        async_inference: AsyncInferenceConfig | Mapping[str, Any] | None = None,
        created_by: str,
    ) -> Endpoint:
        config = EndpointConfig(
            variants=[self._pin(v) for v in variants],
            capture=CaptureConfig.model_validate(capture or {}),
            routing=_routing(routing or {}),
            async_inference=None if async_inference is None else AsyncInferenceConfig.model_validate(async_inference),
        ).check()
        # _pin resolved every variant just now: no version to re-check.
        return self.store.create(name, config, created_by=created_by)

    def update(
        self,
        name: str,
        *,
        weights: Mapping[str, float] | None = None,
        variants: Sequence[Mapping[str, Any]] = (),
        remove: Sequence[str] = (),
        capture: CaptureConfig | Mapping[str, Any] | None = None,
        routing: RoutingConfig | Mapping[str, Any] | None = None,
        async_inference: AsyncInferenceConfig | Mapping[str, Any] | None = None,
        created_by: str,
        comment: str = "",
        action: str = "update",
        expected_revision: int | None = None,
        remove_async: bool = False,
    ) -> Endpoint:
        """Change weights, add or swap variants (live or shadow), remove some, change capture or routing.

        ``routing`` replaces the routing section as a whole (``{}`` clears it); so does ``async_inference``
        (``{}`` turns asynchronous inference on with the defaults; to turn it off pass ``remove_async=True``);
        ``comment`` is recorded with the revision and ``action`` in the history (an experiment records
        ``action="experiment"``, ``created_by="experiment:NAME"`` and says why in the comment);
        ``expected_revision``: change the endpoint only if that is still its current revision (else CONFLICT).
        """
        endpoint = self.store.get(name)
        _check_expected(endpoint, expected_revision)
        current = endpoint.config
        by_name: dict[str, Variant] = {v.name: v for v in current.variants}
        pinned: set[str] = set()
        for gone in remove:
            if gone not in by_name:
                raise NotFound(f"endpoint {name!r} has no variant {gone!r}")
            del by_name[gone]
        for spec in variants:
            variant = self._pin(spec)
            pinned.add(variant.model)
            old = by_name.get(variant.name)
            if old is not None and "weight" not in spec and not variant.shadow:
                variant = variant.model_copy(update={"weight": old.weight})
            by_name[variant.name] = variant
        for variant_name, weight in (weights or {}).items():
            if variant_name not in by_name:
                raise NotFound(f"endpoint {name!r} has no variant {variant_name!r}")
            by_name[variant_name] = by_name[variant_name].model_copy(update={"weight": float(weight)})
        new_capture = current.capture if capture is None else CaptureConfig.model_validate(capture)
        new_routing = current.routing if routing is None else _routing(routing)
        new_async = current.async_inference
        if async_inference is not None:
            new_async = AsyncInferenceConfig.model_validate(async_inference)
        if remove_async:
            new_async = None
        config = EndpointConfig(
            variants=list(by_name.values()),
            capture=new_capture,
            routing=new_routing,
            async_inference=new_async,
            comment=comment,
        ).check()
        if config.model_copy(update={"comment": current.comment}) == current:
            raise InvalidArgument(f"nothing to change: endpoint {name!r} already has this configuration")
        self._check_versions_exist(config, action=f"cannot update endpoint {name!r}", pinned=pinned)
        return self.store.add_revision(
            name, config, action=action, created_by=created_by, expected_revision=expected_revision
        )

    def rollback(
        self, name: str, *, to_revision: int | None = None, created_by: str, expected_revision: int | None = None
    ) -> Endpoint:
        """Make the previous revision (or ``to_revision``) current again, as a new revision;
        ``expected_revision`` as for :meth:`update`."""
        endpoint = self.store.get(name)
        _check_expected(endpoint, expected_revision)
        target = to_revision if to_revision is not None else endpoint.revision - 1
        if target < 1:
            raise InvalidArgument(f"endpoint {name!r} has no earlier configuration to roll back to")
        if target == endpoint.revision:
            raise InvalidArgument(f"revision {target} is already the current configuration of {name!r}")
        try:
            config = self.store.revision(name, target)
        except NotFound:
            raise NotFound(f"endpoint {name!r} has no revision {target}") from None
        self._check_versions_exist(config, action=f"cannot roll back endpoint {name!r} to revision {target}", pinned=set())
        config = config.model_copy(update={"comment": f"rollback to revision {target}"})
        return self.store.add_revision(name, config, action="rollback", created_by=created_by)

    def get(self, name: str) -> Endpoint:
        return self.store.get(name)

    @functools.cached_property
    def counters(self) -> ArmCounters:
        """Per-variant, per-minute counts of every serving process (requests, failures, latency, shadow comparisons)."""
        return ArmCounters(self.store.db)

    def shadow_report(
        self,
        name: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        confidence: float = 0.95,
    ) -> builtins.list[ShadowReport]:
        """How each shadow of the endpoint compares with the live traffic, with intervals.

        The window is ``since``..``until``; without ``since``, since each shadow
        began serving its current model.
        """
        endpoint = self.store.get(name)
        if not 0 < confidence < 1:
            raise InvalidArgument(f"confidence must be between 0 and 1, got {confidence}")
        reports = []
        for shadow in endpoint.config.shadows:
            start = since or self.store.variant_since(name, shadow.name)
            found = self.counters.totals(name, [shadow.name], since=start, until=until, model=shadow.model)
            counts = found.get(shadow.name)
            reports.append(
                build_shadow_report(
                    shadow.name,
                    shadow.model,
                    counts.shadow if counts is not None else ShadowCounts(),
                    since=start,
                    until=until,
                    confidence=confidence,
                )
            )
        return reports

    def list(self) -> list[Endpoint]:
        return self.store.list()

    def history(self, name: str, *, limit: int | None = None) -> builtins.list[ConfigRevision]:
        """Newest first; ``limit``: only the latest (a bandit writes a revision per weight move)."""
        return self.store.history(name, limit=limit)

    def delete(self, name: str) -> None:
        self.store.delete(name)



def _routing(routing: RoutingConfig | Mapping[str, Any]) -> RoutingConfig:
    return routing if isinstance(routing, RoutingConfig) else RoutingConfig.model_validate(routing)


def _check_expected(endpoint: Endpoint, expected_revision: int | None) -> None:
    """CONFLICT when the endpoint is no longer at the revision the caller saw (a stale form, a concurrent change)."""
    if expected_revision is not None and endpoint.revision != expected_revision:
        raise Conflict(
            f"endpoint {endpoint.name!r} changed meanwhile: revision {endpoint.revision} is current, not {expected_revision}"
        )
