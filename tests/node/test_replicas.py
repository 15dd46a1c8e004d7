"""Two node replicas on one PostgreSQL issue 2,000 attestations concurrently: no status index
is ever handed out twice, and every attestation is recorded exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from node import appkeys
from node.audit import verify_chain
from protocol.jose import b64u_decode, parse_json_object
from protocol.status_list import decode_status_list
from tests.node.conftest import (
    FakeClock,
    holder_keys,
    migrate_url,
    national_id,
    start_node,
    write_node_dir,
)

pytestmark = [pytest.mark.asyncio, pytest.mark.postgres]

RESIDENTS = 20
REQUESTS = 40
BATCH = 50


async def test_two_replicas_never_share_a_status_index(tmp_path: Path, postgres_url: str) -> None:
    # Small lists (1,024 usable indices each) force random collisions and list roll-over.
    config = write_node_dir(tmp_path / "node", postgres_url, extra={"status": {"list_size": 2048}})
    await migrate_url(postgres_url)
    clock = FakeClock()
    a = await start_node(config, clock)
    b = await start_node(config, clock, credentials=False)
    b.tokens = a.tokens  # one credential store: the shared database
    try:
        for i in range(RESIDENTS):
            nid = national_id(i)
            await a.ok(
                "POST",
                "/v1/scores",
                role="office",
                json={"national_id": nid, "score": 120 + i, "seq": 1},
            )
            await b.ok(
                "POST",
                "/v1/residents/consent",
                role="app",
                json={"national_id": nid, "granted": True},
            )
        keys = [k.public_jwk for k in holder_keys(REQUESTS * BATCH)]

        async def one(n: int) -> list[tuple[str, int]]:
            replica = a if n % 2 else b
            body = await replica.ok(
                "POST",
                "/v1/attestations",
                role="app",
                json={
                    "national_id": national_id(n % RESIDENTS),
                    "holder_keys": keys[n * BATCH : (n + 1) * BATCH],
                },
            )
            return [(x["status"]["uri"], x["status"]["idx"]) for x in body["attestations"]]

        results = await asyncio.gather(*(one(n) for n in range(REQUESTS)))
        refs = [ref for batch in results for ref in batch]
        assert len(refs) == REQUESTS * BATCH
        assert len(set(refs)) == len(refs), "a status index was handed out twice"
        assert len({uri for uri, _ in refs}) >= 2  # rolled over to a second list
        async with a.app[appkeys.ENGINE].connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT count(*), count(DISTINCT (list_id, idx)) FROM attestation")
                )
            ).one()
        assert tuple(rows) == (REQUESTS * BATCH, REQUESTS * BATCH)
        await verify_chain(a.app[appkeys.ENGINE])

        # A revocation through one replica shows in the list the other one serves.
        uri, idx = results[0][0]
        path = uri.removeprefix(config.public_url)
        before = await b.call("GET", path)
        assert before.status == 200
        etag = before.headers["ETag"]
        await a.ok(
            "POST",
            "/v1/residents/consent",
            role="app",
            json={"national_id": national_id(0), "granted": False},
        )
        after = await b.call("GET", path, headers={"If-None-Match": etag})
        assert after.status == 200
        payload = parse_json_object(b64u_decode((await after.text()).split(".")[1]))
        lst = payload["status_list"]
        assert isinstance(lst, dict)
        assert decode_status_list(lst).status(idx) == 1
    finally:
        await a.client.close()
        await b.client.close()
