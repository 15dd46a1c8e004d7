"""Peer sync: the I/O around :class:`node.federation.Federation` -- fetch, persist, schedule.

What it does:

* :class:`SyncStore` keeps the last good copies in the data directory (``sync.dir``): root
  versions newer than the pinned one, each member's signed material with the time it was
  fetched, each peer status list token, and the history of this node's own attestation keys.
  Files are written to a temporary name and renamed, so a crash never leaves half a copy.
  :func:`restore` loads them into a fresh :class:`~node.federation.Federation` at start-up,
  verifying each again (a copy that no longer verifies is ignored). The store also keeps the
  per-peer state after each round (``peers.json``), for the other workers of the node.
* :class:`OwnMaterial` signs this node's member material (``certs.bundle.sign_material``): its
  current attestation key and every previous key that attestations may still carry (used within
  the attestation lifetime and still certified), its scale, its incentive catalogue and its
  status list URIs; it re-signs when any of these changes, and at least hourly.
* :class:`Syncer` runs the rounds. Each round: sign our material; fetch every peer's root chain
  (``/federation/root``) and the operator's root file, and advance the trusted root one version
  at a time by TUF's rules; then fetch every other member's material
  (``/federation/material``) and every status list it names that is due for a refresh, and hand
  each to the federation, which verifies it before it replaces the held copy. Requests go
  through one shared :class:`aiohttp.ClientSession` with a total timeout, no redirects and a
  response size limit, and are retried with tenacity (exponential backoff with full jitter) on
  transport errors, timeouts, truncated bodies and 5xx answers only -- never after a response
  that arrived whole and failed verification. Per-peer state and metrics are updated at the end
  of each round.
* With several worker processes only the sync leader runs rounds; the others call
  :meth:`Syncer.follow` periodically to take what the leader kept (and every worker takes root
  versions another worker accepted), so the store has one writer of peer copies.

What it deliberately does not do: verify anything itself (``certs`` and ``protocol`` do,
through ``node.federation``), or read the clock (the application's ``clock`` is passed in).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar, Final

import aiohttp
from cryptography import x509
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from certs.bundle import sign_material
from certs.ca import Purpose
from certs.chain import verify_node_certificate
from certs.errors import CertsError
from certs.keys import certificate_pem, certificate_public_key, load_certificate
from certs.root import format_time, parse_time
from mapping.scale import Scale
from node.catalogue import IncentiveCatalogue
from node.config import NodeConfig
from node.errors import NodeError
from node.federation import Federation, PeerState
from node.keystore import NodeKeys
from node.metrics import Metrics
from node.status import StatusPublisher
from protocol.errors import ProtocolError
from protocol.jose import algorithm_for_key, json_bytes, key_thumbprint, parse_json_object
from protocol.keys import TrustedKey

log = logging.getLogger("huxin.node.sync")

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]

#: Own material is re-signed at least this often even when nothing changed.
RESIGN_EVERY: Final = timedelta(hours=1)
MATERIAL_PATH: Final = "/federation/material"
#: The sync leader's per-peer state, in ``sync.dir``.
PEERS_FILE: Final = "peers.json"
ROOT_PATH: Final = "/federation/root"


class PeerFetchError(NodeError):
    """A request to a peer failed before a whole response arrived, or was refused unread.

    ``transient`` errors (transport, timeout, truncated body, 5xx) are retried; others are not.
    """

    code = "peer_error"
    http_status = 502
    transient: ClassVar[bool] = False


class PeerUnreachableError(PeerFetchError):
    """Connection refused, reset or closed before an answer."""

    code = "peer_unreachable"
    transient = True


class PeerTimeoutError(PeerFetchError):
    """No whole answer within ``sync.timeout_ms``."""

    code = "peer_timeout"
    transient = True


class PeerTruncatedError(PeerFetchError):
    """The body ended before its declared length (or the chunked encoding broke)."""

    code = "peer_truncated"
    transient = True


class PeerServerError(PeerFetchError):
    """The peer answered 5xx."""

    code = "peer_http_5xx"
    transient = True


class PeerHttpError(PeerFetchError):
    """The peer answered another non-200 status (404, a redirect, ...)."""

    code = "peer_http_error"


class PeerTooLargeError(PeerFetchError):
    """The answer is larger than ``sync.max_bytes``."""

    code = "peer_too_large"


class PeerBadResponseError(PeerFetchError):
    """The answer is not the document asked for (not JSON, wrong shape)."""

    code = "peer_bad_response"


def _is_transient(err: BaseException) -> bool:
    return isinstance(err, PeerFetchError) and err.transient


def _keep(what: str, write: Callable[..., None], *args: object) -> None:
    """Write a last good copy to disk; a failed write (disk full) is logged, never raised.

    The copies on disk only serve a restart; the verified copy in memory is already in use.
    """
    try:
        write(*args)
    except OSError as err:
        log.error("could not keep a copy on disk", extra={"what": what, "error": str(err)})


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# Last good copies on disk


class SyncStore:
    """The last good copies in ``DIR/<sync.dir>`` (see the module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save_root(self, version: int, data: bytes) -> None:
        """Keep a verified root version."""
        _atomic_write(self.path / "roots" / f"{version}.root.json", data)

    def roots(self) -> list[bytes]:
        """Stored root versions, oldest first."""
        folder = self.path / "roots"
        if not folder.is_dir():
            return []
        found: list[tuple[int, bytes]] = []
        for item in folder.glob("*.root.json"):
            stem = item.name.split(".", 1)[0]
            if stem.isdigit():
                found.append((int(stem), item.read_bytes()))
        return [data for _, data in sorted(found)]

    def save_material(self, city: str, data: bytes, fetched_at: datetime) -> None:
        """Keep a verified material and when it was fetched."""
        folder = self.path / "materials"
        _atomic_write(folder / f"{city}.json", data)
        meta = json.dumps({"fetched_at": format_time(fetched_at)}).encode()
        _atomic_write(folder / f"{city}.meta.json", meta)

    def materials(self) -> dict[str, tuple[bytes, datetime]]:
        """Stored materials by city, with their fetch times."""
        folder = self.path / "materials"
        out: dict[str, tuple[bytes, datetime]] = {}
        if not folder.is_dir():
            return out
        for item in folder.glob("*.meta.json"):
            city = item.name.removesuffix(".meta.json")
            try:
                meta = json.loads(item.read_text(encoding="utf-8"))
                fetched_at = parse_time(meta["fetched_at"], what="fetched_at")
                out[city] = ((folder / f"{city}.json").read_bytes(), fetched_at)
            except (OSError, ValueError, KeyError, TypeError, CertsError):
                log.warning("ignoring a damaged stored material", extra={"peer": city})
        return out

    def _status_file(self, uri: str) -> Path:
        return self.path / "status" / (hashlib.sha256(uri.encode()).hexdigest()[:40] + ".jwt")

    def save_status(self, uri: str, token: bytes) -> None:
        """Keep a verified status list token (and its URI in ``status/index.json``)."""
        index = self._status_index()
        if index.get(uri) != self._status_file(uri).name:
            index[uri] = self._status_file(uri).name
            _atomic_write(self.path / "status" / "index.json", json.dumps(index).encode())
        _atomic_write(self._status_file(uri), token)

    def _status_index(self) -> dict[str, str]:
        try:
            obj = json.loads((self.path / "status" / "index.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(obj, dict):
            return {}
        return {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, str)}

    def statuses(self) -> dict[str, bytes]:
        """Stored status list tokens by URI."""
        out: dict[str, bytes] = {}
        for uri in self._status_index():
            try:
                out[uri] = self._status_file(uri).read_bytes()
            except OSError:
                continue
        return out

    def fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        """Name, modification time and size of every copy kept (not the key history): changes
        whenever another worker of the node keeps a new copy (files are replaced by rename)."""
        found: list[tuple[str, int, int]] = []
        for folder in ("roots", "materials", "status"):
            try:
                entries = list(os.scandir(self.path / folder))
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue  # a temporary file being written
                try:
                    info = entry.stat()
                except OSError:
                    continue
                found.append((f"{folder}/{entry.name}", info.st_mtime_ns, info.st_size))
        with contextlib.suppress(OSError):
            info = (self.path / PEERS_FILE).stat()
            found.append((PEERS_FILE, info.st_mtime_ns, info.st_size))
        return tuple(sorted(found))

    def save_peers(self, peers: dict[str, PeerState]) -> None:
        """Keep the sync leader's per-peer state (for the other workers' ``/readyz``)."""
        doc = {
            city: {
                "last_attempt": _time_or_none(peer.last_attempt),
                "last_success": _time_or_none(peer.last_success),
                "last_error": peer.last_error,
                "last_error_at": _time_or_none(peer.last_error_at),
                "errors": peer.errors,
            }
            for city, peer in peers.items()
        }
        _atomic_write(self.path / PEERS_FILE, json.dumps(doc).encode())

    def load_peers(self, peers: dict[str, PeerState]) -> None:
        """Copy the kept per-peer state into ``peers`` (members of the current root only)."""
        try:
            doc = json.loads((self.path / PEERS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(doc, dict):
            return
        for city, peer in peers.items():
            entry = doc.get(city)
            if not isinstance(entry, dict):
                continue
            try:
                peer.last_attempt = _parse_or_none(entry.get("last_attempt"))
                peer.last_success = _parse_or_none(entry.get("last_success"))
                peer.last_error_at = _parse_or_none(entry.get("last_error_at"))
            except CertsError:
                continue
            error, count = entry.get("last_error"), entry.get("errors")
            peer.last_error = error if isinstance(error, str) else None
            peer.errors = count if isinstance(count, int) else 0

    def key_history(self) -> dict[str, dict[str, str]]:
        """This node's attestation keys by kid: ``{"certificate": PEM, "last_used": time}``."""
        try:
            obj = json.loads((self.path / "own-keys.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(obj, dict):
            return {}
        return {
            kid: entry
            for kid, entry in obj.items()
            if isinstance(entry, dict)
            and isinstance(entry.get("certificate"), str)
            and isinstance(entry.get("last_used"), str)
        }

    def save_key_history(self, history: dict[str, dict[str, str]]) -> None:
        """Replace the key history."""
        _atomic_write(self.path / "own-keys.json", json.dumps(history, indent=1).encode())


def _time_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


def _parse_or_none(value: object) -> datetime | None:
    return None if value is None else parse_time(value, what="peer state time")


def restore(federation: Federation, store: SyncStore, now: datetime) -> None:
    """Load the stored copies into ``federation``, verifying each again; skip what fails."""
    for data in store.roots():
        try:
            federation.offer_root(data, now)
        except CertsError as err:
            log.warning("ignoring a stored root", extra={"code": err.code})
    for city, (data, fetched_at) in store.materials().items():
        if city == federation.city:
            continue
        try:
            federation.offer_material(city, data, now, fetched_at=fetched_at)
        except CertsError as err:
            log.warning("ignoring a stored material", extra={"peer": city, "code": err.code})
    for uri, token in store.statuses().items():
        try:
            federation.status.put(uri, token, now)
        except ProtocolError as err:
            log.info("ignoring a stored status list", extra={"uri": uri, "code": err.code})


# --------------------------------------------------------------------------------------------
# This node's own material


@dataclass(frozen=True)
class _SignedOwn:
    inputs: tuple[object, ...]
    data: bytes
    signed_at: datetime


class OwnMaterial:
    """Signs and holds this node's member material (see the module doc)."""

    def __init__(
        self,
        *,
        config: NodeConfig,
        keys: NodeKeys,
        scale: Scale,
        catalogue: IncentiveCatalogue,
        publisher: StatusPublisher,
        store: SyncStore,
    ) -> None:
        self._config = config
        self._keys = keys
        self._scale = scale
        self._catalogue = catalogue
        self._publisher = publisher
        self._store = store
        self._signed: _SignedOwn | None = None
        self._known: dict[str, dict[str, str]] | None = None

    @property
    def data(self) -> bytes | None:
        """The current signed material, if the node could sign one."""
        return None if self._signed is None else self._signed.data

    def _record_current(self, now: datetime) -> None:
        """Note in the key history that the current key was in use at ``now``."""
        if not self._keys.chain:
            return
        history = self._store.key_history() if self._known is None else self._known
        history[self._keys.signer.kid] = {
            "certificate": certificate_pem(self._keys.chain[0]),
            "last_used": format_time(now),
        }
        self._known = history
        _keep("key history", self._store.save_key_history, history)

    def _history(self, now: datetime) -> list[tuple[str, x509.Certificate]]:
        """Previous keys still worth publishing: used within the attestation lifetime and still
        certified at ``now``."""
        if self._known is None:
            self._known = self._store.key_history()
        keep: list[tuple[str, x509.Certificate]] = []
        for kid, entry in self._known.items():
            if kid == self._keys.signer.kid:
                continue
            try:
                last_used = parse_time(entry["last_used"], what="last_used")
                cert = load_certificate(entry["certificate"])
            except CertsError:
                continue
            if last_used + self._config.attestation_lifetime < now:
                continue
            if cert.not_valid_after_utc <= now:
                continue
            keep.append((kid, cert))
        return keep

    def previous_keys(self, now: datetime) -> list[TrustedKey]:
        """Previous keys as trusted keys for the node's own verification."""
        out = []
        for kid, cert in self._history(now):
            public = certificate_public_key(cert)
            out.append(
                TrustedKey(
                    issuer=self._config.issuer,
                    city=self._config.city,
                    kid=kid,
                    alg=algorithm_for_key(public),
                    public_key=public,
                    scale_id=self._scale.id,
                )
            )
        return out

    def adopt(self, data: bytes, signed_at: datetime) -> None:
        """Serve ``data``, this node's material as another worker of the node signed it (already
        verified by the caller); the next :meth:`refresh` here signs again."""
        self._signed = _SignedOwn(("adopted",), data, signed_at)

    async def refresh(self, federation: Federation, now: datetime) -> bytes | None:
        """Sign the material again if anything in it changed (or hourly) and hold it.

        Returns the current material, or ``None`` when the node has no certificate yet.

        Raises:
            CertsError: our own material does not verify against the newest root (our key's
                certificate is not from the CA the root lists, or the city is not a member).
        """
        if not self._keys.chain:
            return None
        self._record_current(now)
        member = federation.root.member(self._config.city)
        pairs = [(self._keys.signer.public_key, self._keys.chain[0])]
        for kid, cert in self._history(now):
            try:
                verify_node_certificate(
                    cert, member.ca_certificate, purpose=Purpose.ATTESTATION, now=now
                )
            except CertsError:
                continue
            if key_thumbprint(certificate_public_key(cert)) == kid:
                pairs.append((certificate_public_key(cert), cert))
        uris = tuple(self._publisher.uri(i) for i in sorted(await self._publisher.list_ids()))
        inputs: tuple[object, ...] = (
            federation.root.version,
            tuple(key_thumbprint(k) for k, _ in pairs),
            self._catalogue.version,
            uris,
        )
        signed = self._signed
        if signed is not None and signed.inputs == inputs and now - signed.signed_at < RESIGN_EVERY:
            return signed.data
        data = sign_material(
            self._keys.signer,
            federation=federation.root.federation,
            city=self._config.city,
            attestation_keys=pairs,
            scale=self._scale,
            incentives=self._catalogue.document or {},
            status_lists=list(uris),
            now=now,
        )
        federation.offer_material(self._config.city, data, now)
        self._signed = _SignedOwn(inputs, data, now)
        return data


# --------------------------------------------------------------------------------------------
# Rounds


class Syncer:
    """Runs sync rounds for one node (see the module doc)."""

    def __init__(
        self,
        *,
        config: NodeConfig,
        federation: Federation,
        own: OwnMaterial,
        store: SyncStore,
        session: aiohttp.ClientSession,
        metrics: Metrics,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._config = config
        self.federation = federation
        self.own = own
        self._store = store
        self._session = session
        self._metrics = metrics
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self.rounds = 0
        self._seen: tuple[tuple[str, int, int], ...] | None = None
        self._loaded_status: dict[str, bytes] = {}

    # -- HTTP ----------------------------------------------------------------------------------

    async def fetch(self, url: str) -> bytes:
        """GET ``url`` with retries on transient failures; the whole body, size-limited.

        Raises:
            PeerFetchError: the last attempt failed, or a non-transient failure.
        """
        cfg = self._config
        retrying = AsyncRetrying(
            stop=stop_after_attempt(cfg.sync_attempts),
            wait=wait_random_exponential(
                multiplier=cfg.sync_backoff.total_seconds(),
                max=cfg.sync_max_backoff.total_seconds(),
            ),
            retry=retry_if_exception(_is_transient),
            sleep=self._sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._fetch_once(url)
        raise AssertionError("unreachable")  # pragma: no cover - reraise=True

    async def _fetch_once(self, url: str) -> bytes:
        limit = self._config.sync_max_bytes
        timeout = aiohttp.ClientTimeout(total=self._config.sync_timeout.total_seconds())
        try:
            async with self._session.get(url, timeout=timeout, allow_redirects=False) as resp:
                if resp.status >= 500:
                    raise PeerServerError(f"{url} answered {resp.status}")
                if resp.status != 200:
                    raise PeerHttpError(f"{url} answered {resp.status}")
                if resp.content_length is not None and resp.content_length > limit:
                    raise PeerTooLargeError(f"{url} sends {resp.content_length} bytes")
                body = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > limit:
                        raise PeerTooLargeError(f"{url} sends more than {limit} bytes")
                return bytes(body)
        except TimeoutError:
            raise PeerTimeoutError(f"{url} timed out") from None
        except aiohttp.ClientPayloadError as err:
            raise PeerTruncatedError(f"{url}: incomplete body ({err})") from None
        except aiohttp.ClientError as err:
            raise PeerUnreachableError(f"{url}: {type(err).__name__}") from None

    # -- one round -----------------------------------------------------------------------------

    async def run_once(self) -> None:
        """One sync round (rounds never overlap)."""
        async with self._lock:
            await self._round()

    async def _round(self) -> None:
        fed = self.federation
        now = self._clock()
        self.rounds += 1
        self._metrics.sync_rounds.inc()
        errors: dict[str, str] = {}
        await self.refresh_own(now)
        members = fed.members()
        chains = await asyncio.gather(
            *(self._peer_roots(url) for _, url, _ in members), return_exceptions=True
        )
        candidates: list[bytes] = []
        for (city, _, _), result in zip(members, chains, strict=True):
            if isinstance(result, NodeError | CertsError | ProtocolError):
                errors[city] = result.code
            elif isinstance(result, BaseException):
                raise result
            else:
                candidates.extend(result)
        with contextlib.suppress(OSError):
            candidates.append(self._config.federation_root_file.read_bytes())
        if self._advance_root(candidates, now):
            await self.refresh_own(now)
        members = fed.members()
        results = await asyncio.gather(
            *(self._sync_peer(city, url, issuer, now) for city, url, issuer in members),
            return_exceptions=True,
        )
        for (city, _, _), outcome in zip(members, results, strict=True):
            peer = fed.peers[city]
            peer.last_attempt = now
            code = errors.get(city)
            if isinstance(outcome, NodeError | CertsError | ProtocolError):
                code = outcome.code
                log.warning(
                    "peer sync failed", extra={"peer": city, "code": code, "error": str(outcome)}
                )
            elif isinstance(outcome, BaseException):
                raise outcome
            if code is None:
                peer.last_success = self._clock()
                peer.last_error = None
            else:
                peer.last_error, peer.last_error_at = code, now
                peer.errors += 1
                self._metrics.sync_errors.labels(peer=city, code=code).inc()
        self.observe(self._clock())
        _keep("peer state", self._store.save_peers, fed.peers)

    # -- workers of one node -------------------------------------------------------------------

    async def follow(self, now: datetime, *, leader: bool) -> bool:
        """Pick up what other workers of this node kept in ``sync.dir``; whether it changed.

        Every worker takes root versions another worker accepted (``POST
        /v1/federation/roots``); the sync leader then signs our material again. The other
        workers (followers, which run no rounds) also take the leader's copies of every
        member's material -- ours included, which they then serve --, peer status lists and
        per-peer state. Each copy is verified again before it is used; a copy that fails is
        skipped. Cheap when nothing changed: one ``stat`` per kept file.
        """
        fingerprint = self._store.fingerprint()
        if fingerprint == self._seen:
            return False
        self._seen = fingerprint
        fed = self.federation
        before = fed.root.version
        for data in self._store.roots():
            try:
                fed.offer_root(data, now)
            except CertsError:
                continue
        if fed.root.version != before:
            log.info("federation root updated", extra={"version": fed.root.version})
            if leader:
                await self.refresh_own(now)
        if leader:
            return True
        for city, (data, fetched_at) in self._store.materials().items():
            if fed.material_data(city) == data and fed.fetched_at(city) == fetched_at:
                continue
            try:
                fed.offer_material(city, data, now, fetched_at=fetched_at)
            except CertsError as err:
                log.debug("not taking a kept material", extra={"peer": city, "code": err.code})
                continue
            if city == fed.city:
                self.own.adopt(data, fetched_at)
        for uri, token in self._store.statuses().items():
            if self._loaded_status.get(uri) == token:
                continue
            try:
                fed.status.put(uri, token, now)
            except ProtocolError as err:
                log.debug("not taking a kept status list", extra={"uri": uri, "code": err.code})
                continue
            self._loaded_status[uri] = token
        self._store.load_peers(fed.peers)
        return True

    def accept_root(self, data: bytes, now: datetime) -> bool:
        """Offer one signed root (the office API) and keep it if it is the next version.

        Raises:
            CertsError: not the next version by TUF's rules.
        """
        if not self.federation.offer_root(data, now):
            return False
        _keep("root", self._store.save_root, self.federation.root.version, data)
        return True

    async def refresh_own(self, now: datetime) -> None:
        """Sign our material again if it changed, and keep it (failures are logged)."""
        try:
            data = await self.own.refresh(self.federation, now)
        except (CertsError, ProtocolError) as err:
            log.error("our own material does not verify", extra={"code": err.code})
            return
        if data is not None:
            _keep("own material", self._store.save_material, self.federation.city, data, now)

    async def _peer_roots(self, base: str) -> list[bytes]:
        data = await self.fetch(base.rstrip("/") + ROOT_PATH)
        try:
            obj = parse_json_object(data, what="root chain")
        except ProtocolError as err:
            raise PeerBadResponseError(err.message) from err
        roots = obj.get("roots")
        if not isinstance(roots, list) or len(roots) > self.federation.policy.root.max_chain_length:
            raise PeerBadResponseError("the root chain lists no roots")
        try:
            return [json_bytes(r) for r in roots]
        except (ValueError, RecursionError) as err:
            raise PeerBadResponseError(str(err)) from err

    def _advance_root(self, candidates: list[bytes], now: datetime) -> bool:
        """Move the trusted root forward one version at a time; whether it moved."""
        fed = self.federation
        moved = False
        for _ in range(len(candidates) + 1):  # each step uses up at least one version
            stepped = False
            for data in candidates:
                try:
                    if fed.offer_root(data, now):
                        _keep("root", self._store.save_root, fed.root.version, data)
                        log.info("federation root updated", extra={"version": fed.root.version})
                        stepped = moved = True
                        break
                except CertsError:
                    continue
            if not stepped:
                break
        return moved

    async def _sync_peer(self, city: str, base: str, issuer: str, now: datetime) -> None:
        fed = self.federation
        data = await self.fetch(base.rstrip("/") + MATERIAL_PATH)
        before = fed.material_data(city)
        material = fed.offer_material(city, data, now)
        _keep("peer material", self._store.save_material, city, data, now)
        if before != data:
            log.info("peer material updated", extra={"peer": city})
        first_error: NodeError | ProtocolError | None = None
        for uri in material.status_lists:
            if not fed.status.needs_refresh(uri, now):
                continue
            try:
                token = await self.fetch(uri)
                fed.status.put(uri, token, now, issuer=issuer)
                _keep("status list", self._store.save_status, uri, token)
            except (NodeError, ProtocolError) as err:
                first_error = first_error or err
        if first_error is not None:
            raise first_error

    # -- reporting -----------------------------------------------------------------------------

    def observe(self, now: datetime) -> None:
        """Update the per-peer gauges at ``now``."""
        fed = self.federation
        self._metrics.root_version.set(fed.root.version)
        for city, peer in fed.peers.items():
            self._metrics.peer_up.labels(peer=city).set(
                1 if fed.peer_state(city, now) == "ok" else 0
            )
            last = peer.last_success.timestamp() if peer.last_success else 0
            self._metrics.peer_last_success.labels(peer=city).set(last)
            fetched = fed.fetched_at(city)
            age = (now - fetched).total_seconds() if fetched is not None else -1
            self._metrics.peer_age.labels(peer=city).set(age)

    async def run_forever(self, interval: timedelta) -> None:
        """Run a round every ``interval`` until cancelled (a failed round is logged)."""
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive any one bad round
                log.exception("sync round failed")
            await self._sleep(interval.total_seconds())
