"""Status List Tokens (draft-ietf-oauth-status-list-14): signing, verification and the cache.

What it does:

* The Status List Token (section 5.1): a compact JWS with ``typ: statuslist+jwt``, signed by
  :func:`sign_status_list_token` with any :class:`~protocol.jose.Signer` and checked by
  :func:`verify_status_list_token` against keys from a :class:`~protocol.keys.KeyResolver`
  only, the configured algorithm allowlist, an explicit ``now`` and an explicit leeway.
* :class:`StatusListSource`, the interface the presentation verifier reads statuses from, and
  :func:`check_status`, the one place that turns a status value into accept or reject.
* :class:`StatusListCache`, the verifier-side source: verifies before it stores, never rolls
  back to an older list, says when ``ttl`` calls for a refetch, stops serving at ``exp``.
* Re-exports the list itself (:class:`StatusList`, :func:`decode_status_list`, the Status Type
  values) from :mod:`protocol.status_encoding`, so callers import one module.

What it deliberately does not do: fetch anything, read the clock, decide which algorithms or
issuers are acceptable (the caller passes its configuration), or allocate status indices (the
node does that in its database). Status List Aggregation and the CWT form are not implemented.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from protocol.errors import (
    AlgorithmNotAllowedError,
    ExpiredError,
    ForbiddenHeaderError,
    MalformedError,
    MissingClaimError,
    NotYetValidError,
    RevokedError,
    StatusRollbackError,
    StatusUnavailableError,
    TooLargeError,
    WrongSubjectError,
    WrongTypeError,
)
from protocol.jose import (
    Signer,
    b64u_decode,
    b64u_encode,
    json_bytes,
    parse_json_object,
    verify_signature,
)
from protocol.keys import KeyResolver
from protocol.status_encoding import (
    ALLOWED_BITS,
    DEFAULT_MAX_STATUS_LIST_SIZE,
    INVALID,
    SUSPENDED,
    VALID,
    StatusList,
    decode_status_list,
)

#: The JWT ``typ`` header of a Status List Token (draft section 5.1).
STATUS_LIST_TYP: Final = "statuslist+jwt"
_ACCEPTED_TYPS: Final = frozenset({STATUS_LIST_TYP, "application/" + STATUS_LIST_TYP})
#: Headers that would let a token pick its own verification key (RFC 8725 section 3.10).
FORBIDDEN_HEADERS: Final = frozenset({"jku", "x5u", "jwk", "x5c"})
#: Largest Status List Token :func:`verify_status_list_token` parses by default: room for the
#: base64url of an incompressible 1-bit list of the default maximum size, plus the JWS.
DEFAULT_MAX_TOKEN_BYTES: Final = 8 << 20
#: Clock leeway applied to ``iat``, ``nbf`` and ``exp`` unless the caller configures another.
DEFAULT_LEEWAY: Final = timedelta(seconds=60)

# Largest NumericDate accepted (9999-12-31T23:59:59Z); anything beyond is malformed.
_MAX_NUMERIC_DATE: Final = 253_402_300_799


# --------------------------------------------------------------------------------------------
# The Status List Token (JWT form)


@dataclass(frozen=True)
class VerifiedStatusList:
    """A Status List Token that passed :func:`verify_status_list_token`.

    Attributes:
        uri: the token's ``sub``: the URI referenced tokens point to.
        issuer: the token's ``iss``, resolved to a trusted key.
        issued_at: ``iat``.
        expires_at: ``exp``, or None when the caller allowed a token without one.
        ttl: ``ttl``: how long a consumer may cache the token before refetching, if given.
        status_list: the decoded list.
        kid: the key id the token was verified with.
    """

    uri: str
    issuer: str
    issued_at: datetime
    expires_at: datetime | None
    ttl: timedelta | None
    status_list: StatusList
    kid: str = ""


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


def _seconds(delta: timedelta, what: str) -> int:
    seconds = delta.total_seconds()
    if seconds <= 0 or seconds != int(seconds):
        raise ValueError(f"{what} must be a positive whole number of seconds")
    return int(seconds)


def sign_status_list_token(
    signer: Signer,
    *,
    issuer: str,
    uri: str,
    status_list: StatusList,
    now: datetime,
    lifetime: timedelta,
    ttl: timedelta,
) -> str:
    """Sign a Status List Token (draft section 5.1) as a compact JWS.

    Header ``{"alg", "kid", "typ": "statuslist+jwt"}``; payload ``sub`` (= ``uri``), ``iss``,
    ``iat`` (= ``now``, whole seconds), ``exp`` (= ``iat + lifetime``), ``ttl`` (seconds),
    ``status_list``.

    Raises:
        ValueError: ``now`` is naive, or ``lifetime``/``ttl`` is not a positive number of
            whole seconds, or ``issuer``/``uri`` is empty.
    """
    _require_aware(now)
    if not issuer or not uri:
        raise ValueError("issuer and uri must be non-empty")
    iat = math.floor(now.timestamp())
    header = {"alg": signer.alg, "kid": signer.kid, "typ": STATUS_LIST_TYP}
    payload = {
        "sub": uri,
        "iss": issuer,
        "iat": iat,
        "exp": iat + _seconds(lifetime, "lifetime"),
        "ttl": _seconds(ttl, "ttl"),
        "status_list": status_list.encode(),
    }
    signing_input = b64u_encode(json_bytes(header)) + "." + b64u_encode(json_bytes(payload))
    signature = signer.sign(signing_input.encode("ascii"))
    return signing_input + "." + b64u_encode(signature)


def _numeric_date(payload: Mapping[str, object], name: str) -> datetime | None:
    value = payload.get(name)
    if value is None and name not in payload:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedError(f"{name} is not a NumericDate")
    if not 0 <= value <= _MAX_NUMERIC_DATE:
        raise MalformedError(f"{name} is out of range")
    return datetime.fromtimestamp(value, tz=UTC)


def _string_claim(payload: Mapping[str, object], name: str) -> str:
    if name not in payload:
        raise MissingClaimError(f"status list token has no {name}")
    value = payload[name]
    if not isinstance(value, str) or not value:
        raise MalformedError(f"{name} is not a non-empty string")
    return value


def _split_compact(token: str | bytes, max_bytes: int) -> tuple[bytes, bytes, bytes, bytes]:
    if len(token) > max_bytes:
        raise TooLargeError(f"status list token exceeds {max_bytes} bytes")
    if isinstance(token, str):
        try:
            raw = token.encode("ascii")
        except UnicodeEncodeError:
            raise MalformedError("status list token is not ASCII") from None
    else:
        raw = bytes(token)
    parts = raw.split(b".")
    if len(parts) != 3:
        raise MalformedError("status list token is not a compact JWS of three parts")
    header, payload, signature = parts
    return header, payload, signature, header + b"." + payload


def verify_status_list_token(
    token: str | bytes,
    *,
    keys: KeyResolver,
    uri: str,
    allowed_algorithms: frozenset[str],
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    issuer: str | None = None,
    require_exp: bool = True,
    max_size: int = DEFAULT_MAX_STATUS_LIST_SIZE,
    max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
) -> VerifiedStatusList:
    """Verify a Status List Token and decode its list (draft sections 5.1 and 8.3).

    Processing order: size; compact JWS structure; header (``typ``, no key-carrying or
    ``crit`` headers, ``alg`` in the allowlist, ``kid``); ``iss`` (equal to ``issuer`` if
    given) and key resolution; the signature; then the claims ``sub``, ``iat``, ``nbf``,
    ``exp``, ``ttl``; last the list itself, so nothing is decompressed before the signature
    holds.

    Args:
        token: the compact JWS.
        keys: the only source of verification keys.
        uri: the status list URI the referenced token carries; ``sub`` must equal it.
        allowed_algorithms: the configured JWS algorithm allowlist.
        now: the verification time (timezone-aware).
        leeway: clock skew tolerated on ``iat``, ``nbf`` and ``exp``.
        issuer: if given, ``iss`` must equal it (the referenced token's issuer).
        require_exp: refuse a token without ``exp`` (the default; the draft makes it optional).
        max_size: largest list accepted, in entries.
        max_token_bytes: tokens longer than this are refused before parsing.

    Raises:
        TooLargeError: the token or its list exceeds the configured limits.
        MalformedError: not a compact JWS, bad base64url or JSON, or a claim of the wrong type.
        WrongTypeError: ``typ`` is not ``statuslist+jwt``.
        ForbiddenHeaderError: a ``jku``, ``x5u``, ``jwk``, ``x5c`` or ``crit`` header.
        AlgorithmNotAllowedError: ``alg`` is not allowed or not the resolved key's algorithm.
        UntrustedIssuerError: the resolver does not know ``iss``.
        UnknownKeyError: the resolver has no key ``kid`` for ``iss`` at ``now``.
        BadSignatureError: the signature does not verify.
        MissingClaimError: ``iss``, ``sub``, ``iat``, ``status_list`` (or ``exp``) is absent.
        WrongSubjectError: ``sub`` is not ``uri`` or ``iss`` is not ``issuer``.
        NotYetValidError: ``iat`` or ``nbf`` is after ``now`` beyond the leeway.
        ExpiredError: ``exp`` is before ``now`` beyond the leeway.
    """
    _require_aware(now)
    header_b64, payload_b64, signature_b64, signing_input = _split_compact(token, max_token_bytes)
    header = parse_json_object(b64u_decode(header_b64, what="header"), what="header")
    payload = parse_json_object(b64u_decode(payload_b64, what="payload"), what="payload")
    signature = b64u_decode(signature_b64, what="signature")

    # Header: RFC 8725 section 3.11 (explicit typing), 3.10 (keys never from the token).
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPS:
        raise WrongTypeError(f"typ must be {STATUS_LIST_TYP!r}, not {typ!r}")
    supplied = sorted(FORBIDDEN_HEADERS.intersection(header))
    if supplied:
        raise ForbiddenHeaderError(f"header {supplied[0]!r} may not supply a key")
    if "crit" in header:
        raise ForbiddenHeaderError("no critical header extensions are understood")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed_algorithms:
        raise AlgorithmNotAllowedError(f"algorithm {alg!r} is not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MalformedError("header kid is missing or not a string")

    # Key resolution and signature (draft section 8.3 steps 2-3).
    iss = _string_claim(payload, "iss")
    if issuer is not None and iss != issuer:
        raise WrongSubjectError(f"status list token is from {iss!r}, not {issuer!r}")
    trusted = keys.resolve(iss, kid, now)
    if trusted.alg != alg:
        raise AlgorithmNotAllowedError(f"key {kid!r} is for {trusted.alg}, not {alg}")
    verify_signature(alg, trusted.public_key, signing_input, signature, allowed_algorithms)

    # Claims (draft section 5.1; RFC 7519 section 4.1).
    sub = _string_claim(payload, "sub")
    if sub != uri:
        raise WrongSubjectError(f"status list token is for {sub!r}, not {uri!r}")
    issued_at = _numeric_date(payload, "iat")
    if issued_at is None:
        raise MissingClaimError("status list token has no iat")
    if issued_at > now + leeway:
        raise NotYetValidError("status list token iat is in the future")
    not_before = _numeric_date(payload, "nbf")
    if not_before is not None and not_before > now + leeway:
        raise NotYetValidError("status list token is not valid yet (nbf)")
    expires_at = _numeric_date(payload, "exp")
    if expires_at is None:
        if require_exp:
            raise MissingClaimError("status list token has no exp")
    else:
        if expires_at < issued_at:
            raise MalformedError("status list token exp is before its iat")
        if now - leeway >= expires_at:  # not expires_at + leeway: exp may be 9999-12-31
            raise ExpiredError("status list token has expired")
    ttl: timedelta | None = None
    if "ttl" in payload:
        raw_ttl = payload["ttl"]
        if isinstance(raw_ttl, bool) or not isinstance(raw_ttl, int) or raw_ttl <= 0:
            raise MalformedError("ttl is not a positive integer")
        ttl = timedelta(seconds=min(raw_ttl, _MAX_NUMERIC_DATE))
    if "status_list" not in payload:
        raise MissingClaimError("status list token has no status_list")
    status_obj = payload["status_list"]
    if not isinstance(status_obj, dict):
        raise MalformedError("status_list is not an object")
    status_list = decode_status_list(status_obj, max_size=max_size)
    return VerifiedStatusList(
        uri=sub,
        issuer=iss,
        issued_at=issued_at,
        expires_at=expires_at,
        ttl=ttl,
        status_list=status_list,
        kid=kid,
    )


def _plus(moment: datetime, delta: timedelta, *, ceiling: datetime | None = None) -> datetime:
    """``moment + delta``, at most ``ceiling``, saturating at the last representable time
    (a signed ``exp`` of 9999-12-31 or a ``ttl`` of centuries must not overflow)."""
    try:
        total = moment + delta
    except OverflowError:
        total = datetime.max.replace(tzinfo=UTC)
    return total if ceiling is None else min(total, ceiling)


# --------------------------------------------------------------------------------------------
# Where a verifier reads statuses from


class StatusListSource(Protocol):
    """Where a presentation verifier gets the current status list for a URI."""

    def status_list(self, uri: str, now: datetime) -> StatusList:
        """The verified list for ``uri`` valid at ``now``.

        Raises:
            StatusUnavailableError: no usable list (never fetched, failed verification, or
                past its ``exp``).
        """
        ...


class StaticStatusListSource:
    """A :class:`StatusListSource` over fixed, already-trusted lists; for tests and tools."""

    def __init__(self, lists: Mapping[str, StatusList]) -> None:
        self._lists = dict(lists)

    def status_list(self, uri: str, now: datetime) -> StatusList:
        """See :meth:`StatusListSource.status_list`; ``now`` is unused.

        Raises:
            StatusUnavailableError: no list for ``uri``.
        """
        del now
        try:
            return self._lists[uri]
        except KeyError:
            raise StatusUnavailableError(f"no status list for {uri!r}") from None


def check_status(source: StatusListSource, uri: str, idx: int, now: datetime) -> None:
    """Return only if entry ``idx`` of the list at ``uri`` is VALID (draft section 8.2).

    Raises:
        StatusUnavailableError: the source has no usable list for ``uri``.
        StatusIndexError: ``idx`` is outside the list.
        RevokedError: the status is INVALID, SUSPENDED or any other non-VALID value.
    """
    value = source.status_list(uri, now).status(idx)
    if value == VALID:
        return
    names = {INVALID: "revoked (INVALID)", SUSPENDED: "suspended (SUSPENDED)"}
    raise RevokedError(f"status is {names.get(value, f'{value:#04x}')}")


# --------------------------------------------------------------------------------------------
# The verifier-side cache


@dataclass(frozen=True)
class _Entry:
    verified: VerifiedStatusList
    token: bytes
    stored_at: datetime
    refresh_at: datetime
    serve_until: datetime


class StatusListCache:
    """A bounded, verify-before-store :class:`StatusListSource` (draft sections 8.3, 13.7).

    The node and merchant apps fetch Status List Tokens themselves and hand them to
    :meth:`put`; this class does no I/O and never reads the clock. Rules:

    * a token is verified (signature, ``typ``, ``sub`` = the URI, times) before it is stored;
      a token that fails leaves the cache as it was;
    * a token older (``iat``) than the one held is refused with
      :class:`~protocol.errors.StatusRollbackError`, so a replayed old list cannot undo a
      revocation; an equal ``iat`` replaces (the issuer re-signed within the same second);
    * :meth:`needs_refresh` turns true ``ttl`` after the token was stored (``default_ttl`` if
      the token has none), or at ``exp`` if that comes first;
    * :meth:`status_list` keeps serving a list until ``exp`` (plus the leeway, the same window
      :meth:`put` accepts), then raises :class:`~protocol.errors.StatusUnavailableError`;
    * at most ``max_lists`` lists and ``max_total_bytes`` packed bytes are kept; expired lists
      go first, then the least recently used.

    Safe to share between threads.
    """

    def __init__(
        self,
        keys: KeyResolver,
        allowed_algorithms: frozenset[str],
        *,
        leeway: timedelta = DEFAULT_LEEWAY,
        default_ttl: timedelta = timedelta(minutes=5),
        max_lists: int = 256,
        max_total_bytes: int = 256 << 20,
        max_size: int = DEFAULT_MAX_STATUS_LIST_SIZE,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
    ) -> None:
        """Configure the cache.

        Args:
            keys: the only source of verification keys (the federation trust bundle).
            allowed_algorithms: the configured JWS algorithm allowlist.
            leeway: clock skew tolerated on ``iat``, ``nbf`` and ``exp``.
            default_ttl: refresh interval for tokens without ``ttl``.
            max_lists: most lists held at once.
            max_total_bytes: most packed status bytes held at once.
            max_size: largest list accepted, in entries.
            max_token_bytes: largest token accepted.

        Raises:
            ValueError: a limit is not positive.
        """
        if max_lists < 1 or max_total_bytes < 1 or default_ttl <= timedelta(0):
            raise ValueError("cache limits and default_ttl must be positive")
        self._keys = keys
        self._allowed = frozenset(allowed_algorithms)
        self._leeway = leeway
        self._default_ttl = default_ttl
        self._max_lists = max_lists
        self._max_total_bytes = max_total_bytes
        self._max_size = max_size
        self._max_token_bytes = max_token_bytes
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._total_bytes = 0
        self._lock = threading.Lock()

    def put(
        self, uri: str, token: str | bytes, now: datetime, *, issuer: str | None = None
    ) -> VerifiedStatusList:
        """Verify ``token`` as the list at ``uri`` and store it.

        Args:
            uri: the URI the token was fetched from; the token's ``sub`` must equal it.
            token: the Status List Token (compact JWS).
            now: the time of the fetch.
            issuer: if given, the token's ``iss`` must equal it.

        Returns:
            The verified token now held for ``uri``.

        Raises:
            StatusRollbackError: the cache holds a token for ``uri`` with a later ``iat``.
            TooLargeError: the token or its list is larger than the configured limits, or the
                list alone exceeds ``max_total_bytes``.
            ProtocolError: any error of :func:`verify_status_list_token`.
        """
        verified = verify_status_list_token(
            token,
            keys=self._keys,
            uri=uri,
            allowed_algorithms=self._allowed,
            now=now,
            leeway=self._leeway,
            issuer=issuer,
            require_exp=True,
            max_size=self._max_size,
            max_token_bytes=self._max_token_bytes,
        )
        raw = token.encode("ascii") if isinstance(token, str) else bytes(token)  # ASCII: verified
        nbytes = len(verified.status_list.packed)
        if nbytes > self._max_total_bytes:
            raise TooLargeError("status list is larger than the whole cache")
        expires_at = verified.expires_at
        if expires_at is None:  # pragma: no cover - require_exp=True above
            raise MissingClaimError("status list token has no exp")
        entry = _Entry(
            verified=verified,
            token=raw,
            stored_at=now,
            refresh_at=_plus(now, verified.ttl or self._default_ttl, ceiling=expires_at),
            serve_until=_plus(expires_at, self._leeway),
        )
        with self._lock:
            held = self._entries.get(uri)
            if held is not None:
                if verified.issued_at < held.verified.issued_at:
                    raise StatusRollbackError(
                        f"status list for {uri!r} issued {verified.issued_at.isoformat()} is "
                        f"older than the one held ({held.verified.issued_at.isoformat()})"
                    )
                self._remove(uri)
            self._make_room(nbytes, now)
            self._entries[uri] = entry
            self._total_bytes += nbytes
        return verified

    def needs_refresh(self, uri: str, now: datetime) -> bool:
        """Whether the caller should fetch ``uri`` again: never stored, ``ttl`` passed, or
        expired."""
        with self._lock:
            entry = self._entries.get(uri)
        if entry is None:
            return True
        return now >= entry.refresh_at or now >= entry.serve_until

    def get(self, uri: str, now: datetime) -> VerifiedStatusList:
        """The verified token held for ``uri``, if it is still within its ``exp``.

        Raises:
            StatusUnavailableError: nothing stored for ``uri``, or the stored list expired.
        """
        with self._lock:
            entry = self._entries.get(uri)
            if entry is not None:
                self._entries.move_to_end(uri)
        if entry is None:
            raise StatusUnavailableError(f"no status list cached for {uri!r}")
        if now >= entry.serve_until:
            raise StatusUnavailableError(f"the cached status list for {uri!r} has expired")
        return entry.verified

    def status_list(self, uri: str, now: datetime) -> StatusList:
        """See :meth:`StatusListSource.status_list`.

        Raises:
            StatusUnavailableError: nothing stored for ``uri``, or the stored list expired.
        """
        return self.get(uri, now).status_list

    def token(self, uri: str) -> bytes | None:
        """The token bytes held for ``uri`` (to republish or persist), or None."""
        with self._lock:
            entry = self._entries.get(uri)
        return None if entry is None else entry.token

    def discard(self, uri: str) -> None:
        """Forget the list for ``uri`` (no error if absent)."""
        with self._lock:
            if uri in self._entries:
                self._remove(uri)

    def uris(self) -> tuple[str, ...]:
        """The URIs held, least recently used first."""
        with self._lock:
            return tuple(self._entries)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def total_bytes(self) -> int:
        """Packed status bytes currently held."""
        with self._lock:
            return self._total_bytes

    # Callers hold self._lock.
    def _remove(self, uri: str) -> None:
        entry = self._entries.pop(uri)
        self._total_bytes -= len(entry.verified.status_list.packed)

    def _make_room(self, nbytes: int, now: datetime) -> None:
        def full() -> bool:
            return (
                len(self._entries) >= self._max_lists
                or self._total_bytes + nbytes > self._max_total_bytes
            )

        if not full():
            return
        for uri in [u for u, e in self._entries.items() if now >= e.serve_until]:
            self._remove(uri)
        while self._entries and full():
            self._remove(next(iter(self._entries)))


__all__ = [
    "ALLOWED_BITS",
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_STATUS_LIST_SIZE",
    "DEFAULT_MAX_TOKEN_BYTES",
    "FORBIDDEN_HEADERS",
    "INVALID",
    "STATUS_LIST_TYP",
    "SUSPENDED",
    "VALID",
    "StaticStatusListSource",
    "StatusList",
    "StatusListCache",
    "StatusListSource",
    "VerifiedStatusList",
    "check_status",
    "decode_status_list",
    "sign_status_list_token",
    "verify_status_list_token",
]
