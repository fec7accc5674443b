"""Endpoint revisions on SQLite and PostgreSQL: pinning, updates, rollback, history."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.errors import AlreadyExists, InvalidArgument, NotFound
from modelport.services import Services


@pytest.fixture
def reg(services: Services, model_file: Path, other_model_file: Path) -> Services:
    services.registry.register(model_file, "churn")
    services.registry.register(other_model_file, "churn")
    services.registry.register(model_file, "churn")
    services.registry.set_alias("churn", "challenger", 2)
    return services


def test_create_pins_aliases_and_latest(reg: Services) -> None:
    ep = reg.endpoints.create(
        "churn", [{"name": "a", "requested": "churn:1", "weight": 90}, {"name": "b", "requested": "churn@challenger", "weight": 10}],
        created_by="me",
    )
    assert (ep.revision, ep.status) == (1, "creating")
    assert [(v.name, v.model, v.requested, v.weight) for v in ep.config.variants] == [
        ("a", "churn:1", "churn:1", 90), ("b", "churn:2", "churn@challenger", 10)
    ]
    reg.registry.set_alias("churn", "challenger", 3)
    assert reg.endpoints.get("churn").config.variant("b").model == "churn:2"  # pinned at deploy time
    latest = reg.endpoints.create("other", [{"name": "a", "requested": "churn"}], created_by="me")
    assert latest.config.variants[0].model == "churn:3"
    with pytest.raises(AlreadyExists, match="endpoint 'churn' already exists"):
        reg.endpoints.create("churn", [{"name": "a", "requested": "churn:1"}], created_by="me")


def test_updates_make_revisions_and_rollback_restores(reg: Services) -> None:
    reg.endpoints.create("ep", [{"name": "a", "requested": "churn:1", "weight": 90}, {"name": "b", "requested": "churn:2", "weight": 10}], created_by="u1")
    reg.endpoints.update("ep", weights={"a": 50, "b": 50}, created_by="u2")
    reg.endpoints.update("ep", variants=[{"name": "b", "requested": "churn:3"}], created_by="u3")
    ep = reg.endpoints.update("ep", variants=[{"name": "c", "requested": "churn:1", "shadow": True, "sample_percent": 50}], created_by="u4")
    assert ep.revision == 4 and ep.status == "updating"
    assert ep.config.variant("b").model == "churn:3" and ep.config.variant("b").weight == 50  # weight kept on swap
    assert ep.config.variant("c").shadow and ep.config.variant("c").sample_percent == 50
    back = reg.endpoints.rollback("ep", created_by="u5")
    assert back.revision == 5 and [v.name for v in back.config.variants] == ["a", "b"]
    assert back.config.comment == "rollback to revision 3"
    history = reg.endpoints.history("ep")
    assert [(h.revision, h.action, h.created_by) for h in history] == [
        (5, "rollback", "u5"), (4, "update", "u4"), (3, "update", "u3"), (2, "update", "u2"), (1, "create", "u1")
    ]
    assert reg.endpoints.rollback("ep", to_revision=1, created_by="u6").config.variant("a").weight == 90


def test_update_errors(reg: Services) -> None:
    reg.endpoints.create("ep", [{"name": "a", "requested": "churn:1"}], created_by="u")
    with pytest.raises(NotFound, match="endpoint 'ep' has no variant 'z'"):
        reg.endpoints.update("ep", weights={"z": 1}, created_by="u")
    with pytest.raises(InvalidArgument, match="no live variant takes traffic"):
        reg.endpoints.update("ep", weights={"a": 0}, created_by="u")
    with pytest.raises(NotFound, match="model version churn:9 does not exist"):
        reg.endpoints.update("ep", variants=[{"name": "b", "requested": "churn:9"}], created_by="u")
    with pytest.raises(InvalidArgument, match="nothing to change"):
        reg.endpoints.update("ep", weights={"a": 1}, created_by="u")
    with pytest.raises(InvalidArgument, match="no earlier configuration"):
        reg.endpoints.rollback("ep", created_by="u")
    with pytest.raises(NotFound, match="endpoint 'nope' does not exist"):
        reg.endpoints.get("nope")
    assert reg.endpoints.get("ep").revision == 1  # nothing half-written


def test_status_only_for_the_current_revision(reg: Services) -> None:
    reg.endpoints.create("ep", [{"name": "a", "requested": "churn:1"}], created_by="u")
    reg.endpoints.update("ep", variants=[{"name": "a", "requested": "churn:2"}], created_by="u")
    store = reg.endpoints.store
    assert not store.set_status("ep", 1, "in_service")  # a slow server finishing the old revision
    assert store.set_status("ep", 2, "failed", reason="boom")
    ep = reg.endpoints.get("ep")
    assert (ep.status, ep.failure_reason) == ("failed", "boom")
    reg.endpoints.delete("ep")
    with pytest.raises(NotFound):
        reg.endpoints.get("ep")


def test_served_versions_cannot_be_deleted(reg: Services) -> None:
    from modelport.errors import Conflict

    reg.endpoints.create("ep", [{"name": "a", "requested": "churn:1"}], created_by="u")
    with pytest.raises(Conflict, match="model version churn:1 is served by endpoint ep; update or delete the endpoint first"):
        reg.registry.delete_version("churn:1", force=True)
    with pytest.raises(Conflict, match="served by endpoint ep"):
        reg.registry.delete_model("churn", force=True)
    reg.registry.delete_version("churn:3")  # not served
    reg.endpoints.delete("ep")
    reg.registry.delete_version("churn:1")


def test_a_config_serving_a_deleted_version_is_refused_before_anything_is_written(reg: Services) -> None:
    from modelport.errors import Conflict

    reg.endpoints.create("ep", [{"name": "a", "requested": "churn:1"}], created_by="u")
    reg.endpoints.update("ep", variants=[{"name": "a", "requested": "churn:2"}], created_by="u")
    reg.registry.delete_version("churn:1")  # no longer served, so deleting it is allowed
    refused = "cannot roll back endpoint 'ep' to revision 1: variant 'a' serves model version churn:1, which no longer exists"
    with pytest.raises(Conflict, match=f"^{refused}$"):
        reg.endpoints.rollback("ep", created_by="u")
    with pytest.raises(Conflict, match=f"^{refused}$"):
        reg.endpoints.rollback("ep", to_revision=1, created_by="u")
    with pytest.raises(NotFound, match="^model version churn:1 does not exist$"):
        reg.endpoints.update("ep", variants=[{"name": "b", "requested": "churn:1"}], created_by="u")
    with pytest.raises(NotFound, match="^model version churn:1 does not exist$"):
        reg.endpoints.create("other", [{"name": "a", "requested": "churn:1"}], created_by="u")
    ep = reg.endpoints.get("ep")
    assert (ep.revision, ep.status, ep.config.variant("a").model) == (2, "updating", "churn:2")
    assert [h.revision for h in reg.endpoints.history("ep")] == [2, 1]
    with pytest.raises(NotFound):
        reg.endpoints.get("other")


def test_an_update_keeping_a_deleted_version_is_refused(reg: Services) -> None:
    from modelport.errors import Conflict

    reg.endpoints.create("ep", [{"name": "a", "requested": "churn:1"}, {"name": "b", "requested": "churn:2"}], created_by="u")
    reg.registry.db.delete_version("churn", 1)  # as a database written before served versions were protected
    with pytest.raises(Conflict, match="^cannot update endpoint 'ep': variant 'a' serves model version churn:1, which no longer exists$"):
        reg.endpoints.update("ep", weights={"b": 5}, created_by="u")
    assert reg.endpoints.get("ep").revision == 1
    fixed = reg.endpoints.update("ep", variants=[{"name": "a", "requested": "churn:3"}], created_by="u")
    assert fixed.revision == 2 and fixed.config.variant("a").model == "churn:3"


def test_async_inference_config_is_kept_across_updates_and_can_be_removed(reg: Services) -> None:
    ep = reg.endpoints.create(
        "ep", [{"name": "a", "requested": "churn:1"}],
        async_inference={"output_path": "s3://b/out", "notification": {"success_url": "http://h/ok", "secret": "k"}},
        created_by="me",
    )
    assert ep.config.async_inference is not None
    assert ep.config.async_inference.output_path == "s3://b/out"
    assert ep.config.async_inference.notification.secret == "k"  # stored as is
    assert '"secret":"********"' in reg.endpoints.get("ep").model_dump_json()  # shown masked
    updated = reg.endpoints.update("ep", weights={"a": 2}, created_by="me")
    assert updated.config.async_inference == ep.config.async_inference
    assert reg.endpoints.update("ep", remove_async=True, created_by="me").config.async_inference is None
    with pytest.raises(InvalidArgument, match="notification URL 'ftp://x' must be http"):
        reg.endpoints.update("ep", async_inference={"notification": {"error_url": "ftp://x"}}, created_by="me")
