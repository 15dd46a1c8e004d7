"""Load and soak: online verification and batch issuance against a live node on 127.0.0.1.

What it does: serves a node with ``huxin node run`` (:func:`bench.node.node_server`, the server
pinned to one core, this client to the other), issues a pool of attestations over HTTP and
makes one distinct nonce-mode presentation of each (nonce mode: the node's one-way replay cache
does not apply, so a presentation may be verified again -- the verifier caches no verdict), then
drives ``POST /v1/verify`` and ``POST /v1/attestations`` with a fixed number of requests in
flight for a fixed time: requests per second, p50/p99 latency, errors, and the share of the
server's core it used. The bound of verification is what one core's raw ``cryptography`` does:
half the raw ES256 verify rate (a presentation carries two signatures, the issuer's and the
key binding's), sampled on the server's core in the same run.

``--soak SECONDS`` runs verification and issuance together for that long and samples the server
process's resident memory from /proc every second: start, end, max, and the least-squares slope
after a warm-up (flat memory means a slope near zero).

``python -m bench.load [--duration S] [--concurrency N] [--soak S] [--postgres] [--quick]``;
registered as the ``load`` benchmark (quick mode: a short run, no soak).

What it deliberately does not do: target anything but 127.0.0.1, run unbounded, or assert on
the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import aiohttp

from bench.harness import (
    Bound,
    Row,
    Settings,
    Stats,
    benchmark,
    machine,
    measure_rate,
    raw_es256_verify_call,
    render_table,
)
from bench.node import (
    LoadResult,
    NodeServer,
    RequestFactory,
    client_session,
    closed_loop,
    cpu_split,
    free_port,
    fresh_postgres,
    issuance_requests,
    issued_count,
    national_id,
    node_server,
    pinned_client,
    postgres_server_url,
)
from protocol.jose import KeySigner
from protocol.presentation import DisclosureRequest, present

NAME: Final = "load"
AUDIENCE: Final = "bench-merchant"
ISSUE_BATCH: Final = 16
_TICKS: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (0 where /proc is unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


async def presentation_pool(
    server: NodeServer, session: aiohttp.ClientSession, size: int, residents: int
) -> list[bytes]:
    """``size`` distinct verify request bodies, each a fresh attestation presented once."""
    bodies: list[bytes] = []
    url = f"{server.base_url}/v1/attestations"
    n = 0
    while len(bodies) < size:
        batch = min(64, size - len(bodies))
        signers = [KeySigner.generate() for _ in range(batch)]
        body = {
            "national_id": national_id(n % residents),
            "holder_keys": [s.public_jwk for s in signers],
        }
        async with session.post(url, json=body, headers=server.headers("app")) as resp:
            if resp.status != 200:
                raise RuntimeError(f"issuance failed: {resp.status} {await resp.text()}")
            attestations = (await resp.json())["attestations"]
        now = datetime.now(UTC)
        for signer, att in zip(signers, attestations, strict=True):
            nonce = f"bench-{n}-{len(bodies)}"
            pres = present(
                att["sd_jwt"],
                signer,
                request=DisclosureRequest(level=True),
                audience=AUDIENCE,
                nonce=nonce,
                now=now,
            )
            bodies.append(
                json.dumps({"presentation": pres, "audience": AUDIENCE, "nonce": nonce}).encode()
            )
        n += 1
    return bodies


def verify_requests(server: NodeServer, bodies: Sequence[bytes]) -> RequestFactory:
    """Verification requests, round robin over the pool."""
    url = f"{server.base_url}/v1/verify"
    headers = {**server.headers("merchant"), "Content-Type": "application/json"}
    return lambda n: (url, headers, bodies[n % len(bodies)])


_TRIVIAL_APP: Final = """
import json, sys
from aiohttp import web
async def handle(request):
    json.loads(await request.read())
    return web.json_response({"valid": True})
app = web.Application()
app.router.add_post("/v1/verify", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


@contextlib.asynccontextmanager
async def trivial_server(cpu: int | None) -> AsyncIterator[str]:
    """A trivial aiohttp handler (parse the JSON body, answer valid) in a pinned subprocess.

    It bounds what any aiohttp node could answer on one core with this client.

    Raises:
        RuntimeError: it did not start in time.
    """
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed code
        [sys.executable, "-c", _TRIVIAL_APP, str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if cpu is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(process.pid, {cpu})
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 20
            while True:
                try:
                    async with session.post(f"{url}/v1/verify", data=b"{}") as resp:
                        if resp.status == 200:
                            break
                except (aiohttp.ClientError, OSError):
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the trivial aiohttp server did not start")
                await asyncio.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _valid(_status: int, body: bytes) -> bool:
    return json.loads(body).get("valid") is True


@dataclass(frozen=True)
class Sample:
    """One bounded run and the server core share it used."""

    result: LoadResult
    server_cpu_share: float


async def _sample(
    server: NodeServer,
    session: aiohttp.ClientSession,
    make: RequestFactory,
    *,
    concurrency: int,
    duration: float,
    check: object,
) -> Sample:
    cpu0, t0 = _cpu_seconds(server.pid), time.perf_counter()
    result = await closed_loop(
        session,
        make,
        concurrency=concurrency,
        duration=duration,
        check=check,  # type: ignore[arg-type]
    )
    share = (_cpu_seconds(server.pid) - cpu0) / max(1e-9, time.perf_counter() - t0)
    return Sample(result, share)


def _rows_of(
    what: str, unit: str, samples: Sequence[Sample], bound: Bound | None, scale: float, label: str
) -> list[Row]:
    errors = sum(s.result.errors for s in samples)
    requests = sum(s.result.requests for s in samples)
    first = next((s.result.first_error for s in samples if s.result.first_error), "")
    note = f"{label}; {errors} errors of {requests:,}" + (f": {first[:80]}" if first else "")
    return [
        Row(
            NAME,
            f"{what} ({note})",
            unit,
            Stats.of(s.result.rate * scale for s in samples),
            True,
            bound,
        ),
        Row(
            NAME,
            f"{what} p50 latency",
            "ms",
            Stats.of(s.result.percentile(50) * 1000 for s in samples),
            False,
        ),
        Row(
            NAME,
            f"{what} p99 latency",
            "ms",
            Stats.of(s.result.percentile(99) * 1000 for s in samples),
            False,
        ),
        Row(
            NAME,
            f"{what} server core busy",
            "%",
            Stats.of(s.server_cpu_share * 100 for s in samples),
            False,
        ),
    ]


async def run_load(
    settings: Settings,
    *,
    database_url: str | None = None,
    label: str = "SQLite",
    duration: float | None = None,
    concurrency: int = 8,
    soak: float = 0.0,
) -> list[Row]:
    """Verification and issuance load (and a soak when ``soak`` > 0) against a fresh node."""
    duration = duration if duration is not None else settings.pick(5.0, 0.3)
    residents = 16
    pool = settings.pick(512, 32)
    server_cpu, client_cpu = (None, None) if settings.quick else cpu_split()
    verify_call = raw_es256_verify_call()
    rows: list[Row] = []
    async with (
        node_server(
            database_url, residents=residents, consent=residents, in_process=settings.quick
        ) as server,
        client_session(concurrency) as session,
    ):
        bodies = await presentation_pool(server, session, pool, residents)
        verify = verify_requests(server, bodies)
        issue = issuance_requests(server, batch=ISSUE_BATCH, residents=residents)
        issued = issued_count(ISSUE_BATCH)
        await closed_loop(session, verify, concurrency=concurrency, duration=0.2, check=_valid)
        raw: list[float] = []
        verifies: list[Sample] = []
        issues: list[Sample] = []
        for _ in range(settings.repeats):
            with pinned_client(server_cpu):  # the bound on the server's core, idle meanwhile
                raw.append(measure_rate(verify_call, repeats=1, budget=settings.budget).median)
            with pinned_client(client_cpu):
                verifies.append(
                    await _sample(
                        server,
                        session,
                        verify,
                        concurrency=concurrency,
                        duration=duration,
                        check=_valid,
                    )
                )
                issues.append(
                    await _sample(
                        server, session, issue, concurrency=4, duration=duration / 2, check=issued
                    )
                )
        bound = Bound("raw ES256 verify / 2", Stats.of(raw).scaled(0.5), "ops/s")
        rows += _rows_of(f"verify, {concurrency} in flight", "req/s", verifies, bound, 1.0, label)
        if not settings.quick:
            trivial: list[float] = []
            async with trivial_server(server_cpu) as url:
                for _ in range(settings.repeats):
                    with pinned_client(client_cpu):
                        result = await closed_loop(
                            session,
                            lambda n: (f"{url}/v1/verify", {}, bodies[n % len(bodies)]),
                            concurrency=concurrency,
                            duration=duration,
                            check=_valid,
                        )
                    trivial.append(result.rate)
            rows.append(
                Row(
                    NAME,
                    f"verify vs a trivial aiohttp handler on the same core ({label})",
                    "req/s",
                    Stats.of(s.result.rate for s in verifies),
                    True,
                    Bound("trivial aiohttp handler", Stats.of(trivial), "req/s"),
                )
            )
        rows += _rows_of(
            f"issue {ISSUE_BATCH}/request, 4 in flight", "att/s", issues, None, ISSUE_BATCH, label
        )
        if soak > 0:
            with pinned_client(client_cpu):
                rows += await _soak(
                    server, session, verify, issue, issued, soak, concurrency, label
                )
    return rows


def _slope_per_minute(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of ``(seconds, value)`` points, per minute (0 for < 2 points)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    var = sum((p[0] - mx) ** 2 for p in points)
    if var == 0:
        return 0.0
    return 60 * sum((p[0] - mx) * (p[1] - my) for p in points) / var


async def _soak(
    server: NodeServer,
    session: aiohttp.ClientSession,
    verify: RequestFactory,
    issue: RequestFactory,
    issued: object,
    seconds: float,
    concurrency: int,
    label: str,
) -> list[Row]:
    """Verification (``concurrency`` in flight) and one issuance stream; RSS every second."""
    fields = ("VmRSS", "RssAnon", "RssFile")
    samples: dict[str, list[tuple[float, float]]] = {f: [] for f in fields}
    start = time.perf_counter()
    stop = asyncio.Event()

    def sample_rss() -> None:
        at = time.perf_counter() - start
        for f in fields:
            samples[f].append((at, server.rss_bytes(f) / 2**20))

    async def sampler() -> None:
        while not stop.is_set():
            sample_rss()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)

    sampling = asyncio.create_task(sampler())
    # The issuance stream has its own client connection: sharing the verify workers' pool would
    # queue it behind them in the client, not in the server.
    try:
        async with client_session(1) as own:
            v, i = await asyncio.gather(
                _sample(
                    server, session, verify, concurrency=concurrency, duration=seconds, check=_valid
                ),
                _sample(server, own, issue, concurrency=1, duration=seconds, check=issued),
            )
    finally:
        stop.set()
        await sampling
    sample_rss()
    what = f"soak {seconds:g} s"
    rows = _rows_of(f"{what}: verify, {concurrency} in flight", "req/s", [v], None, 1.0, label)
    rows += _rows_of(
        f"{what}: issue {ISSUE_BATCH}/request, 1 in flight", "att/s", [i], None, ISSUE_BATCH, label
    )
    for f in fields:
        points = samples[f]
        warm = [p for p in points if p[0] >= min(10.0, seconds / 6)]
        values = [p[1] for p in points]
        rows.append(
            Row(
                NAME,
                f"{what}: server {f} start / end / max ({label})",
                "MiB",
                Stats(values[-1], values[0], max(values), tuple(values)),
                False,
                note="median column = end, min column = start",
            )
        )
        rows.append(
            Row(
                NAME,
                f"{what}: server {f} slope after warm-up ({len(warm)} samples)",
                "MiB/min",
                Stats.of([_slope_per_minute(warm)]),
                False,
            )
        )
    return rows


@benchmark(NAME, description="load: online verification and batch issuance over HTTP, bounded")
def load_bench(settings: Settings) -> list[Row]:
    """A short bounded load run on SQLite (the soak runs from ``python -m bench.load --soak``)."""
    return asyncio.run(run_load(settings))


async def _main_async(args: argparse.Namespace, settings: Settings) -> list[Row]:
    rows: list[Row] = []
    if not args.postgres_only:
        rows += await run_load(
            settings, duration=args.duration, concurrency=args.concurrency, soak=args.soak
        )
    if args.postgres or args.postgres_only:
        async with fresh_postgres() as url:
            if url is None:
                print(
                    f"PostgreSQL at {postgres_server_url()} is unreachable: skipped",
                    file=sys.stderr,
                )
            else:
                rows += await run_load(
                    settings,
                    database_url=url,
                    label="PostgreSQL",
                    duration=args.duration,
                    concurrency=args.concurrency,
                    soak=args.soak if args.postgres_only else 0.0,
                )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.load``: print the load (and soak) table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=float, help="seconds per load sample (default 5)")
    parser.add_argument("--concurrency", type=int, default=8, help="verify requests in flight")
    parser.add_argument("--soak", type=float, default=0.0, help="soak seconds (0: none)")
    parser.add_argument("--repeats", type=int, default=3, help="load samples per figure")
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--postgres-only", action="store_true", help="only on PostgreSQL")
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--markdown", action="store_true", help="Markdown for RESULTS.md")
    args = parser.parse_args(argv)
    if args.soak < 0 or args.soak > 3600 or args.concurrency < 1 or args.concurrency > 256:
        parser.error("--soak must be 0..3600 and --concurrency 1..256")
    settings = Settings(quick=args.quick, repeats=max(1, args.repeats), budget=0.5)
    if args.quick:
        settings = Settings(quick=True, repeats=1, budget=0.05)
    info = machine()
    server_cpu, client_cpu = cpu_split()
    started = time.perf_counter()
    rows = asyncio.run(_main_async(args, settings))
    header = [
        f"huxin load ({'quick' if args.quick else 'full'}: {settings.repeats} samples of "
        f"{args.duration or settings.pick(5.0, 0.3):g} s, verify concurrency {args.concurrency}"
        f"{f', soak {args.soak:g} s' if args.soak else ''}; server on CPU {server_cpu}, "
        f"client on CPU {client_cpu}; {time.perf_counter() - started:.1f} s)",
        f"machine: {info['cpu']}, nproc {info['nproc']}; {info['python']}; {info['openssl']}; "
        f"load average before the run {info['load']}",
    ]
    if args.markdown:
        print("\n".join(f"> {h}  " for h in header))
        print()
        print(render_table(rows, markdown=True))
    else:
        print("\n".join(header))
        print()
        print(render_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
