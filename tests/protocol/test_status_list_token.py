"""Status List Tokens (sign, verify) and the verifier-side cache.

Attack and edge cases on the wire format are in ``tests/vectors/status_lists.json``; these
tests cover the API: what the signer writes, the verified result, options, the cache rules.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.errors import (
    MalformedError,
    MissingClaimError,
    ProtocolError,
    RevokedError,
    StatusIndexError,
    StatusRollbackError,
    StatusUnavailableError,
    TooLargeError,
    WrongSubjectError,
)
from protocol.jose import EDDSA, ES256, KeySigner, b64u_decode, b64u_encode, json_bytes
from protocol.keys import StaticKeyResolver, TrustedKey
from protocol.status_list import (
    INVALID,
    STATUS_LIST_TYP,
    SUSPENDED,
    StaticStatusListSource,
    StatusList,
    StatusListCache,
    StatusListSource,
    check_status,
    sign_status_list_token,
    verify_status_list_token,
)

ISSUER = "https://zz.huxin.cn"
URI = "https://zz.huxin.cn/status/1"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
ES256_ONLY = frozenset({ES256})
BOTH = frozenset({ES256, EDDSA})
ES_KEY = KeySigner.generate(ES256)
ED_KEY = KeySigner.generate(EDDSA)


def _resolver(*signers: KeySigner) -> StaticKeyResolver:
    return StaticKeyResolver(
        TrustedKey(issuer=ISSUER, city="zhengzhou", kid=s.kid, alg=s.alg, public_key=s.public_key)
        for s in signers
    )


KEYS = _resolver(ES_KEY, ED_KEY)
LIST = StatusList.build(1000, {7: INVALID, 8: SUSPENDED}, bits=2)


def _token(
    *,
    now: datetime = NOW,
    status_list: StatusList = LIST,
    signer: KeySigner = ES_KEY,
    uri: str = URI,
    lifetime: timedelta = timedelta(hours=24),
    ttl: timedelta = timedelta(hours=1),
) -> str:
    return sign_status_list_token(
        signer,
        issuer=ISSUER,
        uri=uri,
        status_list=status_list,
        now=now,
        lifetime=lifetime,
        ttl=ttl,
    )


def _parts(token: str) -> tuple[dict[str, object], dict[str, object]]:
    header, payload, _ = token.split(".")
    return json.loads(b64u_decode(header)), json.loads(b64u_decode(payload))


def test_signed_token_header_and_claims() -> None:
    token = _token(now=NOW + timedelta(microseconds=900_000))
    header, payload = _parts(token)
    assert header == {"alg": "ES256", "kid": ES_KEY.kid, "typ": STATUS_LIST_TYP}
    iat = int(NOW.timestamp())
    assert payload == {
        "sub": URI,
        "iss": ISSUER,
        "iat": iat,
        "exp": iat + 86_400,
        "ttl": 3_600,
        "status_list": LIST.encode(),
    }


@pytest.mark.parametrize("signer", [ES_KEY, ED_KEY], ids=["ES256", "EdDSA"])
def test_sign_verify_round_trip(signer: KeySigner) -> None:
    verified = verify_status_list_token(
        _token(signer=signer), keys=KEYS, uri=URI, allowed_algorithms=BOTH, now=NOW
    )
    assert verified.uri == URI
    assert verified.issuer == ISSUER
    assert verified.kid == signer.kid
    assert verified.issued_at == NOW
    assert verified.expires_at == NOW + timedelta(hours=24)
    assert verified.ttl == timedelta(hours=1)
    assert verified.status_list.status(7) == INVALID
    assert verified.status_list.status(8) == SUSPENDED
    assert verified.status_list.size == 1000


def test_token_as_bytes_is_accepted() -> None:
    token = _token().encode()
    verified = verify_status_list_token(
        token, keys=KEYS, uri=URI, allowed_algorithms=ES256_ONLY, now=NOW
    )
    assert verified.status_list == LIST


def test_non_ascii_token_is_malformed() -> None:
    with pytest.raises(MalformedError):
        verify_status_list_token(
            _token() + "é", keys=KEYS, uri=URI, allowed_algorithms=ES256_ONLY, now=NOW
        )


def _unsigned_exp_token(signer: KeySigner) -> str:
    header = {"alg": signer.alg, "kid": signer.kid, "typ": STATUS_LIST_TYP}
    payload = {"sub": URI, "iss": ISSUER, "iat": int(NOW.timestamp()), "status_list": LIST.encode()}
    signing_input = b64u_encode(json_bytes(header)) + "." + b64u_encode(json_bytes(payload))
    return signing_input + "." + b64u_encode(signer.sign(signing_input.encode()))


def test_exp_is_required_unless_the_caller_opts_out() -> None:
    token = _unsigned_exp_token(ES_KEY)
    with pytest.raises(MissingClaimError):
        verify_status_list_token(token, keys=KEYS, uri=URI, allowed_algorithms=BOTH, now=NOW)
    verified = verify_status_list_token(
        token, keys=KEYS, uri=URI, allowed_algorithms=BOTH, now=NOW, require_exp=False
    )
    assert verified.expires_at is None
    assert verified.ttl is None


def test_leeway_is_configurable() -> None:
    token = _token()
    later = NOW + timedelta(hours=24, seconds=30)
    verify_status_list_token(token, keys=KEYS, uri=URI, allowed_algorithms=BOTH, now=later)
    with pytest.raises(ProtocolError, match="expired"):
        verify_status_list_token(
            token, keys=KEYS, uri=URI, allowed_algorithms=BOTH, now=later, leeway=timedelta(0)
        )


def test_list_larger_than_max_size_is_too_large() -> None:
    with pytest.raises(TooLargeError):
        verify_status_list_token(
            _token(), keys=KEYS, uri=URI, allowed_algorithms=BOTH, now=NOW, max_size=999
        )


def test_naive_times_are_refused() -> None:
    naive = datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="timezone"):
        _token(now=naive)
    with pytest.raises(ValueError, match="timezone"):
        verify_status_list_token(_token(), keys=KEYS, uri=URI, allowed_algorithms=BOTH, now=naive)


@pytest.mark.parametrize(
    ("lifetime", "ttl"),
    [(timedelta(0), timedelta(hours=1)), (timedelta(hours=1), timedelta(seconds=-5))],
)
def test_sign_refuses_non_positive_durations(lifetime: timedelta, ttl: timedelta) -> None:
    with pytest.raises(ValueError, match="positive"):
        _token(lifetime=lifetime, ttl=ttl)


def test_sign_refuses_empty_uri() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        _token(uri="")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_verify_of_arbitrary_bytes_raises_only_protocol_errors(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        verify_status_list_token(data, keys=KEYS, uri=URI, allowed_algorithms=BOTH, now=NOW)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3), st.integers(0, 255))
def test_any_changed_byte_of_a_token_is_refused(part: int, position: int) -> None:
    token = _token()
    pieces = token.split(".")
    index = min(part, 2)
    piece = pieces[index]
    pos = position % len(piece)
    replacement = "A" if piece[pos] != "A" else "B"
    pieces[index] = piece[:pos] + replacement + piece[pos + 1 :]
    tampered = ".".join(pieces)
    try:
        verified = verify_status_list_token(
            tampered, keys=KEYS, uri=URI, allowed_algorithms=BOTH, now=NOW
        )
    except ProtocolError:
        return
    # Only a change in the unused low bits of the last base64url character can survive.
    assert verified.status_list == LIST


# --------------------------------------------------------------------------------------------
# Sources and check_status


def test_check_status() -> None:
    source: StatusListSource = StaticStatusListSource({URI: LIST})
    check_status(source, URI, 0, NOW)
    with pytest.raises(RevokedError, match="INVALID"):
        check_status(source, URI, 7, NOW)
    with pytest.raises(RevokedError, match="SUSPENDED"):
        check_status(source, URI, 8, NOW)
    with pytest.raises(StatusIndexError):
        check_status(source, URI, 1000, NOW)
    with pytest.raises(StatusUnavailableError):
        check_status(source, URI + "x", 0, NOW)


def test_application_specific_statuses_are_not_valid() -> None:
    source = StaticStatusListSource({URI: StatusList.build(4, {1: 3}, bits=2)})
    with pytest.raises(RevokedError, match="0x03"):
        check_status(source, URI, 1, NOW)


# --------------------------------------------------------------------------------------------
# The cache


def _cache(**kwargs: object) -> StatusListCache:
    return StatusListCache(KEYS, BOTH, **kwargs)  # type: ignore[arg-type]


def test_cache_serves_a_verified_list() -> None:
    cache = _cache()
    assert cache.needs_refresh(URI, NOW)
    with pytest.raises(StatusUnavailableError):
        cache.status_list(URI, NOW)
    token = _token()
    verified = cache.put(URI, token, NOW)
    assert cache.status_list(URI, NOW) == LIST
    assert cache.get(URI, NOW) == verified
    assert cache.token(URI) == token.encode()
    assert cache.uris() == (URI,)
    assert len(cache) == 1
    assert cache.total_bytes == len(LIST.packed)
    assert not cache.needs_refresh(URI, NOW)
    check_status(cache, URI, 0, NOW)


def test_cache_verifies_before_storing() -> None:
    cache = _cache()
    good = _token()
    cache.put(URI, good, NOW)
    newer_but_forged = _token(now=NOW + timedelta(hours=1), signer=KeySigner.generate(ES256))
    with pytest.raises(ProtocolError):
        cache.put(URI, newer_but_forged, NOW + timedelta(hours=1))
    with pytest.raises(WrongSubjectError):
        cache.put(URI + "/2", good, NOW)
    with pytest.raises(WrongSubjectError):
        cache.put(URI, good, NOW, issuer="https://hz.huxin.cn")
    assert cache.token(URI) == good.encode()
    assert cache.uris() == (URI,)


def test_cache_never_rolls_back() -> None:
    cache = _cache()
    revoked = LIST.updated({9: INVALID})
    later = NOW + timedelta(minutes=10)
    cache.put(URI, _token(now=later, status_list=revoked), later)
    with pytest.raises(StatusRollbackError) as caught:
        cache.put(URI, _token(now=NOW), NOW + timedelta(minutes=11))
    assert caught.value.code == "status_rollback"
    assert cache.status_list(URI, NOW + timedelta(minutes=12)).status(9) == INVALID


def test_cache_accepts_equal_or_newer_iat() -> None:
    cache = _cache()
    cache.put(URI, _token(), NOW)
    same_second = _token(status_list=LIST.updated({1: INVALID}))
    cache.put(URI, same_second, NOW)
    assert cache.status_list(URI, NOW).status(1) == INVALID
    newer = _token(now=NOW + timedelta(hours=2), status_list=LIST)
    cache.put(URI, newer, NOW + timedelta(hours=2))
    assert cache.status_list(URI, NOW + timedelta(hours=2)).status(1) == 0


def test_cache_refresh_follows_ttl_from_the_fetch() -> None:
    cache = _cache()
    cache.put(URI, _token(ttl=timedelta(minutes=30)), NOW + timedelta(minutes=5))
    assert not cache.needs_refresh(URI, NOW + timedelta(minutes=34))
    assert cache.needs_refresh(URI, NOW + timedelta(minutes=35))
    # The same token fetched again: refresh restarts from the new fetch.
    cache.put(URI, _token(ttl=timedelta(minutes=30)), NOW + timedelta(minutes=35))
    assert not cache.needs_refresh(URI, NOW + timedelta(minutes=64))


def test_cache_default_ttl_for_tokens_without_one() -> None:
    header = {"alg": ES256, "kid": ES_KEY.kid, "typ": STATUS_LIST_TYP}
    iat = int(NOW.timestamp())
    payload = {"sub": URI, "iss": ISSUER, "iat": iat, "exp": iat + 3600, "status_list": {}}
    payload["status_list"] = LIST.encode()
    signing_input = b64u_encode(json_bytes(header)) + "." + b64u_encode(json_bytes(payload))
    token = signing_input + "." + b64u_encode(ES_KEY.sign(signing_input.encode()))
    cache = _cache(default_ttl=timedelta(minutes=2))
    cache.put(URI, token, NOW)
    assert not cache.needs_refresh(URI, NOW + timedelta(seconds=119))
    assert cache.needs_refresh(URI, NOW + timedelta(minutes=2))


def test_cache_serves_until_exp_then_is_unavailable() -> None:
    cache = _cache()
    cache.put(URI, _token(lifetime=timedelta(hours=2), ttl=timedelta(hours=1)), NOW)
    at_exp = NOW + timedelta(hours=2)
    # Past ttl: a refetch is due, but the list is still served (offline merchants).
    assert cache.needs_refresh(URI, NOW + timedelta(hours=1))
    assert cache.status_list(URI, at_exp + timedelta(seconds=59)) == LIST
    with pytest.raises(StatusUnavailableError) as caught:
        cache.status_list(URI, at_exp + timedelta(seconds=60))
    assert caught.value.code == "status_unavailable"
    assert cache.needs_refresh(URI, at_exp + timedelta(seconds=60))


def test_cache_refuses_a_token_without_exp() -> None:
    with pytest.raises(MissingClaimError):
        _cache().put(URI, _unsigned_exp_token(ES_KEY), NOW)


def test_cache_is_bounded_and_evicts_least_recently_used() -> None:
    cache = _cache(max_lists=2)
    uris = [f"{URI}/{i}" for i in range(3)]
    cache.put(uris[0], _token(uri=uris[0]), NOW)
    cache.put(uris[1], _token(uri=uris[1]), NOW)
    cache.status_list(uris[0], NOW)  # uris[1] is now the least recently used
    cache.put(uris[2], _token(uri=uris[2]), NOW)
    assert set(cache.uris()) == {uris[0], uris[2]}
    assert cache.total_bytes == 2 * len(LIST.packed)


def test_cache_evicts_expired_lists_first() -> None:
    cache = _cache(max_lists=2)
    short = _token(uri=f"{URI}/short", lifetime=timedelta(minutes=10), ttl=timedelta(minutes=5))
    cache.put(f"{URI}/short", short, NOW)
    cache.put(f"{URI}/long", _token(uri=f"{URI}/long"), NOW)
    cache.status_list(f"{URI}/short", NOW)  # most recently used, but about to expire
    later = NOW + timedelta(hours=1)
    cache.put(f"{URI}/new", _token(uri=f"{URI}/new", now=later), later)
    assert set(cache.uris()) == {f"{URI}/long", f"{URI}/new"}


def test_cache_bounds_total_bytes() -> None:
    cache = _cache(max_total_bytes=2 * len(LIST.packed))
    for i in range(3):
        cache.put(f"{URI}/{i}", _token(uri=f"{URI}/{i}"), NOW)
    assert len(cache) == 2
    assert cache.total_bytes == 2 * len(LIST.packed)
    big = StatusList.build(100_000, {})
    with pytest.raises(TooLargeError):
        cache.put(URI, _token(status_list=big), NOW)


def test_cache_discard() -> None:
    cache = _cache()
    cache.put(URI, _token(), NOW)
    cache.discard(URI)
    cache.discard(URI)
    assert len(cache) == 0
    assert cache.total_bytes == 0
    assert cache.token(URI) is None


def test_cache_refuses_bad_limits() -> None:
    with pytest.raises(ValueError, match="positive"):
        _cache(max_lists=0)


def test_cache_refresh_is_due_at_exp_when_it_comes_before_ttl() -> None:
    cache = _cache()
    cache.put(URI, _token(lifetime=timedelta(minutes=10), ttl=timedelta(hours=1)), NOW)
    assert not cache.needs_refresh(URI, NOW + timedelta(minutes=9))
    assert cache.needs_refresh(URI, NOW + timedelta(minutes=10))


def test_cache_refuses_a_non_ascii_token() -> None:
    cache = _cache()
    with pytest.raises(MalformedError):
        cache.put(URI, _token() + "é", NOW)
    assert len(cache) == 0


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 3600), min_size=1, max_size=6))
def test_cache_always_holds_the_newest_list_it_was_given(offsets: list[int]) -> None:
    cache = _cache()
    newest = -1
    fetch = NOW + timedelta(hours=2)
    for offset in offsets:
        marker = LIST.updated({offset % 1000: INVALID})
        token = _token(now=NOW + timedelta(seconds=offset), status_list=marker)
        try:
            cache.put(URI, token, fetch)
        except StatusRollbackError:
            assert offset < newest
            continue
        assert offset >= newest
        newest = offset
        assert cache.status_list(URI, fetch) == marker
    assert cache.get(URI, fetch).issued_at == NOW + timedelta(seconds=max(offsets))
