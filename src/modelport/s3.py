"""S3 problems of the environment, said in one line: credentials and reachability.

s3fs lets botocore's own exceptions through for missing credentials and
unreachable endpoints (its other errors arrive as ``OSError``).  The
artifact store and batch jobs translate them here, at the boundary, into
errors that say what to set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from modelport.errors import FailedPrecondition, ModelportError, Unavailable

CREDENTIALS_HELP = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), "
    "or AWS_PROFILE to a profile in ~/.aws/credentials, or run with an instance or task role"
)


def s3_error(exc: BaseException, where: str) -> ModelportError | None:
    """The modelport error for a botocore credential or connection failure on ``where``; else None."""
    try:
        from botocore import exceptions as boto
    except ImportError:  # no botocore, so it did not raise this
        return None
    if isinstance(exc, boto.NoCredentialsError):
        return FailedPrecondition(f"{where}: no AWS credentials found: {CREDENTIALS_HELP}")
    if isinstance(exc, boto.PartialCredentialsError):
        return FailedPrecondition(f"{where}: {exc}: {CREDENTIALS_HELP}")
    if isinstance(exc, boto.ProfileNotFound):
        return FailedPrecondition(
            f"{where}: AWS_PROFILE={exc.kwargs.get('profile')!r} is not a profile in ~/.aws/config or ~/.aws/credentials"
        )
    if isinstance(exc, boto.CredentialRetrievalError):
        return FailedPrecondition(f"{where}: {exc}")
    if isinstance(exc, boto.ConnectionError):  # EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError…
        return Unavailable(f"{where} is unavailable: {exc}")
    return None


@contextlib.contextmanager
def s3_errors(where: str) -> Iterator[None]:
    """Translate botocore's credential and connection failures raised inside the block."""
    try:
        yield
    except ModelportError:
        raise
    except Exception as exc:
        error = s3_error(exc, where)
        if error is None:
            raise
        raise error from None
