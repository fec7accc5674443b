"""The registry on SQLite and on PostgreSQL: versions, aliases, paging, conflicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from modelport.services import Services


def test_versions_increment_per_model_and_resolve_by_ref(services: Services, model_file: Path) -> None:
    reg = services.registry
    v1 = reg.register(model_file, "churn", metrics={"auc": 0.91}, params={"max_depth": 8}, tags={"team": "risk"})
    v2 = reg.register(model_file, "churn")
    other = reg.register(model_file, "fraud")
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert v1.metrics == {"auc": 0.91} and v1.params == {"max_depth": "8"} and v1.tags == {"team": "risk"}
    assert v1.format == "sklearn" and v1.size == model_file.stat().st_size and len(v1.sha256) == 64
    assert reg.get_version("churn").version == 2  # latest
    assert reg.get_version("churn:1").metrics == {"auc": 0.91}
    reg.set_alias("churn", "champion", 1)
    assert reg.get_version("churn@champion").version == 1
    assert reg.get_version("churn:1").aliases == ["champion"]
    reg.set_alias("churn", "champion", 2)  # aliases move
    assert reg.get_version("churn@champion").version == 2
    assert reg.get_model("churn").aliases == {"champion": 2}


def test_deleted_versions_are_not_reused(services: Services, model_file: Path) -> None:
    reg = services.registry
    reg.register(model_file, "m")
    reg.register(model_file, "m")
    reg.delete_version("m:2")
    assert reg.register(model_file, "m").version == 3
    with pytest.raises(NotFound, match=r"model version m:2 does not exist"):
        reg.get_version("m:2")


def test_delete_refused_while_alias_points_unless_forced(services: Services, model_file: Path) -> None:
    reg = services.registry
    reg.register(model_file, "m")
    reg.set_alias("m", "prod", 1)
    with pytest.raises(Conflict, match=r"m:1 is the target of m@prod"):
        reg.delete_version("m:1")
    assert reg.get_version("m:1").version == 1  # nothing was deleted
    reg.delete_version("m:1", force=True)
    with pytest.raises(NotFound, match=r"alias m@prod does not exist"):
        reg.get_version("m@prod")


def test_paging_and_filters(services: Services, model_file: Path) -> None:
    reg = services.registry
    for i in range(5):
        reg.register(model_file, f"model-{i}", tags={"team": "a" if i % 2 else "b"})
    for i in range(3):
        reg.register(model_file, "model-0", tags={"stage": "x" if i == 1 else "y"})
    first = reg.list_models(limit=2)
    assert [m.name for m in first.items] == ["model-0", "model-1"] and first.next_page_token
    second = reg.list_models(limit=2, page_token=first.next_page_token)
    third = reg.list_models(limit=2, page_token=second.next_page_token)
    assert [m.name for m in second.items + third.items] == ["model-2", "model-3", "model-4"]
    assert third.next_page_token is None
    assert [m.name for m in reg.list_models(name_contains="-3").items] == ["model-3"]
    versions = reg.list_versions("model-0", limit=3)
    assert [v.version for v in versions.items] == [4, 3, 2] and versions.next_page_token
    rest = reg.list_versions("model-0", limit=3, page_token=versions.next_page_token)
    assert [v.version for v in rest.items] == [1] and rest.next_page_token is None
    assert [v.version for v in reg.list_versions("model-0", tags={"stage": "x"}).items] == [3]
    assert [v.version for v in reg.list_versions("model-1", tags={"team": "a"}).items] == [1]
    with pytest.raises(InvalidArgument, match="invalid page token"):
        reg.list_models(page_token="garbage!!")
    with pytest.raises(InvalidArgument, match="invalid limit 0"):
        reg.list_models(limit=0)


@pytest.mark.parametrize("bad", ["", "-lead", "trail-", "has space", "a/b", "x" * 64, "ünï"])
def test_bad_names_are_refused_with_what_is_allowed(services: Services, model_file: Path, bad: str) -> None:
    with pytest.raises(InvalidArgument, match=r"invalid model name .*letters, digits, '_', '\.' or '-'"):
        services.registry.register(model_file, bad)
    assert services.registry.list_models().items == []


def test_good_names(services: Services, model_file: Path) -> None:
    for good in ["a", "A1", "churn-model", "churn--x", "v1.2_b", "x" * 63]:
        assert services.registry.register(model_file, good).name == good


def test_model_crud_and_errors(services: Services, model_file: Path) -> None:
    reg = services.registry
    reg.create_model("m", description="first", tags={"team": "risk"})
    with pytest.raises(AlreadyExists, match="model 'm' already exists"):
        reg.create_model("m")
    updated = reg.update_model("m", description="second", tags={"tier": "1"})
    assert updated.description == "second" and updated.tags == {"team": "risk", "tier": "1"}
    with pytest.raises(NotFound, match="model 'nope' does not exist"):
        reg.get_model("nope")
    with pytest.raises(NotFound, match="model 'm' has no versions"):
        reg.get_version("m")
    reg.register(model_file, "m")
    reg.set_alias("m", "prod", 1)
    with pytest.raises(Conflict, match="has aliases"):
        reg.delete_model("m")
    deleted = reg.delete_model("m", force=True)
    assert [v.ref for v in deleted] == ["m:1"]
    with pytest.raises(NotFound):
        reg.get_model("m")


def test_metrics_must_be_finite_in_process_too(services: Services, model_file: Path) -> None:
    """As over the API (tests/api/test_caller_mistakes.py): a NaN metric was stored and served as null."""
    with pytest.raises(InvalidArgument, match=r"metric 'auc' is nan: metrics must be finite numbers"):
        services.registry.register(model_file, "m", metrics={"auc": float("nan")})
    with pytest.raises(InvalidArgument, match=r"metric 'loss' is inf: metrics must be finite numbers"):
        services.registry.register(model_file, "m", metrics={"loss": float("inf")})


def test_alias_errors(services: Services, model_file: Path) -> None:
    reg = services.registry
    reg.register(model_file, "m")
    with pytest.raises(NotFound, match="model version m:7 does not exist"):
        reg.set_alias("m", "prod", 7)
    with pytest.raises(InvalidArgument, match="invalid alias '1bad'"):
        reg.set_alias("m", "1bad", 1)
    with pytest.raises(NotFound, match="alias m@ghost does not exist"):
        reg.delete_alias("m", "ghost")
    with pytest.raises(InvalidArgument, match="version after ':' must be a positive integer"):
        reg.get_version("m:zero")


def test_unknown_format_and_missing_file(services: Services, tmp_path: Path) -> None:
    odd = tmp_path / "model.weird"
    odd.write_bytes(b"abc")
    with pytest.raises(InvalidArgument, match=r"'model.weird' is not a model file modelport recognises.*--format"):
        services.registry.register(odd, "m")
    with pytest.raises(InvalidArgument, match=r"model file '.*missing.joblib' does not exist"):
        services.registry.register(tmp_path / "missing.joblib", "m")
    with pytest.raises(InvalidArgument, match="unknown format 'tensorflow'"):
        services.registry.register(odd, "m", format="tensorflow")
    assert services.registry.list_models().items == []
