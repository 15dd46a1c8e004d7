"""An in-memory federation of five city nodes in one process, for the sync and federation tests.

Each city runs the real node application (:func:`node.app.create_app`) on an aiohttp test
server on 127.0.0.1 with its own SQLite database, keys and certificates from
:mod:`tests.certs.sim`, and a 3-of-5 federation root pinned in its data directory. In front of
each node sits a :class:`FaultProxy` whose URL is the city's ``node_url``, ``issuer`` and
``public_url`` in the root: it forwards requests unchanged, or plays a broken peer (down, slow,
garbage, truncated, oversized, 5xx) on request. All nodes share one :class:`FakeClock`; the sync
loop is off (``sync.interval_seconds = 0``) and tests run rounds with :meth:`SimFederation.sync`,
so nothing waits on a schedule. Retries do not sleep (the apps get a no-op ``sleep``); only the
slow-peer case waits, for the short ``sync.timeout_ms``.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestClient, TestServer

from certs.root import Root
from certs.update import initial_root, member_entry, parse_member_entry
from mapping.scale import Scale, builtin_scale
from node import appkeys, auth
from node.app import create_app
from node.config import load_config, write_config
from node.keystore import NodeKeys, ResidentHasher
from node.sync import Syncer
from protocol.jose import KeySigner
from protocol.presentation import DisclosureRequest, present
from tests.certs.sim import NOW as CERTS_NOW
from tests.certs.sim import City, Federation, sign_root
from tests.node.conftest import FakeClock, Node, migrate_url

#: The simulation starts a minute after the certificates were issued.
START: Final = CERTS_NOW + timedelta(minutes=1)
#: Root signers of version 1 (any three of five).
SIGNERS: Final = ("zhengzhou", "hangzhou", "fuzhou")
MAX_BYTES: Final = 512 * 1024
TIMEOUT_MS: Final = 300
SLOW_SECONDS: Final = 1.0
MODES: Final = frozenset(
    {"pass", "down", "slow", "garbage", "truncated", "oversized", "error", "fixed"}
)


#: Ports the simulation listens on are chosen below the kernel's ephemeral range (32768 and up
#: on Linux), so an outgoing connection made between choosing a port and binding it (the
#: proxies' and the nodes' own clients) cannot take it.
_PORT_RANGE: Final = (20_000, 32_000)
_taken: set[int] = set()


def _reserve_port() -> int:
    """A free 127.0.0.1 port outside the ephemeral range, not handed out before in this run."""
    for _ in range(1000):
        port = random.randrange(*_PORT_RANGE)
        if port in _taken:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port
    raise RuntimeError("no free port for the simulated federation")


async def _no_sleep(seconds: float) -> None:
    del seconds
    await asyncio.sleep(0)


class FaultProxy:
    """Forwards every request to one node, or misbehaves as ``mode`` (one of :data:`MODES`)
    says; ``hits`` counts the requests it received."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.mode = "pass"
        #: In ``fixed`` mode, what ``/federation/material`` answers (other paths pass).
        self.fixed = b""
        self.upstream = ""
        self.hits = 0
        self._session: ClientSession | None = None
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1", port=port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, upstream: str) -> None:
        self.upstream = upstream
        self._session = ClientSession()
        await self.server.start_server()

    async def close(self) -> None:
        await self.server.close()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> tuple[int, bytes, dict[str, str]]:
        assert self._session is not None
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            data=await request.read(),
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
        ) as resp:
            body = await resp.read()
            ctype = resp.headers.get("Content-Type", "application/octet-stream")
            return resp.status, body, {"Content-Type": ctype}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        mode = self.mode
        if mode == "down":
            assert request.transport is not None
            request.transport.close()  # the connection drops without an answer
            return web.Response(status=500)
        if mode == "garbage":
            return web.Response(body=b"\x00\x01 not JSON {", content_type="application/json")
        if mode == "error":
            return web.Response(status=503, text="maintenance")
        if mode == "oversized":
            resp = web.StreamResponse()
            resp.content_type = "application/json"
            await resp.prepare(request)  # chunked: no Content-Length to refuse it early
            chunk = b" " * 65536
            for _ in range(MAX_BYTES // len(chunk) + 2):
                await resp.write(chunk)
            await resp.write_eof()
            return resp
        if mode == "fixed" and request.path == "/federation/material":
            return web.Response(body=self.fixed, content_type="application/json")
        if mode == "slow":
            await asyncio.sleep(SLOW_SECONDS)
        status, body, headers = await self._forward(request)
        if mode == "truncated":
            resp = web.StreamResponse(status=status, headers=headers)
            resp.content_length = len(body)
            await resp.prepare(request)
            await resp.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()
            return resp
        return web.Response(status=status, body=body, headers=headers)


@dataclass
class SimNode:
    """One city: its keys, its proxy, its running node."""

    city: City
    proxy: FaultProxy
    node: Node
    data_dir: Path

    @property
    def name(self) -> str:
        return self.city.city

    @property
    def url(self) -> str:
        return self.proxy.url

    @property
    def app(self) -> Any:
        return self.node.app

    @property
    def syncer(self) -> Syncer:
        syncer = self.node.app[appkeys.SYNCER]
        assert isinstance(syncer, Syncer)
        return syncer

    @property
    def scale(self) -> Scale:
        return builtin_scale(self.city.scale_id)


@dataclass
class Holder:
    """A resident's wallet: attestations and the holder key they are bound to."""

    city: str
    key: KeySigner
    attestations: list[str] = field(default_factory=list)
    level: int = 0
    band: tuple[int, int] | None = None


class SimFederation:
    """Five nodes, their proxies, a shared clock and the root versions signed so far."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.fed = Federation()
        self.clock = FakeClock(START)
        self.ports = {c: (_reserve_port(), _reserve_port()) for c in self.fed.cities}
        self.nodes: dict[str, SimNode] = {}
        self.roots: list[bytes] = []
        self._nid = 0

    def url(self, city: str) -> str:
        return f"http://127.0.0.1:{self.ports[city][1]}"

    def root_v1(self) -> Root:
        members = []
        for city in self.fed.cities.values():
            obj = member_entry(
                city=city.city,
                name_zh=city.name_zh,
                name_en=city.name_en,
                issuer=self.url(city.city),
                node_url=self.url(city.city),
                scale_id=city.scale_id,
                ca_certificate=city.ca_cert,
                governance_keys=[city.governance.public_key],
            )
            members.append(parse_member_entry(json.dumps(obj).encode(), federation=city.federation))
        return initial_root(
            federation=self.fed.federation,
            members=members,
            threshold=3,
            expires=START + timedelta(days=365),
        )

    async def start(self, extra: dict[str, dict[str, object]] | None = None) -> SimFederation:
        root = sign_root(self.root_v1(), self.fed.governance(*SIGNERS))
        self.roots.append(root)
        for name in self.fed.cities:
            await self.start_node(name, extra=extra)
        return self

    async def start_node(
        self,
        name: str,
        *,
        extra: dict[str, dict[str, object]] | None = None,
        keys: tuple[KeySigner, Any] | None = None,
    ) -> SimNode:
        """Start (or restart, keeping its data directory) the node of ``name``."""
        city = self.fed[name]
        node_port, proxy_port = self.ports[name]
        data_dir = self.base / name
        first = not data_dir.exists()
        if first:
            data_dir.mkdir(parents=True)
            values: dict[str, dict[str, object]] = {
                "node": {"city": name, "public_url": self.url(name)},
                "database": {"url": f"sqlite+aiosqlite:///{data_dir / 'node.db'}"},
                "status": {"list_size": 4096, "ttl_seconds": 300},
                "issuance": {"band_width": 1},
                "sync": {
                    "interval_seconds": 0,
                    "timeout_ms": TIMEOUT_MS,
                    "attempts": 2,
                    "backoff_ms": 1,
                    "max_backoff_ms": 2,
                    "max_bytes": MAX_BYTES,
                },
            }
            for section, body in (extra or {}).items():
                values.setdefault(section, {}).update(body)
            write_config(data_dir, values)
            (data_dir / "resident-hash.key").write_text(secrets.token_hex(32))
            (data_dir / "federation-root.json").write_bytes(self.roots[0])
        config = load_config(data_dir)
        await migrate_url(config.database_url)
        signer, cert = keys if keys is not None else (city.node, city.node_cert)
        node_keys = NodeKeys(
            signer=signer,
            chain=(cert,),
            hasher=ResidentHasher(bytes.fromhex((data_dir / "resident-hash.key").read_text())),
        )
        app = create_app(config, clock=self.clock, keys=node_keys, sleep=_no_sleep)
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1", port=node_port))
        try:
            await client.start_server()
        except BaseException:
            await client.close()  # its session too, so a failed start leaks nothing
            raise
        node = Node(client=client, config=config, clock=self.clock)
        for role in auth.Role:
            node.tokens[role.value] = await auth.add_credential(
                app[appkeys.ENGINE],
                name=f"sim-{role.value}-{secrets.token_hex(4)}",
                role=role,
                actor="sim",
                now=self.clock(),
            )
        previous = self.nodes.get(name)
        if previous is None:
            proxy = FaultProxy(proxy_port)
            await proxy.start(f"http://127.0.0.1:{node_port}")
        else:
            proxy = previous.proxy
        sim = SimNode(city=city, proxy=proxy, node=node, data_dir=data_dir)
        self.nodes[name] = sim
        return sim

    async def stop_node(self, name: str) -> None:
        """Stop a node's application (its proxy stays, answering nothing useful)."""
        await self.nodes[name].node.client.close()

    def __getitem__(self, name: str) -> SimNode:
        return self.nodes[name]

    async def sync(self, names: Iterable[str] | None = None, rounds: int = 1) -> None:
        """Run ``rounds`` sync rounds on every node (or ``names``), all nodes concurrently."""
        chosen = list(names) if names is not None else list(self.nodes)
        for _ in range(rounds):
            await asyncio.gather(*(self.nodes[n].syncer.run_once() for n in chosen))

    async def close(self) -> None:
        for sim in self.nodes.values():
            await sim.node.client.close()
            await sim.proxy.close()

    # -- residents -----------------------------------------------------------------------------

    def national_id(self) -> str:
        self._nid += 1
        return f"41010219900101{self._nid:04d}"

    async def resident(self, city: str, score: int, *, count: int = 1) -> tuple[str, Holder]:
        """A consenting resident of ``city`` with ``score`` and ``count`` attestations."""
        node = self.nodes[city].node
        nid = self.national_id()
        await node.ok(
            "POST", "/v1/scores", role="office", json={"national_id": nid, "score": score, "seq": 1}
        )
        await node.ok(
            "POST", "/v1/residents/consent", role="app", json={"national_id": nid, "granted": True}
        )
        holder = Holder(city=city, key=KeySigner.generate())
        issued = await node.ok(
            "POST",
            "/v1/attestations",
            role="app",
            json={"national_id": nid, "holder_keys": [holder.key.public_jwk] * 1},
        )
        holder.attestations = [a["sd_jwt"] for a in issued["attestations"]]
        for _ in range(count - 1):
            more = await node.ok(
                "POST",
                "/v1/attestations",
                role="app",
                json={"national_id": nid, "holder_keys": [holder.key.public_jwk]},
            )
            holder.attestations.extend(a["sd_jwt"] for a in more["attestations"])
        scale = self.nodes[city].scale
        holder.level = scale.level_of(score)
        holder.band = (score, score) if scale.kind == "score" else None
        return nid, holder

    def present(
        self, holder: Holder, request: DisclosureRequest, *, audience: str, nonce: str
    ) -> str:
        """A key-bound presentation of the holder's next unused attestation, made now."""
        sd_jwt = holder.attestations.pop(0)
        return present(
            sd_jwt, holder.key, request=request, audience=audience, nonce=nonce, now=self.clock()
        )

    async def verify(
        self,
        at: str,
        presentation: str,
        *,
        audience: str,
        nonce: str,
        incentive: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/verify`` at the node of ``at`` as its merchant."""
        body: dict[str, object] = {
            "presentation": presentation,
            "audience": audience,
            "nonce": nonce,
        }
        if incentive is not None:
            body["incentive"] = incentive
        result = await self.nodes[at].node.ok("POST", "/v1/verify", role="merchant", json=body)
        assert isinstance(result, dict)
        return result
