"""`modelport.Client` in-process and against a server: same objects, same errors, same messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelport import Client, Conflict, InvalidArgument, ModelVersion, NotFound


def test_register_and_read_back(client: Client, name: str, model_file: Path, tmp_path: Path) -> None:
    mv = client.models.register(model_file, name, metrics={"auc": 0.9}, params={"C": 1.0}, tags={"team": "risk"})
    assert isinstance(mv, ModelVersion) and mv.version == 1 and mv.format == "sklearn"
    assert mv.params == {"C": "1.0"}
    client.models.register(model_file, name, description="second")
    assert client.models.show(name).description == "second"
    assert client.models.show(f"{name}:1").metrics == {"auc": 0.9}
    client.models.set_alias(name, "champion", 1)
    assert client.models.show(f"{name}@champion").version == 1
    assert client.models.get(name).aliases == {"champion": 1}
    assert [v.version for v in client.models.versions(name).items] == [2, 1]
    assert [v.version for v in client.models.iter_versions(name)] == [2, 1]
    page = client.models.list(name_contains=name)
    assert [m.name for m in page.items] == [name]
    assert client.models.update(name, tags={"tier": "gold"}).tags == {"tier": "gold"}
    out = client.models.download(f"{name}@champion", tmp_path / "copy.joblib")
    assert out.read_bytes() == model_file.read_bytes()


def test_same_errors_local_and_remote(client: Client, name: str, model_file: Path) -> None:
    with pytest.raises(NotFound, match=f"^model '{name}' does not exist$"):
        client.models.show(name)
    with pytest.raises(InvalidArgument, match="^invalid model name 'a b'"):
        client.models.show("a b")
    with pytest.raises(InvalidArgument, match="does not exist or is not a file"):
        client.models.register(model_file.with_name("missing.joblib"), name)
    client.models.register(model_file, name)
    client.models.set_alias(name, "prod", 1)
    with pytest.raises(Conflict, match=f"^model version {name}:1 is the target of {name}@prod"):
        client.models.delete(f"{name}:1")
    with pytest.raises(InvalidArgument, match="delete takes NAME:VERSION or NAME"):
        client.models.delete(f"{name}@prod")
    with pytest.raises(NotFound, match=f"^model version {name}:9 does not exist$"):
        client.models.set_alias(name, "prod", 9)
    with pytest.raises(InvalidArgument, match=f"^invalid version {2**63}: expected a whole number from 1 to {2**63 - 1}$"):
        client.models.set_alias(name, "prod", 2**63)
    with pytest.raises(InvalidArgument, match="^metric 'auc' is nan: metrics must be finite numbers$"):
        client.models.register(model_file, name, metrics={"auc": float("nan")})
    deleted = client.models.delete(name, force=True)
    assert [v.ref for v in deleted] == [f"{name}:1"]


def test_invoke_accepts_frames_arrays_dicts_and_files(client: Client, name: str, tmp_path: Path) -> None:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True, as_frame=True)
    model = LogisticRegression(max_iter=500).fit(x, y)
    joblib.dump(model, tmp_path / "m.joblib")
    x.to_csv(tmp_path / "train.csv", index=False)
    client.models.register(tmp_path / "m.joblib", name, sample=tmp_path / "train.csv")
    client.endpoints.create(name, [f"a={name}:1"])
    rows = x.iloc[[0, 75, 149]]
    expected = model.predict(rows).tolist()
    rows.to_csv(tmp_path / "rows.csv", index=False)
    if client.remote:
        from tests import infra

        infra.wait_for(lambda: client.endpoints.get(name).status == "in_service", 20, "in service")
    for data in (rows, rows.to_numpy(), rows.to_dict(orient="list"), rows.to_numpy().tolist(), tmp_path / "rows.csv"):
        result = client.invoke(name, data)
        assert [p["label"] for p in result.predictions] == expected
        assert result.variant == "a" and result.inference_id
    single = client.invoke(name, dict(zip(x.columns, rows.to_numpy()[0], strict=True)))
    assert [p["label"] for p in single.predictions] == expected[:1]
    with pytest.raises(InvalidArgument, match="missing input column"):
        client.invoke(name, {"sepal length (cm)": [1.0]})
    with pytest.raises(NotFound):
        client.invoke("no-such-endpoint", rows)


def test_rollback_to_a_deleted_version_is_refused(client: Client, name: str, model_file: Path) -> None:
    client.models.register(model_file, name)
    client.models.register(model_file, name)
    client.endpoints.create(name, [f"a={name}:1"])
    client.endpoints.update(name, variants=[f"a={name}:2"])
    client.models.delete(f"{name}:1")
    message = f"cannot roll back endpoint '{name}' to revision 1: variant 'a' serves model version {name}:1, which no longer exists"
    with pytest.raises(Conflict, match=f"^{message}$"):
        client.endpoints.rollback(name)
    if client.remote:
        import httpx

        reply = httpx.post(f"{client.settings.url}/api/v1/endpoints/{name}/rollback", json={})
        assert reply.status_code == 409
        assert reply.json() == {"error": {"code": "CONFLICT", "message": message}}
    assert [h.revision for h in client.endpoints.history(name)] == [2, 1]
    client.endpoints.delete(name)


def test_routing_and_the_shadow_report_local_and_remote(client: Client, name: str, tmp_path: Path) -> None:
    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    from tests import infra

    x, y = load_iris(return_X_y=True, as_frame=True)
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), tmp_path / "a.joblib")
    joblib.dump(DecisionTreeClassifier(max_depth=2).fit(x, y), tmp_path / "b.joblib")
    x.to_csv(tmp_path / "train.csv", index=False)
    for file in ("a.joblib", "b.joblib"):
        client.models.register(tmp_path / file, name, sample=tmp_path / "train.csv")
    ep = client.endpoints.create(name, [f"a={name}:1"], shadows=[f"s={name}:2"], routing={"unit": "header:X-User-Id"})
    assert ep.config.routing.unit == "header:X-User-Id"
    with pytest.raises(InvalidArgument, match="is not an HTTP header name"):
        client.endpoints.update(name, routing={"unit": "header:a b"})
    if client.remote:
        infra.wait_for(lambda: client.endpoints.get(name).status == "in_service", 20, "in service")
    for _ in range(4):
        client.invoke(name, x.iloc[[0, 100]])
    if not client.remote:
        client.close()  # the in-process data plane writes its counts when it stops
    # a server writes its counts every few seconds
    infra.wait_for(lambda: client.endpoints.shadow_report(name)[0].pairs == 4, 30, "the shadow's counts")
    [report] = client.endpoints.shadow_report(name)
    assert (report.variant, report.rows) == ("s", 8) and report.agreement is not None
    assert client.endpoints.update(name, routing={}).config.routing.unit is None
