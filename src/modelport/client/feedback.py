"""``client.feedback`` and ``client.send_feedback``: ground truth for captured predictions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from modelport.errors import InvalidArgument
from modelport.monitoring.feedback import (
    DEFAULT_ID_COLUMN,
    DEFAULT_LABEL_COLUMN,
    FeedbackReceipt,
    FeedbackRecord,
    iter_chunks,
    records_from,
)

#: bytes of JSON per request: labels go in several requests, each under the server's
#: control-API limit (MODELPORT_MAX_API_BODY_BYTES, 1 MiB by default)
CHUNK_BYTES = 512 * 1024


class FeedbackAPI(ABC):
    """``client.feedback``: the verbs of ``modelport feedback``."""

    def send(
        self,
        endpoint: str,
        data: Any,
        *,
        id_column: str = DEFAULT_ID_COLUMN,
        label_column: str = DEFAULT_LABEL_COLUMN,
        timestamp_column: str | None = None,
    ) -> FeedbackReceipt:
        """Send labels for an endpoint's predictions, by the inference id each invocation returned.

        ``data``: a ``.csv``/``.json``/``.jsonl`` file, a DataFrame, or a list of
        ``{"inference_id", "label", "timestamp"?}`` records.  A label is a scalar, or a
        list with one label per row of a multi-row request.  Sending a label again for
        the same id replaces it.  Ids matching no captured prediction are kept (the capture
        may not be written yet) and counted as unmatched by quality reports.
        """
        records = records_from(data, id_column=id_column, label_column=label_column, timestamp_column=timestamp_column)
        if not records:
            raise InvalidArgument("no feedback records to send")
        return self._send(endpoint, records)

    @abstractmethod
    def _send(self, endpoint: str, records: Sequence[FeedbackRecord]) -> FeedbackReceipt: ...


class LocalFeedback(FeedbackAPI):
    def __init__(self, services: Any) -> None:
        self._svc = services

    def _send(self, endpoint: str, records: Sequence[FeedbackRecord]) -> FeedbackReceipt:
        return self._svc.feedback.send(endpoint, records)  # type: ignore[no-any-return]


class RemoteFeedback(FeedbackAPI):
    def __init__(self, http: Any, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._http = http
        self._chunk_bytes = chunk_bytes

    def _send(self, endpoint: str, records: Sequence[FeedbackRecord]) -> FeedbackReceipt:
        """In requests under the body limit; each is stored as it arrives (an error stops the rest)."""
        received = updated = 0
        path = f"/api/v1/endpoints/{quote(endpoint, safe='')}/feedback"
        for start, chunk in iter_chunks(records, self._chunk_bytes):
            try:
                reply = self._http.json("POST", path, json={"records": chunk})
            except InvalidArgument as exc:
                index = exc.details.get("index")
                if not isinstance(index, int) or not 0 <= start + index < len(records):
                    raise
                # the server names the record by its place in this request: name it as the caller knows it
                where = records[start + index].where or f"record {start + index + 1}"
                # labels are upserted: sending the corrected file again is safe
                sent = f" ({received} labels before it were stored; resending is safe)" if received else ""
                raise InvalidArgument(
                    f"{where}: {exc.details.get('reason', exc.message)}{sent}",
                    details={**exc.details, "index": start + index},
                ) from None
            received += int(reply["received"])
            updated += int(reply["updated"])
        return FeedbackReceipt(received=received, updated=updated)
