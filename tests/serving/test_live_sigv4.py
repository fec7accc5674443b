"""Unmodified boto3 against a live server with auth on: requests signed with AWS Signature V4 by a token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import botocore.auth
import httpx
import joblib
import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from modelport.domain import NewToken
from modelport.services import Services
from modelport.settings import Settings
from tests import infra

pytestmark = pytest.mark.slow

ROW = b"5.1,3.5,1.4,0.2\n"


@dataclass
class Live:
    url: str
    server: infra.LiveServer
    tokens: dict[str, NewToken]  # by scope, and "old": made before tokens were sealed


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    root = tmp_path_factory.mktemp("sigv4")
    home = root / "home"
    x, y = load_iris(return_X_y=True, as_frame=True)
    joblib.dump(LogisticRegression(max_iter=1000).fit(x, y), root / "iris.joblib")
    x.to_csv(root / "iris.csv", index=False)
    svc = Services.open(Settings(home=home))
    try:
        svc.registry.register(root / "iris.joblib", "iris", sample=root / "iris.csv")
        svc.endpoints.create("iris", [{"name": "main", "requested": "iris:1"}], created_by="tests")
        tokens = {scope: svc.tokens.create(scope, f"{scope}-app") for scope in ("invoke", "admin", "read")}
        tokens["old"] = svc.tokens.create("invoke", "old-app")
        with svc.db.write() as s:  # what migration 0006 leaves on tokens made before it
            s.execute(sa.text("UPDATE tokens SET sealed_secret = NULL WHERE name = 'old-app'"))
    finally:
        svc.close()
    env = {"MODELPORT_HOME": str(home), "MODELPORT_SYNC_INTERVAL_S": "0.2"}
    with infra.live_server(env) as server:
        bearer = {"Authorization": f"Bearer {tokens['invoke'].secret}", "Content-Type": "text/csv"}
        url = f"{server.url}/endpoints/iris/invocations"
        infra.wait_for(lambda: httpx.post(url, content=ROW, headers=bearer).status_code == 200, 30, "iris in service")
        yield Live(server.url, server, tokens)
        log = server.log()
    for new in tokens.values():
        assert new.secret not in log


def runtime(live: Live, access_key: str, secret: str):  # type: ignore[no-untyped-def]
    """boto3's SageMaker runtime client, as a user configures it: nothing but the endpoint and credentials."""
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=live.url,
        region_name="eu-central-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
    )


def signed_by(live: Live, kind: str):  # type: ignore[no-untyped-def]
    new = live.tokens[kind]
    return runtime(live, new.token.id, new.secret)


def invoke(client, body: bytes = ROW) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return client.invoke_endpoint(EndpointName="iris", Body=body, ContentType="text/csv")  # type: ignore[no-any-return]


def refused(client, body: bytes = ROW) -> ClientError:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as err:
        invoke(client, body)
    return err.value


def test_boto3_signs_with_a_token_and_is_served(live: Live) -> None:
    for kind in ("invoke", "admin"):
        resp = invoke(signed_by(live, kind))
        assert resp["InvokedProductionVariant"] == "main"
        assert json.loads(resp["Body"].read())["predictions"][0]["label"] == 0
    # the CLI's own listing gives the access key id
    listed = httpx.get(f"{live.url}/api/v1/tokens", headers={"Authorization": f"Bearer {live.tokens['admin'].secret}"})
    by_name = {t["name"]: t for t in listed.json()}
    assert by_name["invoke-app"]["id"] == live.tokens["invoke"].token.id
    assert by_name["invoke-app"]["sigv4"] is True and by_name["old-app"]["sigv4"] is False


def test_a_wrong_secret_is_refused(live: Live) -> None:
    err = refused(runtime(live, live.tokens["invoke"].token.id, live.tokens["invoke"].secret + "x"))
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.response["Error"]["Code"] == "InvalidSignatureException"
    assert err.response["Error"]["Message"].startswith(
        "The request signature we calculated does not match the signature you provided: check the secret access key"
    )


def test_a_body_changed_after_signing_is_refused(live: Live) -> None:
    client = signed_by(live, "invoke")

    def tamper(request, **_):  # type: ignore[no-untyped-def]
        request.body = request.body.replace(b"5.1", b"7.9")  # same length: only the signature can tell

    client.meta.events.register("before-send.sagemaker-runtime.InvokeEndpoint", tamper)
    err = refused(client)
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.response["Error"]["Code"] == "InvalidSignatureException"


def test_a_signature_older_than_five_minutes_is_refused(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    client = signed_by(live, "invoke")
    stale = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=10)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: stale)  # boto3's signer reads its clock here
    err = refused(client)
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.response["Error"]["Code"] == "InvalidSignatureException"
    assert err.response["Error"]["Message"].startswith(f"Signature expired: {stale:%Y%m%dT%H%M%SZ} is now earlier than")


def test_scopes_are_those_of_bearer_tokens(live: Live) -> None:
    err = refused(signed_by(live, "read"))
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.response["Error"]["Code"] == "AccessDeniedException"
    assert err.response["Error"]["Message"] == "token 'read-app' has scope 'read'; this call needs 'invoke'"


def test_unknown_and_pre_sigv4_tokens_say_what_to_do(live: Live) -> None:
    err = refused(runtime(live, "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err.response["Error"]["Code"] == "UnrecognizedClientException"
    assert "access key id 'AKIAIOSFODNN7EXAMPLE' is not a modelport token id" in err.response["Error"]["Message"]
    err = refused(signed_by(live, "old"))
    assert err.response["Error"]["Code"] == "UnrecognizedClientException"
    assert err.response["Error"]["Message"].startswith(
        "token 'old-app' was created before modelport accepted AWS Signature V4: create a new token"
    )


def test_bearer_tokens_keep_working_everywhere(live: Live) -> None:
    url = f"{live.url}/endpoints/iris/invocations"
    for kind in ("invoke", "old"):
        r = httpx.post(url, content=ROW, headers={"Authorization": f"Bearer {live.tokens[kind].secret}"})
        assert r.status_code == 200, r.text
    r = httpx.post(url, content=ROW)
    assert r.status_code == 401 and "or sign with AWS Signature V4" in r.json()["message"]
    admin = {"Authorization": f"Bearer {live.tokens['admin'].secret}"}
    assert httpx.get(f"{live.url}/api/v1/endpoints", headers=admin).status_code == 200
    assert httpx.get(f"{live.url}/v2/models/iris", headers=admin).status_code == 200
    # A SigV4 header where only bearer tokens are taken says so.
    sigv4 = {"Authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/sagemaker/aws4_request, ..."}
    r = httpx.get(f"{live.url}/api/v1/endpoints", headers=sigv4)
    assert r.status_code == 401
    assert r.json()["error"]["message"].startswith("AWS Signature V4 is accepted on the SageMaker runtime routes")


def test_tokens_created_while_the_server_runs_sign_at_once(live: Live) -> None:
    admin = {"Authorization": f"Bearer {live.tokens['admin'].secret}"}
    made = httpx.post(f"{live.url}/api/v1/tokens", json={"scope": "invoke", "name": "fresh"}, headers=admin)
    assert made.status_code == 201
    new = NewToken.model_validate(made.json())
    assert invoke(runtime(live, new.token.id, new.secret))["InvokedProductionVariant"] == "main"
