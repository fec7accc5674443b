"""The OpenAPI document says what the server answers: errors in the envelope, the bearer token, path patterns."""

from __future__ import annotations

from collections.abc import Callable

from tests.api.conftest import InProcess


def test_every_operation_documents_the_error_envelope_not_422(in_process: Callable[..., InProcess]) -> None:
    api = in_process()
    doc = api.get("/openapi.json").json()
    operations = [op for item in doc["paths"].values() for op in item.values()]
    assert len(operations) > 25
    for op in operations:
        assert "422" not in op["responses"], op["operationId"]
        assert op["responses"]["default"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    # what an error really looks like
    error = api.get("/api/v1/models/nope").json()
    assert set(error) == {"error"} and set(error["error"]) == {"code", "message"}
    assert doc["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    version = next(p for p in doc["paths"]["/api/v1/models/{name}/versions/{version}"]["get"]["parameters"] if p["name"] == "version")
    assert version["schema"]["pattern"] == "^(latest|[1-9][0-9]{0,17})$"
    download = doc["paths"]["/api/v1/models/{name}/versions/{version}/files/{role}"]["get"]["responses"]["200"]
    assert list(download["content"]) == ["application/octet-stream"]
    upload = doc["paths"]["/api/v1/artifacts/{sha256}"]["put"]
    assert list(upload["requestBody"]["content"]) == ["application/octet-stream"]


def test_405_lists_every_method_the_path_takes(in_process: Callable[..., InProcess]) -> None:
    api = in_process()
    r = api.request("TRACE", "/api/v1/models/m")
    assert r.status_code == 405 and r.json()["error"]["message"] == "method TRACE is not allowed on /api/v1/models/m"
    assert r.headers["allow"] == "DELETE, GET, HEAD, PATCH"  # three routes share the path
