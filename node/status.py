"""Status indices, revocation and status list publication.

What it does:

* :func:`reserve` (a :data:`node.db.Script` for the issuance transaction) inserts attestation
  rows at **random** free indices of the current status list. It locks the list's row, so one
  transaction at a time draws from a list (replicas sharing one PostgreSQL included), finds the
  used ones among its random candidates in one query and inserts only free ones; the unique
  constraint on ``(list_id, idx)`` remains the arbiter, so an index is never handed out twice.
  The list row counts its allocated indices; a list that is half used is closed and a new one
  opened, which keeps draws cheap and every list a large herd.
* :func:`revoke` marks attestation rows revoked, bumps their lists' ``version`` and returns the
  audit records to append.
* :class:`StatusPublisher` signs each list as a ``statuslist+jwt`` on demand, re-signing when the
  list's version changed (so a revocation shows at the next fetch) or the cached token is older
  than half its ``ttl``; it serves an ETag for ``If-None-Match``.

What it deliberately does not do: encode or sign tokens itself (``protocol.status_list``), or
ever reuse an index: expired attestations keep their index forever.
"""

from __future__ import annotations

import array
import asyncio
import hashlib
import json
import math
import os
import secrets
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Connection, Engine, event, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from node import failpoints
from node.audit import AuditRecord
from node.db import Script, Sql, epoch
from node.errors import NotFoundError, UnavailableError
from node.models import ATTESTATIONS, STATUS_LISTS
from protocol.errors import StatusUnavailableError
from protocol.jose import Signer
from protocol.status_list import INVALID, StatusList, sign_status_list_token

#: A list is closed for new indices once this share of it is allocated.
FILL_LIMIT: Final = 0.5
_MAX_DRAWS: Final = 32
#: The attestation columns a caller supplies to :func:`reserve`, then ``list_id`` and ``idx``.
_ROW_COLUMNS: Final = (
    "resident",
    "level",
    "band_low",
    "band_high",
    "issued_at",
    "expires_at",
)
_INSERT_COLUMNS: Final = ", ".join((*_ROW_COLUMNS, "list_id", "idx"))
_ROW_MARKS: Final = "(" + ", ".join("?" * (len(_ROW_COLUMNS) + 2)) + ")"
_RANDOM = secrets.SystemRandom()
#: Per database (engine), how many status changes this process has committed: revocations and
#: newly opened lists. :meth:`StatusPublisher.source` re-reads the lists when it moves.
_LOCAL_CHANGES: Final[weakref.WeakKeyDictionary[Engine, int]] = weakref.WeakKeyDictionary()


def _note_change(conn: AsyncConnection) -> None:
    """Count a status change of this process once ``conn``'s transaction commits."""
    engine = conn.sync_engine

    def committed(_conn: Connection) -> None:
        _LOCAL_CHANGES[engine] = _LOCAL_CHANGES.get(engine, 0) + 1

    event.listen(conn.sync_connection, "commit", committed, once=True)


async def _current_list(conn: AsyncConnection, size: int, now: datetime) -> tuple[int, int]:
    row = (
        await conn.execute(
            select(STATUS_LISTS.c.id, STATUS_LISTS.c.size)
            .where(STATUS_LISTS.c.full.is_(False))
            .order_by(STATUS_LISTS.c.id)
            .limit(1)
        )
    ).first()
    if row is not None:
        return int(row.id), int(row.size)
    result = await conn.execute(
        STATUS_LISTS.insert()
        .values(size=size, bits=1, version=0, full=False, allocated=0, created_at=epoch(now))
        .returning(STATUS_LISTS.c.id)
    )
    _note_change(conn)
    return int(result.scalar_one()), size


def note_committed_change(engine: AsyncEngine) -> None:
    """Count a status change (a list opened) that a driver-level transaction just committed."""
    sync_engine = engine.sync_engine
    _LOCAL_CHANGES[sync_engine] = _LOCAL_CHANGES.get(sync_engine, 0) + 1


def random_indices(size: int, count: int) -> list[int]:
    """``count`` distinct indices drawn uniformly at random from ``range(size)``.

    From the operating system's CSPRNG, one ``os.urandom`` read per round instead of a
    ``getrandbits`` system call per index (``SystemRandom.sample``): each 32-bit word is masked
    to the bits ``size`` needs and rejected if out of range (no modulo bias), and repeats are
    dropped, which leaves every set of ``count`` indices equally likely. Large draws (over
    half the range) go through ``SystemRandom.sample``.
    """
    if count > size // 2 or size > 1 << 32:
        return _RANDOM.sample(range(size), count)
    mask = (1 << (size - 1).bit_length()) - 1
    chosen: dict[int, None] = {}
    while len(chosen) < count:  # each round adds at least half its words, on average
        words = array.array("I", os.urandom(4 * (2 * (count - len(chosen)) + 8)))
        for word in words:
            idx = word & mask
            if idx < size:
                chosen[idx] = None
                if len(chosen) == count:
                    break
    return list(chosen)


@dataclass(frozen=True)
class Reservation:
    """What :func:`reserve` handed out: ``(list_id, idx)`` per row, and whether a list was
    opened (the caller reports it with :func:`note_committed_change` once committed)."""

    slots: list[tuple[int, int]]
    opened_list: bool


def reserve(
    count: int,
    row: Sequence[object],
    *,
    list_size: int,
    created_at: int,
    postgres: bool,
) -> Script[Reservation]:
    """Insert ``count`` attestation rows, each a copy of ``row``, at random free status indices.

    A script (:data:`node.db.Script`) for the caller's transaction. ``row`` holds the columns
    ``resident, level, band_low, band_high, issued_at, expires_at``. The current list's row is
    locked first (``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` locks the whole database), so
    one transaction at a time draws from a list, replicas included: the candidates are drawn
    at random, the used ones among them found in one query, and exactly the free ones
    inserted, with the list's ``allocated`` count. The unique constraint on ``(list_id, idx)``
    stays the arbiter: should an index be taken after all, the insert fails and the whole
    transaction with it -- an index is never handed out twice. Lock order: resident row (the
    caller), status list rows in ascending id (the oldest open list first; replicas rolling
    over at once can leave two open, and taking the newer first deadlocked against
    revocations, which lock their lists in id order), then the audit head (the caller) -- the
    order revocation takes them in too.

    Raises:
        UnavailableError: no free index found after many draws (should never happen).
    """
    lock = " FOR UPDATE" if postgres else ""
    # One index probe per candidate, in a form no planner estimate turns into a scan of the
    # list's rows (PostgreSQL does that for ``idx = ANY(...)`` or a join while its statistics
    # lag behind a growing list: the cost then grows with the list).
    used_sql = (
        "SELECT c.idx FROM unnest(?::integer[]) AS c(idx) CROSS JOIN LATERAL "
        "(SELECT 1 FROM attestation AS a WHERE a.list_id = ? AND a.idx = c.idx LIMIT 1) AS hit"
        if postgres
        else "SELECT a.idx FROM json_each(?) AS c CROSS "
        "JOIN attestation AS a ON a.list_id = ? AND a.idx = c.value"
    )
    slots: list[tuple[int, int]] = []
    opened = False
    current: tuple[int, int, int] | None = None
    for _ in range(_MAX_DRAWS):
        if current is None:
            found = yield Sql(
                'SELECT id, size, allocated FROM status_list WHERE "full" = ? '  # noqa: S608 - no input
                f"ORDER BY id LIMIT 1{lock}",
                (False,),
            )
            if found:
                current = (int(found[0][0]), int(found[0][1]), int(found[0][2]))
            else:
                made = yield Sql(
                    "INSERT INTO status_list "
                    '(size, bits, version, "full", allocated, created_at) '
                    "VALUES (?, 1, 0, ?, 0, ?) RETURNING id",
                    (list_size, False, created_at),
                )
                current, opened = (int(made[0][0]), list_size, 0), True
        list_id, size, allocated = current
        need = min(count - len(slots), int(size * FILL_LIMIT) - allocated)
        if need <= 0:
            yield Sql('UPDATE status_list SET "full" = ? WHERE id = ?', (True, list_id))
            current = None
            continue
        # Enough candidates that the free ones among them almost surely cover ``need``.
        free_share = max(1.0 - allocated / size, 0.05)
        draw = min(size, math.ceil((need + 3 * math.sqrt(need) + 4) / free_share))
        candidates = random_indices(size, draw)
        arg: object = candidates if postgres else json.dumps(candidates)
        taken = {int(r[0]) for r in (yield Sql(used_sql, (arg, list_id)))}
        free = sorted(idx for idx in candidates if idx not in taken)[:need]
        if not free:
            continue
        yield Sql(
            f"INSERT INTO attestation ({_INSERT_COLUMNS}) VALUES {_ROW_MARKS}",  # noqa: S608 - no input
            [(*row, list_id, idx) for idx in free],
            many=True,
        )
        yield Sql(
            "UPDATE status_list SET allocated = allocated + ? WHERE id = ?", (len(free), list_id)
        )
        slots.extend((list_id, idx) for idx in free)
        current = (list_id, size, allocated + len(free))
        if len(slots) == count:
            return Reservation(slots, opened)
    raise UnavailableError("could not allocate status indices; try again")


@dataclass(frozen=True)
class LiveAttestation:
    """What revocation needs to know about an outstanding attestation."""

    id: int
    list_id: int
    resident: str
    level: int
    band_low: int | None
    band_high: int | None

    def holds(self, level: int, score: float) -> bool:
        """Whether its claims are still true for a resident now at ``level`` / ``score``."""
        if level != self.level:
            return False
        if self.band_low is not None and self.band_high is not None:
            return self.band_low <= score <= self.band_high
        return True


async def live_attestations(
    conn: AsyncConnection, residents: Sequence[str], now: datetime
) -> list[LiveAttestation]:
    """Unrevoked, unexpired attestations of ``residents``."""
    out: list[LiveAttestation] = []
    a = ATTESTATIONS.c
    for start in range(0, len(residents), 1000):
        chunk = residents[start : start + 1000]
        rows = await conn.execute(
            select(a.id, a.list_id, a.resident, a.level, a.band_low, a.band_high).where(
                a.resident.in_(chunk), a.revoked_at.is_(None), a.expires_at > epoch(now)
            )
        )
        out.extend(
            LiveAttestation(
                id=int(r.id),
                list_id=int(r.list_id),
                resident=str(r.resident),
                level=int(r.level),
                band_low=r.band_low,
                band_high=r.band_high,
            )
            for r in rows
        )
    return out


async def revoke(
    conn: AsyncConnection,
    attestations: Sequence[LiveAttestation],
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> list[AuditRecord]:
    """Revoke ``attestations`` inside the caller's transaction.

    Returns:
        One audit record per resident affected (the caller appends them).
    """
    if not attestations:
        return []
    at = epoch(now)
    ids = [att.id for att in attestations]
    for start in range(0, len(ids), 1000):
        await conn.execute(
            update(ATTESTATIONS)
            .where(ATTESTATIONS.c.id.in_(ids[start : start + 1000]))
            .values(revoked_at=at, revoked_reason=reason)
        )
    lists = sorted({att.list_id for att in attestations})
    # Lock the lists in id order, as issuance does when it rolls over to a new list: an UPDATE
    # with IN (...) locks rows in no defined order, and two revocations (or a revocation and
    # an issuance) on PostgreSQL deadlocked on each other's lists (found by bench.replicas).
    await conn.execute(
        select(STATUS_LISTS.c.id)
        .where(STATUS_LISTS.c.id.in_(lists))
        .order_by(STATUS_LISTS.c.id)
        .with_for_update()
    )
    await conn.execute(
        update(STATUS_LISTS)
        .where(STATUS_LISTS.c.id.in_(lists))
        .values(version=STATUS_LISTS.c.version + 1)
    )
    _note_change(conn)
    per_resident: dict[str, int] = {}
    for att in attestations:
        per_resident[att.resident] = per_resident.get(att.resident, 0) + 1
    return [
        AuditRecord(actor, "attestation.revoke", resident, {"count": n, "reason": reason})
        for resident, n in sorted(per_resident.items())
    ]


@dataclass(frozen=True)
class PublishedList:
    """A signed status list token and what caches need."""

    list_id: int
    version: int
    token: str
    etag: str
    status_list: StatusList
    signed_at: datetime


class StatusPublisher:
    """Signs and caches each status list token; one per application."""

    def __init__(
        self,
        engine: AsyncEngine,
        signer: Signer,
        *,
        issuer: str,
        base_url: str,
        ttl: timedelta,
        lifetime: timedelta,
        source_refresh: timedelta = timedelta(0),
    ) -> None:
        self._engine = engine
        self._source_refresh = source_refresh
        #: What :meth:`source` last built, when, and at which count of this process's changes.
        self._source: tuple[OwnStatusLists, datetime, int] | None = None
        self._signer = signer
        self._issuer = issuer
        self._base_url = base_url.rstrip("/")
        self._ttl = ttl
        self._lifetime = lifetime
        self._cache: dict[int, PublishedList] = {}
        self._lock = asyncio.Lock()

    @property
    def ttl(self) -> timedelta:
        """The ``ttl`` the tokens carry."""
        return self._ttl

    def uri(self, list_id: int) -> str:
        """The stable URL of a list (the token's ``sub``, the attestation's ``status.uri``)."""
        return f"{self._base_url}/status/{list_id}"

    async def open_current(self, list_size: int, now: datetime) -> int:
        """Open the list issuance will draw from next, if none is open; return its id.

        Called at start-up so that the member material the node signs for its peers names the
        list before the first attestation points at it: a merchant learns status list URIs from
        the trust bundle, and a bundle without them cannot check revocation.
        """
        async with self._engine.begin() as conn:
            list_id, _ = await _current_list(conn, list_size, now)
        return list_id

    async def list_ids(self) -> list[int]:
        """Every status list this node has opened."""
        async with self._engine.connect() as conn:
            return [int(i) for i in (await conn.execute(select(STATUS_LISTS.c.id))).scalars()]

    async def get(self, list_id: int, now: datetime) -> PublishedList:
        """The current token of a list, re-signed if the list changed or the token aged.

        Raises:
            NotFoundError: no such list.
        """
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(STATUS_LISTS.c.version, STATUS_LISTS.c.size, STATUS_LISTS.c.bits).where(
                        STATUS_LISTS.c.id == list_id
                    )
                )
            ).first()
        if row is None:
            raise NotFoundError(f"no status list {list_id}")
        cached = self._cache.get(list_id)
        if cached is not None and self._fresh(cached, int(row.version), now):
            return cached
        async with self._lock:
            cached = self._cache.get(list_id)
            if cached is not None and self._fresh(cached, int(row.version), now):
                return cached
            published = await self._sign(list_id, int(row.size), int(row.bits), now)
            self._cache[list_id] = published
            return published

    def _fresh(self, cached: PublishedList, version: int, now: datetime) -> bool:
        return cached.version == version and now - cached.signed_at < self._ttl / 2

    async def _sign(self, list_id: int, size: int, bits: int, now: datetime) -> PublishedList:
        # Read the version first: a revocation committed after this read bumps it again, so
        # the next request re-signs (never a stale token cached under a new version).
        async with self._engine.connect() as conn:
            version = int(
                (
                    await conn.execute(
                        select(STATUS_LISTS.c.version).where(STATUS_LISTS.c.id == list_id)
                    )
                ).scalar_one()
            )
            revoked = (
                await conn.execute(
                    select(ATTESTATIONS.c.idx).where(
                        ATTESTATIONS.c.list_id == list_id, ATTESTATIONS.c.revoked_at.is_not(None)
                    )
                )
            ).scalars()
            statuses = {int(idx): INVALID for idx in revoked}
        status_list = StatusList.build(size, statuses, bits=bits)
        token = sign_status_list_token(
            self._signer,
            issuer=self._issuer,
            uri=self.uri(list_id),
            status_list=status_list,
            now=now,
            lifetime=self._lifetime,
            ttl=self._ttl,
        )
        etag = '"' + hashlib.sha256(token.encode("ascii")).hexdigest()[:32] + '"'
        # Signed, not yet cached or served: a crash here must lose nothing (the next signing
        # starts again from the table) and serve nothing partial.
        await failpoints.reach("status.publish")
        return PublishedList(list_id, version, token, etag, status_list, now)

    async def source(self, now: datetime) -> OwnStatusLists:
        """A :class:`protocol.status_list.StatusListSource` over this node's current lists.

        Served from memory while nothing changed: the lists are re-read when this process
        revoked or opened a list since (so those show at once), and otherwise at most every
        ``source_refresh`` (so another replica's revocation shows within it). A re-read asks the
        database for every list's version in one query and re-builds only the lists whose
        version moved.
        """
        changes = _LOCAL_CHANGES.get(self._engine.sync_engine, 0)
        cached = self._source
        if (
            cached is not None
            and cached[2] == changes
            and timedelta(0) <= now - cached[1] < self._source_refresh
        ):
            return cached[0]
        async with self._engine.connect() as conn:
            versions = {
                int(row.id): int(row.version)
                for row in await conn.execute(select(STATUS_LISTS.c.id, STATUS_LISTS.c.version))
            }
        lists = {}
        for list_id, version in versions.items():
            published = self._cache.get(list_id)
            if published is None or published.version != version:
                published = await self.get(list_id, now)
            lists[self.uri(list_id)] = published.status_list
        source = OwnStatusLists(lists)
        self._source = (source, now, changes)
        return source


class OwnStatusLists:
    """The node's own status lists, for its online verification endpoint."""

    def __init__(self, lists: Mapping[str, StatusList]) -> None:
        self._lists = dict(lists)

    def status_list(self, uri: str, now: datetime) -> StatusList:
        """The list at ``uri``.

        Raises:
            StatusUnavailableError: not one of this node's lists.
        """
        del now
        try:
            return self._lists[uri]
        except KeyError:
            raise StatusUnavailableError(f"status list {uri} is not this node's") from None
