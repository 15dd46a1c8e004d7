"""The wrk driver of ``bench.load``: the Lua script's summary and what it counts as an error."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bench.load import WrkResult, wrk_load, wrk_path

LINE = (
    'HUXIN_WRK {"requests": 1000, "duration_us": 2000000, "connect": 0, "read": 1, "write": 0, '
    '"timeout": 2, "non200": 3, "invalid": 4, "p50_us": 1500, "p90_us": 2500, "p99_us": 9000, '
    '"max_us": 12000, "first": "500 oops"}'
)


def test_parse_counts_every_kind_of_error() -> None:
    result = WrkResult.parse(f"Running 2s test\n{LINE}\n")
    assert result.requests == 1000
    assert result.errors == 10
    assert result.rate == 495.0
    assert result.percentile(50) == 0.0015
    assert result.percentile(99) == 0.009
    assert result.first_error == "1 read, 2 timeout, 3 non200, 4 invalid; 500 oops"
    with pytest.raises(ValueError, match="p50, p90 and p99"):
        result.percentile(95)
    with pytest.raises(RuntimeError, match="no summary"):
        WrkResult.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


@pytest.mark.asyncio
@pytest.mark.skipif(wrk_path() is None, reason="wrk is not installed (apt install wrk)")
async def test_wrk_counts_non_200_and_invalid_verdicts() -> None:
    seen: Counter[str] = Counter()

    async def verify(request: web.Request) -> web.Response:
        kind = json.loads(await request.read())["kind"]
        assert request.headers["Authorization"] == "Bearer hx_test"
        seen[kind] += 1
        if kind == "error":
            return web.json_response({"error": "boom"}, status=500)
        return web.json_response({"valid": kind == "good"})

    app = web.Application()
    app.router.add_post("/v1/verify", verify)
    bodies = [json.dumps({"kind": k}).encode() for k in ("good", "invalid", "error", "good")]
    async with TestServer(app, host="127.0.0.1") as server:
        result = await wrk_load(
            str(server.make_url("/v1/verify")),
            bodies,
            "Bearer hx_test",
            connections=2,
            duration=1,
        )
    served = sum(seen.values())
    assert result.requests > 50
    assert served - 4 <= result.requests <= served  # at most one in flight per connection
    # Every kind is in the pool; half of the pool is an error of some kind.
    assert seen["good"]
    assert seen["invalid"]
    assert seen["error"]
    assert abs(result.errors - (seen["invalid"] + seen["error"])) <= 4
    assert "non200" in result.first_error
    assert "invalid" in result.first_error
    assert 0 < result.percentile(50) <= result.percentile(99) < 1.0


@pytest.mark.asyncio
async def test_wrk_targets_loopback_only() -> None:
    with pytest.raises(RuntimeError, match=r"127\.0\.0\.1 only"):
        await wrk_load("http://10.0.0.1:80/v1/verify", [b"{}"], None, connections=1, duration=1)
