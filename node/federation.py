"""The node's view of the federation: trusted root chain, members' verified material, bundle.

What it does: :class:`Federation` holds the federation root chain trusted from the operator's
pinned root, the last good verified material of every member (its own included), and the
status lists of every member in a verify-before-store
:class:`~protocol.status_list.StatusListCache`. Everything offered to it is verified by
``certs`` (:func:`certs.root.verify_root_update`, :func:`certs.bundle.verify_material`) or
``protocol`` (the status list cache) *before* it replaces what is held; a failure raises and
leaves the held copy in place. It answers key lookups for online verification
(:class:`FederationKeys`, a :class:`~protocol.keys.KeyResolver`), builds the aggregated trust
bundle for merchant apps, and reports each peer's state for ``/readyz`` and metrics.

What it deliberately does not do: any I/O (``node.sync`` fetches and persists), read the clock
(``now`` is passed in), or implement a verification rule of its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from certs.bundle import (
    DEFAULT_BUNDLE_POLICY,
    BundlePolicy,
    MemberMaterial,
    TrustBundle,
    build_bundle,
    verify_material,
)
from certs.errors import CertsError, InvalidBundleError, RollbackError
from certs.root import (
    Root,
    SignedRoot,
    check_expiry,
    format_time,
    verify_initial_root,
    verify_root_update,
)
from mapping.scale import Scale
from node.errors import NodeError
from protocol.errors import StatusUnavailableError, UnknownKeyError, UntrustedIssuerError
from protocol.jose import SUPPORTED_ALGORITHMS, parse_json_object
from protocol.keys import KeyResolver, TrustedKey
from protocol.status_list import StatusList, StatusListCache, StatusListSource

#: ``_type`` of the root chain document served at ``/federation/root``.
ROOT_CHAIN_TYPE = "huxin-root-chain"


class FederationUnavailableError(NodeError):
    """The node holds no (complete, current) federation material for this request."""

    code = "federation_unavailable"
    http_status = 503


@dataclass
class PeerState:
    """What the node knows about fetching one member's material and status lists.

    Attributes:
        city: the member's city id.
        url: its node URL (from the root).
        last_attempt: start of the last sync round that tried it.
        last_success: end of the last round where everything it serves verified.
        last_error: the stable code of the last failure (``None`` after a success).
        last_error_at: when that failure happened.
        fetched_at: when the material held was fetched and verified.
        errors: failures since the node started.
    """

    city: str
    url: str
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    fetched_at: datetime | None = None
    errors: int = 0

    def to_dict(self, now: datetime, *, state: str) -> dict[str, object]:
        """JSON-ready, with ``state`` and the age of the held copy in seconds."""

        def t(moment: datetime | None) -> str | None:
            return None if moment is None else format_time(moment)

        age = None if self.fetched_at is None else int((now - self.fetched_at).total_seconds())
        return {
            "state": state,
            "url": self.url,
            "last_attempt": t(self.last_attempt),
            "last_success": t(self.last_success),
            "last_error": self.last_error,
            "last_error_at": t(self.last_error_at),
            "age_seconds": age,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class _Held:
    data: bytes
    material: MemberMaterial
    fetched_at: datetime = field(compare=False)


class Federation:
    """The trusted root chain and every member's last good material (see the module doc).

    Args:
        pinned: the operator's pinned signed root file.
        city: this node's city id.
        issuer: this node's ``iss``.
        material_max_age: how long a peer's material is used after it was last fetched.
        policy: the bundle (and root) verification policy.

    Raises:
        CertsError: the pinned root does not verify (:func:`certs.root.verify_initial_root`).
    """

    def __init__(
        self,
        pinned: bytes,
        *,
        city: str,
        issuer: str,
        material_max_age: timedelta,
        policy: BundlePolicy = DEFAULT_BUNDLE_POLICY,
    ) -> None:
        self.policy = policy
        self.city = city
        self.issuer = issuer
        self.material_max_age = material_max_age
        first = verify_initial_root(pinned, policy=policy.root)
        self.pinned = pinned
        self._chain: list[SignedRoot] = [first]
        self._held: dict[str, _Held] = {}
        self.peers: dict[str, PeerState] = {}
        self.keys = FederationKeys(self)
        self.status = StatusListCache(self.keys, SUPPORTED_ALGORITHMS)
        self._generation = 0
        self._bundle: tuple[int, bytes, str] | None = None
        self._view: TrustBundle | None = None
        self._sync_peers()

    # -- the root ------------------------------------------------------------------------------

    @property
    def root(self) -> Root:
        """The newest trusted root."""
        return self._chain[-1].root

    @property
    def roots(self) -> tuple[SignedRoot, ...]:
        """Every trusted root version, the pinned one first."""
        return tuple(self._chain)

    def root_chain_document(self) -> dict[str, object]:
        """The document ``/federation/root`` serves: every trusted version, oldest first."""
        return {
            "_type": ROOT_CHAIN_TYPE,
            "federation": self.root.federation,
            "roots": [parse_json_object(r.to_bytes(), what="root") for r in self._chain],
        }

    def offer_root(self, data: bytes, now: datetime) -> bool:
        """Accept ``data`` if it is the next root version by TUF's rules.

        Returns ``False`` for a version the node already trusts (nothing to do). After a new
        version every held material is verified again against it and dropped if it fails.

        Raises:
            CertsError: it is not the next version, or too few members signed
                (:func:`certs.root.verify_root_update`).
        """
        try:
            signed = verify_root_update(self.root, data, policy=self.policy.root)
        except RollbackError:
            return False
        self._chain.append(signed)
        for city, held in list(self._held.items()):
            try:
                verify_material(held.data, self.root, now=now, policy=self.policy)
            except CertsError:
                del self._held[city]
        self._sync_peers()
        self._changed()
        return True

    def root_warnings(self, now: datetime) -> tuple[str, ...]:
        """Warnings about the newest root at ``now`` (inside its grace period).

        Raises:
            FrozenError: the newest root expired beyond the grace period.
        """
        return check_expiry(self.root, now, policy=self.policy.root)

    # -- materials -----------------------------------------------------------------------------

    def offer_material(
        self, city: str, data: bytes, now: datetime, *, fetched_at: datetime | None = None
    ) -> MemberMaterial:
        """Verify ``data`` as ``city``'s material and hold it.

        A material dated before the one held is refused (a replayed old copy).

        Raises:
            CertsError: it does not verify against the newest root
                (:func:`certs.bundle.verify_material`), is another city's, or is older.
        """
        material = verify_material(data, self.root, now=now, policy=self.policy)
        if material.city != city:
            raise InvalidBundleError(f"{city!r} served the material of {material.city!r}")
        held = self._held.get(city)
        if held is not None and held.data == data:
            self._held[city] = _Held(data, material, fetched_at or now)
            return material
        if held is not None and material.issued_at < held.material.issued_at:
            raise RollbackError(
                f"the material of {city!r} is older than the copy held "
                f"({format_time(material.issued_at)} < "
                f"{format_time(held.material.issued_at)})"
            )
        self._held[city] = _Held(data, material, fetched_at or now)
        self._changed()
        return material

    def material_data(self, city: str) -> bytes | None:
        """The signed material held for ``city`` (as fetched), if any."""
        held = self._held.get(city)
        return None if held is None else held.data

    def material(self, city: str, now: datetime) -> MemberMaterial | None:
        """``city``'s verified material if held and not older than the maximum age."""
        held = self._held.get(city)
        if held is None:
            return None
        if city != self.city and now - held.fetched_at > self.material_max_age:
            return None
        return held.material

    def fetched_at(self, city: str) -> datetime | None:
        """When the held material of ``city`` was fetched."""
        held = self._held.get(city)
        return None if held is None else held.fetched_at

    def scale(self, city: str, now: datetime) -> Scale:
        """The scale ``city`` attests on, from its current material.

        Raises:
            FederationUnavailableError: no current material of ``city``.
        """
        return self._current(city, now).scale

    def incentives(self, city: str, now: datetime) -> Mapping[str, object]:
        """``city``'s published incentive catalogue document.

        Raises:
            FederationUnavailableError: no current material of ``city``.
        """
        return self._current(city, now).incentives

    def _current(self, city: str, now: datetime) -> MemberMaterial:
        material = self.material(city, now)
        if material is None:
            raise FederationUnavailableError(f"no current material of {city!r}")
        return material

    def view(self) -> TrustBundle:
        """The held materials as a :class:`~certs.bundle.TrustBundle` (may lack members)."""
        if self._view is None:
            self._view = TrustBundle(
                root=self.root,
                roots=self.roots,
                materials={c: h.material for c, h in self._held.items()},
                warnings=(),
                policy=self.policy,
            )
        return self._view

    def bundle(self, now: datetime) -> tuple[bytes, str]:
        """The aggregated trust bundle (verified as a whole) and its ETag.

        Raises:
            FederationUnavailableError: a member's current material is missing.
            CertsError: the bundle does not verify at ``now`` (e.g. the root is frozen).
        """
        missing = [m.city for m in self.root.members if self.material(m.city, now) is None]
        if missing:
            raise FederationUnavailableError(
                f"the trust bundle lacks the current material of {', '.join(missing)}"
            )
        if self._bundle is not None and self._bundle[0] == self._generation:
            return self._bundle[1], self._bundle[2]
        data, _ = build_bundle(
            [r.to_bytes() for r in self._chain],
            [self._held[m.city].data for m in self.root.members],
            now=now,
            pinned_root=self.pinned,
            policy=self.policy,
        )
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        self._bundle = (self._generation, data, etag)
        return data, etag

    # -- peers ---------------------------------------------------------------------------------

    def members(self) -> Sequence[tuple[str, str, str]]:
        """``(city, node URL, issuer)`` of every other member of the newest root."""
        return [(m.city, m.node_url, m.issuer) for m in self.root.members if m.city != self.city]

    def peer_state(self, city: str, now: datetime) -> str:
        """``ok``, ``failing`` (last round failed, held copy still used), ``expired`` (no
        current copy) or ``pending`` (never tried)."""
        peer = self.peers.get(city)
        if self.material(city, now) is None:
            return "pending" if peer is None or peer.last_attempt is None else "expired"
        if peer is not None and peer.last_error is not None:
            return "failing"
        return "ok"

    def report(self, now: datetime) -> dict[str, object]:
        """Per-peer state for ``/readyz``."""
        return {
            city: peer.to_dict(now, state=self.peer_state(city, now))
            for city, peer in sorted(self.peers.items())
        }

    def _sync_peers(self) -> None:
        current = {city: url for city, url, _ in self.members()}
        for city in list(self.peers):
            if city not in current:
                del self.peers[city]
        for city, url in current.items():
            peer = self.peers.setdefault(city, PeerState(city=city, url=url))
            peer.url = url
        for city in list(self._held):
            if city not in {m.city for m in self.root.members}:
                del self._held[city]

    def _changed(self) -> None:
        self._generation += 1
        self._view = None


class FederationKeys:
    """A :class:`~protocol.keys.KeyResolver` over the federation's current materials."""

    def __init__(self, federation: Federation) -> None:
        self._federation = federation

    def resolve(self, issuer: str, kid: str, now: datetime) -> TrustedKey:
        """The key ``kid`` of ``issuer``, from its current verified material.

        Raises:
            UntrustedIssuerError: not a member's issuer, or the root is frozen.
            UnknownKeyError: no current material of that member, or no such valid key.
        """
        fed = self._federation
        member = next((m for m in fed.root.members if m.issuer == issuer), None)
        if member is None:
            raise UntrustedIssuerError(f"issuer {issuer!r} is not a member of the federation")
        if fed.material(member.city, now) is None:
            raise UnknownKeyError(f"this node holds no current material of {member.city!r}")
        return fed.view().resolve(issuer, kid, now)


class OwnKeys:
    """A :class:`~protocol.keys.KeyResolver` for this node's own attestation keys (current and
    previous), tried before the federation: the node trusts its own keys without a bundle."""

    def __init__(self, keys: Sequence[TrustedKey], fallback: KeyResolver | None) -> None:
        self._keys = {(k.issuer, k.kid): k for k in keys}
        self._issuers = {k.issuer for k in keys}
        self._fallback = fallback

    def resolve(self, issuer: str, kid: str, now: datetime) -> TrustedKey:
        """Own key if ``issuer`` is ours, else the federation's answer.

        Raises:
            UnknownKeyError: our issuer, but not one of our keys.
            UntrustedIssuerError: not ours and no federation, or the federation's refusal.
        """
        if issuer in self._issuers:
            key = self._keys.get((issuer, kid))
            if key is None:
                raise UnknownKeyError(f"this node has no attestation key {kid!r}")
            return key
        if self._fallback is None:
            raise UntrustedIssuerError(
                f"issuer {issuer!r} is not this node and no federation root is configured"
            )
        return self._fallback.resolve(issuer, kid, now)


class CombinedStatus:
    """A :class:`~protocol.status_list.StatusListSource`: own lists first, then peers' cache."""

    def __init__(self, own: StatusListSource, peers: StatusListCache | None) -> None:
        self._own = own
        self._peers = peers

    def status_list(self, uri: str, now: datetime) -> StatusList:
        """The list at ``uri``.

        Raises:
            StatusUnavailableError: neither ours nor held (or expired).
        """
        try:
            return self._own.status_list(uri, now)
        except StatusUnavailableError:
            if self._peers is None:
                raise
        return self._peers.status_list(uri, now)
