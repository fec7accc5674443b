"""Ground truth: labels for captured predictions, joined later by inference id.

A caller sends what really happened for an inference (the label a classifier
should have given, the number a regressor should have predicted) with the
inference id the data plane returned.  Labels arrive late — hours or days —
and sometimes before the capture that holds the prediction is written, so an
id that matches nothing is stored anyway and counted by the quality report
as *unmatched*, never refused.

- :func:`parse_json` / :func:`parse_jsonl` / :func:`parse_csv` /
  :func:`read_file` / :func:`records_from` turn what callers send into
  :class:`FeedbackRecord` s, refusing malformed ones with the record (or CSV
  line) they came from;
- :func:`check_labels` refuses labels of the wrong kind for the endpoint's
  models (a word for a regressor);
- :class:`FeedbackStore` upserts by (endpoint, inference id) — the latest
  label sent wins — and reads a window's labels back as a DataFrame;
- :class:`FeedbackService` is what the API, CLI and SDK call.

A label is a scalar for a one-row request, or a list with one entry per row
of a multi-row request (``null`` for a row without a label).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
import sqlalchemy as sa

from modelport.db.database import Database
from modelport.db.tables import feedback_table, utcnow
from modelport.errors import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

    from modelport.endpoints.service import EndpointService
    from modelport.registry.service import Registry

Scalar = str | int | float | bool
Label = Scalar | list[Scalar | None]
Task = Literal["classification", "regression"]

MAX_ID_LENGTH = 255
"""The ``feedback.inference_id`` column's width (SageMaker's own ids are at most 64 characters)."""
DEFAULT_ID_COLUMN = "inference_id"
DEFAULT_LABEL_COLUMN = "label"
DEFAULT_TIMESTAMP_COLUMN = "timestamp"
_CHUNK = 500
"""Ids per ``IN (…)`` query on SQLite: well under its parameter limit."""
_PG_CHUNK = 10_000
"""Labels per statement on PostgreSQL (passed as arrays)."""
_ON_CONFLICT = (
    " ON CONFLICT (endpoint, inference_id) DO UPDATE SET label = excluded.label, "
    "event_time = excluded.event_time, received_at = excluded.received_at"
)


@dataclass(frozen=True)
class FeedbackRecord:
    inference_id: str
    label: Label
    event_time: datetime | None = None
    """When the prediction was made (optional): lets a window count labels whose id matches nothing."""
    where: str = ""
    """Where the record came from ("record 3", "line 7"), for error messages."""


@dataclass(frozen=True)
class FeedbackReceipt:
    received: int
    """Records in the request."""
    updated: int
    """Of those, labels that replaced one sent before (in an earlier request, or earlier in this one)."""

    def to_json(self) -> dict[str, int]:
        return {"received": self.received, "updated": self.updated}


class BadRecord(InvalidArgument):
    """One record is malformed: ``details`` hold its index in the request and the reason."""

    def __init__(self, index: int, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}", details={"index": index, "reason": reason})


# -- parsing ---------------------------------------------------------------------


def parse_json(
    body: bytes | str,
    *,
    id_column: str = DEFAULT_ID_COLUMN,
    label_column: str = DEFAULT_LABEL_COLUMN,
    timestamp_column: str | None = None,
) -> list[FeedbackRecord]:
    """``[{"inference_id": …, "label": …, "timestamp": …}, …]`` or ``{"records": [...]}``.

    Strict JSON (orjson): NaN, infinities and invalid UTF-8 are refused.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"feedback is not valid JSON: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("records"), list):
        doc = doc["records"]
    if not isinstance(doc, list):
        raise InvalidArgument(
            'feedback must be a JSON list of records or {"records": [...]}, '
            f'each {{"{id_column}": ..., "{label_column}": ...}}'
        )
    return [
        _from_mapping(i, f"record {i + 1}", item, id_column, label_column, timestamp_column)
        for i, item in enumerate(doc)
    ]


def parse_jsonl(
    body: bytes | str,
    *,
    id_column: str = DEFAULT_ID_COLUMN,
    label_column: str = DEFAULT_LABEL_COLUMN,
    timestamp_column: str | None = None,
) -> list[FeedbackRecord]:
    """One JSON object per line: our record shape, or SageMaker Model Monitor's ground-truth record
    (``{"groundTruthData": {"data": …, "encoding": "CSV"|"JSON"}, "eventMetadata": {"eventId": …}}``)."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    out: list[FeedbackRecord] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise BadRecord(len(out), where, f"not valid JSON: {exc}") from None
        out.append(_from_mapping(len(out), where, item, id_column, label_column, timestamp_column))
    return out


def parse_csv(
    text: bytes | str,
    *,
    id_column: str = DEFAULT_ID_COLUMN,
    label_column: str = DEFAULT_LABEL_COLUMN,
    timestamp_column: str | None = None,
) -> list[FeedbackRecord]:
    """A CSV file with a header; a label cell holding ``[…]`` is a JSON list (one label per row of the request)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidArgument(f"feedback CSV is not UTF-8: {exc}") from None
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text))
    try:
        return _csv_records(reader, id_column, label_column, timestamp_column)
    except csv.Error as exc:  # a field over the csv module's limit, a stray quote…
        raise InvalidArgument(f"feedback CSV line {reader.line_num}: {exc}") from None


def _csv_records(reader: Any, id_column: str, label_column: str, timestamp_column: str | None) -> list[FeedbackRecord]:
    header = next(reader, None)
    if header is None:
        return []
    header = [h.strip() for h in header]
    position = {name: i for i, name in enumerate(header)}
    for role, column in (("--id-column", id_column), ("--label-column", label_column)):
        if column not in position:
            raise InvalidArgument(
                f"the feedback CSV has no column {column!r} ({role}); its columns: {', '.join(header)}"
            )
    if timestamp_column is not None and timestamp_column not in position:
        raise InvalidArgument(
            f"the feedback CSV has no column {timestamp_column!r} (--timestamp-column); its columns: {', '.join(header)}"
        )
    ts_column = timestamp_column or (DEFAULT_TIMESTAMP_COLUMN if DEFAULT_TIMESTAMP_COLUMN in position else None)
    id_at, label_at = position[id_column], position[label_column]
    ts_at = position[ts_column] if ts_column is not None else None
    out: list[FeedbackRecord] = []
    for cells in reader:
        where = f"line {reader.line_num}"
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise BadRecord(len(out), where, f"{len(cells)} fields, the header has {len(header)}")
        raw_label = cells[label_at].strip()
        label: Any = raw_label
        if raw_label.startswith("["):
            try:
                label = orjson.loads(raw_label)
            except orjson.JSONDecodeError:
                raise BadRecord(len(out), where, f"label {raw_label[:50]!r} is not a JSON list") from None
        elif raw_label == "":
            label = None
        stamp = cells[ts_at].strip() if ts_at is not None else ""
        out.append(_record(len(out), where, cells[id_at].strip(), label, stamp or None))
    return out


def read_file(
    path: str | Path,
    *,
    id_column: str = DEFAULT_ID_COLUMN,
    label_column: str = DEFAULT_LABEL_COLUMN,
    timestamp_column: str | None = None,
) -> list[FeedbackRecord]:
    """A ``.csv``, ``.json`` or ``.jsonl`` file (optionally ``.gz``)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidArgument(f"feedback file {str(path)!r} does not exist")
    data = path.read_bytes()
    name = path.name.lower()
    if name.endswith(".gz"):
        import gzip

        data = gzip.decompress(data)
        name = name.removesuffix(".gz")
    columns: dict[str, Any] = {
        "id_column": id_column,
        "label_column": label_column,
        "timestamp_column": timestamp_column,
    }
    if name.endswith(".csv"):
        return parse_csv(data, **columns)
    if name.endswith((".jsonl", ".ndjson")):
        return parse_jsonl(data, **columns)
    if name.endswith(".json"):
        return parse_json(data, **columns)
    raise InvalidArgument(f"cannot read feedback from {path.name!r}: expected a .csv, .json or .jsonl file")


def parse_body(
    body: bytes,
    content_type: str | None,
    *,
    id_column: str = DEFAULT_ID_COLUMN,
    label_column: str = DEFAULT_LABEL_COLUMN,
    timestamp_column: str | None = None,
) -> list[FeedbackRecord]:
    """A request body by its Content-Type: JSON, JSON lines or CSV."""
    from modelport.errors import UnsupportedMediaType

    base = (content_type or "application/json").split(";")[0].strip().lower()
    columns: dict[str, Any] = {
        "id_column": id_column,
        "label_column": label_column,
        "timestamp_column": timestamp_column,
    }
    if base in ("application/json", "text/json"):
        return parse_json(body, **columns)
    if base in ("application/jsonlines", "application/jsonl", "application/x-ndjson", "application/x-jsonlines"):
        return parse_jsonl(body, **columns)
    if base in ("text/csv", "application/csv"):
        return parse_csv(body, **columns)
    raise UnsupportedMediaType(f"feedback of type {base!r}: send application/json, application/jsonlines or text/csv")


def records_from(
    data: Any,
    *,
    id_column: str = DEFAULT_ID_COLUMN,
    label_column: str = DEFAULT_LABEL_COLUMN,
    timestamp_column: str | None = None,
) -> list[FeedbackRecord]:
    """What the SDK accepts: a file path, a DataFrame, a list of dicts or ``{"records": [...]}``."""
    columns: dict[str, Any] = {
        "id_column": id_column,
        "label_column": label_column,
        "timestamp_column": timestamp_column,
    }
    if isinstance(data, str | Path):
        return read_file(data, **columns)
    if isinstance(data, Mapping) and isinstance(data.get("records"), list):
        data = data["records"]
    if _is_frame(data):
        return _from_frame(data, id_column, label_column, timestamp_column)
    if isinstance(data, list | tuple):
        out = []
        for i, item in enumerate(data):
            if isinstance(item, FeedbackRecord):
                out.append(item)
            else:
                out.append(_from_mapping(i, f"record {i + 1}", item, id_column, label_column, timestamp_column))
        return out
    raise InvalidArgument(
        f"cannot send feedback from a {type(data).__name__}: pass a file path, a DataFrame or a list of records"
    )


def _is_frame(data: Any) -> bool:
    return type(data).__name__ == "DataFrame" and hasattr(data, "columns")


def _from_frame(frame: Any, id_column: str, label_column: str, timestamp_column: str | None) -> list[FeedbackRecord]:
    columns = [str(c) for c in frame.columns]
    for role, column in (("id_column", id_column), ("label_column", label_column)):
        if column not in columns:
            raise InvalidArgument(f"the feedback DataFrame has no column {column!r} ({role}); its columns: {columns}")
    ts_column = timestamp_column or (DEFAULT_TIMESTAMP_COLUMN if DEFAULT_TIMESTAMP_COLUMN in columns else None)
    if timestamp_column is not None and timestamp_column not in columns:
        raise InvalidArgument(f"the feedback DataFrame has no column {timestamp_column!r} (timestamp_column)")
    ids = frame[id_column].tolist()
    labels = [_plain(v) for v in frame[label_column].tolist()]
    stamps = frame[ts_column].tolist() if ts_column else [None] * len(ids)
    return [
        _record(i, f"row {i}", _plain(ident), label, _plain(stamp))
        for i, (ident, label, stamp) in enumerate(zip(ids, labels, stamps, strict=True))
    ]


def _plain(value: Any) -> Any:
    """numpy scalars and arrays, pandas timestamps and NaN/NaT as plain Python values."""
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        return None if value != value else value.to_pydatetime()  # NaT != NaT
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _from_mapping(
    index: int, where: str, item: Any, id_column: str, label_column: str, timestamp_column: str | None
) -> FeedbackRecord:
    if not isinstance(item, Mapping):
        raise BadRecord(index, where, f'expected an object {{"{id_column}": ..., "{label_column}": ...}}')
    if "groundTruthData" in item and id_column not in item:
        return _from_sagemaker(index, where, item)
    if id_column not in item:
        raise BadRecord(index, where, f"no {id_column!r}")
    if label_column not in item:
        raise BadRecord(index, where, f"no {label_column!r}")
    stamp = item.get(timestamp_column or DEFAULT_TIMESTAMP_COLUMN)
    if timestamp_column is not None and timestamp_column not in item:
        raise BadRecord(index, where, f"no {timestamp_column!r}")
    return _record(index, where, item[id_column], item[label_column], stamp)


def _from_sagemaker(index: int, where: str, item: Mapping[str, Any]) -> FeedbackRecord:
    """SageMaker Model Monitor's ground-truth record: the label is CSV or JSON text in groundTruthData."""
    meta = item.get("eventMetadata")
    data = item.get("groundTruthData")
    if not isinstance(meta, Mapping) or "eventId" not in meta:
        raise BadRecord(index, where, "a groundTruthData record needs eventMetadata.eventId (the inference id)")
    if not isinstance(data, Mapping) or not isinstance(data.get("data"), str):
        raise BadRecord(index, where, "groundTruthData.data must be a string")
    text = data["data"]
    label: Any
    if str(data.get("encoding", "CSV")).upper() == "JSON":
        try:
            label = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise BadRecord(index, where, f"groundTruthData.data {text[:50]!r} is not JSON") from None
    else:
        try:
            cells = next(csv.reader([text]), [])
        except csv.Error as exc:
            raise BadRecord(index, where, f"groundTruthData.data is not CSV: {exc}") from None
        label = cells[0].strip() if len(cells) == 1 else [c.strip() for c in cells]
    return _record(index, where, meta["eventId"], label, meta.get("inferenceTime"))


def _record(index: int, where: str, ident: Any, label: Any, stamp: Any) -> FeedbackRecord:
    return FeedbackRecord(
        inference_id=_inference_id(index, where, ident),
        label=_label(index, where, label),
        event_time=_timestamp(index, where, stamp),
        where=where,
    )


def _inference_id(index: int, where: str, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadRecord(index, where, f"the inference id must be a non-empty string, not {_show(value)}")
    value = value.strip()
    if len(value) > MAX_ID_LENGTH:
        raise BadRecord(index, where, f"the inference id is {len(value)} characters; at most {MAX_ID_LENGTH}")
    if "\x00" in value:
        raise BadRecord(index, where, "the inference id holds a NUL character")
    return value


def _label(index: int, where: str, value: Any) -> Label:
    if value is None:
        raise BadRecord(index, where, "no label (null or empty)")
    if isinstance(value, list):
        if not value:
            raise BadRecord(index, where, "the label is an empty list (expected one label per row of the request)")
        if all(v is None for v in value):
            raise BadRecord(index, where, "every label in the list is null")
        for position, item in enumerate(value):
            if item is not None and not _is_scalar(item):
                raise BadRecord(
                    index, where, f"label [{position}] must be a string, number or boolean, not {_show(item)}"
                )
        return value
    if not _is_scalar(value):
        raise BadRecord(
            index, where, f"the label must be a string, number or boolean (or a list of them), not {_show(value)}"
        )
    return value  # type: ignore[no-any-return]


def _is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return "\x00" not in value
    return isinstance(value, int | bool)


def _show(value: Any) -> str:
    if isinstance(value, dict | Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return f"{type(value).__name__} {str(value)[:50]!r}"


def parse_timestamp(value: Any) -> datetime | None:
    """ISO 8601 (``Z``, an offset, or none for UTC) or seconds since the epoch; None if not one."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            return None
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        try:
            return parse_timestamp(float(text))
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
        return parse_timestamp(parsed)
    return None


def _timestamp(index: int, where: str, value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    parsed = parse_timestamp(value)
    if parsed is None:
        raise BadRecord(index, where, f"timestamp {_show(value)} is neither ISO 8601 nor seconds since the epoch")
    return parsed


def check_labels(records: Sequence[FeedbackRecord], task: Task | None, endpoint: str) -> list[FeedbackRecord]:
    """Refuse labels a task cannot use; a regressor's labels become numbers (CSV sends text)."""
    if task != "regression":
        return list(records)
    out = []
    for index, rec in enumerate(records):
        if isinstance(rec.label, list):
            label: Label = [None if v is None else _number(index, rec, v, endpoint) for v in rec.label]
        else:
            label = _number(index, rec, rec.label, endpoint)
        out.append(FeedbackRecord(rec.inference_id, label, rec.event_time, rec.where))
    return out


def _number(index: int, rec: FeedbackRecord, value: Scalar, endpoint: str) -> float:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise BadRecord(
            index, rec.where, f"label {_show(value)} is not a number (endpoint {endpoint!r} serves a regression model)"
        )
    return number


# -- storage ---------------------------------------------------------------------


class FeedbackStore:
    """Labels by (endpoint, inference id) in the ``feedback`` table; the latest sent wins."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def upsert(
        self, endpoint: str, records: Iterable[FeedbackRecord], *, now: datetime | None = None
    ) -> FeedbackReceipt:
        received = 0
        latest: dict[str, FeedbackRecord] = {}
        for rec in records:
            received += 1
            latest[rec.inference_id] = rec  # a later record for the same id wins
        if not latest:
            return FeedbackReceipt(0, 0)
        now = now or utcnow()
        with self.db.write() as conn:
            existing = self._count_existing(conn, endpoint, list(latest))
            self._insert(conn, endpoint, list(latest.values()), now)
        return FeedbackReceipt(received=received, updated=existing + received - len(latest))

    # 100k labels through SQLAlchemy's per-row statement machinery took ~10 s on SQLite and
    # ~30 s on PostgreSQL: the rows are bound here (labels as JSON text, times by the column
    # type's processor) and go to the driver directly — sqlite3's executemany, and on
    # PostgreSQL arrays unnested server-side (psycopg's executemany was ~15 s).

    @staticmethod
    def _count_existing(conn: sa.Connection, endpoint: str, ids: list[str]) -> int:
        existing = 0
        if conn.dialect.name == "postgresql":
            for start in range(0, len(ids), _PG_CHUNK):
                sql = "SELECT count(*) FROM feedback WHERE endpoint = %s AND inference_id = ANY(%s)"
                existing += conn.exec_driver_sql(sql, (endpoint, ids[start : start + _PG_CHUNK])).scalar() or 0
            return existing
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            sql = (
                f"SELECT count(*) FROM feedback WHERE endpoint = ? AND inference_id IN ({', '.join('?' * len(chunk))})"
            )
            existing += conn.exec_driver_sql(sql, (endpoint, *chunk)).scalar() or 0
        return existing

    @staticmethod
    def _insert(conn: sa.Connection, endpoint: str, records: list[FeedbackRecord], now: datetime) -> None:
        # dialect_impl: SQLite's own DATETIME text format, so range queries compare like with like
        as_time = feedback_table.c.event_time.type.dialect_impl(conn.dialect).bind_processor(conn.dialect) or (
            lambda v: v
        )
        received = as_time(now)
        ids = [r.inference_id for r in records]
        labels = [orjson.dumps(r.label).decode() for r in records]
        times = [None if r.event_time is None else as_time(r.event_time) for r in records]
        if conn.dialect.name == "postgresql":
            # a row per array element: one statement per 10k labels instead of one per label
            sql = (
                "INSERT INTO feedback (endpoint, inference_id, label, event_time, received_at) "
                "SELECT %s, t.id, t.label::json, t.at, %s "
                "FROM unnest(%s::text[], %s::text[], %s::timestamp[]) AS t(id, label, at)" + _ON_CONFLICT
            )
            for start in range(0, len(records), _PG_CHUNK):
                end = start + _PG_CHUNK
                conn.exec_driver_sql(sql, (endpoint, received, ids[start:end], labels[start:end], times[start:end]))
            return
        sql = "INSERT INTO feedback (endpoint, inference_id, label, event_time, received_at) VALUES (?, ?, ?, ?, ?)"
        conn.exec_driver_sql(
            sql + _ON_CONFLICT, [(endpoint, i, lab, t, received) for i, lab, t in zip(ids, labels, times, strict=True)]
        )

    def window(
        self,
        endpoint: str,
        since: datetime,
        until: datetime,
        *,
        clock_skew: timedelta = timedelta(hours=1),
    ) -> pd.DataFrame:
        """Every label that can belong to predictions made in ``[since, until)``.

        A label is received after its prediction was made, so the labels of a
        window are among those received since its start (less ``clock_skew``
        between servers); labels whose timestamp falls in the window are added,
        so the quality report can count those whose id matches no prediction.
        Labels of later windows come too: the join on inference id drops them.
        """
        c = feedback_table.c
        query = sa.select(c.inference_id, c.label, c.event_time, c.received_at).where(
            c.endpoint == endpoint,
            sa.or_(c.received_at >= since - clock_skew, sa.and_(c.event_time >= since, c.event_time < until)),
        )
        return self._frame(query)

    def labels_for(self, endpoint: str, inference_ids: Iterable[str]) -> pd.DataFrame:
        """The labels of these inference ids (those that have one)."""
        c = feedback_table.c
        ids = list(dict.fromkeys(inference_ids))
        frames = [
            self._frame(
                sa.select(c.inference_id, c.label, c.event_time, c.received_at).where(
                    c.endpoint == endpoint, c.inference_id.in_(ids[start : start + _CHUNK])
                )
            )
            for start in range(0, len(ids), _CHUNK)
        ]
        import pandas as pd

        return pd.concat(frames, ignore_index=True) if frames else self._frame(None)

    def count(self, endpoint: str) -> int:
        c = feedback_table.c
        with self.db.read() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).where(c.endpoint == endpoint)) or 0)

    def delete(self, endpoint: str) -> int:
        """Forget an endpoint's labels (a new endpoint of the same name starts without them)."""
        with self.db.write() as conn:
            return int(conn.execute(sa.delete(feedback_table).where(feedback_table.c.endpoint == endpoint)).rowcount)

    def _frame(self, query: sa.Select[Any] | None) -> pd.DataFrame:
        import pandas as pd

        rows: list[tuple[Any, ...]] = []
        if query is not None:
            with self.db.read() as conn:
                rows = [tuple(r) for r in conn.execute(query)]
        frame = pd.DataFrame(rows, columns=["inference_id", "label", "event_time", "received_at"])
        frame["inference_id"] = frame["inference_id"].astype(object)
        frame["label"] = frame["label"].astype(object)
        for column in ("event_time", "received_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame


# -- service -------------------------------------------------------------------------


class FeedbackService:
    """Checks the endpoint and its models' task, then stores the labels."""

    def __init__(self, store: FeedbackStore, endpoints: EndpointService, registry: Registry) -> None:
        self.store = store
        self.endpoints = endpoints
        self.registry = registry

    def send(self, endpoint: str, records: Sequence[FeedbackRecord]) -> FeedbackReceipt:
        task = self.task(endpoint)  # NotFound for an endpoint that does not exist
        return self.store.upsert(endpoint, check_labels(records, task, endpoint))

    def task(self, endpoint: str) -> Task | None:
        """``regression`` when every variant serves a regressor, ``classification`` when any serves a
        classifier, None when a model says neither (labels of any scalar type are taken)."""
        from modelport.errors import NotFound

        tasks = set()
        for variant in self.endpoints.get(endpoint).config.variants:
            try:
                signature = self.registry.get_version(variant.model).signature
            except NotFound:
                continue
            tasks.add(task_of(signature))
        if "classification" in tasks:
            return "classification"
        if tasks == {"regression"}:
            return "regression"
        return None


def task_of(signature: Mapping[str, Any]) -> Task | None:
    """A version's task from its signature: classes (or a ``label`` output) → classification; a
    ``prediction`` output → regression; None for anything else (a model's own output names)."""
    if signature.get("classes") is not None:
        return "classification"
    outputs = {str(o.get("name")) for o in signature.get("outputs") or () if isinstance(o, Mapping)}
    if "label" in outputs or "probabilities" in outputs:
        return "classification"
    if "prediction" in outputs:
        return "regression"
    return None


def iter_chunks(records: Sequence[FeedbackRecord], max_bytes: int) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """Records as JSON objects in requests of at most ``max_bytes`` (the remote SDK sends these)."""
    chunk: list[dict[str, Any]] = []
    size = 16
    start = 0
    for i, rec in enumerate(records):
        item: dict[str, Any] = {"inference_id": rec.inference_id, "label": rec.label}
        if rec.event_time is not None:
            item["timestamp"] = rec.event_time.isoformat()
        length = len(orjson.dumps(item)) + 1
        if chunk and size + length > max_bytes:
            yield start, chunk
            chunk, size, start = [], 16, i
        chunk.append(item)
        size += length
    if chunk:
        yield start, chunk
