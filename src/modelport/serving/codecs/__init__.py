"""Codecs of the data plane: wire bodies ⇄ columnar batches, with no HTTP framework in sight.

- :func:`decode_request` — JSON (every MLflow shape), CSV, XML, Parquet → a validated batch;
- :func:`encode_response` — outputs → JSON, CSV or XML by ``Accept``;
- :mod:`.v2` — the Open Inference Protocol (tritonclient's JSON and binary tensors).

Errors are :mod:`modelport.errors` classes (InvalidArgument, UnsupportedMediaType,
NotAcceptable …); each transport renders them in its own envelope.
"""

from modelport.serving.codecs.request import SUPPORTED_REQUEST_TYPES, decode_request
from modelport.serving.codecs.response import SUPPORTED_RESPONSE_TYPES, encode_response

__all__ = ["SUPPORTED_REQUEST_TYPES", "SUPPORTED_RESPONSE_TYPES", "decode_request", "encode_response"]
