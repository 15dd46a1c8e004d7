"""The merchant trust bundle: one file a verifier needs, verifiable offline from a pinned root.

What it does:

* Each city's node signs its **member material** (:func:`sign_material`): its attestation keys
  as JWKs, each with the node certificate that certifies it, its scale definition, its incentive
  catalogue (an opaque JSON object for now) and its status list URIs. The material is a JWS in
  general JSON form (``typ: huxin-material+json``) signed by one of those attestation keys.
* :func:`build_bundle` puts the chain of signed root versions and every member's material in one
  JSON document (``_type: "huxin-trust-bundle"``) and verifies the result before returning it.
* :meth:`TrustBundle.load` verifies a bundle from a pinned root: the root chain by TUF's rules
  (:func:`certs.root.verify_root_chain`), then each member's material: the city is a member of
  the newest root, every key's certificate chains to **that city's** CA in the root and suits
  attestation signing, every JWK is the certified key, the material's signature is by one of
  its keys whose certificate was valid when it signed, the scale parses
  (:func:`mapping.scale.parse_scale`) and is the member's, and the incentive catalogue, unless
  empty, parses (:func:`protocol.incentive.parse_catalogue`) on that scale and is the city's.
* :class:`TrustBundle` is a :class:`protocol.keys.KeyResolver`: ``resolve(iss, kid, now)`` trusts
  a key only if ``iss`` is a member's issuer, the key is in that member's material and its
  certificate (and the city CA) are valid at ``now``, and the root is not frozen at ``now``.

What it deliberately does not do: fetch material or status lists, read files or the clock, or
decide incentive eligibility (``protocol.incentive``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final

from cryptography import x509

from certs.ca import Purpose
from certs.chain import check_validity, verify_node_certificate
from certs.errors import (
    BadFileError,
    BadSignatureError,
    CertsError,
    InvalidBundleError,
    KeyMismatchError,
    NotYetValidError,
    TooLargeError,
    UnknownMemberError,
    WrongFederationError,
)
from certs.keys import certificate_pem, key_jwk, load_certificate, parse_key_jwk
from certs.multisig import GeneralJws, json_bytes_pretty, parse, sign
from certs.root import (
    DEFAULT_ROOT_POLICY,
    Member,
    Root,
    RootPolicy,
    SignedRoot,
    check_expiry,
    format_time,
    parse_time,
    verify_root_chain,
)
from mapping.errors import MappingError
from mapping.scale import Scale, parse_scale
from protocol.errors import (
    AlgorithmNotAllowedError,
    MalformedError,
    ProtocolError,
    UnknownKeyError,
    UntrustedIssuerError,
)
from protocol.errors import BadSignatureError as JoseBadSignatureError
from protocol.incentive import parse_catalogue
from protocol.jose import (
    SUPPORTED_ALGORITHMS,
    PublicKey,
    Signer,
    json_bytes,
    parse_json_object,
    verify_signature,
)
from protocol.keys import TrustedKey

BUNDLE_TYPE: Final = "huxin-trust-bundle"
MATERIAL_TYPE: Final = "huxin-member-material"
#: ``typ`` of the protected header of a member material signature.
MATERIAL_JWS_TYP: Final = "huxin-material+json"

_BUNDLE_FIELDS: Final = frozenset({"_type", "federation", "roots", "materials"})
_MATERIAL_FIELDS: Final = frozenset(
    {
        "_type",
        "federation",
        "city",
        "issued_at",
        "attestation_keys",
        "scale",
        "incentives",
        "status_lists",
    }
)
_KEY_FIELDS: Final = frozenset({"jwk", "certificate"})
_URI_RE: Final = re.compile(r"^https?://[^\s]+$")


@dataclass(frozen=True)
class BundlePolicy:
    """Limits for loading a bundle (configuration, not input).

    Attributes:
        root: the root verification policy (grace period, limits).
        max_bytes: largest bundle accepted.
        max_material_bytes: largest member material document accepted.
        max_keys_per_member: most attestation keys one member may publish.
        max_status_lists: most status list URIs one member may publish.
        leeway: how far in the future a material's ``issued_at`` may lie (clock skew).
        allowed_algorithms: algorithms attestation keys may have.
    """

    root: RootPolicy = DEFAULT_ROOT_POLICY
    max_bytes: int = 16 * 1024 * 1024
    max_material_bytes: int = 1024 * 1024
    max_keys_per_member: int = 16
    max_status_lists: int = 64
    leeway: timedelta = timedelta(minutes=5)
    allowed_algorithms: frozenset[str] = SUPPORTED_ALGORITHMS


DEFAULT_BUNDLE_POLICY: Final = BundlePolicy()


@dataclass(frozen=True)
class AttestationKey:
    """A city's attestation-signing key with the certificate that certifies it."""

    kid: str
    alg: str
    jwk: Mapping[str, str] = field(compare=False)
    certificate: x509.Certificate = field(repr=False, compare=False)
    public_key: PublicKey = field(repr=False, compare=False)

    @property
    def not_after(self) -> datetime:
        """End of the certificate's validity."""
        return self.certificate.not_valid_after_utc


@dataclass(frozen=True)
class MemberMaterial:
    """A member's verified public material (not bound to a verification time)."""

    city: str
    issued_at: datetime
    attestation_keys: tuple[AttestationKey, ...]
    scale: Scale
    incentives: Mapping[str, object] = field(compare=False)
    status_lists: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Member material


def sign_material(
    signer: Signer,
    *,
    federation: str,
    city: str,
    attestation_keys: Sequence[tuple[PublicKey, x509.Certificate]],
    scale: Scale,
    incentives: Mapping[str, object],
    status_lists: Sequence[str],
    now: datetime,
) -> bytes:
    """Sign a city's public material with one of its attestation keys.

    Args:
        signer: the node's attestation-signing key; its public key must be one of
            ``attestation_keys``.
        federation: the federation id.
        city: the city id.
        attestation_keys: ``(public key, node certificate)`` pairs the city publishes.
        scale: the city's scale definition.
        incentives: the city's incentive catalogue (a JSON object, published as is; ``{}``
            for none).
        status_lists: URIs of the city's status lists.
        now: the ``issued_at`` time.

    Raises:
        InvalidBundleError: the signer is not one of ``attestation_keys``, or nothing to publish.
    """
    jwks = [key_jwk(k) for k, _ in attestation_keys]
    keys = [
        {"jwk": jwk, "certificate": certificate_pem(c)}
        for jwk, (_, c) in zip(jwks, attestation_keys, strict=True)
    ]
    if not keys:
        raise InvalidBundleError("a member's material needs at least one attestation key")
    if signer.kid not in {jwk["kid"] for jwk in jwks}:
        raise InvalidBundleError("the material must be signed by one of its attestation keys")
    payload = {
        "_type": MATERIAL_TYPE,
        "federation": federation,
        "city": city,
        "issued_at": format_time(now),
        "attestation_keys": keys,
        "scale": scale.to_dict(),
        "incentives": dict(incentives),
        "status_lists": list(status_lists),
    }
    return sign(json_bytes_pretty(payload), signer, typ=MATERIAL_JWS_TYP).to_bytes()


def _parse_key(obj: object, *, member: Member, index: int, policy: BundlePolicy) -> AttestationKey:
    what = f"attestation key {index + 1} of {member.city!r}"
    if not isinstance(obj, dict) or set(obj) != _KEY_FIELDS:
        raise InvalidBundleError(f"{what} must be an object with 'jwk' and 'certificate'")
    jwk, key = parse_key_jwk(obj["jwk"], what=what)
    if jwk["alg"] not in policy.allowed_algorithms:
        raise InvalidBundleError(f"{what} has algorithm {jwk['alg']!r}, which is not allowed")
    pem = obj["certificate"]
    if not isinstance(pem, str):
        raise InvalidBundleError(f"{what}: 'certificate' must be a PEM string")
    cert = load_certificate(pem, what=f"the certificate of {what}")
    verified = verify_node_certificate(
        cert, member.ca_certificate, purpose=Purpose.ATTESTATION, now=None
    )
    if verified.kid != jwk["kid"]:
        raise KeyMismatchError(f"{what} is not the key its certificate certifies")
    return AttestationKey(kid=jwk["kid"], alg=jwk["alg"], jwk=jwk, certificate=cert, public_key=key)


def verify_material(
    data: bytes,
    root: Root,
    *,
    now: datetime,
    policy: BundlePolicy = DEFAULT_BUNDLE_POLICY,
) -> MemberMaterial:
    """Verify a member's signed material against a trusted root.

    Raises:
        TooLargeError: over the policy's limits.
        BadFileError: not a signed material file, or a damaged certificate.
        WrongFederationError: the material is for another federation.
        UnknownMemberError: the city is not a member of ``root``.
        WrongIssuerError: a key's certificate chains to another CA than the city's.
        WrongKeyUsageError: a certificate is not for attestation signing.
        KeyMismatchError: a JWK is not the key its certificate certifies.
        BadSignatureError: the material's signature is not by one of its keys, or is invalid.
        ExpiredError: the signing key's certificate had expired when it signed.
        NotYetValidError: ``issued_at`` lies in the future.
        InvalidBundleError: bad fields, a scale that is not the member's, an incentive catalogue
            that does not parse or is another city's, bad URIs.
    """
    jws = parse(
        data,
        typ=MATERIAL_JWS_TYP,
        max_bytes=policy.max_material_bytes,
        max_signatures=1,
        what="member material",
    )
    try:
        obj = parse_json_object(jws.payload, what="member material")
    except MalformedError as err:
        raise BadFileError(err.message) from err
    if obj.get("_type") != MATERIAL_TYPE:
        raise InvalidBundleError(f"not member material: _type is {obj.get('_type')!r}")
    extra = set(obj) - _MATERIAL_FIELDS
    missing = _MATERIAL_FIELDS - set(obj)
    if extra or missing:
        raise InvalidBundleError(
            f"member material has unknown fields {sorted(extra)} / lacks {sorted(missing)}"
        )
    if obj["federation"] != root.federation:
        raise WrongFederationError(
            f"member material is for federation {obj['federation']!r}, not {root.federation!r}"
        )
    city = obj["city"]
    if not isinstance(city, str):
        raise InvalidBundleError("member material 'city' must be a string")
    member = root.member(city)
    issued_at = parse_time(obj["issued_at"], what="material 'issued_at'")
    if issued_at > now + policy.leeway:
        raise NotYetValidError(f"the material of {city!r} is dated in the future")
    keys_obj = obj["attestation_keys"]
    if not isinstance(keys_obj, list) or not keys_obj:
        raise InvalidBundleError(f"the material of {city!r} lists no attestation keys")
    if len(keys_obj) > policy.max_keys_per_member:
        raise TooLargeError(f"the material of {city!r} lists too many attestation keys")
    keys = [_parse_key(k, member=member, index=i, policy=policy) for i, k in enumerate(keys_obj)]
    by_kid = {k.kid: k for k in keys}
    if len(by_kid) != len(keys):
        raise InvalidBundleError(f"the material of {city!r} lists a key twice")
    _check_material_signature(jws, by_kid, city=city, issued_at=issued_at, policy=policy)
    try:
        scale_obj = obj["scale"]
        if not isinstance(scale_obj, dict):
            raise InvalidBundleError(f"the scale of {city!r} is not an object")
        scale = parse_scale(scale_obj)
    except MappingError as err:
        raise InvalidBundleError(f"the scale of {city!r}: {err}") from err
    if scale.id != member.scale_id or scale.city != city:
        raise InvalidBundleError(
            f"{city!r} publishes scale {scale.id!r} of {scale.city!r}; the root says "
            f"{member.scale_id!r}"
        )
    incentives = obj["incentives"]
    if not isinstance(incentives, dict):
        raise InvalidBundleError(f"the incentive catalogue of {city!r} is not an object")
    if incentives:  # an empty object: the city publishes no catalogue
        try:
            catalogue = parse_catalogue(incentives, scale)
        except ProtocolError as err:
            raise InvalidBundleError(f"the incentive catalogue of {city!r}: {err}") from err
        if catalogue.city != city:
            raise InvalidBundleError(
                f"{city!r} publishes the incentive catalogue of {catalogue.city!r}"
            )
    uris = obj["status_lists"]
    if not isinstance(uris, list) or len(uris) > policy.max_status_lists:
        raise InvalidBundleError(f"the status lists of {city!r} must be a short list of URIs")
    for uri in uris:
        if not isinstance(uri, str) or not _URI_RE.match(uri):
            raise InvalidBundleError(f"{uri!r} is not an http(s) status list URI")
    return MemberMaterial(
        city=city,
        issued_at=issued_at,
        attestation_keys=tuple(keys),
        scale=scale,
        incentives=MappingProxyType(incentives),
        status_lists=tuple(uris),
    )


def _check_material_signature(
    jws: GeneralJws,
    keys: Mapping[str, AttestationKey],
    *,
    city: str,
    issued_at: datetime,
    policy: BundlePolicy,
) -> None:
    if len(jws.signatures) != 1:
        raise BadSignatureError(f"the material of {city!r} must carry exactly one signature")
    entry = jws.signatures[0]
    key = keys.get(entry.kid)
    if key is None:
        raise BadSignatureError(
            f"the material of {city!r} is signed by {entry.kid}, not one of its attestation keys"
        )
    try:
        verify_signature(
            entry.alg,
            key.public_key,
            jws.signing_input(entry),
            entry.signature,
            policy.allowed_algorithms,
        )
    except (JoseBadSignatureError, AlgorithmNotAllowedError) as err:
        raise BadSignatureError(f"the signature on the material of {city!r} is invalid") from err
    check_validity(
        key.certificate, issued_at, what=f"the certificate that signed the material of {city!r}"
    )


# --------------------------------------------------------------------------------------------
# The bundle


class TrustBundle:
    """A verified trust bundle: the newest root and every member's material.

    Implements :class:`protocol.keys.KeyResolver`. Build it with :meth:`load`.
    """

    def __init__(
        self,
        *,
        root: Root,
        roots: tuple[SignedRoot, ...],
        materials: Mapping[str, MemberMaterial],
        warnings: tuple[str, ...],
        policy: BundlePolicy,
    ) -> None:
        self.root = root
        self.roots = roots
        self.warnings = warnings
        self._policy = policy
        self._materials = dict(materials)
        self._by_issuer = {m.issuer: m for m in root.members}

    @classmethod
    def load(
        cls,
        data: bytes,
        *,
        pinned_root: bytes,
        now: datetime,
        policy: BundlePolicy = DEFAULT_BUNDLE_POLICY,
    ) -> TrustBundle:
        """Verify a bundle from the pinned root at ``now``.

        Raises:
            TooLargeError: over the policy's limits.
            BadFileError: not a bundle file (truncated JSON?).
            WrongFederationError: the bundle, a root or a material is for another federation.
            RollbackError, VersionSkippedError, ThresholdNotMetError, FrozenError,
                RootMismatchError: the root chain fails :func:`certs.root.verify_root_chain`.
            InvalidBundleError: bad fields, a member's material twice or missing.
            CertsError: a member's material fails :func:`verify_material`.
        """
        if len(data) > policy.max_bytes:
            raise TooLargeError(f"bundle is {len(data)} bytes; the limit is {policy.max_bytes}")
        try:
            obj = parse_json_object(data, what="trust bundle")
        except MalformedError as err:
            raise BadFileError(f"{err.message} (truncated or not a bundle file?)") from err
        if obj.get("_type") != BUNDLE_TYPE:
            raise InvalidBundleError(f"not a huxin trust bundle: _type is {obj.get('_type')!r}")
        if set(obj) != _BUNDLE_FIELDS:
            raise InvalidBundleError(
                f"a bundle has exactly the fields {sorted(_BUNDLE_FIELDS)}, not {sorted(obj)}"
            )
        roots, materials = obj["roots"], obj["materials"]
        if not isinstance(roots, list) or not isinstance(materials, list):
            raise InvalidBundleError("'roots' and 'materials' must be lists")
        chain = verify_root_chain(
            pinned_root,
            [_embedded(r, what="a root in the bundle") for r in roots],
            now=now,
            policy=policy.root,
        )
        root = chain.root
        if obj["federation"] != root.federation:
            raise WrongFederationError(
                f"the bundle says federation {obj['federation']!r}; its root is {root.federation!r}"
            )
        verified: dict[str, MemberMaterial] = {}
        for item in materials:
            data_item = _embedded(item, what="a member material in the bundle")
            material = verify_material(data_item, root, now=now, policy=policy)
            if material.city in verified:
                raise InvalidBundleError(f"the bundle holds two materials of {material.city!r}")
            verified[material.city] = material
        absent = [m.city for m in root.members if m.city not in verified]
        if absent:
            raise InvalidBundleError(f"the bundle lacks the material of {', '.join(absent)}")
        return cls(
            root=root, roots=chain.roots, materials=verified, warnings=chain.warnings, policy=policy
        )

    # -- members -----------------------------------------------------------------------------

    @property
    def members(self) -> tuple[Member, ...]:
        """The members of the newest root."""
        return self.root.members

    def member(self, city: str) -> Member:
        """The member with city id ``city``.

        Raises:
            UnknownMemberError: not a member.
        """
        return self.root.member(city)

    def material(self, city: str) -> MemberMaterial:
        """The verified material of ``city``.

        Raises:
            UnknownMemberError: not a member.
        """
        try:
            return self._materials[city]
        except KeyError:
            raise UnknownMemberError(f"{city!r} is not a member of this bundle") from None

    def scale(self, city: str) -> Scale:
        """The scale definition ``city`` attests on.

        Raises:
            UnknownMemberError: not a member.
        """
        return self.material(city).scale

    def incentives(self, city: str) -> Mapping[str, object]:
        """The city's incentive catalogue document as published.

        Raises:
            UnknownMemberError: not a member.
        """
        return self.material(city).incentives

    def status_list_uris(self, city: str) -> tuple[str, ...]:
        """The URIs of the city's status lists.

        Raises:
            UnknownMemberError: not a member.
        """
        return self.material(city).status_lists

    def attestation_keys(self, city: str) -> tuple[AttestationKey, ...]:
        """The city's attestation keys (whatever their validity at any particular time).

        Raises:
            UnknownMemberError: not a member.
        """
        return self.material(city).attestation_keys

    # -- KeyResolver -------------------------------------------------------------------------

    def resolve(self, issuer: str, kid: str, now: datetime) -> TrustedKey:
        """Return the trusted key ``kid`` of ``issuer`` valid at ``now``.

        Raises:
            UntrustedIssuerError: ``issuer`` is no member's issuer, or the root is frozen at
                ``now``.
            UnknownKeyError: the member publishes no key ``kid``, or its certificate or the city
                CA is not valid at ``now``.
        """
        member = self._by_issuer.get(issuer)
        if member is None:
            raise UntrustedIssuerError(f"issuer {issuer!r} is not a member of the federation")
        try:
            check_expiry(self.root, now, policy=self._policy.root)
        except CertsError as err:
            raise UntrustedIssuerError(str(err)) from err
        material = self._materials[member.city]
        key = next((k for k in material.attestation_keys if k.kid == kid), None)
        if key is None:
            raise UnknownKeyError(f"{member.city!r} publishes no attestation key {kid!r}")
        try:
            verify_node_certificate(
                key.certificate, member.ca_certificate, purpose=Purpose.ATTESTATION, now=now
            )
        except CertsError as err:
            raise UnknownKeyError(f"key {kid!r} of {member.city!r} is not trusted: {err}") from err
        return TrustedKey(
            issuer=member.issuer,
            city=member.city,
            kid=key.kid,
            alg=key.alg,
            public_key=key.public_key,
            scale_id=member.scale_id,
        )


def _embedded(item: object, *, what: str) -> bytes:
    """Re-serialise a signed document embedded in the bundle, for verification as a file.

    Raises:
        BadFileError: it holds what JSON text cannot carry back: a lone surrogate (``"\ud800"``
            parses but cannot be UTF-8 encoded) or a number that parsed as infinite (``1e999``).
    """
    try:
        return json_bytes(item)
    except (ValueError, RecursionError) as err:  # UnicodeEncodeError is a ValueError
        raise BadFileError(f"{what} holds a value that cannot be JSON text") from err


def _object(data: bytes, *, what: str) -> dict[str, object]:
    try:
        return parse_json_object(data, what=what)
    except MalformedError as err:
        raise BadFileError(f"{err.message} (truncated?)") from err


def build_bundle(
    roots: Sequence[bytes],
    materials: Sequence[bytes],
    *,
    now: datetime,
    pinned_root: bytes | None = None,
    policy: BundlePolicy = DEFAULT_BUNDLE_POLICY,
) -> tuple[bytes, TrustBundle]:
    """Assemble a bundle from signed roots (oldest first) and member materials, and verify it.

    Args:
        roots: signed root files; the chain from the first to the newest must be complete.
        materials: signed member material files, one per member of the newest root.
        now: verification time.
        pinned_root: the root to verify from; the first of ``roots`` when ``None``.
        policy: limits.

    Returns:
        The bundle bytes and the verified :class:`TrustBundle`.

    Raises:
        InvalidBundleError: no roots given.
        BadFileError: a root or material file is not JSON.
        CertsError: anything :meth:`TrustBundle.load` raises.
    """
    if not roots:
        raise InvalidBundleError("a bundle needs at least one root")
    pinned = pinned_root if pinned_root is not None else roots[0]
    chain = verify_root_chain(pinned, list(roots), now=now, policy=policy.root)
    doc: dict[str, object] = {
        "_type": BUNDLE_TYPE,
        "federation": chain.root.federation,
        "roots": [_object(r, what="signed root") for r in roots],
        "materials": [_object(m, what="member material") for m in materials],
    }
    data = json_bytes_pretty(doc)
    return data, TrustBundle.load(data, pinned_root=pinned, now=now, policy=policy)
