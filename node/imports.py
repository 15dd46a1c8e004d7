"""Score records in: validation, idempotent batch application, resumable file imports.

A score record is ``{national_id, score, seq}``: ``seq`` is the source platform's record
sequence for that resident (a change counter or a timestamp). A record applies only if its
``seq`` is greater than the stored one, so reapplying any record, batch or whole file is a
no-op, and records may arrive out of order. The national ID is hashed on arrival
(:class:`node.keystore.ResidentHasher`) and never kept.

What it does: parses NDJSON and CSV (header ``national_id,score,seq``), validates every record
against the city's scale (``mapping``), and applies batches in one transaction each with bulk
statements (``executemany``, not the ORM per row): upsert residents, audit each change, revoke
outstanding attestations whose claims no longer hold (:mod:`node.status`), and advance the
import checkpoint. :func:`import_file` commits every ``batch_size`` records with the checkpoint
(the file's SHA-256 and how many records are done), so a killed import resumes where it stopped.

What it deliberately does not do: keep score history or the records themselves.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Final, NamedTuple

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mapping.errors import MappingError
from mapping.scale import Scale
from node import audit, failpoints, status
from node.db import SQLITE_IMPORT_CACHE_KIB, epoch, execute_many, fetch_all, sqlite_cache_size
from node.errors import (
    BadRequestError,
    ImportFormatError,
    PayloadTooLargeError,
    ScoreRejectedError,
)
from node.keystore import ResidentHasher
from node.models import CHECKPOINTS

DEFAULT_BATCH: Final = 50_000
MAX_SEQ: Final = (1 << 62) - 1
CSV_FIELDS: Final = ("national_id", "score", "seq")
_LOOKUP_CHUNK: Final = 5_000
_IN_FLIGHT: Final = 2
#: Files at least this large are parsed in a worker process.
_PROCESS_THRESHOLD: Final = 8 << 20
_LEVEL_MEMO: Final = 100_000


class ScoreRecord(NamedTuple):
    """A validated record: resident hash, score on the city's scale, its level, source seq.

    A named tuple rather than a dataclass: millions cross a process boundary during bulk
    imports, and tuples pickle several times faster.
    """

    resident: str
    score: float
    level: int
    seq: int


@dataclass
class ImportStats:
    """What an import did."""

    records: int = 0
    applied: int = 0
    unchanged: int = 0
    revoked: int = 0
    skipped: int = 0

    def add(self, other: ImportStats) -> None:
        """Accumulate another batch's numbers."""
        self.records += other.records
        self.applied += other.applied
        self.unchanged += other.unchanged
        self.revoked += other.revoked
        self.skipped += other.skipped

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form."""
        return {
            "records": self.records,
            "applied": self.applied,
            "unchanged": self.unchanged,
            "revoked": self.revoked,
            "skipped_by_checkpoint": self.skipped,
        }


#: Where a record came from, for error messages: a label, or ``(file name, line)``.
Where = str | tuple[str, int]


def _place(where: Where) -> str:
    return where if isinstance(where, str) else f"{where[0]} line {where[1]}"


class RecordValidator:
    """Turns raw ``(national_id, score, seq)`` values into :class:`ScoreRecord` s."""

    def __init__(self, scale: Scale, hasher: ResidentHasher) -> None:
        self._scale = scale
        self._hasher = hasher
        # Scores repeat (a few hundred distinct values per scale): remember their levels.
        self._levels: dict[int | float, tuple[float, int]] = {}

    def _level(self, score: int | float, where: Where) -> tuple[float, int]:
        known = self._levels.get(score)
        if known is not None:
            return known
        try:
            value = self._scale.check_score(score)
            level = self._scale.level_of(value)
        except MappingError as err:
            raise ScoreRejectedError(f"{_place(where)}: {err.message}") from err
        if self._scale.integer and value != int(value):
            raise ScoreRejectedError(f"{_place(where)}: {self._scale.id} scores are integers")
        if len(self._levels) < _LEVEL_MEMO:
            self._levels[score] = (value, level)
        return value, level

    def __call__(
        self, national_id: object, score: object, seq: object, where: Where
    ) -> ScoreRecord:
        """Validate one record; ``where`` names it in error messages.

        Raises:
            BadRequestError: a field is missing or of the wrong type.
            ScoreRejectedError: the score is not valid on the scale.
        """
        if not isinstance(national_id, str):
            raise BadRequestError(f"{_place(where)}: national_id must be a string")
        try:
            resident = self._hasher(national_id)
        except BadRequestError as err:
            raise BadRequestError(f"{_place(where)}: {err.message}") from None
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise BadRequestError(f"{_place(where)}: score must be a number")
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
            raise BadRequestError(f"{_place(where)}: seq must be a non-negative integer")
        value, level = self._level(score, where)
        return ScoreRecord(resident, value, level, seq)

    def score_only(self, score: object, resident: str, seq: int, where: Where) -> ScoreRecord:
        """Validate a score for an already hashed resident (an office correction).

        Raises:
            BadRequestError: the score is not a number.
            ScoreRejectedError: the score is not valid on the scale.
        """
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise BadRequestError(f"{_place(where)}: score must be a number")
        value, level = self._level(score, where)
        return ScoreRecord(resident, value, level, seq)

    def from_json(self, obj: object, where: Where) -> ScoreRecord:
        """Validate a JSON object record.

        Raises:
            BadRequestError: not an object, unknown members, wrong types.
            ScoreRejectedError: the score is not valid on the scale.
        """
        if not isinstance(obj, dict):
            raise BadRequestError(f"{_place(where)}: a record must be a JSON object")
        extra = set(obj) - set(CSV_FIELDS)
        if extra:
            raise BadRequestError(f"{_place(where)}: unknown members {sorted(extra)}")
        return self(obj.get("national_id"), obj.get("score"), obj.get("seq"), where)

    def from_csv(self, row: Sequence[str], where: Where) -> ScoreRecord:
        """Validate a CSV row ``national_id,score,seq``.

        Raises:
            BadRequestError: wrong number of fields or unparseable numbers.
            ScoreRejectedError: the score is not valid on the scale.
        """
        if len(row) != len(CSV_FIELDS):
            raise BadRequestError(f"{_place(where)}: expected 3 fields, found {len(row)}")
        text = row[1]
        try:
            score: float = int(text) if text.isdigit() else float(text)
            seq = int(row[2])
        except ValueError:
            raise BadRequestError(f"{_place(where)}: score and seq must be numbers") from None
        return self(row[0], score, seq, where)


def parse_ndjson(text: str, validate: RecordValidator) -> list[ScoreRecord]:
    """Every record of an NDJSON document (blank lines ignored).

    Raises:
        ImportFormatError: a line is not JSON.
        BadRequestError, ScoreRejectedError: a record is invalid (the message names the line).
    """
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise ImportFormatError(f"line {number}: not JSON") from None
        out.append(validate.from_json(obj, f"line {number}"))
    return out


def _csv_rows(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        return
    if tuple(h.strip() for h in header) != CSV_FIELDS:
        raise ImportFormatError(f"CSV header must be {','.join(CSV_FIELDS)}")
    for row in reader:
        if row:
            yield reader.line_num, row


def parse_csv(text: str, validate: RecordValidator) -> list[ScoreRecord]:
    """Every record of a CSV document with the header ``national_id,score,seq``.

    Raises:
        ImportFormatError: the header is wrong.
        BadRequestError, ScoreRejectedError: a record is invalid (the message names the line).
    """
    return [validate.from_csv(row, f"line {n}") for n, row in _csv_rows(io.StringIO(text))]


def band_for(scale: Scale, score: float, width: int) -> tuple[int, int] | None:
    """The disclosable band of ``score``: ``width`` points, clipped to its level's span."""
    if width <= 0 or scale.kind != "score":
        return None
    low_level, high_level = scale.level_span(scale.level_of(score))
    low = scale.min + int((score - scale.min) // width) * width
    return max(low, low_level), min(low + width - 1, high_level)


async def apply_batch(
    conn: AsyncConnection,
    records: Sequence[ScoreRecord],
    *,
    actor: str,
    now: datetime,
    reason: str = "score.change",
    force: bool = False,
) -> ImportStats:
    """Apply validated records inside the caller's transaction (see the module docstring).

    ``force`` also applies a record whose ``seq`` equals the stored one (an office correction
    keeps the source's sequence, so the source's next record still supersedes it).
    """
    stats = ImportStats(records=len(records))
    latest: dict[str, ScoreRecord] = {}
    for rec in records:
        held = latest.get(rec.resident)
        if held is None or rec.seq > held.seq:
            latest[rec.resident] = rec
    residents = sorted(latest)
    existing: dict[str, tuple[int, float, int]] = {}
    for start in range(0, len(residents), _LOOKUP_CHUNK):
        chunk = residents[start : start + _LOOKUP_CHUNK]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT resident, seq, score, level FROM resident WHERE resident IN ({marks})"  # noqa: S608 - placeholders only
        rows = await fetch_all(conn, sql, chunk)
        for row in rows:
            existing[row[0]] = (int(row[1]), float(row[2]), int(row[3]))
    at = epoch(now)
    upserts: list[tuple[object, ...]] = []
    entries: list[audit.AuditRecord] = []
    changed: dict[str, ScoreRecord] = {}
    # Sorted: b-tree inserts in key order touch each page once per batch.
    for resident in residents:
        rec = latest[resident]
        old = existing.get(resident)
        if old is not None and (rec.seq < old[0] or (rec.seq == old[0] and not force)):
            continue
        upserts.append((resident, rec.score, rec.level, rec.seq, at))
        if old is None or old[1] != rec.score:
            if old is None:
                detail = f'{{"level":{rec.level},"score":{rec.score!r},"seq":{rec.seq}}}'
            else:
                detail = audit.canonical_detail(
                    {
                        "level": rec.level,
                        "score": rec.score,
                        "seq": rec.seq,
                        "previous_level": old[2],
                        "previous_score": old[1],
                    }
                )
                changed[resident] = rec
            entries.append(audit.AuditRecord(actor, reason, resident, detail))
    stats.applied = len(upserts)
    stats.unchanged = len(records) - stats.applied
    await execute_many(
        conn,
        "INSERT INTO resident (resident, score, level, seq, consent, updated_at) "
        "VALUES (?, ?, ?, ?, FALSE, ?) ON CONFLICT (resident) DO UPDATE SET "
        "score = excluded.score, level = excluded.level, seq = excluded.seq, "
        "updated_at = excluded.updated_at WHERE resident.seq "
        + ("<=" if force else "<")
        + " excluded.seq",
        upserts,
    )
    if changed:
        live = await status.live_attestations(conn, sorted(changed), now)
        stale = [
            att
            for att in live
            if not att.holds(changed[att.resident].level, changed[att.resident].score)
        ]
        entries.extend(await status.revoke(conn, stale, reason=reason, actor=actor, now=now))
        stats.revoked = len(stale)
    await audit.append(conn, entries, now)
    await failpoints.reach("import.commit")
    return stats


async def import_records(
    engine: AsyncEngine, records: Sequence[ScoreRecord], *, actor: str, now: datetime
) -> ImportStats:
    """Apply already validated records in one transaction (the HTTP endpoints)."""
    async with engine.begin() as conn:
        return await apply_batch(conn, records, actor=actor, now=now)


def file_digest(path: Path) -> str:
    """SHA-256 of a file: the checkpoint key of an import."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Chunk:
    """Up to ``batch_size`` records' lines of a file; blank lines kept so numbering holds."""

    csv: bool
    name: str
    first_line: int
    lines: list[str]
    records: int


def _file_chunks(path: Path, batch_size: int) -> Iterator[_Chunk]:
    is_csv = path.suffix.lower() == ".csv"
    with path.open(encoding="utf-8", newline="") as fh:
        number = 0
        if is_csv:
            header = fh.readline()
            number = 1
            fields = tuple(h.strip() for h in next(csv.reader([header]), []))
            if header and fields != CSV_FIELDS:
                raise ImportFormatError(f"CSV header must be {','.join(CSV_FIELDS)}")
        lines: list[str] = []
        records = 0
        first = number + 1
        for line in fh:
            number += 1
            lines.append(line)
            if line.strip():
                records += 1
                if records >= batch_size:
                    yield _Chunk(is_csv, path.name, first, lines, records)
                    lines, records, first = [], 0, number + 1
        if records:
            yield _Chunk(is_csv, path.name, first, lines, records)


def _skip_records(chunk: _Chunk, done: int) -> _Chunk:
    """``chunk`` with its first ``done`` records blanked (already committed)."""
    lines = list(chunk.lines)
    left = done
    for i, line in enumerate(lines):
        if left == 0:
            break
        if line.strip():
            lines[i] = "\n"
            left -= 1
    return _Chunk(chunk.csv, chunk.name, chunk.first_line, lines, chunk.records - done)


def _parse_chunk(validate: RecordValidator, chunk: _Chunk) -> list[ScoreRecord]:
    out: list[ScoreRecord] = []
    if chunk.csv:
        for offset, row in enumerate(csv.reader(chunk.lines)):
            if row:
                out.append(validate.from_csv(row, (chunk.name, chunk.first_line + offset)))
        return out
    for offset, line in enumerate(chunk.lines):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            where = _place((chunk.name, chunk.first_line + offset))
            raise ImportFormatError(f"{where}: not JSON") from None
        out.append(validate.from_json(obj, (chunk.name, chunk.first_line + offset)))
    return out


_WORKER_VALIDATOR: RecordValidator | None = None


def _worker_init(validate: RecordValidator) -> None:
    global _WORKER_VALIDATOR
    _WORKER_VALIDATOR = validate


def _worker_parse(chunk: _Chunk) -> list[ScoreRecord]:
    assert _WORKER_VALIDATOR is not None  # noqa: S101 - set by the pool initializer
    return _parse_chunk(_WORKER_VALIDATOR, chunk)


async def _checkpoint(engine: AsyncEngine, source: str) -> tuple[int, bool]:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(CHECKPOINTS.c.position, CHECKPOINTS.c.done).where(
                    CHECKPOINTS.c.source == source
                )
            )
        ).first()
    return (0, False) if row is None else (int(row.position), bool(row.done))


async def _save_checkpoint(
    conn: AsyncConnection, source: str, position: int, done: bool, now: datetime
) -> None:
    table = CHECKPOINTS
    values = {"source": source, "position": position, "done": done, "updated_at": epoch(now)}
    stmt = (
        postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    ).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["source"],
        set_={"position": position, "done": done, "updated_at": epoch(now)},
    )
    await conn.execute(stmt)


def count_records(path: Path) -> int:
    """How many records a file holds (for the progress bar)."""
    with path.open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    return lines - 1 if path.suffix.lower() == ".csv" and lines else lines


async def import_file(
    engine: AsyncEngine,
    path: Path,
    *,
    validate: RecordValidator,
    actor: str,
    clock: Callable[[], datetime],
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
    parallel: bool | None = None,
) -> ImportStats:
    """Import an NDJSON or ``.csv`` file in committed batches, resuming from its checkpoint.

    ``progress(n)`` is called with the number of records handled after each batch (records
    skipped by the checkpoint included). ``parallel`` parses in a worker process (default:
    for files of 8 MiB and more). A program that imports with ``parallel`` must guard its
    entry point with ``if __name__ == "__main__"`` (the worker is spawned, not forked).

    Raises:
        ImportFormatError, BadRequestError, ScoreRejectedError: a record is invalid; the batches
            before it are committed, and a rerun of the corrected file is safe.
    """
    # Random-order resident keys need a large page cache on SQLite; the serving default is small.
    async with sqlite_cache_size(engine, SQLITE_IMPORT_CACHE_KIB):
        return await _import_file(
            engine,
            path,
            validate=validate,
            actor=actor,
            clock=clock,
            batch_size=batch_size,
            progress=progress,
            parallel=parallel,
        )


async def _import_file(
    engine: AsyncEngine,
    path: Path,
    *,
    validate: RecordValidator,
    actor: str,
    clock: Callable[[], datetime],
    batch_size: int,
    progress: Callable[[int], None] | None,
    parallel: bool | None,
) -> ImportStats:
    source = file_digest(path)
    position, done = await _checkpoint(engine, source)
    stats = ImportStats()
    if done:
        stats.skipped = position
        if progress is not None:
            progress(position)
        return stats
    seen = 0

    async def flush(records: list[ScoreRecord], upto: int) -> None:
        now = clock()
        async with engine.begin() as conn:
            stats.add(await apply_batch(conn, records, actor=actor, now=now))
            await _save_checkpoint(conn, source, upto, False, now)
        if progress is not None:
            progress(len(records))

    # Big files are parsed and hashed in a worker process while this process applies the
    # previous batch (its database work runs in the driver's thread): three stages in flight.
    loop = asyncio.get_running_loop()
    pool: ProcessPoolExecutor | None = None
    if parallel is None:
        parallel = path.stat().st_size >= _PROCESS_THRESHOLD
    if parallel:
        pool = ProcessPoolExecutor(
            1, mp_context=get_context("spawn"), initializer=_worker_init, initargs=(validate,)
        )
    pending: deque[tuple[asyncio.Future[list[ScoreRecord]], int]] = deque()
    try:
        for chunk in _file_chunks(path, batch_size):
            if seen + chunk.records <= position:
                seen += chunk.records
                if seen == position and progress is not None:
                    progress(position)
                continue
            if seen < position:  # the checkpoint falls inside this chunk: blank what is done
                chunk = _skip_records(chunk, position - seen)
                seen = position
                if progress is not None:
                    progress(position)
            seen += chunk.records
            if pool is None:
                parsed: asyncio.Future[list[ScoreRecord]] = loop.create_future()
                parsed.set_result(_parse_chunk(validate, chunk))
            else:
                parsed = asyncio.wrap_future(pool.submit(_worker_parse, chunk))
            pending.append((parsed, seen))
            if len(pending) >= _IN_FLIGHT:
                records, upto = pending.popleft()
                await flush(await records, upto)
        while pending:
            records, upto = pending.popleft()
            await flush(await records, upto)
    finally:
        for fut, _ in pending:
            fut.cancel()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    stats.skipped = min(position, seen)
    async with engine.begin() as conn:
        await _save_checkpoint(conn, source, seen, True, clock())
        await audit.append(
            conn,
            [audit.AuditRecord(actor, "import.file", None, {"sha256": source, **stats.to_dict()})],
            clock(),
        )
    return stats


def parse_body(
    content_type: str, body: bytes, validate: RecordValidator, *, max_records: int
) -> list[ScoreRecord]:
    """Records of a bulk HTTP body: NDJSON, CSV, or a JSON ``{"records": [...]}``.

    Raises:
        ImportFormatError: unsupported content type, not UTF-8, not JSON.
        PayloadTooLargeError: more than ``max_records`` records.
        BadRequestError, ScoreRejectedError: a record is invalid.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ImportFormatError("body is not UTF-8") from None
    if content_type in {"application/x-ndjson", "application/jsonl", "application/ndjson"}:
        if text.count("\n") > max_records:
            raise PayloadTooLargeError(f"at most {max_records} records per request")
        return parse_ndjson(text, validate)
    if content_type == "text/csv":
        if text.count("\n") > max_records + 1:
            raise PayloadTooLargeError(f"at most {max_records} records per request")
        return parse_csv(text, validate)
    if content_type == "application/json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            raise ImportFormatError("body is not JSON") from None
        items = doc.get("records") if isinstance(doc, dict) else None
        if not isinstance(items, list) or set(doc) != {"records"}:
            raise BadRequestError('body must be {"records": [...]}')
        if len(items) > max_records:
            raise PayloadTooLargeError(f"at most {max_records} records per request")
        return [validate.from_json(obj, f"records[{i}]") for i, obj in enumerate(items)]
    raise ImportFormatError(
        "Content-Type must be application/x-ndjson, text/csv or application/json"
    )
