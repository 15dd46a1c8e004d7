"""A recording reverse proxy on 127.0.0.1: every response that leaves a node, kept for review.

What it does: :class:`RecordingProxy` runs one aiohttp server per node, in a background thread
with its own event loop, on a port the OS chooses. Each forwards every request to its node and
records the response (:class:`Exchange`: city, method, path, status, body, and who received it:
the resident's own authenticated app -- the documented exception of privacy invariant 1 --,
the city's own credit office, or another party).
The demo gives each node the proxy's URL as its public URL, so wallets, merchants' status list
refreshes, and the story's own calls all pass through it.

What it deliberately does not do: change requests or responses (beyond hop-by-hop headers),
record request bodies (they are what parties send *to* the node), or listen beyond 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import aiohttp
from aiohttp import web

#: Routes whose responses go only to the resident's own app (privacy invariant 1's exception).
OWN_APP_PREFIXES: Final = ("/v1/residents/",)
#: Routes whose responses go only to the city's own credit office (inside the home city).
HOME_OFFICE_PREFIXES: Final = ("/v1/scores", "/v1/objections", "/v1/audit")
RESIDENT_APP: Final = "resident_app"
HOME_OFFICE: Final = "home_office"
OTHER: Final = "other_party"


def audience_of(path: str) -> str:
    """Who receives a response to ``path``: the resident's app, the home office, or others."""
    if path.startswith(OWN_APP_PREFIXES):
        return RESIDENT_APP
    if path.startswith(HOME_OFFICE_PREFIXES):
        return HOME_OFFICE
    return OTHER


_HOP: Final = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
)
START_TIMEOUT_SECONDS: Final = 10.0
UPSTREAM_TIMEOUT_SECONDS: Final = 30.0
T = TypeVar("T")


@dataclass(frozen=True)
class Exchange:
    """One response a node sent, as the proxy saw it."""

    city: str
    method: str
    path: str
    status: int
    body: bytes
    audience: str
    query: str = ""

    @property
    def leaves_home(self) -> bool:
        """Whether the response went to another party than the resident's app or home office."""
        return self.audience == OTHER


class RecordingProxy:
    """Reverse proxies for several upstream nodes, recording every response."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._upstreams: dict[str, str] = {}
        self._ports: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []
        self._session: aiohttp.ClientSession | None = None
        self._thread.start()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=START_TIMEOUT_SECONDS)

    def add(self, city: str) -> str:
        """Open a proxy for ``city`` (its upstream is set later); returns the proxy's URL."""
        self._ports[city] = self._call(self._open(city))
        return self.url(city)

    def url(self, city: str) -> str:
        """The proxy URL of ``city`` (the node's public URL)."""
        return f"http://127.0.0.1:{self._ports[city]}"

    def set_upstream(self, city: str, url: str) -> None:
        """Forward ``city``'s requests to ``url`` (the node's own listening address)."""
        with self._lock:
            self._upstreams[city] = url.rstrip("/")

    def recorded(self) -> list[Exchange]:
        """A copy of every exchange so far."""
        with self._lock:
            return list(self.exchanges)

    async def _open(self, city: str) -> int:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=UPSTREAM_TIMEOUT_SECONDS),
                auto_decompress=False,
            )
        app = web.Application(client_max_size=64 * 1024 * 1024)

        async def forward(request: web.Request) -> web.StreamResponse:
            return await self._forward(city, request)

        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runners.append(runner)
        server = site._server  # aiohttp exposes the bound port only here
        sockets: tuple[socket.socket, ...] = tuple(getattr(server, "sockets", None) or ())
        if not sockets:
            raise OSError(f"the proxy for {city} is not listening")
        return int(sockets[0].getsockname()[1])

    async def _forward(self, city: str, request: web.Request) -> web.StreamResponse:
        with self._lock:
            upstream = self._upstreams.get(city)
        assert self._session is not None  # noqa: S101 - created in _open
        path = request.rel_url.path_qs
        if upstream is None:
            body, status, headers = b'{"error": "node_unavailable"}', 502, {}
        else:
            headers_in = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
            headers_in.pop("Host", None)
            try:
                async with self._session.request(
                    request.method, upstream + path, headers=headers_in, data=await request.read()
                ) as resp:
                    body = await resp.read()
                    status = resp.status
                    headers = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP}
            except (aiohttp.ClientError, TimeoutError, OSError):
                body = b'{"error": "node_unavailable", "message": "the node is down"}'
                status, headers = 502, {"Content-Type": "application/json"}
        exchange = Exchange(
            city=city,
            method=request.method,
            path=request.rel_url.path,
            status=status,
            body=body,
            audience=audience_of(request.rel_url.path),
            query=request.rel_url.query_string,
        )
        with self._lock:
            self.exchanges.append(exchange)
        return web.Response(body=body, status=status, headers=headers)

    def close(self) -> None:
        """Stop every proxy and the background loop."""
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            for runner in self._runners:
                await runner.cleanup()
            if self._session is not None:
                await self._session.close()

        try:
            self._call(shutdown())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=START_TIMEOUT_SECONDS)
            self._loop.close()
