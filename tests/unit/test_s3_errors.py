"""botocore's environment failures become one-line modelport errors; anything else is left alone."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError

from modelport.errors import FailedPrecondition, Unavailable
from modelport.s3 import s3_error, s3_errors


def test_unreachable_endpoint_is_unavailable() -> None:
    error = s3_error(EndpointConnectionError(endpoint_url="http://minio:9000/b/k"), "artifact store s3://b")
    assert isinstance(error, Unavailable)
    assert error.message == 'artifact store s3://b is unavailable: Could not connect to the endpoint URL: "http://minio:9000/b/k"'


def test_only_environment_failures_are_translated() -> None:
    refused = pytest.raises(FailedPrecondition, match=r"^output s3://b/o\.csv: no AWS credentials found: set AWS_ACCESS_KEY_ID")
    with refused, s3_errors("output s3://b/o.csv"):
        raise NoCredentialsError()
    with pytest.raises(ZeroDivisionError), s3_errors("output s3://b/o.csv"):
        1 / 0  # noqa: B018
