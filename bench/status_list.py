"""Benchmarks of Token Status Lists: a city-sized list (12,000,000 entries, 0.1 % revoked).

Measures building the list (sparse and dense input), encoding it (zlib level 9 + base64url),
decoding it, its compressed size, status lookups, and signing/verifying Status List Tokens.
Bounds: raw ``zlib.compress``/``zlib.decompress`` of the same bytes, raw ``cryptography`` ES256
sign/verify, and a bare bytes-index lookup -- each measured in the same run.

What it deliberately does not measure: fetching lists over HTTP (the node's load tests do).
"""

from __future__ import annotations

import random
import zlib
from datetime import UTC, datetime, timedelta

from bench.harness import (
    Bound,
    Row,
    Settings,
    Stats,
    benchmark,
    interleaved_rates,
    interleaved_times,
    measure_rate,
    raw_es256_sign_call,
    raw_es256_verify_call,
    time_call,
)
from protocol.errors import RevokedError
from protocol.jose import ES256, KeySigner
from protocol.keys import StaticKeyResolver
from protocol.status_list import (
    INVALID,
    StatusList,
    StatusListCache,
    check_status,
    decode_status_list,
    sign_status_list_token,
    verify_status_list_token,
)

NAME = "status_list"
ISSUER = "https://zz.huxin.cn"
URI = "https://zz.huxin.cn/status/1"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _ms(stats: Stats) -> Stats:
    return stats.scaled(1000)


@benchmark(NAME, description="Token Status List: 12,000,000 entries, 0.1% revoked, 1 bit")
def status_list_city(settings: Settings) -> list[Row]:
    """Build, encode, decode and size of a city-sized revocation list."""
    size = settings.pick(12_000_000, 120_000)
    label = f"{size:,} entries, 0.1% revoked"
    rng = random.Random(20260101)
    revoked = dict.fromkeys(rng.sample(range(size), size // 1000), INVALID)
    dense = bytearray(size)
    for idx in revoked:
        dense[idx] = INVALID
    dense_bytes = bytes(dense)
    repeats = settings.repeats

    sl = StatusList.build(size, revoked)
    encoded = sl.encode()
    compressed = sl.compressed()
    packed = sl.packed
    max_size = size + 8
    # Every figure and its zlib bound are timed round-robin, one call each per round.
    times = {
        name: _ms(stats)
        for name, stats in interleaved_times(
            {
                "zlib.compress": lambda: zlib.compress(packed, 9),
                "zlib.decompress": lambda: zlib.decompress(compressed),
                "build": lambda: StatusList.build(size, revoked),
                "build_dense": lambda: StatusList.build(size, dense_bytes),
                "build_encode": lambda: StatusList.build(size, revoked).encode(),
                "decode": lambda: decode_status_list(encoded, max_size=max_size),
                "round_trip": lambda: decode_status_list(sl.encode(), max_size=max_size),
            },
            repeats=settings.repeats,
        ).items()
    }
    zc = Bound("raw zlib.compress(9)", times["zlib.compress"], "ms")
    zd = Bound("raw zlib.decompress", times["zlib.decompress"], "ms")
    pair = Stats.of(
        c + d
        for c, d in zip(
            times["zlib.compress"].samples, times["zlib.decompress"].samples, strict=True
        )
    )
    both = Bound("raw compress+decompress", pair, "ms")
    indices = [rng.randrange(size) for _ in range(1024)]

    def lookups() -> None:
        for i in indices:
            sl.status(i)

    def raw_lookups() -> None:
        for i in indices:
            _ = (packed[i >> 3] >> (i & 7)) & 1

    rates = interleaved_rates(
        {"ours": lookups, "raw": raw_lookups}, repeats=repeats, budget=settings.budget
    )
    lookup = rates["ours"].scaled(len(indices))
    raw_bound = Bound("raw bytes index", rates["raw"].scaled(len(indices)), "ops/s")

    lst_chars = len(str(encoded["lst"]))
    size_note = f"packed {len(sl.packed):,} B, lst {lst_chars:,} chars"
    return [
        Row(NAME, f"build, sparse {{idx: status}} ({label})", "ms", times["build"], False, zc),
        Row(
            NAME, "build, dense bytes (one status per byte)", "ms", times["build_dense"], False, zc
        ),
        Row(NAME, "build + encode (zlib 9 + base64url)", "ms", times["build_encode"], False, zc),
        Row(NAME, "decode (base64url + bounded inflate)", "ms", times["decode"], False, zd),
        Row(NAME, "encode + decode", "ms", times["round_trip"], False, both),
        Row(
            NAME,
            "compressed size (zlib stream)",
            "bytes",
            Stats.of([float(len(compressed))]),
            False,
            note=size_note,
        ),
        Row(NAME, "status(idx) lookups", "ops/s", lookup, True, raw_bound),
    ]


@benchmark("status_list_token", description="Status List Tokens: sign, verify, cached lookup")
def status_list_token(settings: Settings) -> list[Row]:
    """Signing and verifying a Status List Token, and check_status through the cache."""
    signer = KeySigner.generate(ES256)
    keys = StaticKeyResolver.of({ISSUER: signer.public_key})
    allowed = frozenset({ES256})
    small = StatusList.build(10_000, {7: INVALID, 4242: INVALID})
    name = "status_list_token"

    def sign(sl: StatusList) -> str:
        return sign_status_list_token(
            signer,
            issuer=ISSUER,
            uri=URI,
            status_list=sl,
            now=NOW,
            lifetime=timedelta(hours=24),
            ttl=timedelta(hours=1),
        )

    def verify(token: str, max_size: int) -> None:
        verify_status_list_token(
            token, keys=keys, uri=URI, allowed_algorithms=allowed, now=NOW, max_size=max_size
        )

    token = sign(small)
    # Ours and the raw primitive sampled round-robin: shared-machine load hits both alike.
    rates = interleaved_rates(
        {
            "sign": lambda: sign(small),
            "raw_sign": raw_es256_sign_call(),
            "verify": lambda: verify(token, 10_000),
            "raw_verify": raw_es256_verify_call(),
        },
        repeats=settings.repeats,
        budget=settings.budget,
    )
    size = settings.pick(12_000_000, 120_000)
    rng = random.Random(7)
    city = StatusList.build(size, dict.fromkeys(rng.sample(range(size), size // 1000), INVALID))
    city_token = sign(city)
    city_sign = time_call(lambda: sign(city), repeats=settings.repeats)
    city_verify = time_call(lambda: verify(city_token, size + 8), repeats=settings.repeats)

    cache = StatusListCache(keys, allowed)
    cache.put(URI, city_token, NOW)
    indices = [rng.randrange(size) for _ in range(1024)]

    def cached_checks() -> None:
        for i in indices:
            try:
                check_status(cache, URI, i, NOW)
            except RevokedError:  # a revoked index is a normal outcome
                continue

    cached = measure_rate(cached_checks, repeats=settings.repeats, budget=settings.budget)
    return [
        Row(
            name,
            "sign (10,000-entry list)",
            "ops/s",
            rates["sign"],
            True,
            Bound("raw ES256 sign", rates["raw_sign"], "ops/s"),
        ),
        Row(
            name,
            "verify (10,000-entry list)",
            "ops/s",
            rates["verify"],
            True,
            Bound("raw ES256 verify", rates["raw_verify"], "ops/s"),
        ),
        Row(name, f"sign ({size:,}-entry list)", "ms", _ms(city_sign), False),
        Row(name, f"verify ({size:,}-entry list)", "ms", _ms(city_verify), False),
        Row(name, "check_status via StatusListCache", "ops/s", cached.scaled(len(indices))),
    ]
