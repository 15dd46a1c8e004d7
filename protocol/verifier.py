"""Merchant side: verify a presented huxin attestation (SD-JWT+KB) offline.

What it does: one entry point, :func:`verify_presentation`, which applies RFC 9901 section 7
(issuer-signed JWT, Disclosures, Key Binding), RFC 8725 (explicit ``typ``, algorithm allowlist
from configuration, no header-supplied keys) and the Token Status List check, in the order
below, cheap structural checks before signatures and the size limit before any parsing:

1. size (``max_presentation_bytes``) and ASCII; a compact QR form (``HX1:``) is expanded to the
   presentation it packs (:mod:`protocol.qrform`, bounded by the same limit);
2. split at ``~`` (``max_disclosures``); the last segment must be a KB-JWT;
3. both JWS headers: ``typ`` exactly ``dc+sd-jwt`` / ``kb+jwt``; no ``jku``/``x5u``/``jwk``/
   ``x5c``; no ``crit``; ``alg`` in the policy allowlist;
4. decode both payloads and all signatures (strict base64url, duplicate-free JSON);
5. issuer key from the :class:`~protocol.keys.KeyResolver` by (``iss``, ``kid``); ``alg`` must be
   the key's algorithm; issuer signature;
6. ``iat``/``nbf``/``exp`` with leeway; required claims and types (``vct``, ``cnf.jwk``,
   ``status``, ``scale``); ``_sd_alg``;
7. Disclosures: each referenced exactly once, no digest twice, no override, no reserved name;
   disclosed claim types;
8. Key Binding JWT: signature by ``cnf.jwk`` (``alg`` allowed and matching the key type),
   ``sd_hash``, ``aud``, ``nonce`` (or one-way rules), fresh ``iat``;
9. status via the :class:`~protocol.status_list.StatusListSource` (``check_status``);
10. one-way mode only: the replay cache (last, so a presentation refused for another reason is
    not burnt).

What it deliberately does not do: fetch anything, read the clock, decide eligibility for an
incentive (``mapping.convert`` does), or catch errors it cannot name.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Final, TypeVar

from protocol.attestation import (
    ATTESTATION_TYP,
    BAND_CLAIM,
    LEVEL_CLAIM,
    MAX_LEVEL,
    MIN_AT_LEAST,
    MIN_LEVEL,
    VCT,
    StatusRef,
    at_least_claim,
)
from protocol.errors import (
    AlgorithmNotAllowedError,
    BadSignatureError,
    ExpiredError,
    ForbiddenHeaderError,
    InvalidTokenError,
    KeyBindingInvalidError,
    KeyBindingMissingError,
    MalformedError,
    MissingClaimError,
    NotYetValidError,
    ReplayedError,
    StaleError,
    StatusIndexError,
    TooLargeError,
    WrongAudienceError,
    WrongNonceError,
    WrongTypeError,
)
from protocol.jose import (
    DEFAULT_ALLOWED_ALGORITHMS,
    SUPPORTED_ALGORITHMS,
    PublicKey,
    b64u_decode,
    b64u_encode,
    parse_json_object,
    public_key_from_jwk,
    verify_signature_sha256,
)
from protocol.keys import KeyResolver
from protocol.presentation import KB_TYP
from protocol.qrform import COMPACT_PREFIX, expand_presentation
from protocol.replay import ReplayCache
from protocol.sdjwt import (
    SD_ALG,
    SD_ALG_KEY,
    JsonValue,
    decode_header,
    disclosed_claims,
    split_jws,
    split_presentation,
)
from protocol.status_list import StatusListSource, check_status

#: Headers that would let a token choose its own verification key (RFC 8725 section 3.10).
FORBIDDEN_HEADERS: Final = frozenset({"jku", "x5u", "jwk", "x5c"})
#: Shortest and longest one-way nonce accepted (the holder uses 128 bits -> 22 characters).
ONE_WAY_NONCE_MIN: Final = 16
ONE_WAY_NONCE_MAX: Final = 128
_AT_LEAST_NAMES: Final = tuple((k, at_least_claim(k)) for k in range(MIN_AT_LEAST, MAX_LEVEL + 1))


@dataclass(frozen=True)
class VerifierPolicy:
    """Verifier configuration; secure defaults.

    Attributes:
        allowed_algorithms: JWS algorithms accepted for both issuer and key-binding signatures.
        leeway: clock skew tolerated on every time comparison.
        max_presentation_bytes: inputs longer than this are refused before parsing.
        key_binding_max_age: how old a KB-JWT ``iat`` may be in nonce mode.
        one_way_max_age: how old a KB-JWT ``iat`` may be in one-way (gate QR) mode.
        max_disclosures: the most Disclosures a presentation may carry.
        accepted_vcts: credential types accepted.
    """

    allowed_algorithms: frozenset[str] = DEFAULT_ALLOWED_ALGORITHMS
    leeway: timedelta = timedelta(seconds=60)
    max_presentation_bytes: int = 8192
    key_binding_max_age: timedelta = timedelta(minutes=5)
    one_way_max_age: timedelta = timedelta(seconds=60)
    max_disclosures: int = 16
    accepted_vcts: frozenset[str] = frozenset({VCT})

    def __post_init__(self) -> None:
        """Refuse a configuration that could never be safe, at configuration time.

        Raises:
            ValueError: an algorithm this implementation cannot verify (``none``, ``HS256``,
                ...), an empty allowlist, a negative leeway or a non-positive limit.
        """
        unknown = self.allowed_algorithms - SUPPORTED_ALGORITHMS
        if unknown or not self.allowed_algorithms:
            raise ValueError(
                f"allowed_algorithms must be a non-empty subset of "
                f"{sorted(SUPPORTED_ALGORITHMS)}, not {sorted(self.allowed_algorithms)}"
            )
        if self.leeway < timedelta(0):
            raise ValueError("leeway must not be negative")
        if self.key_binding_max_age <= timedelta(0) or self.one_way_max_age <= timedelta(0):
            raise ValueError("freshness windows must be positive")
        if self.max_presentation_bytes < 1 or self.max_disclosures < 0:
            raise ValueError("size limits must be positive")


@dataclass(frozen=True)
class VerifiedPresentation:
    """A presentation that passed every check.

    Attributes:
        issuer: ``iss``.
        city: the federation member the issuer key belongs to (from the resolver).
        kid: the issuer key's RFC 7638 thumbprint.
        scale_id: the issuer's scale id.
        scale_version: that scale's version.
        vct: the credential type.
        issued_at: ``iat`` of the attestation.
        expires_at: ``exp`` of the attestation.
        status: the status list reference (already checked: valid).
        level: the disclosed level, or ``None``.
        level_at_least: every ``k`` for which "level at least k" was disclosed.
        band: the disclosed band ``(low, high)``, or ``None``.
        disclosed: exactly the disclosed claim names and their values.
    """

    issuer: str
    city: str
    kid: str
    scale_id: str
    scale_version: str
    vct: str
    issued_at: datetime
    expires_at: datetime
    status: StatusRef
    level: int | None
    level_at_least: frozenset[int]
    band: tuple[int, int] | None
    disclosed: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


# --------------------------------------------------------------------------------------------
# helpers


def _text(presentation: str | bytes, limit: int) -> str:
    if len(presentation) > limit:
        raise TooLargeError(f"presentation exceeds {limit} bytes")
    if not presentation.isascii():
        raise MalformedError("presentation is not ASCII")
    return presentation.decode("ascii") if isinstance(presentation, bytes) else presentation


@lru_cache(maxsize=256)
def _cached_header(segment: str, what: str, typ: str, allowed: frozenset[str]) -> tuple[str, str]:
    # Headers repeat across presentations (one per issuer key, one per holder algorithm): decode
    # and check each once. Only a header that passes every check is cached (an exception is
    # never cached), with what the verifier reads from it: alg and kid ("" when absent).
    header = decode_header(segment, what=what)
    alg = _check_header(header, typ, allowed)
    kid = header.get("kid")
    return alg, kid if isinstance(kid, str) else ""


def _header(segment: str, what: str, typ: str, allowed: frozenset[str]) -> tuple[str, str]:
    """Decode and check a protected header: its ``alg`` and ``kid`` (``""`` if none or odd).

    Raises:
        MalformedError: not a base64url JSON object.
        WrongTypeError, ForbiddenHeaderError, AlgorithmNotAllowedError: see _check_header.
    """
    if len(segment) > 512:  # an honest header is ~120 characters; do not cache junk
        header = decode_header(segment, what=what)
        alg = _check_header(header, typ, allowed)
        kid = header.get("kid")
        return alg, kid if isinstance(kid, str) else ""
    return _cached_header(segment, what, typ, allowed)


def _check_header(header: Mapping[str, object], typ: str, allowed: frozenset[str]) -> str:
    if header.get("typ") != typ:
        raise WrongTypeError(f"typ must be {typ!r}")
    bad = FORBIDDEN_HEADERS.intersection(header)
    if bad:
        raise ForbiddenHeaderError(f"header {sorted(bad)[0]!r} may not supply a key")
    if "crit" in header:
        raise ForbiddenHeaderError("no critical header extension is understood")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in allowed:
        raise AlgorithmNotAllowedError(f"algorithm {alg!r} is not allowed")
    return alg


_F = TypeVar("_F")


def _frozen(cls: type[_F], fields: dict[str, object]) -> _F:
    """``cls(**fields)`` for a frozen dataclass without ``__post_init__``, about 3x faster.

    A frozen dataclass's generated ``__init__`` sets each field through ``object.__setattr__``;
    on the verifier's hot path that was ~2 us for :class:`VerifiedPresentation`. ``fields``
    becomes the instance's ``__dict__`` as it is (the caller passes a fresh dict with every
    field); the instance is the same (equality, hash, repr) --
    ``tests/protocol/test_fast_paths.py`` checks both against the regular constructor.
    """
    obj = object.__new__(cls)
    object.__setattr__(obj, "__dict__", fields)
    return obj


def _numeric(obj: Mapping[str, object], name: str, err: type[InvalidTokenError]) -> int | float:
    value = obj.get(name)
    if value is None:
        raise err(f"claim {name!r} is required")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MalformedError(f"claim {name!r} must be a number")
    return value


def _string(obj: Mapping[str, object], name: str) -> str:
    value = obj.get(name)
    if value is None:
        raise MissingClaimError(f"claim {name!r} is required")
    if not isinstance(value, str) or not value:
        raise MalformedError(f"claim {name!r} must be a non-empty string")
    return value


def _object(obj: Mapping[str, object], name: str) -> dict[str, object]:
    value = obj.get(name)
    if value is None:
        raise MissingClaimError(f"claim {name!r} is required")
    if not isinstance(value, dict):
        raise MalformedError(f"claim {name!r} must be an object")
    return value


def _time(seconds: float) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError) as err:
        raise MalformedError("time claim out of range") from err


def holder_key(jwk: Mapping[str, object]) -> PublicKey:
    """Import a ``cnf.jwk``.

    Not memoised: every attestation carries its own holder key (a wallet uses a fresh key per
    presentation, privacy invariant 3), so a cache would never hit in production and would only
    make a benchmark that repeats one presentation look faster than real traffic.

    Raises:
        MalformedError: not a supported public JWK.
    """
    for value in jwk.values():
        if not isinstance(value, str):
            raise MalformedError("cnf.jwk members must be strings")
    return public_key_from_jwk(jwk)


def replay_key(kb_signing_input: bytes) -> str:
    """The one-way replay key: base64url ``sha-256`` of the KB-JWT signing input.

    The signing input covers ``iat``, ``aud``, the holder's random ``nonce`` and ``sd_hash``.
    It is not the signature, which ECDSA malleability would let a copier change.
    """
    return _replay_key(hashlib.sha256(kb_signing_input).digest())


def _replay_key(kb_signing_input_sha256: bytes) -> str:
    return "kb:" + b64u_encode(kb_signing_input_sha256)


def _credit_claims(
    claims: Mapping[str, JsonValue],
) -> tuple[int | None, frozenset[int], tuple[int, int] | None]:
    level: int | None = None
    raw = claims.get(LEVEL_CLAIM)
    if raw is not None:
        if type(raw) is not int or not MIN_LEVEL <= raw <= MAX_LEVEL:
            raise MalformedError("level must be an integer 1..5")
        level = raw
    at_least = set()
    # Only level and band disclosed (the usual request): no level_at_least_k to look for.
    if len(claims) > (LEVEL_CLAIM in claims) + (BAND_CLAIM in claims):
        for k, name in _AT_LEAST_NAMES:
            value = claims.get(name)
            if value is None:
                continue
            if value is not True:
                raise MalformedError(f"{name} must be true")
            at_least.add(k)
    band: tuple[int, int] | None = None
    raw_band = claims.get(BAND_CLAIM)
    if raw_band is not None:
        if (
            not isinstance(raw_band, list)
            or len(raw_band) != 2
            or type(raw_band[0]) is not int
            or type(raw_band[1]) is not int
            or raw_band[0] > raw_band[1]
        ):
            raise MalformedError("band must be [low, high] integers")
        band = (raw_band[0], raw_band[1])
    if level is not None and any(k > level for k in at_least):
        raise MalformedError("level_at_least contradicts level")
    return level, frozenset(at_least), band


def _status_ref(payload: Mapping[str, object]) -> StatusRef:
    status = _object(payload, "status")
    ref = status.get("status_list")
    if not isinstance(ref, dict):
        raise StatusIndexError("status.status_list must be an object")
    idx, uri = ref.get("idx"), ref.get("uri")
    if type(idx) is not int or idx < 0 or not isinstance(uri, str) or not uri:
        raise StatusIndexError("status.status_list needs a non-negative idx and a uri")
    return _frozen(StatusRef, {"uri": uri, "idx": idx})


# --------------------------------------------------------------------------------------------
# the entry point


def verify_presentation(
    presentation: str | bytes,
    *,
    keys: KeyResolver,
    audience: str,
    nonce: str | None,
    status: StatusListSource,
    now: datetime,
    policy: VerifierPolicy = VerifierPolicy(),
    replay: ReplayCache | None = None,
) -> VerifiedPresentation:
    """Verify a presentation (SD-JWT+KB) and return what it proves.

    Args:
        presentation: ``<issuer-jwt>~<disclosures>~<kb-jwt>`` as text or bytes.
        keys: the trusted issuer keys (the federation trust bundle).
        audience: this verifier's identifier; the KB-JWT ``aud`` must equal it.
        nonce: the nonce this verifier issued, or ``None`` for one-way (gate QR) mode.
        status: verified status lists by URI.
        now: verification time (tz-aware).
        policy: algorithm allowlist, leeway, sizes, freshness windows.
        replay: the replay cache; required in one-way mode.

    Raises:
        ValueError: naive ``now``, or one-way mode without a replay cache (caller mistakes).
        TooLargeError: input or Disclosure count above the policy limits.
        MalformedError: unparseable structure or a claim of the wrong type.
        WrongTypeError: a ``typ`` header or ``vct`` that is not the expected one.
        ForbiddenHeaderError: ``jku``/``x5u``/``jwk``/``x5c`` or ``crit`` in a header.
        AlgorithmNotAllowedError: ``alg`` outside the allowlist or not the key's algorithm.
        UntrustedIssuerError: ``iss`` is not a federation member.
        UnknownKeyError: the issuer has no key ``kid``.
        BadSignatureError: the issuer signature does not verify.
        NotYetValidError: ``iat``/``nbf`` (or the KB-JWT ``iat``) in the future beyond leeway.
        ExpiredError: ``exp`` passed beyond leeway.
        MissingClaimError: a required claim is absent.
        BadDisclosureError: a Disclosure fails RFC 9901 processing.
        KeyBindingMissingError: no KB-JWT.
        KeyBindingInvalidError: KB-JWT malformed, not signed by ``cnf.jwk``, or wrong ``sd_hash``.
        WrongAudienceError: KB-JWT ``aud`` is not ``audience``.
        WrongNonceError: KB-JWT ``nonce`` is not ``nonce``.
        StaleError: KB-JWT ``iat`` older than the freshness window.
        StatusIndexError: malformed status reference or index outside the list.
        StatusUnavailableError: no usable status list for the URI.
        RevokedError: the status is not VALID.
        ReplayedError: one-way presentation already seen.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    one_way = nonce is None
    if one_way and replay is None:
        raise ValueError("one-way mode needs a replay cache")
    allowed = policy.allowed_algorithms
    leeway = policy.leeway

    # 1-2. size before anything else, then the ~ structure.
    text = _text(presentation, policy.max_presentation_bytes)
    if text.startswith(COMPACT_PREFIX):  # the compact QR form: the same presentation, packed
        text = expand_presentation(text, max_bytes=policy.max_presentation_bytes)
    issuer_jwt, disclosures, kb_jwt = split_presentation(text, policy.max_disclosures)
    if not kb_jwt:
        raise KeyBindingMissingError("key binding is mandatory; the last segment is empty")

    # 3. headers: typ, key-supplying headers, crit, allowlist.
    ih, ip, isig = split_jws(issuer_jwt, what="attestation")
    try:
        kh, kp, ksig = split_jws(kb_jwt, what="key binding JWT")
    except MalformedError as err:
        raise KeyBindingInvalidError(err.message) from err
    ialg, kid = _header(ih, "attestation", ATTESTATION_TYP, allowed)
    try:
        kalg, _ = _header(kh, "key binding JWT", KB_TYP, allowed)
    except MalformedError as err:  # decoding only: the header checks raise other errors
        raise KeyBindingInvalidError(err.message) from err
    if not kid:
        raise MalformedError("attestation header needs a kid")

    # 4. payloads and signatures.
    payload = parse_json_object(b64u_decode(ip, what="attestation payload"), what="payload")
    isig_raw = b64u_decode(isig, what="attestation signature")
    try:
        kb = parse_json_object(b64u_decode(kp, what="KB-JWT payload"), what="KB-JWT payload")
        ksig_raw = b64u_decode(ksig, what="KB-JWT signature")
    except MalformedError as err:
        raise KeyBindingInvalidError(err.message) from err

    # 5. issuer key and signature.
    issuer = _string(payload, "iss")
    trusted = keys.resolve(issuer, kid, now)
    if trusted.alg != ialg:
        raise AlgorithmNotAllowedError(f"key {kid} signs with {trusted.alg}, not {ialg}")
    # <header>.<payload> is the issuer JWT up to its last '.': no re-joining. It is also the
    # start of what sd_hash covers, so the hash state goes on to compute sd_hash in step 8.
    i_input = issuer_jwt[: len(ih) + 1 + len(ip)].encode("ascii")
    hashed = hashlib.sha256(i_input)
    verify_signature_sha256(ialg, trusted.public_key, i_input, hashed.digest(), isig_raw, allowed)

    # 6. time, required claims, _sd_alg.
    limit_future = now + leeway
    iat = _time(_numeric(payload, "iat", MissingClaimError))
    exp = _time(_numeric(payload, "exp", MissingClaimError))
    if iat > limit_future:
        raise NotYetValidError("attestation iat is in the future")
    if "nbf" in payload and _time(_numeric(payload, "nbf", MissingClaimError)) > limit_future:
        raise NotYetValidError("attestation is not yet valid (nbf)")
    if exp <= now - leeway:  # not exp + leeway: exp may be 9999-12-31, the last datetime
        raise ExpiredError("attestation has expired")
    vct = _string(payload, "vct")
    if vct not in policy.accepted_vcts:
        raise WrongTypeError(f"vct {vct!r} is not accepted")
    jwk = _object(_object(payload, "cnf"), "jwk")
    ref = _status_ref(payload)
    scale = _object(payload, "scale")
    scale_id, scale_version = scale.get("id"), scale.get("version")
    if type(scale_id) is not str or type(scale_version) is not str:
        raise MalformedError("scale needs string id and version")
    if payload.get(SD_ALG_KEY, SD_ALG) != SD_ALG:
        raise MalformedError(f"unsupported _sd_alg {payload.get(SD_ALG_KEY)!r}")

    # 7. Disclosures (RFC 9901 section 7.1 step 3).
    disclosed = disclosed_claims(payload, disclosures)
    level, at_least, band = _credit_claims(disclosed)

    # 8. key binding (RFC 9901 section 7.3).
    try:
        cnf_key = holder_key(jwk)
    except MalformedError as err:
        raise MalformedError(f"cnf.jwk: {err.message}") from err
    k_input = kb_jwt[: len(kh) + 1 + len(kp)].encode("ascii")
    k_digest = hashlib.sha256(k_input).digest()
    try:
        verify_signature_sha256(kalg, cnf_key, k_input, k_digest, ksig_raw, allowed)
    except BadSignatureError as err:
        raise KeyBindingInvalidError("KB-JWT is not signed by cnf.jwk") from err
    # Everything before the KB-JWT, including the last '~' (RFC 9901 section 4.3.1): the
    # issuer's signing input, already hashed, then the rest up to the KB-JWT.
    hashed.update(text[len(i_input) : len(text) - len(kb_jwt)].encode("ascii"))
    if kb.get("sd_hash") != b64u_encode(hashed.digest()):
        raise KeyBindingInvalidError("KB-JWT sd_hash does not match the presented SD-JWT")
    aud = kb.get("aud")
    # The holder signs the KB-JWT, so aud and nonce may hold lone surrogates ("\ud800" in JSON):
    # encode with surrogatepass, which cannot fail and never equals a well-formed string.
    if not isinstance(aud, str) or not hmac.compare_digest(
        aud.encode("utf-8", "surrogatepass"), audience.encode()
    ):
        raise WrongAudienceError("KB-JWT aud is not this verifier")
    kb_nonce = kb.get("nonce")
    if not isinstance(kb_nonce, str):
        raise KeyBindingInvalidError("KB-JWT nonce is required")
    if nonce is not None:
        if not hmac.compare_digest(kb_nonce.encode("utf-8", "surrogatepass"), nonce.encode()):
            raise WrongNonceError("KB-JWT nonce is not the one issued")
        max_age = policy.key_binding_max_age
    else:
        if not ONE_WAY_NONCE_MIN <= len(kb_nonce) <= ONE_WAY_NONCE_MAX:
            raise KeyBindingInvalidError("one-way KB-JWT needs a random nonce of 16..128 chars")
        max_age = policy.one_way_max_age
    try:
        kb_iat = _time(_numeric(kb, "iat", KeyBindingInvalidError))
    except MalformedError as err:
        raise KeyBindingInvalidError(f"KB-JWT: {err.message}") from err
    if kb_iat > limit_future:
        raise NotYetValidError("KB-JWT iat is in the future")
    if kb_iat + max_age + leeway < now:
        raise StaleError("KB-JWT is older than the freshness window")

    # 9. status (draft-ietf-oauth-status-list section 8.3).
    check_status(status, ref.uri, ref.idx, now)

    # 10. one-way replay.
    if (
        replay is not None
        and nonce is None
        and replay.seen(_replay_key(k_digest), kb_iat + max_age + leeway, now)
    ):
        raise ReplayedError("this one-way presentation was already accepted")

    return _frozen(
        VerifiedPresentation,
        {
            "issuer": issuer,
            "city": trusted.city,
            "kid": kid,
            "scale_id": scale_id,
            "scale_version": scale_version,
            "vct": vct,
            "issued_at": iat,
            "expires_at": exp,
            "status": ref,
            "level": level,
            "level_at_least": at_least,
            "band": band,
            "disclosed": MappingProxyType(disclosed),  # a fresh dict nobody else holds
        },
    )
