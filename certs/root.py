"""The federation root: who the members are, and the TUF rules for trusting a new version.

What it does: defines the root document (:class:`Root`, :class:`Member`, :class:`GovernanceKey`),
parses it strictly (unknown fields, duplicate members, issuers, CA keys or governance keys,
thresholds out of range and oversized documents are refused), and verifies signed roots the way
a TUF client updates its root (TUF specification, "5.3 Update the root role"; python-tuf
``TrustedMetadataSet.update_root``):

* the first root is **pinned** by the operator (compared out of band) and must carry a threshold
  of its own members' signatures;
* version N+1 must be signed by a threshold of version N's members **and** a threshold of its own
  (5.3.4, 5.3.5); each key counts once by RFC 7638 thumbprint however many signatures it made,
  and each member city counts once however many of its keys signed, so no city can reach a
  quorum alone;
* its version must be exactly N+1 (5.3.5): lower or equal is a ``rollback``, higher a
  ``version_skipped``;
* it must name the same federation (``wrong_federation``), and every member's CA certificate must
  name this federation and that member's city;
* only the **newest** root's expiry is checked (5.3.10, freeze attack): within
  :attr:`RootPolicy.grace` after ``expires`` the result carries a warning; after it, ``frozen``.

Thresholds are reported both ways, as python-tuf does: :func:`get_verification_result` returns a
:class:`RootVerificationResult` (``threshold``, ``signed``, ``unsigned``, ``missing`` per side),
and :func:`verify_root_update` / :func:`verify_initial_root` / :func:`verify_root_chain` raise.

Payload (``_type: "huxin-root"``), signed as JWS JSON General Serialization with protected
header ``{"alg", "kid", "typ": "huxin-root+json"}``::

    {"_type": "huxin-root", "federation": "huxin-demo", "version": 1,
     "expires": "2027-11-25T00:00:00Z", "threshold": 3,
     "members": [{"city": "zhengzhou", "name_zh": "郑州", "name_en": "Zhengzhou",
                  "issuer": "https://zhengzhou.example", "node_url": "https://zhengzhou.example",
                  "scale_id": "shangding", "ca_certificate": "-----BEGIN CERTIFICATE-----...",
                  "governance_keys": [{"kty": "EC", "crv": "P-256", "x": "...", "y": "...",
                                       "kid": "<RFC 7638 thumbprint>", "alg": "ES256"}]}, ...]}

What it deliberately does not do: read files or the clock, fetch newer roots, write anything, or
sign (proposals and signing are :mod:`certs.update`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography import x509

from certs.chain import check_ca_certificate
from certs.errors import (
    BadFileError,
    DuplicateKeyError,
    FrozenError,
    InvalidRootError,
    RollbackError,
    RootMismatchError,
    ThresholdNotMetError,
    TooLargeError,
    UnknownMemberError,
    VersionSkippedError,
    WrongFederationError,
)
from certs.keys import certificate_pem, certificate_public_key, load_certificate, parse_key_jwk
from certs.multisig import (
    GeneralJws,
    SignatureCount,
    combine,
    count_signatures,
    json_bytes_pretty,
    parse,
)
from protocol.errors import MalformedError
from protocol.jose import SUPPORTED_ALGORITHMS, PublicKey, key_thumbprint, parse_json_object

ROOT_TYPE: Final = "huxin-root"
#: ``typ`` of every protected header of a root signature (RFC 8725 section 3.11).
ROOT_JWS_TYP: Final = "huxin-root+json"

_ID_RE: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_TIME_RE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_ROOT_FIELDS: Final = frozenset(
    {"_type", "federation", "version", "expires", "threshold", "members"}
)
_MEMBER_FIELDS: Final = frozenset(
    {
        "city",
        "name_zh",
        "name_en",
        "issuer",
        "node_url",
        "scale_id",
        "ca_certificate",
        "governance_keys",
    }
)


@dataclass(frozen=True)
class RootPolicy:
    """Limits and the expiry grace period for root verification (configuration, not input).

    Attributes:
        grace: how long after ``expires`` the newest root is still accepted, with a warning.
        max_bytes: largest signed root document accepted.
        max_members: most members a root may list.
        max_keys_per_member: most governance keys one member may list.
        max_signatures: most signatures one document may carry.
        max_chain_length: most root versions verified in one chain.
        allowed_algorithms: JWS algorithms governance keys may sign with.
    """

    grace: timedelta = timedelta(days=7)
    max_bytes: int = 1024 * 1024
    max_members: int = 64
    max_keys_per_member: int = 4
    max_signatures: int = 256
    max_chain_length: int = 1000
    allowed_algorithms: frozenset[str] = SUPPORTED_ALGORITHMS


#: The policy used when none is given.
DEFAULT_ROOT_POLICY: Final = RootPolicy()


@dataclass(frozen=True)
class GovernanceKey:
    """A member's key for signing roots. ``kid`` is its RFC 7638 thumbprint."""

    kid: str
    alg: str
    jwk: Mapping[str, str] = field(compare=False)
    public_key: PublicKey = field(repr=False, compare=False)


@dataclass(frozen=True)
class Member:
    """One federation member city as listed in the root.

    Attributes:
        city: city id (``zhengzhou``).
        name_zh: Chinese name.
        name_en: English name.
        issuer: the ``iss`` its attestations carry.
        node_url: base URL of its node.
        scale_id: id of the scale it attests on.
        ca_certificate_pem: its city CA certificate (PEM).
        governance_keys: its keys for signing roots.
        ca_certificate: the parsed CA certificate.
    """

    city: str
    name_zh: str
    name_en: str
    issuer: str
    node_url: str
    scale_id: str
    ca_certificate_pem: str
    governance_keys: tuple[GovernanceKey, ...]
    ca_certificate: x509.Certificate = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, object]:
        """The member's JSON object in the root payload."""
        return {
            "city": self.city,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "issuer": self.issuer,
            "node_url": self.node_url,
            "scale_id": self.scale_id,
            "ca_certificate": self.ca_certificate_pem,
            "governance_keys": [dict(k.jwk) for k in self.governance_keys],
        }


@dataclass(frozen=True)
class Root:
    """A parsed (not necessarily trusted) root payload."""

    federation: str
    version: int
    expires: datetime
    threshold: int
    members: tuple[Member, ...]

    def member(self, city: str) -> Member:
        """The member with city id ``city``.

        Raises:
            UnknownMemberError: no such member.
        """
        for member in self.members:
            if member.city == city:
                return member
        raise UnknownMemberError(f"{city!r} is not a member of {self.federation!r} v{self.version}")

    def governance_keys(self) -> dict[str, tuple[str, PublicKey]]:
        """``{kid: (city, public key)}`` for every governance key."""
        return {k.kid: (m.city, k.public_key) for m in self.members for k in m.governance_keys}

    def to_dict(self) -> dict[str, object]:
        """The JSON payload object."""
        return {
            "_type": ROOT_TYPE,
            "federation": self.federation,
            "version": self.version,
            "expires": format_time(self.expires),
            "threshold": self.threshold,
            "members": [m.to_dict() for m in self.members],
        }

    def payload(self) -> bytes:
        """The payload bytes members sign: indented JSON, readable before signing."""
        return json_bytes_pretty(self.to_dict())


@dataclass(frozen=True)
class SignedRoot:
    """A root with its signatures, parsed but not yet trusted."""

    root: Root
    jws: GeneralJws

    def to_bytes(self) -> bytes:
        """The signed root file."""
        return self.jws.to_bytes()


@dataclass(frozen=True)
class RootVerificationResult:
    """Both threshold checks of a root update (TUF 5.3.4 and 5.3.5).

    Attributes:
        version: the new root's version.
        trusted: signatures counted against the trusted (previous) root's members; for a pinned
            first root, the same as ``own``.
        own: signatures counted against the new root's own members.
    """

    version: int
    trusted: SignatureCount
    own: SignatureCount

    @property
    def verified(self) -> bool:
        """Whether both thresholds are met."""
        return self.trusted.verified and self.own.verified

    @property
    def signed(self) -> frozenset[str]:
        """Thumbprints of keys (of either root) with a valid signature."""
        return self.trusted.signed | self.own.signed

    @property
    def unsigned(self) -> frozenset[str]:
        """Thumbprints of keys (of either root) without a valid signature."""
        return (self.trusted.unsigned | self.own.unsigned) - self.signed

    @property
    def missing(self) -> frozenset[str]:
        """Member cities (of either root) that have not signed."""
        return self.trusted.missing | self.own.missing


@dataclass(frozen=True)
class VerifiedRootChain:
    """The outcome of verifying a chain of roots from a pinned one.

    Attributes:
        root: the newest trusted root.
        roots: every verified version, oldest first, starting at the pinned one.
        warnings: human-readable warnings (the newest root is inside its grace period).
    """

    root: Root
    roots: tuple[SignedRoot, ...]
    warnings: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Parsing


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with second precision, ``Z`` suffix."""
    if moment.tzinfo is None:
        raise ValueError("datetime must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object, *, what: str) -> datetime:
    """Parse ``YYYY-MM-DDTHH:MM:SSZ``.

    Raises:
        InvalidRootError: any other form.
    """
    if not isinstance(value, str) or not _TIME_RE.match(value):
        raise InvalidRootError(f"{what} must be a UTC time like 2027-01-31T00:00:00Z")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as err:
        raise InvalidRootError(f"{what} {value!r} is not a real date") from err


def _text(obj: Mapping[str, object], name: str, *, what: str, max_len: int = 2048) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidRootError(f"{what}: {name!r} must be a non-empty string")
    return value


def _int(obj: Mapping[str, object], name: str, *, what: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRootError(f"{what}: {name!r} must be an integer")
    return value


def _ident(value: str, *, what: str) -> str:
    if not _ID_RE.match(value):
        raise InvalidRootError(f"{what} {value!r} must be lowercase letters, digits and '-'")
    return value


def _url(value: str, *, what: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise InvalidRootError(f"{what} {value!r} must be an http(s) URL")
    return value


def _parse_member(obj: object, *, federation: str, index: int, policy: RootPolicy) -> Member:
    what = f"member {index + 1}"
    if not isinstance(obj, dict):
        raise InvalidRootError(f"{what} is not an object")
    extra = set(obj) - _MEMBER_FIELDS
    if extra:
        raise InvalidRootError(f"{what} has unknown fields {sorted(extra)}")
    city = _ident(_text(obj, "city", what=what), what=f"{what} city")
    what = f"member {city!r}"
    pem = _text(obj, "ca_certificate", what=what, max_len=16384)
    ca = load_certificate(pem, what=f"the CA certificate of {city!r}")
    check_ca_certificate(ca, federation=federation, city=city)
    keys_obj = obj.get("governance_keys")
    if not isinstance(keys_obj, list) or not keys_obj:
        raise InvalidRootError(f"{what} needs a non-empty list 'governance_keys'")
    if len(keys_obj) > policy.max_keys_per_member:
        raise TooLargeError(
            f"{what} lists {len(keys_obj)} governance keys; the limit is "
            f"{policy.max_keys_per_member}"
        )
    keys: list[GovernanceKey] = []
    for i, key_obj in enumerate(keys_obj):
        try:
            jwk, key = parse_key_jwk(key_obj, what=f"governance key {i + 1} of {city!r}")
        except BadFileError as err:
            raise InvalidRootError(err.message) from err
        if any(k.kid == jwk["kid"] for k in keys):
            raise DuplicateKeyError(f"{what} lists governance key {jwk['kid']} twice")
        keys.append(GovernanceKey(kid=jwk["kid"], alg=jwk["alg"], jwk=jwk, public_key=key))
    return Member(
        city=city,
        name_zh=_text(obj, "name_zh", what=what, max_len=200),
        name_en=_text(obj, "name_en", what=what, max_len=200),
        issuer=_text(obj, "issuer", what=what),
        node_url=_url(_text(obj, "node_url", what=what), what=f"{what} node_url"),
        scale_id=_ident(_text(obj, "scale_id", what=what), what=f"{what} scale_id"),
        ca_certificate_pem=certificate_pem(ca),
        governance_keys=tuple(keys),
        ca_certificate=ca,
    )


def check_members(members: Sequence[Member]) -> None:
    """Refuse members that repeat a city, an issuer, a CA key or a governance key.

    Raises:
        InvalidRootError: a city id or issuer appears twice.
        DuplicateKeyError: a governance key or CA key appears under two members.
    """
    cities: set[str] = set()
    issuers: set[str] = set()
    ca_keys: dict[str, str] = {}
    gov_keys: dict[str, str] = {}
    for m in members:
        if m.city in cities:
            raise InvalidRootError(f"member {m.city!r} is listed twice")
        cities.add(m.city)
        if m.issuer in issuers:
            raise InvalidRootError(f"issuer {m.issuer!r} is claimed by two members")
        issuers.add(m.issuer)
        ca_kid = key_thumbprint(certificate_public_key(m.ca_certificate))
        if ca_kid in ca_keys:
            raise DuplicateKeyError(f"{m.city!r} and {ca_keys[ca_kid]!r} share one CA key")
        ca_keys[ca_kid] = m.city
        for k in m.governance_keys:
            if k.kid in gov_keys:
                raise DuplicateKeyError(
                    f"governance key {k.kid} is listed by {gov_keys[k.kid]!r} and {m.city!r}"
                )
            gov_keys[k.kid] = m.city


def parse_root_payload(payload: bytes, *, policy: RootPolicy = DEFAULT_ROOT_POLICY) -> Root:
    """Parse and check a root payload (signatures are not this function's business).

    Raises:
        TooLargeError: more bytes, members or keys than ``policy`` allows.
        BadFileError: not a JSON object (truncated file?), or a member's CA certificate is not
            a PEM certificate.
        InvalidRootError: wrong ``_type``, unknown or missing fields, a threshold outside
            ``1..len(members)``, a version below 1, a repeated city or issuer.
        DuplicateKeyError: a governance key or CA key appears twice.
        WrongFederationError: a member's CA certificate names another federation.
        CertsError: a member's CA certificate fails :func:`certs.chain.check_ca_certificate`.
    """
    if len(payload) > policy.max_bytes:
        raise TooLargeError(f"root is {len(payload)} bytes; the limit is {policy.max_bytes}")
    try:
        obj = parse_json_object(payload, what="root")
    except MalformedError as err:
        raise BadFileError(f"{err.message} (truncated or not a root file?)") from err
    if obj.get("_type") != ROOT_TYPE:
        raise InvalidRootError(f"not a huxin root: _type is {obj.get('_type')!r}")
    extra = set(obj) - _ROOT_FIELDS
    if extra:
        raise InvalidRootError(f"root has unknown fields {sorted(extra)}")
    federation = _ident(_text(obj, "federation", what="root"), what="federation id")
    version = _int(obj, "version", what="root")
    if version < 1:
        raise InvalidRootError("root version must be 1 or more")
    expires = parse_time(obj.get("expires"), what="root 'expires'")
    members_obj = obj.get("members")
    if not isinstance(members_obj, list) or not members_obj:
        raise InvalidRootError("root needs a non-empty list 'members'")
    if len(members_obj) > policy.max_members:
        raise TooLargeError(
            f"root lists {len(members_obj)} members; the limit is {policy.max_members}"
        )
    members = tuple(
        _parse_member(m, federation=federation, index=i, policy=policy)
        for i, m in enumerate(members_obj)
    )
    check_members(members)
    threshold = _int(obj, "threshold", what="root")
    if not 1 <= threshold <= len(members):
        raise InvalidRootError(
            f"threshold {threshold} must be between 1 and the number of members ({len(members)})"
        )
    return Root(
        federation=federation,
        version=version,
        expires=expires,
        threshold=threshold,
        members=members,
    )


def parse_signed_root(
    data: bytes, *, policy: RootPolicy = DEFAULT_ROOT_POLICY, what: str = "signed root"
) -> SignedRoot:
    """Parse a signed root file (JWS general JSON) and its payload; verify nothing.

    Raises:
        TooLargeError: over the policy's limits.
        BadFileError: not a general-JSON JWS with ``typ`` ``huxin-root+json``.
        InvalidRootError: see :func:`parse_root_payload`.
    """
    jws = parse(
        data,
        typ=ROOT_JWS_TYP,
        max_bytes=policy.max_bytes,
        max_signatures=policy.max_signatures,
        what=what,
    )
    return SignedRoot(root=parse_root_payload(jws.payload, policy=policy), jws=jws)


# --------------------------------------------------------------------------------------------
# Verification (TUF 5.3)


def get_verification_result(
    trusted: Root | None,
    new: SignedRoot,
    *,
    policy: RootPolicy = DEFAULT_ROOT_POLICY,
) -> RootVerificationResult:
    """Count ``new``'s signatures against ``trusted``'s members and against its own.

    ``trusted`` is ``None`` for a pinned first root, which needs only its own threshold.
    """
    own = count_signatures(
        new.jws,
        new.root.governance_keys(),
        threshold=new.root.threshold,
        allowed_algorithms=policy.allowed_algorithms,
    )
    if trusted is None:
        return RootVerificationResult(version=new.root.version, trusted=own, own=own)
    previous = count_signatures(
        new.jws,
        trusted.governance_keys(),
        threshold=trusted.threshold,
        allowed_algorithms=policy.allowed_algorithms,
    )
    return RootVerificationResult(version=new.root.version, trusted=previous, own=own)


def _threshold_error(count: SignatureCount, *, whose: str) -> ThresholdNotMetError:
    signers = ", ".join(sorted(count.signers)) or "nobody"
    missing = ", ".join(sorted(count.missing)) or "-"
    invalid = (
        f"; {len(count.invalid)} signature(s) by member keys do not verify (an altered or "
        "forged document?)"
        if count.invalid
        else ""
    )
    return ThresholdNotMetError(
        f"{whose}: {len(count.signers)} of the required {count.threshold} member cities "
        f"signed ({signers}); not signed by: {missing}{invalid}"
    )


def verify_initial_root(
    data: bytes, *, policy: RootPolicy = DEFAULT_ROOT_POLICY, what: str = "pinned root"
) -> SignedRoot:
    """Verify a pinned root: well formed and signed by a threshold of its own members.

    The operator pins this root out of band (by its file hash); that is what makes it trusted.

    Raises:
        ThresholdNotMetError: fewer than ``threshold`` of its members signed.
        TooLargeError: over the policy's limits.
        BadFileError: not a signed root file.
        InvalidRootError: see :func:`parse_root_payload`.
    """
    signed = parse_signed_root(data, policy=policy, what=what)
    result = get_verification_result(None, signed, policy=policy)
    if not result.own.verified:
        raise _threshold_error(result.own, whose=f"root v{signed.root.version}")
    return signed


def verify_root_update(
    trusted: Root, data: bytes, *, policy: RootPolicy = DEFAULT_ROOT_POLICY
) -> SignedRoot:
    """Verify version N+1 against trusted version N (TUF 5.3.4-5.3.5).

    Expiry is not checked here: intermediate roots of a chain may have expired; only the newest
    is checked, by :func:`check_expiry`.

    Raises:
        WrongFederationError: the new root names another federation.
        RollbackError: its version is not above the trusted version.
        VersionSkippedError: its version is more than one above.
        ThresholdNotMetError: too few of version N's, or of its own, member cities signed.
        TooLargeError: over the policy's limits.
        BadFileError: not a signed root file.
        InvalidRootError: see :func:`parse_root_payload`.
    """
    return _check_update(trusted, parse_signed_root(data, policy=policy), policy=policy)


def _check_update(trusted: Root, signed: SignedRoot, *, policy: RootPolicy) -> SignedRoot:
    new = signed.root
    if new.federation != trusted.federation:
        raise WrongFederationError(
            f"root v{new.version} is for federation {new.federation!r}, not {trusted.federation!r}"
        )
    if new.version <= trusted.version:
        raise RollbackError(f"root v{new.version} is not newer than the trusted v{trusted.version}")
    if new.version != trusted.version + 1:
        raise VersionSkippedError(
            f"root v{new.version} follows the trusted v{trusted.version}; "
            f"v{trusted.version + 1} must be verified first"
        )
    result = get_verification_result(trusted, signed, policy=policy)
    if not result.trusted.verified:
        raise _threshold_error(
            result.trusted, whose=f"root v{new.version} by the members of v{trusted.version}"
        )
    if not result.own.verified:
        raise _threshold_error(result.own, whose=f"root v{new.version} by its own members")
    return signed


def check_expiry(
    root: Root, now: datetime, *, policy: RootPolicy = DEFAULT_ROOT_POLICY
) -> tuple[str, ...]:
    """Check the newest root's expiry (TUF 5.3.10) with a grace period.

    Returns:
        Warnings: empty when ``now`` is before ``expires``; one warning inside the grace period.

    Raises:
        FrozenError: ``now`` is past ``expires + grace``.
    """
    if now <= root.expires:
        return ()
    if now > root.expires + policy.grace:
        raise FrozenError(
            f"root v{root.version} of {root.federation!r} expired at {format_time(root.expires)}"
            f" and the grace period of {_days(policy.grace)} is over; the members must sign a new"
            " version"
        )
    return (
        f"root v{root.version} of {root.federation!r} expired at {format_time(root.expires)}; "
        f"accepted during the grace period until {format_time(root.expires + policy.grace)}",
    )


def _days(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:g} day" + ("" if days == 1 else "s")


def verify_root_chain(
    pinned: bytes,
    chain: Sequence[bytes],
    *,
    now: datetime,
    policy: RootPolicy = DEFAULT_ROOT_POLICY,
) -> VerifiedRootChain:
    """Verify ``chain`` (signed roots, any order) forward from the pinned root to the newest.

    Versions at or below the pinned one are skipped, except that the chain's copy of the pinned
    version must carry the same payload. Every later version must be present exactly once.

    Raises:
        RootMismatchError: the chain holds a different document at the pinned version.
        RollbackError: the chain ends below the pinned version.
        VersionSkippedError: a version between the pinned and the newest is missing.
        FrozenError: the newest root expired beyond the grace period.
        TooLargeError: more roots than the policy allows, or a root over its limits.
        CertsError: any error of :func:`verify_initial_root` or :func:`verify_root_update`.
    """
    if len(chain) > policy.max_chain_length:
        raise TooLargeError(f"{len(chain)} root versions; the limit is {policy.max_chain_length}")
    first = verify_initial_root(pinned, policy=policy)
    trusted = first.root
    parsed: dict[int, SignedRoot] = {}
    for index, data in enumerate(chain):
        candidate = parse_signed_root(data, policy=policy, what=f"root file {index + 1}")
        version = candidate.root.version
        seen = parsed.get(version)
        if seen is not None:
            if seen.jws.payload != candidate.jws.payload:
                raise RootMismatchError(
                    f"the chain holds two different roots with version {version}"
                )
            # Two copies of one version: their signatures together.
            candidate = SignedRoot(root=seen.root, jws=combine([seen.jws, candidate.jws]))
        parsed[version] = candidate
    at_pin = parsed.get(trusted.version)
    if at_pin is not None and at_pin.jws.payload != first.jws.payload:
        raise RootMismatchError(
            f"the chain's root v{trusted.version} differs from the pinned root (a fork)"
        )
    newest = max(parsed, default=trusted.version)
    if newest < trusted.version:
        raise RollbackError(
            f"the newest root offered is v{newest}, older than the pinned v{trusted.version}"
        )
    roots = [first]
    for version in range(trusted.version + 1, newest + 1):
        step = parsed.get(version)
        if step is None:
            raise VersionSkippedError(f"root v{version} is missing from the chain")
        verified = _check_update(trusted, step, policy=policy)
        roots.append(verified)
        trusted = verified.root
    warnings = check_expiry(trusted, now, policy=policy)
    return VerifiedRootChain(root=trusted, roots=tuple(roots), warnings=warnings)
