"""Changing the federation root: member entries, proposals, signature files, combining.

What it does, in the order a federation uses it:

1. Each city publishes a **member entry** (:func:`member_entry`, :func:`parse_member_entry`):
   its ids, names, issuer, node URL, scale id, CA certificate and governance public keys.
2. Someone drafts the **first root** from the entries (:func:`initial_root`) or a **proposal**
   for version N+1 from version N (:func:`propose` with a :class:`Proposal`: add or remove
   members, replace a member's governance keys or CA certificate, change the threshold, extend
   the expiry). The result is an unsigned document: the payload bytes, indented JSON that every
   signer can read. :func:`describe_changes` lists what changed, for the signers to check.
3. Each member signs the payload bytes with its governance key into a separate **signature
   file** (:func:`sign_proposal`): a JWS in general JSON form with one signature.
4. Anyone **combines** the signature files into the signed root (:func:`combine_signatures`);
   it is then verified with :mod:`certs.root` against the previous version.

What it deliberately does not do: read or write files, decide who should sign, or verify a
threshold (that is :func:`certs.root.verify_root_update`; combining only checks that every file
signs the same proposal of the same federation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509

from certs.errors import (
    BadFileError,
    InvalidRootError,
    PayloadMismatchError,
    UnknownMemberError,
    WrongFederationError,
)
from certs.keys import certificate_pem, key_jwk
from certs.multisig import combine, json_bytes_pretty, parse, sign
from certs.root import (
    DEFAULT_ROOT_POLICY,
    ROOT_JWS_TYP,
    Member,
    Root,
    RootPolicy,
    SignedRoot,
    format_time,
    parse_root_payload,
    parse_signed_root,
)
from protocol.errors import MalformedError
from protocol.jose import PublicKey, Signer, parse_json_object


def member_entry(
    *,
    city: str,
    name_zh: str,
    name_en: str,
    issuer: str,
    node_url: str,
    scale_id: str,
    ca_certificate: x509.Certificate,
    governance_keys: Sequence[PublicKey],
) -> dict[str, object]:
    """The JSON object a city publishes to join (or stay in) the root."""
    return {
        "city": city,
        "name_zh": name_zh,
        "name_en": name_en,
        "issuer": issuer,
        "node_url": node_url,
        "scale_id": scale_id,
        "ca_certificate": certificate_pem(ca_certificate),
        "governance_keys": [key_jwk(k) for k in governance_keys],
    }


def _root_from(
    *,
    federation: str,
    version: int,
    expires: datetime,
    threshold: int,
    members: Sequence[Mapping[str, object]],
    policy: RootPolicy,
) -> Root:
    # Build the payload and parse it back, so a proposal passes exactly the checks a verifier
    # applies; nothing can be drafted that members would then refuse.
    doc = {
        "_type": "huxin-root",
        "federation": federation,
        "version": version,
        "expires": format_time(expires),
        "threshold": threshold,
        "members": [dict(m) for m in members],
    }
    return parse_root_payload(json_bytes_pretty(doc), policy=policy)


def parse_member_entry(
    data: bytes, *, federation: str, policy: RootPolicy = DEFAULT_ROOT_POLICY
) -> Member:
    """Parse and check a city's member entry file for ``federation``.

    Raises:
        BadFileError: not a JSON object (truncated?).
        InvalidRootError: unknown or missing fields, bad ids or keys.
        WrongFederationError: its CA certificate names another federation.
        CertsError: its CA certificate is not a usable city CA.
    """
    try:
        obj = parse_json_object(data, what="member entry")
    except MalformedError as err:
        raise BadFileError(f"{err.message} (truncated or not a member file?)") from err
    root = _root_from(
        federation=federation,
        version=1,
        expires=datetime(2000, 1, 1, tzinfo=UTC),
        threshold=1,
        members=[obj],
        policy=policy,
    )
    return root.members[0]


def initial_root(
    *,
    federation: str,
    members: Sequence[Member],
    threshold: int,
    expires: datetime,
    policy: RootPolicy = DEFAULT_ROOT_POLICY,
) -> Root:
    """Draft version 1 of a federation's root from its members' entries.

    Raises:
        InvalidRootError: bad ids, a threshold outside ``1..len(members)``, a repeated city.
        DuplicateKeyError: a governance or CA key listed twice.
        WrongFederationError: a member's CA names another federation.
    """
    return _root_from(
        federation=federation,
        version=1,
        expires=expires,
        threshold=threshold,
        members=[m.to_dict() for m in members],
        policy=policy,
    )


@dataclass(frozen=True)
class Proposal:
    """What version N+1 changes relative to version N.

    Attributes:
        add: members to add (their entries).
        remove: city ids to remove.
        governance_keys: ``{city: keys}`` replacing a member's governance keys (rotation; list
            old and new key during an overlap if wanted).
        ca_certificates: ``{city: certificate}`` replacing a member's CA certificate.
        threshold: a new threshold, or ``None`` to keep it.
        expires: a new expiry, or ``None`` to keep it.
    """

    add: tuple[Member, ...] = ()
    remove: tuple[str, ...] = ()
    governance_keys: Mapping[str, tuple[PublicKey, ...]] = field(default_factory=dict)
    ca_certificates: Mapping[str, x509.Certificate] = field(default_factory=dict)
    threshold: int | None = None
    expires: datetime | None = None


def propose(current: Root, change: Proposal, *, policy: RootPolicy = DEFAULT_ROOT_POLICY) -> Root:
    """Draft version N+1 of ``current`` with ``change`` applied.

    Raises:
        UnknownMemberError: a city to remove or change is not a member.
        InvalidRootError: the result breaks a root rule (threshold above the member count, a
            city added twice, no change at all, ...).
        DuplicateKeyError: the result lists a key twice.
        WrongFederationError: a new CA certificate names another federation.
    """
    members = {m.city: m.to_dict() for m in current.members}
    for city in change.remove:
        if city not in members:
            raise UnknownMemberError(f"cannot remove {city!r}: not a member")
        del members[city]
    for member in change.add:
        if member.city in members:
            raise InvalidRootError(f"cannot add {member.city!r}: already a member")
        members[member.city] = member.to_dict()
    for city, keys in change.governance_keys.items():
        if city not in members:
            raise UnknownMemberError(f"cannot rotate keys of {city!r}: not a member")
        if not keys:
            raise InvalidRootError(f"{city!r} needs at least one governance key")
        members[city]["governance_keys"] = [key_jwk(k) for k in keys]
    for city, cert in change.ca_certificates.items():
        if city not in members:
            raise UnknownMemberError(f"cannot replace the CA of {city!r}: not a member")
        members[city]["ca_certificate"] = certificate_pem(cert)
    new = _root_from(
        federation=current.federation,
        version=current.version + 1,
        expires=change.expires or current.expires,
        threshold=change.threshold if change.threshold is not None else current.threshold,
        members=list(members.values()),
        policy=policy,
    )
    if not describe_changes(current, new):
        raise InvalidRootError("the proposal changes nothing")
    return new


def describe_changes(old: Root | None, new: Root) -> tuple[str, ...]:
    """Human-readable lines saying what ``new`` changes relative to ``old`` (version aside)."""
    if old is None:
        lines = [
            f"new federation {new.federation!r}: threshold {new.threshold} of "
            f"{len(new.members)}, expires {format_time(new.expires)}"
        ]
        lines += [
            f"member {m.city} ({m.name_zh} {m.name_en}), issuer {m.issuer}, scale {m.scale_id}"
            for m in new.members
        ]
        return tuple(lines)
    out: list[str] = []
    old_members = {m.city: m for m in old.members}
    new_members = {m.city: m for m in new.members}
    out += [f"add member {c}" for c in new_members if c not in old_members]
    out += [f"remove member {c}" for c in old_members if c not in new_members]
    for city, m in new_members.items():
        before = old_members.get(city)
        if before is None:
            continue
        old_kids = [k.kid for k in before.governance_keys]
        new_kids = [k.kid for k in m.governance_keys]
        if old_kids != new_kids:
            out.append(f"{city}: governance keys {old_kids} -> {new_kids}")
        if before.ca_certificate_pem != m.ca_certificate_pem:
            out.append(f"{city}: new CA certificate")
        for name in ("name_zh", "name_en", "issuer", "node_url", "scale_id"):
            if getattr(before, name) != getattr(m, name):
                out.append(f"{city}: {name} {getattr(before, name)!r} -> {getattr(m, name)!r}")
    if old.threshold != new.threshold:
        out.append(f"threshold {old.threshold} -> {new.threshold}")
    if old.expires != new.expires:
        out.append(f"expires {format_time(old.expires)} -> {format_time(new.expires)}")
    return tuple(out)


def sign_proposal(
    payload: bytes, signer: Signer, *, policy: RootPolicy = DEFAULT_ROOT_POLICY
) -> bytes:
    """Sign a proposed root's payload bytes; returns a signature file.

    The payload is parsed first so nobody signs a document a verifier would refuse.

    Raises:
        BadFileError: the payload is not a root document.
        InvalidRootError: see :func:`certs.root.parse_root_payload`.
    """
    parse_root_payload(payload, policy=policy)
    return sign(payload, signer, typ=ROOT_JWS_TYP).to_bytes()


def combine_signatures(
    payload: bytes,
    signature_files: Sequence[bytes],
    *,
    policy: RootPolicy = DEFAULT_ROOT_POLICY,
) -> SignedRoot:
    """Combine members' signature files over ``payload`` into one signed root.

    Thresholds are not checked here; verify the result against the previous root.

    Raises:
        WrongFederationError: a file signs a root of another federation.
        PayloadMismatchError: a file signs another document (another version, an edited
            proposal), or no files were given.
        BadFileError: a file is not a signature file.
        InvalidRootError: the payload is not a valid root.
    """
    root = parse_root_payload(payload, policy=policy)
    docs = []
    for i, data in enumerate(signature_files):
        doc = parse(
            data,
            typ=ROOT_JWS_TYP,
            max_bytes=policy.max_bytes,
            max_signatures=policy.max_signatures,
            what=f"signature file {i + 1}",
        )
        if doc.payload != payload:
            other = parse_root_payload(doc.payload, policy=policy)
            if other.federation != root.federation:
                raise WrongFederationError(
                    f"signature file {i + 1} signs a root of federation {other.federation!r}, "
                    f"not {root.federation!r}"
                )
            raise PayloadMismatchError(
                f"signature file {i + 1} signs another document (v{other.version}) than the "
                f"proposal (v{root.version}); every member must sign the same file"
            )
        docs.append(doc)
    if not docs:
        raise PayloadMismatchError("no signature files to combine")
    merged = combine(docs)
    return parse_signed_root(merged.to_bytes(), policy=policy)
