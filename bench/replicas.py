"""Replicas: several ``huxin node run`` processes on one PostgreSQL, issuing and revoking at once.

What it does: creates a fresh PostgreSQL database (:func:`bench.node.fresh_postgres`), sets up
one node data directory (keys, credentials, residents at level 4) and serves it with N
``huxin node run`` processes on 127.0.0.1, all on that database, with small status lists
(``--list-size``, so that index draws collide and lists roll over). For ``--duration`` seconds:

- issuance workers on every replica request batches of attestations for random residents;
- one revocation worker per replica, each owning a share of the residents, cycles each of them
  through a score drop (level 4 -> 2), a score rise (back to 4) -- both revoke every live
  attestation, whose level no longer holds -- a consent withdrawal (revokes all) and a new
  grant. Issuance to a resident without consent is refused (``consent_required``, expected).

Then it checks, from the client's records, the database and every replica's served lists:

0. no request failed (a refused issuance for withdrawn consent is not a failure);
1. no status index was handed out twice, in the issuance responses or in the database;
2. every attestation a client received is in the database;
3. the revocation counts the replicas answered add up to the revoked rows (none lost, none
   counted twice), and every attestation received before a revocation of its resident was
   sent is revoked;
4. every replica serves every list signed by the node's key, each list agrees bit for bit with
   the table (revoked exactly where the table says), and all replicas serve the same lists;
5. the audit chain verifies.

``python -m bench.replicas [--replicas N] [--duration S] [--list-size L] [--markdown]`` prints a
table like the other benchmarks and the checks; it exits 1 when a check fails and 2 when the
PostgreSQL server (``HUXIN_BENCH_POSTGRES_URL``) is unreachable.

What it deliberately does not do: target anything but 127.0.0.1, run unbounded, kill replicas
(``tests/node/test_faults_kill.py`` does that), or pin processes to cores (the replicas and
this client share the machine; rates are indicative only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import aiohttp
import asyncpg  # type: ignore[import-untyped]

from bench.harness import Row, Stats, machine, print_report
from bench.node import (
    free_port,
    fresh_postgres,
    national_id,
    postgres_server_url,
    prepare_node,
    stop_processes,
    wait_ready,
)
from node.config import NodeConfig
from node.keystore import load_keys
from protocol.errors import ProtocolError
from protocol.jose import KeySigner
from protocol.keys import StaticKeyResolver
from protocol.presentation import DisclosureRequest, present
from protocol.status_list import verify_status_list_token

NAME: Final = "replicas"
#: 商鼎分 scores of the two levels residents move between (level 4 and level 2).
HIGH, LOW = 135, 95
REQUEST_TIMEOUT: Final = 30.0
AUDIENCE: Final = "bench-replicas"
#: Attestations kept (with their holder key) to present to every replica's ``/v1/verify``.
SAMPLES: Final = 64
#: ``status.source_refresh_seconds`` of the replicas: how soon another replica's revocation
#: shows in a replica's ``/v1/verify``.
SOURCE_REFRESH: Final = 1

Ref = tuple[int, int]  # (list_id, idx)


@dataclass(frozen=True)
class Check:
    """One consistency check and its outcome."""

    name: str
    passed: bool
    detail: str = ""


@dataclass
class Replica:
    """One ``huxin node run`` process."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self) -> str:
        """The end of its standard error."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return ""


@dataclass
class Revocation:
    """A revoking request as the client saw it."""

    resident: int
    kind: str  # "score_drop", "score_rise" or "withdraw"
    sent: float
    revoked: int


@dataclass
class Record:
    """What the client saw during the run."""

    refs: list[Ref] = field(default_factory=list)
    #: (list_id, idx) -> (resident, monotonic time the response arrived)
    received: dict[Ref, tuple[int, float]] = field(default_factory=dict)
    issue_requests: int = 0
    issue_errors: int = 0
    refused: int = 0
    revocations: list[Revocation] = field(default_factory=list)
    other_requests: int = 0
    revoke_errors: int = 0
    first_error: str = ""
    per_replica: dict[str, int] = field(default_factory=dict)
    #: (sd_jwt, holder index, ref) of some attestations received.
    samples: list[tuple[str, int, Ref]] = field(default_factory=list)
    reads: int = 0
    read_errors: int = 0

    def error(self, what: str) -> None:
        self.first_error = self.first_error or what[:200]


@dataclass(frozen=True)
class Report:
    """The table rows and the checks of one run."""

    rows: list[Row]
    checks: list[Check]

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(c.passed for c in self.checks)


@contextlib.contextmanager
def _replica(data_dir: Path, port: int, env: dict[str, str], index: int) -> Iterator[Replica]:
    log_path = data_dir / f"replica-{index}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            [
                *(sys.executable, "-c", "from node.cli import main; main()", "node", "run"),
                *("--data", str(data_dir), "--host", "127.0.0.1", "--port", str(port)),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )
    try:
        yield Replica(f"http://127.0.0.1:{port}", process, log_path)
    finally:
        stop_processes([process])


@contextlib.asynccontextmanager
async def _replicas(
    database_url: str, count: int, list_size: int
) -> AsyncIterator[tuple[NodeConfig, dict[str, str], list[Replica], Path]]:
    with tempfile.TemporaryDirectory(prefix="huxin-replicas-") as tmp:
        data_dir = Path(tmp) / "node"
        ports = [free_port() for _ in range(count)]
        config, tokens = await prepare_node(data_dir, database_url, residents=0, port=ports[0])
        env = {
            **os.environ,
            "HUXIN_STATUS_LIST_SIZE": str(list_size),
            "HUXIN_STATUS_SOURCE_REFRESH_SECONDS": str(SOURCE_REFRESH),
            "HUXIN_LOG_LEVEL": "WARNING",
        }
        with contextlib.ExitStack() as stack:
            replicas = [
                stack.enter_context(_replica(data_dir, port, env, i))
                for i, port in enumerate(ports)
            ]
            async with aiohttp.ClientSession() as session:
                for replica in replicas:
                    await wait_ready(
                        session, replica.base_url, replica.process, replica.log_tail, "a replica"
                    )
            yield config, tokens, replicas, data_dir


class _Client:
    """The workers of one run, sharing one record."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        replicas: Sequence[Replica],
        tokens: dict[str, str],
        *,
        residents: int,
        batch: int,
    ) -> None:
        self.session = session
        self.replicas = replicas
        self.tokens = tokens
        self.residents = residents
        self.record = Record()
        self.signers = [KeySigner.generate() for _ in range(batch)]
        self.holders = [signer.public_jwk for signer in self.signers]
        self.nonces = 0
        self.seq = [1] * residents

    async def post(self, replica: Replica, role: str, path: str, body: object) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        async with self.session.post(
            f"{replica.base_url}{path}", json=body, headers=headers
        ) as resp:
            payload = await resp.json(content_type=None)
            return resp.status, payload

    async def enrol(self) -> None:
        """Give every resident a level 4 score and consent, through the replicas in turn."""
        for i in range(self.residents):
            replica = self.replicas[i % len(self.replicas)]
            nid = national_id(i)
            for role, path, body in (
                ("office", "/v1/scores", {"national_id": nid, "score": HIGH, "seq": 1}),
                ("app", "/v1/residents/consent", {"national_id": nid, "granted": True}),
            ):
                status, payload = await self.post(replica, role, path, body)
                if status != 200:
                    raise RuntimeError(f"enrolment failed: {status} {payload}")

    async def issuer(self, replica: Replica, deadline: float, rng: random.Random) -> None:
        """Issue batches for random residents through ``replica`` until ``deadline``."""
        rec = self.record
        while time.monotonic() < deadline:
            resident = rng.randrange(self.residents)
            body = {"national_id": national_id(resident), "holder_keys": self.holders}
            rec.issue_requests += 1
            try:
                status, payload = await self.post(replica, "app", "/v1/attestations", body)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:
                rec.issue_errors += 1
                rec.error(f"issue: {err!r}")
                continue
            at = time.monotonic()
            if status == 200:
                for n, att in enumerate(payload["attestations"]):
                    ref = (int(att["status"]["uri"].rsplit("/", 1)[1]), int(att["status"]["idx"]))
                    rec.refs.append(ref)
                    rec.received[ref] = (resident, at)
                    if n == 0 and len(rec.samples) < SAMPLES and rng.random() < 0.2:
                        rec.samples.append((att["sd_jwt"], n, ref))
                rec.per_replica[replica.base_url] = rec.per_replica.get(replica.base_url, 0) + 1
            elif status == 403 and payload.get("error") == "consent_required":
                rec.refused += 1
            else:
                rec.issue_errors += 1
                rec.error(f"issue: {status} {payload}")

    async def live_samples(self) -> None:
        """Add one attestation issued after the run by each replica (live ones to accept)."""
        for replica in self.replicas:
            for resident in range(self.residents):
                body = {"national_id": national_id(resident), "holder_keys": self.holders[:1]}
                status, payload = await self.post(replica, "app", "/v1/attestations", body)
                if status == 200:
                    att = payload["attestations"][0]
                    ref = (int(att["status"]["uri"].rsplit("/", 1)[1]), int(att["status"]["idx"]))
                    self.record.refs.append(ref)
                    self.record.received[ref] = (resident, time.monotonic())
                    self.record.samples.append((att["sd_jwt"], 0, ref))
                    break

    async def verify(self, replica: Replica, sample: tuple[str, int, Ref]) -> tuple[int, Any]:
        """Present ``sample`` (a fresh nonce) to ``replica``'s ``/v1/verify``."""
        sd_jwt, holder, _ = sample
        self.nonces += 1
        nonce = f"replicas-{self.nonces}"
        presentation = present(
            sd_jwt,
            self.signers[holder],
            request=DisclosureRequest(level=True),
            audience=AUDIENCE,
            nonce=nonce,
            now=datetime.now(UTC),
        )
        body = {"presentation": presentation, "audience": AUDIENCE, "nonce": nonce}
        return await self.post(replica, "merchant", "/v1/verify", body)

    async def reader(self, replica: Replica, deadline: float, rng: random.Random) -> None:
        """A merchant and a status list fetcher on ``replica``: fill and use its caches."""
        rec = self.record
        while time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            if not rec.samples:
                continue
            sample = rec.samples[rng.randrange(len(rec.samples))]
            rec.reads += 2
            try:
                status, _ = await self.verify(replica, sample)
                async with self.session.get(f"{replica.base_url}/status/{sample[2][0]}") as resp:
                    await resp.read()
                    fetched = resp.status
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:
                rec.read_errors += 1
                rec.error(f"read: {err!r}")
                continue
            if status != 200 or fetched != 200:
                rec.read_errors += 1
                rec.error(f"read: verify {status}, status list {fetched}")

    async def revoker(self, replica: Replica, owned: Sequence[int], deadline: float) -> None:
        """Cycle the ``owned`` residents through drop, rise, withdrawal and grant."""
        rec = self.record
        step = 0
        while time.monotonic() < deadline and owned:
            resident = owned[step % len(owned)]
            kind = ("score_drop", "score_rise", "withdraw", "grant")[(step // len(owned)) % 4]
            step += 1
            nid = national_id(resident)
            if kind in ("score_drop", "score_rise"):
                self.seq[resident] += 1
                score = LOW if kind == "score_drop" else HIGH
                path, role = "/v1/scores", "office"
                body: dict[str, object] = {
                    "national_id": nid,
                    "score": score,
                    "seq": self.seq[resident],
                }
            else:
                path, role = "/v1/residents/consent", "app"
                body = {"national_id": nid, "granted": kind == "grant"}
            sent = time.monotonic()
            try:
                status, payload = await self.post(replica, role, path, body)
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as err:
                rec.revoke_errors += 1
                rec.error(f"{kind}: {err!r}")
                continue
            if status != 200:
                rec.revoke_errors += 1
                rec.error(f"{kind}: {status} {payload}")
            elif kind == "grant":
                rec.other_requests += 1
            else:
                rec.revocations.append(Revocation(resident, kind, sent, int(payload["revoked"])))
            await asyncio.sleep(0.01)


async def _database_state(database_url: str) -> tuple[dict[Ref, bool], int, list[int]]:
    """``(list_id, idx) -> revoked`` of every row, the number of rows, and every list id."""
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT list_id, idx, revoked_at FROM attestation")
        lists = [int(r["id"]) for r in await conn.fetch("SELECT id FROM status_list ORDER BY id")]
    finally:
        await conn.close()
    table = {(int(r["list_id"]), int(r["idx"])): r["revoked_at"] is not None for r in rows}
    return table, len(rows), lists


async def _served_lists(
    session: aiohttp.ClientSession, replica: Replica, config: NodeConfig, lists: Sequence[int]
) -> dict[int, frozenset[int] | str]:
    """Per list id, the revoked indices a replica serves, or why its token was refused."""
    key = load_keys(config).signer.public_key
    keys = StaticKeyResolver.of({config.issuer: key})
    out: dict[int, frozenset[int] | str] = {}
    for list_id in lists:
        async with session.get(f"{replica.base_url}/status/{list_id}") as resp:
            token = await resp.text()
            if resp.status != 200:
                out[list_id] = f"HTTP {resp.status}"
                continue
        try:
            verified = verify_status_list_token(
                token,
                keys=keys,
                uri=f"{config.public_url}/status/{list_id}",
                allowed_algorithms=frozenset({"ES256", "EdDSA"}),
                now=datetime.now(UTC),
                issuer=config.issuer,
            )
        except ProtocolError as err:
            out[list_id] = f"refused: {err}"
            continue
        out[list_id] = frozenset(idx for idx, _ in verified.status_list.nonzero())
    return out


async def _checks(
    client: _Client, database_url: str, config: NodeConfig, replicas: Sequence[Replica]
) -> list[Check]:
    rec = client.record
    table, rows, lists = await _database_state(database_url)
    checks = [
        Check(
            "the run issued and revoked through every replica",
            len(rec.per_replica) == len(replicas) and any(table.values()),
            f"{len(rec.refs):,} attestations received, {sum(table.values()):,} revoked, "
            f"{len(lists)} lists",
        ),
        Check(
            "no request failed (issuance, revocation, merchant reads)",
            rec.issue_errors == rec.revoke_errors == rec.read_errors == 0,
            f"{rec.issue_errors} + {rec.revoke_errors} + {rec.read_errors} errors"
            + (f"; first: {rec.first_error}" if rec.first_error else ""),
        ),
        Check(
            "no status index handed out twice (issuance responses)",
            len(set(rec.refs)) == len(rec.refs),
            f"{len(rec.refs):,} attestations received, {len(set(rec.refs)):,} distinct",
        ),
        Check(
            "no status index twice in the database",
            len(table) == rows,
            f"{rows:,} rows, {len(table):,} distinct (list, index)",
        ),
    ]
    missing = set(rec.received) - set(table)
    checks.append(
        Check(
            "every attestation received is in the database",
            not missing,
            f"{len(missing)} missing" + (f", e.g. {sorted(missing)[:3]}" if missing else ""),
        )
    )
    answered = sum(r.revoked for r in rec.revocations)
    revoked_rows = sum(table.values())
    checks.append(
        Check(
            "revocations answered add up to the revoked rows",
            answered == revoked_rows,
            f"{answered:,} answered by {len(rec.revocations):,} requests, "
            f"{revoked_rows:,} revoked rows",
        )
    )
    first_revocation: dict[int, list[float]] = {}
    for r in rec.revocations:
        first_revocation.setdefault(r.resident, []).append(r.sent)
    lost = [
        ref
        for ref, (resident, at) in rec.received.items()
        if any(sent > at for sent in first_revocation.get(resident, ())) and not table.get(ref)
    ]
    checks.append(
        Check(
            "every attestation received before a revocation of its resident was sent is revoked",
            not lost,
            f"{len(lost)} not revoked" + (f", e.g. {lost[:3]}" if lost else ""),
        )
    )
    expected = {
        list_id: frozenset(
            idx for (lid, idx), revoked in table.items() if lid == list_id and revoked
        )
        for list_id in lists
    }
    served: list[dict[int, frozenset[int] | str]] = []
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    ) as session:
        for replica in replicas:
            served.append(await _served_lists(session, replica, config, lists))
    bad = [
        f"replica {n} list {list_id}: "
        + (got if isinstance(got, str) else f"{len(got)} set, {len(expected[list_id])} expected")
        for n, lists_of in enumerate(served)
        for list_id, got in lists_of.items()
        if got != expected[list_id]
    ]
    checks.append(
        Check(
            "every replica serves every list signed, bit for bit as the table says",
            not bad,
            f"{len(lists)} lists x {len(replicas)} replicas" + (f"; {bad[:3]}" if bad else ""),
        )
    )
    checks.append(
        Check(
            "all replicas serve the same lists",
            all(s == served[0] for s in served[1:]),
            f"{len(replicas)} replicas",
        )
    )
    # Every replica's online verification, once its status source refreshed, agrees too.
    await asyncio.sleep(SOURCE_REFRESH + 0.5)
    wrong: list[str] = []
    for n, replica in enumerate(replicas):
        for sample in rec.samples:
            status, payload = await client.verify(replica, sample)
            revoked = table.get(sample[2])
            ok = status == 200 and (
                payload.get("error") == "revoked" if revoked else payload.get("valid") is True
            )
            if not ok:
                wrong.append(f"replica {n} {sample[2]} revoked={revoked}: {status} {payload}")
    checks.append(
        Check(
            "every replica's /v1/verify refuses the revoked samples and accepts the others",
            bool(rec.samples) and not wrong,
            f"{len(rec.samples)} samples x {len(replicas)} replicas, "
            f"{sum(bool(table.get(x[2])) for x in rec.samples)} of them revoked"
            + (f"; {wrong[0][:200]}" if wrong else ""),
        )
    )
    headers = {"Authorization": f"Bearer {client.tokens['office']}"}
    async with client.session.get(
        f"{replicas[-1].base_url}/v1/audit/verify", headers=headers
    ) as resp:
        status, payload = resp.status, await resp.json(content_type=None)
    checks.append(
        Check(
            "the audit chain verifies",
            status == 200 and payload.get("ok") is True,
            f"{status} {payload}"[:120],
        )
    )
    return checks


async def run_replicas(
    database_url: str,
    *,
    replicas: int = 2,
    duration: float = 10.0,
    residents: int = 24,
    list_size: int = 1024,
    batch: int = 8,
    issuers: int = 2,
    seed: int = 0,
) -> Report:
    """One bounded run on the (fresh, empty) database at ``database_url``.

    Raises:
        RuntimeError: a replica did not start, or enrolling the residents failed.
    """
    async with (
        _replicas(database_url, replicas, list_size) as (config, tokens, servers, _data_dir),
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=replicas * (issuers + 1) + 4),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
        ) as session,
    ):
        client = _Client(session, servers, tokens, residents=residents, batch=batch)
        await client.enrol()
        rng = random.Random(seed)
        start = time.monotonic()
        deadline = start + duration
        workers = [
            client.issuer(server, deadline, random.Random(rng.random()))
            for server in servers
            for _ in range(issuers)
        ]
        workers += [
            client.reader(server, deadline, random.Random(rng.random())) for server in servers
        ]
        workers += [
            client.revoker(server, list(range(n, residents, replicas)), deadline)
            for n, server in enumerate(servers)
        ]
        await asyncio.gather(*workers)
        elapsed = time.monotonic() - start
        await client.live_samples()
        checks = await _checks(client, database_url, config, servers)
    rec = client.record
    label = f"{replicas} replicas, one PostgreSQL"
    note = f"; first error: {rec.first_error}" if rec.first_error else ""
    rows = [
        Row(
            NAME,
            f"issue {batch}/request, {issuers} in flight per replica ({label}; "
            f"{rec.issue_errors} errors of {rec.issue_requests:,}, "
            f"{rec.refused:,} refused for withdrawn consent{note})",
            "att/s",
            Stats.of([len(rec.refs) / elapsed]),
        ),
        Row(
            NAME,
            f"revoking requests, 1 in flight per replica ({rec.revoke_errors} errors; "
            f"score drops and rises, consent withdrawals)",
            "req/s",
            Stats.of([len(rec.revocations) / elapsed]),
        ),
        Row(
            NAME,
            f"merchant reads during the run: /v1/verify and /status, 1 in flight per replica "
            f"({rec.read_errors} errors of {rec.reads:,})",
            "req/s",
            Stats.of([rec.reads / elapsed]),
        ),
        Row(
            NAME,
            "attestations revoked",
            "att",
            Stats.of([sum(r.revoked for r in rec.revocations)]),
            False,
        ),
        Row(
            NAME,
            "consistency checks passed",
            "checks",
            Stats.of([sum(c.passed for c in checks)]),
            note=f"of {len(checks)}",
        ),
    ]
    return Report(rows, checks)


async def _main_async(args: argparse.Namespace) -> Report | None:
    async with fresh_postgres() as url:
        if url is None:
            return None
        return await run_replicas(
            url,
            replicas=args.replicas,
            duration=args.duration,
            residents=args.residents,
            list_size=args.list_size,
            batch=args.batch,
            issuers=args.issuers,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.replicas``: print the table and the checks."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.replicas", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--replicas", type=int, default=2, help="node processes (2..8)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load (<= 600)")
    parser.add_argument("--residents", type=int, default=24, help="residents (>= replicas)")
    parser.add_argument("--list-size", type=int, default=1024, help="status list size")
    parser.add_argument("--batch", type=int, default=8, help="attestations per request")
    parser.add_argument("--issuers", type=int, default=2, help="issuance requests in flight")
    parser.add_argument("--markdown", action="store_true", help="Markdown for RESULTS.md")
    args = parser.parse_args(argv)
    if not 2 <= args.replicas <= 8 or not 0 < args.duration <= 600:
        parser.error("--replicas must be 2..8 and --duration 0..600")
    if args.residents < args.replicas or args.list_size % 8 or not 1 <= args.batch <= 64:
        parser.error("--residents >= --replicas, --list-size a multiple of 8, --batch 1..64")
    started = time.perf_counter()
    report = asyncio.run(_main_async(args))
    if report is None:
        print(f"PostgreSQL at {postgres_server_url()} is unreachable", file=sys.stderr)
        return 2
    info = machine()
    header = [
        f"huxin replicas ({args.replicas} x huxin node run on one fresh PostgreSQL database, "
        f"{args.duration:g} s, list size {args.list_size}, {args.residents} residents; "
        f"{time.perf_counter() - started:.1f} s)",
        f"machine: {info['cpu']}, nproc {info['nproc']}; {info['python']}; "
        f"load average before the run {info['load']}",
    ]
    lines = [f"{'PASS' if c.passed else 'FAIL'}  {c.name}: {c.detail}" for c in report.checks]
    print_report(header, report.rows, markdown=args.markdown)
    print()
    print("\n".join(f"- {line}" if args.markdown else line for line in lines))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
