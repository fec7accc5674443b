"""A variant that cannot load (its artifact is gone from the store) is a failed variant, said so everywhere."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from modelport import Client
from modelport.errors import Unavailable
from modelport.services import Services
from modelport.settings import Settings
from tests import infra
from tests.serving.conftest import server_env

ROW = b"5.1,3.5,1.4,0.2\n"


def remove_blob(svc: Services, ref: str) -> str:
    """Lose a version's artifact behind the registry's back (a wiped bucket, a pruned folder)."""
    uri = svc.registry.get_version(ref).files[0].uri
    os.chmod(uri, 0o644)
    os.remove(uri)
    return uri


@pytest.mark.slow
def test_a_missing_artifact_fails_the_variant_and_invocations_say_so(
    tmp_path: Path, model_file: Path, other_model_file: Path
) -> None:
    home = tmp_path / "home"
    svc = Services.open(Settings(home=home))
    try:
        svc.registry.register(model_file, "iris")
        svc.registry.register(other_model_file, "iris")  # another blob
        missing = remove_blob(svc, "iris:2")
        svc.endpoints.create("gone", [{"name": "a", "requested": "iris:2"}], created_by="tests")
        svc.endpoints.create("kept", [{"name": "a", "requested": "iris:1"}], created_by="tests")
    finally:
        svc.close()
    reason = f"variant 'a' (iris:2) failed to load: artifact {missing} is missing from the store"

    message = f"endpoint 'gone' failed: {reason}"
    with Client(home=home) as local, pytest.raises(Unavailable, match=f"^{re.escape(message)}$"):
        local.invoke("gone", [[5.1, 3.5, 1.4, 0.2]])

    with infra.live_server(server_env(home)) as server, httpx.Client(base_url=server.url) as http:

        def status(name: str) -> dict:  # type: ignore[type-arg]
            return http.get(f"/api/v1/endpoints/{name}").json()  # type: ignore[no-any-return]

        infra.wait_for(lambda: status("gone")["status"] == "failed", 30, "the failed status")
        infra.wait_for(lambda: status("kept")["status"] == "in_service", 30, "kept in service")
        gone = status("gone")
        assert gone["failure_reason"] == reason
        assert gone["variant_status"] == {
            "a": {"status": "failed", "model": "iris:2", "reason": f"artifact {missing} is missing from the store"}
        }
        r = http.post("/endpoints/gone/invocations", content=ROW, headers={"Content-Type": "text/csv"})
        assert (r.status_code, r.headers["x-amzn-errortype"]) == (503, "ServiceUnavailable:")
        assert r.json() == {"message": message}
        v2 = http.post(
            "/v2/models/gone/infer",
            json={"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [5.1, 3.5, 1.4, 0.2]}]},
        )
        assert v2.status_code == 503 and v2.json() == {"error": message}

        # An update to the lost version fails the same way; the previous revision keeps serving.
        with Client(url=server.url) as remote:
            remote.endpoints.update("kept", variants=["a=iris:2"])
            infra.wait_for(lambda: status("kept")["status"] == "failed", 30, "the failed update")
            assert status("kept")["variant_status"]["a"]["status"] == "failed"
            assert remote.invoke("kept", [[5.1, 3.5, 1.4, 0.2]]).variant == "a"
