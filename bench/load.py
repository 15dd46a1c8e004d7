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
after a warm-up (the first third, at least 10 s); ``RssAnon`` is judged flat when that slope is
at most :data:`FLAT_MIB_PER_MIN` or it grew at most :data:`FLAT_STEP_MIB` in all.
``--memory-csv`` keeps the samples; ``--tracemalloc PATH`` has the node write periodic
allocation diffs (:mod:`node.memtrace`) to find what grows.

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
import shutil
import subprocess
import sys
import tempfile
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
    print_report,
    raw_es256_verify_call,
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
    stop_processes,
)
from protocol.jose import KeySigner
from protocol.presentation import DisclosureRequest, present

NAME: Final = "load"
AUDIENCE: Final = "bench-merchant"
ISSUE_BATCH: Final = 16
_TICKS: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (empty where unavailable)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (the workers of ``huxin node run --workers N``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if len(fields) > 1 and fields[1] == str(pid):
                found.append(int(entry.name))
    return found


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its live children (0 without /proc)."""
    total = 0.0
    for p in (pid, *_children(pid)):
        fields = _stat(p)
        if len(fields) > 12:
            total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


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
try:
    import uvloop
    loop = uvloop.new_event_loop()
except ImportError:
    import asyncio
    loop = asyncio.new_event_loop()
async def handle(request):
    json.loads(await request.read())
    return web.json_response({"valid": True})
app = web.Application()
app.router.add_post("/v1/verify", handle)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
            reuse_port=True, loop=loop)
"""


@contextlib.asynccontextmanager
async def trivial_server(cpu: int | None, workers: int = 1) -> AsyncIterator[str]:
    """A trivial aiohttp handler (parse the JSON body, answer valid) in pinned subprocesses.

    ``workers`` processes share the port with ``SO_REUSEPORT``, as the node's workers do, on
    the event loop the node uses (uvloop when importable). It bounds what any aiohttp node
    could answer with the same number of processes and the same client.

    Raises:
        RuntimeError: it did not start in time.
    """
    port = free_port()
    processes = [
        subprocess.Popen(  # noqa: S603 - our own interpreter and fixed code
            [sys.executable, "-c", _TRIVIAL_APP, str(port)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    if cpu is not None:
        for process in processes:
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
                exited = any(p.poll() is not None for p in processes)
                if time.monotonic() > deadline or exited:
                    raise RuntimeError("the trivial aiohttp server did not start")
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # every worker has bound the port by now
        yield url
    finally:
        stop_processes(processes)


def _valid(_status: int, body: bytes) -> bool:
    return json.loads(body).get("valid") is True


# --------------------------------------------------------------------------------------------
# The wrk driver

#: wrk's Lua script: POST the request bodies of a file (one per line) round robin, each thread
#: from its own offset; count answers that are not 200 or whose body is not a valid verdict
#: (wrk itself checks neither); ``done`` prints one JSON line with the totals of every thread.
WRK_SCRIPT: Final = r"""
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local headers = {["Content-Type"] = "application/json"}
  if args[2] ~= "-" then headers["Authorization"] = args[2] end
  reqs = {}
  for line in io.lines(args[1]) do
    reqs[#reqs + 1] = wrk.format("POST", nil, headers, line)
  end
  n = id * 7919
  non200, invalid, first = 0, 0, ""
end

function request()
  n = n + 1
  return reqs[n % #reqs + 1]
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    if first == "" then first = status .. " " .. string.sub(body, 1, 120) end
  elseif not string.find(body, '"valid":%s*true') then
    invalid = invalid + 1
    if first == "" then first = "invalid " .. string.sub(body, 1, 120) end
  end
end

function done(summary, latency, requests)
  local non200, invalid, first = 0, 0, ""
  for _, t in ipairs(threads) do
    non200 = non200 + t:get("non200")
    invalid = invalid + t:get("invalid")
    if first == "" then first = t:get("first") end
  end
  local e = summary.errors
  io.write(string.format(
    'HUXIN_WRK {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"timeout": %d, "non200": %d, "invalid": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "first": "%s"}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, non200, invalid,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    (string.gsub(first, '[%c"\\]', "?"))))
end
"""
_WRK_MARK: Final = "HUXIN_WRK "


def wrk_path() -> str | None:
    """Debian's ``wrk`` (apt package ``wrk``) if installed."""
    return shutil.which("wrk")


@dataclass(frozen=True)
class WrkResult:
    """What one bounded ``wrk`` run achieved; the same reading surface as ``LoadResult``.

    ``errors`` counts socket errors (connect, read, write, timeout), answers other than 200 and
    200 answers whose body is not a valid verdict.
    """

    requests: int
    errors: int
    elapsed: float
    latency_us: dict[int, float]
    first_error: str = ""

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return (self.requests - self.errors) / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, q: float) -> float:
        """Latency percentile ``q`` (50, 90 or 99) in seconds.

        Raises:
            ValueError: wrk's summary does not hold that percentile.
        """
        if int(q) not in self.latency_us:
            raise ValueError(f"wrk reports p50, p90 and p99, not p{q}")
        return self.latency_us[int(q)] / 1e6

    @classmethod
    def parse(cls, output: str) -> WrkResult:
        """The summary line the Lua ``done`` printed.

        Raises:
            RuntimeError: no summary line (wrk failed; its output is in the message).
        """
        for line in output.splitlines():
            if line.startswith(_WRK_MARK):
                doc = json.loads(line[len(_WRK_MARK) :])
                break
        else:
            raise RuntimeError(f"wrk printed no summary: {output[-500:]}")
        socket_errors = sum(doc[k] for k in ("connect", "read", "write", "timeout"))
        kinds = ", ".join(
            f"{doc[k]} {k}"
            for k in ("connect", "read", "write", "timeout", "non200", "invalid")
            if doc[k]
        )
        first = "; ".join(x for x in (kinds, doc["first"]) if x)
        return cls(
            requests=int(doc["requests"]),
            errors=socket_errors + int(doc["non200"]) + int(doc["invalid"]),
            elapsed=doc["duration_us"] / 1e6,
            latency_us={50: doc["p50_us"], 90: doc["p90_us"], 99: doc["p99_us"]},
            first_error=first,
        )


async def wrk_load(
    url: str,
    bodies: Sequence[bytes],
    authorization: str | None,
    *,
    connections: int,
    duration: float,
    threads: int = 1,
) -> WrkResult:
    """POST ``bodies`` round robin to ``url`` with ``wrk`` for ``duration`` seconds.

    Bounded: wrk stops itself after ``duration``; it is killed 30 s later if it has not.

    Raises:
        RuntimeError: wrk is missing, failed or printed no summary.
    """
    wrk = wrk_path()
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt install wrk)")
    if not url.startswith("http://127.0.0.1:"):
        raise RuntimeError(f"the load generator targets 127.0.0.1 only, not {url}")
    with tempfile.TemporaryDirectory(prefix="huxin-wrk-") as tmp:
        script, pool = Path(tmp) / "pool.lua", Path(tmp) / "bodies.ndjson"
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        if any(b"\n" in b for b in bodies):
            raise RuntimeError("request bodies must be single-line JSON")
        pool.write_bytes(b"\n".join(bodies) + b"\n")
        args = [wrk, "-t", str(threads), "-c", str(max(connections, threads))]
        args += ["-d", f"{max(1, round(duration))}s", "--latency", "--timeout", "10s"]
        args += ["-s", str(script), url, "--", str(pool), authorization or "-"]
        process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), timeout=duration + 30)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise RuntimeError("wrk did not stop in time") from None
    return WrkResult.parse(out.decode("utf-8", "replace"))


@dataclass(frozen=True)
class Sample:
    """One bounded run and the server core share it used (CPU seconds per second)."""

    result: LoadResult | WrkResult
    server_cpu_share: float
    server_cpu_seconds: float = 0.0

    @property
    def cpu_per_request(self) -> float:
        """Server CPU seconds per successful request (0 without one)."""
        ok = self.result.requests - self.result.errors
        return self.server_cpu_seconds / ok if ok > 0 else 0.0


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
    cpu = _cpu_seconds(server.pid) - cpu0
    return Sample(result, cpu / max(1e-9, time.perf_counter() - t0), cpu)


async def _wrk_sample(
    server: NodeServer, bodies: Sequence[bytes], *, concurrency: int, duration: float
) -> Sample:
    cpu0, t0 = _cpu_seconds(server.pid), time.perf_counter()
    result = await wrk_load(
        f"{server.base_url}/v1/verify",
        bodies,
        server.headers("merchant")["Authorization"],
        connections=concurrency,
        duration=duration,
    )
    cpu = _cpu_seconds(server.pid) - cpu0
    return Sample(result, cpu / max(1e-9, time.perf_counter() - t0), cpu)


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
    workers: int = 1,
    driver: str = "python",
    memory_csv: Path | None = None,
) -> list[Row]:
    """Verification and issuance load (and a soak when ``soak`` > 0) against a fresh node.

    ``workers`` > 1 serves the node with ``huxin node run --workers N`` on every core (the
    client then shares them); with one worker the node has a core and the client the other.
    ``driver`` ``"wrk"`` drives verification with wrk, ``"python"`` with the aiohttp client;
    issuance always uses the aiohttp client.
    """
    duration = duration if duration is not None else settings.pick(5.0, 0.3)
    residents = 16
    pool = settings.pick(512, 32)
    if settings.quick:
        server_cpu, client_cpu, bound_cpu = None, None, None
    elif workers == 1:
        server_cpu, client_cpu = cpu_split()
        bound_cpu = server_cpu
    else:
        server_cpu, client_cpu, bound_cpu = None, None, cpu_split()[0]
    label = label if workers == 1 else f"{label}, {workers} workers"
    how = "wrk" if driver == "wrk" else "aiohttp client"
    verify_call = raw_es256_verify_call()
    rows: list[Row] = []
    async with (
        node_server(
            database_url,
            residents=residents,
            consent=residents,
            in_process=settings.quick,
            workers=workers,
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
            with pinned_client(bound_cpu):  # the bound on one core, the node idle meanwhile
                raw.append(measure_rate(verify_call, repeats=1, budget=settings.budget).median)
            with pinned_client(client_cpu):
                if driver == "wrk":
                    sample = await _wrk_sample(
                        server, bodies, concurrency=concurrency, duration=duration
                    )
                else:
                    sample = await _sample(
                        server,
                        session,
                        verify,
                        concurrency=concurrency,
                        duration=duration,
                        check=_valid,
                    )
                verifies.append(sample)
                issues.append(
                    await _sample(
                        server, session, issue, concurrency=4, duration=duration / 2, check=issued
                    )
                )
        bound = Bound("raw ES256 verify / 2, one core", Stats.of(raw).scaled(0.5), "ops/s")
        what = f"verify, {concurrency} in flight, {how}"
        rows += _rows_of(what, "req/s", verifies, bound, 1.0, label)
        rows.append(
            Row(
                NAME,
                f"{what}: server CPU per request",
                "us",
                Stats.of(s.cpu_per_request * 1e6 for s in verifies),
                False,
            )
        )
        if not settings.quick:
            trivial: list[float] = []
            async with trivial_server(server_cpu, workers) as url:
                for _ in range(settings.repeats):
                    with pinned_client(client_cpu):
                        if driver == "wrk":
                            result: LoadResult | WrkResult = await wrk_load(
                                f"{url}/v1/verify",
                                bodies,
                                None,
                                connections=concurrency,
                                duration=duration,
                            )
                        else:
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
                    f"verify vs a trivial aiohttp handler, same processes and driver ({label})",
                    "req/s",
                    Stats.of(s.result.rate for s in verifies),
                    True,
                    Bound(f"trivial aiohttp handler, {how}", Stats.of(trivial), "req/s"),
                )
            )
        rows += _rows_of(
            f"issue {ISSUE_BATCH}/request, 4 in flight", "att/s", issues, None, ISSUE_BATCH, label
        )
        if soak > 0:
            with pinned_client(client_cpu):
                rows += await _soak(
                    server, session, verify, issue, issued, soak, concurrency, label, memory_csv
                )
    return rows


#: Memory is judged flat when ``RssAnon``'s least-squares slope after the warm-up is at most
#: this: 0.5 MiB/min is 0.5 % of the ~100 MiB node per minute, and well below what one leaked
#: object per request would add at the soak's rates (thousands of requests per minute) ...
FLAT_MIB_PER_MIN: Final = 0.5
#: ... or when it grew by no more than this in all after the warm-up: glibc extends its heap
#: in steps of about 1 MiB when a burst of requests needs more at once, and a single step in a
#: 40 s window is a slope of 1.5 MiB/min that is not a trend. A 60 s soak therefore resolves a
#: leak of about 1.5 MiB/min; a 300 s soak resolves 0.5 MiB/min.
FLAT_STEP_MIB: Final = 1.0


def judge_flat(points: Sequence[tuple[float, float]]) -> tuple[float, float, bool]:
    """``(slope MiB/min, growth MiB, flat)`` of ``(seconds, MiB)`` samples after a warm-up."""
    slope = _slope_per_minute(points)
    growth = points[-1][1] - points[0][1] if points else 0.0
    return slope, growth, slope <= FLAT_MIB_PER_MIN or growth <= FLAT_STEP_MIB


def warm_up_seconds(soak: float) -> float:
    """How much of a soak is warm-up: caches, pools and allocator arenas fill, not judged."""
    return max(10.0, soak / 3)


def _rss_mib(pid: int, field: str) -> float:
    """``field`` of /proc/PID/status summed over ``pid`` and its children (the workers), MiB."""
    total = 0
    for p in (pid, *_children(pid)):
        try:
            text = Path(f"/proc/{p}/status").read_text(encoding="ascii")
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith(f"{field}:"):
                total += int(line.split()[1])
    return total / 1024


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
    memory_csv: Path | None = None,
) -> list[Row]:
    """Verification (``concurrency`` in flight) and one issuance stream; RSS every second.

    Memory is judged on ``RssAnon`` (heap: Python objects, SQLite's page cache, malloc arenas)
    after :func:`warm_up_seconds` (:func:`judge_flat`).
    ``RssFile`` (libraries, SQLite's memory-mapped database) is reported, not judged: the
    kernel reclaims it under pressure. With ``memory_csv`` every sample is written there.
    """
    fields = ("VmRSS", "RssAnon", "RssFile")
    samples: dict[str, list[tuple[float, float]]] = {f: [] for f in fields}
    start = time.perf_counter()
    stop = asyncio.Event()

    def sample_rss() -> None:
        at = time.perf_counter() - start
        for f in fields:
            samples[f].append((at, _rss_mib(server.pid, f)))

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
    if memory_csv is not None:
        with memory_csv.open("w", encoding="ascii") as out:
            out.write("seconds," + ",".join(f"{f}_MiB" for f in fields) + "\n")
            for n, (at, _) in enumerate(samples[fields[0]]):
                line = ",".join(f"{samples[f][n][1]:.2f}" for f in fields)
                out.write(f"{at:.1f},{line}\n")
    warm_up = warm_up_seconds(seconds)
    for f in fields:
        points = samples[f]
        warm = [p for p in points if p[0] >= warm_up]
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
        slope, grown, flat = judge_flat(warm)
        verdict = ""
        if f == "RssAnon":
            verdict = (
                f": {'flat' if flat else 'GROWS'} (flat: at most {FLAT_MIB_PER_MIN} MiB/min "
                f"or {FLAT_STEP_MIB:g} MiB in all)"
            )
        rows.append(
            Row(
                NAME,
                f"{what}: server {f} slope after {warm_up:g} s warm-up "
                f"({len(warm)} samples, {grown:+.1f} MiB){verdict}",
                "MiB/min",
                Stats.of([slope]),
                False,
            )
        )
    return rows


@benchmark(NAME, description="load: online verification and batch issuance over HTTP, bounded")
def load_bench(settings: Settings) -> list[Row]:
    """A short bounded load run on SQLite (the soak runs from ``python -m bench.load --soak``)."""
    return asyncio.run(run_load(settings))


async def _main_async(args: argparse.Namespace, settings: Settings, driver: str) -> list[Row]:
    rows: list[Row] = []
    for n, workers in enumerate(args.workers):
        soak = args.soak if n == 0 else 0.0
        if not args.postgres_only:
            rows += await run_load(
                settings,
                duration=args.duration,
                concurrency=args.concurrency,
                soak=soak,
                workers=workers,
                driver=driver,
                memory_csv=args.memory_csv,
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
                        soak=soak if args.postgres_only else 0.0,
                        workers=workers,
                        driver=driver,
                        memory_csv=args.memory_csv,
                    )
    return rows


def pick_driver(requested: str, *, quick: bool) -> str:
    """``wrk`` or ``python`` for ``--driver`` (``auto``: wrk when installed, except quick)."""
    if requested == "python" or (requested == "auto" and quick):
        return "python"
    if wrk_path() is not None:
        return "wrk"
    if requested == "wrk":
        raise SystemExit("wrk is not installed (apt install wrk); use --driver python")
    print(
        "wrk is not installed (apt install wrk): driving verification with the Python aiohttp "
        "client instead, which tops out well below what the node can answer",
        file=sys.stderr,
    )
    return "python"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.load``: print the load (and soak) table."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=float, help="seconds per load sample (default 5)")
    parser.add_argument("--concurrency", type=int, default=8, help="verify requests in flight")
    parser.add_argument("--soak", type=float, default=0.0, help="soak seconds (0: none)")
    parser.add_argument("--repeats", type=int, default=3, help="load samples per figure")
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="node worker processes; several values run one node each (default 1)",
    )
    parser.add_argument(
        "--driver",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="verification load generator (auto: wrk when installed)",
    )
    parser.add_argument(
        "--memory-csv", type=Path, help="write the soak's per-second memory samples here"
    )
    parser.add_argument(
        "--tracemalloc",
        type=Path,
        metavar="PATH",
        help="the node appends tracemalloc and C heap reports to PATH (node/memtrace.py; slow)",
    )
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--postgres-only", action="store_true", help="only on PostgreSQL")
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--markdown", action="store_true", help="Markdown for RESULTS.md")
    args = parser.parse_args(argv)
    if args.soak < 0 or args.soak > 3600 or args.concurrency < 1 or args.concurrency > 256:
        parser.error("--soak must be 0..3600 and --concurrency 1..256")
    if any(w < 1 or w > 64 for w in args.workers):
        parser.error("--workers must be 1..64")
    settings = Settings(quick=args.quick, repeats=max(1, args.repeats), budget=0.5)
    if args.quick:
        settings = Settings(quick=True, repeats=1, budget=0.05)
    driver = pick_driver(args.driver, quick=args.quick)
    if args.tracemalloc is not None:  # read by huxin node run (node.memtrace) at start-up
        os.environ["HUXIN_TRACEMALLOC"] = str(args.tracemalloc.resolve())
    info = machine()
    server_cpu, client_cpu = cpu_split()
    started = time.perf_counter()
    rows = asyncio.run(_main_async(args, settings, driver))
    header = [
        f"huxin load ({'quick' if args.quick else 'full'}: {settings.repeats} samples of "
        f"{args.duration or settings.pick(5.0, 0.3):g} s, verify concurrency {args.concurrency}, "
        f"driver {driver}, node workers {' and '.join(map(str, args.workers))}"
        f"{f', soak {args.soak:g} s' if args.soak else ''}; server on CPU {server_cpu}, "
        f"client on CPU {client_cpu}; {time.perf_counter() - started:.1f} s)",
        f"machine: {info['cpu']}, nproc {info['nproc']}; {info['python']}; {info['openssl']}; "
        f"load average before the run {info['load']}",
    ]
    print_report(header, rows, markdown=args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
