"""The merchant's verification flow around ``protocol``: bundle, status cache, replay, verdict.

What it does:

* :func:`load_incentive` finds ``CITY/ID`` in a verified trust bundle's published catalogues.
* :class:`StatusCacheDir` keeps signed Status List Tokens on disk, one file per list URI with an
  ``index.json`` mapping each URI to its file, and loads them into a verify-before-store
  :class:`~protocol.status_list.StatusListCache`; :func:`refresh_status_lists` fills it over
  HTTP (whole lists only, bounded size and time), verifying each token before it is saved.
* :class:`SqliteReplayCache` is a :class:`~protocol.replay.ReplayCache` in one SQLite file, so
  one-way (gate QR) presentations are refused the second time across runs and processes.
* :func:`verify_for_incentive` runs :func:`protocol.verifier.verify_presentation` and
  :func:`protocol.incentive.decide` and returns a :class:`MerchantVerdict` that explains itself
  in Chinese and English, whatever the outcome.

What it deliberately does not do: any protocol check of its own (``protocol`` decides validity
and eligibility), print anything (the CLI formats), or read the clock (``now`` is passed in).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from certs.bundle import TrustBundle
from certs.errors import CertsError
from mapping.convert import Eligibility
from mapping.scale import Scale
from node.errors import NodeError
from protocol.errors import MalformedError, ProtocolError
from protocol.incentive import (
    Incentive,
    Text,
    UnknownIncentiveError,
    decide,
    disclosed_by,
    parse_catalogue,
)
from protocol.presentation import DisclosureRequest
from protocol.replay import ReplayCache
from protocol.status_list import DEFAULT_MAX_TOKEN_BYTES, StatusListCache, StatusListSource
from protocol.verifier import VerifierPolicy, verify_presentation

INDEX_FILE: Final = "index.json"
LISTS_DIR: Final = "lists"
REPLAY_FILE: Final = "replay.sqlite"
INDEX_VERSION: Final = 1
#: Media type of a Status List Token (draft-ietf-oauth-status-list section 5.1).
STATUS_LIST_MEDIA_TYPE: Final = "application/statuslist+jwt"
FETCH_TIMEOUT_SECONDS: Final = 10.0
AUDIENCE_PREFIX: Final = "urn:huxin:incentive:"
DEFAULT_POLICY: Final = VerifierPolicy()


class FetchError(NodeError):
    """A status list could not be fetched (network error, HTTP error, too large)."""

    code = "fetch_failed"
    http_status = 502


class StatusCacheError(NodeError):
    """The status cache directory is damaged (unreadable index)."""

    code = "bad_status_cache"
    http_status = 500


def default_audience(ref: str) -> str:
    """The ``aud`` a wallet and a verifier agree on when the merchant names no identifier.

    ``urn:huxin:incentive:CITY/ID``: a presentation made for one incentive is refused for
    another, so a QR code shown at a library cannot be reused at a pool.
    """
    return AUDIENCE_PREFIX + ref


def split_ref(ref: str) -> tuple[str, str]:
    """``CITY/ID`` as ``(city, id)``.

    Raises:
        UnknownIncentiveError: not of the form ``CITY/ID``.
    """
    city, sep, ident = ref.partition("/")
    if not sep or not city or not ident or "/" in ident:
        raise UnknownIncentiveError(f"incentive must be CITY/ID, not {ref!r}")
    return city, ident


def load_incentive(bundle: TrustBundle, ref: str) -> tuple[Incentive, Scale]:
    """The incentive ``CITY/ID`` from the bundle's published catalogues, and the city's scale.

    Raises:
        UnknownIncentiveError: malformed ``ref`` or no such incentive in the catalogue.
        UnknownMemberError: the city is not a member of the bundle.
        CatalogueError: the city's published catalogue is not valid.
    """
    city, ident = split_ref(ref)
    scale = bundle.scale(city)
    catalogue = parse_catalogue(bundle.incentives(city), scale)
    return catalogue.get(ident), scale


# --------------------------------------------------------------------------------------------
# The status list cache directory


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class CachedToken:
    """One saved Status List Token: its URI, file (relative to the cache) and fetch time."""

    uri: str
    file: str
    fetched_at: datetime


class StatusCacheDir:
    """Status List Tokens saved on disk for offline verification.

    Layout::

        DIR/index.json          {"version": 1, "lists": {URI: {"file": "lists/<h>.jwt",
                                                               "fetched_at": ISO-8601}}}
        DIR/lists/<h>.jwt       the token exactly as served (compact JWS), <h> = sha-256(URI)[:32]
        DIR/replay.sqlite       the one-way replay cache (:class:`SqliteReplayCache`)

    Tokens are verified against the trust bundle every time they are loaded, so a file edited
    on disk is refused, never trusted.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def index_path(self) -> Path:
        return self.path / INDEX_FILE

    @property
    def replay_path(self) -> Path:
        return self.path / REPLAY_FILE

    def entries(self) -> dict[str, CachedToken]:
        """The saved tokens by URI (empty when the directory has no index yet).

        Raises:
            StatusCacheError: the index is not a valid index file.
        """
        try:
            raw = self.index_path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise StatusCacheError(f"cannot read {self.index_path}: {err}") from err
        try:
            obj = json.loads(raw)
            lists = obj["lists"]
            if obj.get("version") != INDEX_VERSION or not isinstance(lists, dict):
                raise ValueError("unknown index version")
            return {
                uri: CachedToken(
                    uri=uri,
                    file=str(item["file"]),
                    fetched_at=datetime.fromisoformat(str(item["fetched_at"])),
                )
                for uri, item in lists.items()
            }
        except (ValueError, KeyError, TypeError) as err:
            raise StatusCacheError(f"{self.index_path} is not a status cache index: {err}") from err

    def store(self, uri: str, token: bytes, fetched_at: datetime) -> CachedToken:
        """Save ``token`` for ``uri`` (the caller verified it) and update the index.

        Raises:
            StatusCacheError: the index is damaged.
        """
        name = f"{LISTS_DIR}/{hashlib.sha256(uri.encode()).hexdigest()[:32]}.jwt"
        _write_atomic(self.path / name, token)
        entries = self.entries()
        entry = CachedToken(uri=uri, file=name, fetched_at=fetched_at)
        entries[uri] = entry
        doc = {
            "version": INDEX_VERSION,
            "lists": {
                u: {"file": e.file, "fetched_at": e.fetched_at.isoformat()}
                for u, e in sorted(entries.items())
            },
        }
        _write_atomic(self.index_path, json.dumps(doc, indent=2).encode() + b"\n")
        return entry

    def load(
        self, bundle: TrustBundle, now: datetime, policy: VerifierPolicy = DEFAULT_POLICY
    ) -> tuple[StatusListCache, dict[str, str]]:
        """A :class:`StatusListCache` holding every saved token that verifies at ``now``.

        Returns:
            The cache and, by URI, why a saved token was not loaded (``code: message``); a
            presentation that needs such a list then fails with ``status_unavailable``.

        Raises:
            StatusCacheError: the index is damaged.
        """
        cache = StatusListCache(bundle, policy.allowed_algorithms, leeway=policy.leeway)
        problems: dict[str, str] = {}
        for uri, entry in self.entries().items():
            try:
                token = (self.path / entry.file).read_bytes()
            except OSError as err:
                problems[uri] = f"file_not_found: {entry.file}: {err.strerror or err}"
                continue
            try:
                cache.put(uri, token, now, issuer=_issuer_of(bundle, uri))
            except ProtocolError as err:
                problems[uri] = f"{err.code}: {err}"
        return cache, problems


def _issuer_of(bundle: TrustBundle, uri: str) -> str | None:
    """The issuer whose material publishes ``uri`` (its token must be signed by it)."""
    for member in bundle.members:
        if uri in bundle.status_list_uris(member.city):
            return member.issuer
    return None


def http_get(uri: str, *, timeout: float = FETCH_TIMEOUT_SECONDS, max_bytes: int) -> bytes:
    """GET ``uri`` (http or https) with a timeout and a size bound.

    Raises:
        FetchError: another scheme, a network or HTTP error, or a body over ``max_bytes``.
    """
    if not uri.startswith(("https://", "http://")):
        raise FetchError(f"{uri!r} is not an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        uri, headers={"Accept": STATUS_LIST_MEDIA_TYPE, "User-Agent": "huxin-verify"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body: bytes = response.read(max_bytes + 1)
    except urllib.error.HTTPError as err:
        raise FetchError(f"{uri}: HTTP {err.code}") from err
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise FetchError(f"{uri}: {getattr(err, 'reason', err)}") from err
    if len(body) > max_bytes:
        raise FetchError(f"{uri}: the response is larger than {max_bytes} bytes")
    return body


@dataclass(frozen=True)
class RefreshResult:
    """What happened to one status list URI during a refresh."""

    uri: str
    city: str
    ok: bool
    skipped: bool = False
    error: str | None = None
    message: str | None = None


def refresh_status_lists(
    bundle: TrustBundle,
    cache_dir: StatusCacheDir,
    *,
    now: datetime,
    fetch: Callable[[str], bytes] | None = None,
    force: bool = False,
    policy: VerifierPolicy = DEFAULT_POLICY,
) -> list[RefreshResult]:
    """Fetch every member's status lists that need it, verify each, save the good ones.

    A list is fetched when it is not saved, its ``ttl`` has passed or it expired (or always
    with ``force``). A token that fails verification, or is older than the saved one, is not
    saved; the previous copy stays. Failures are reported per URI, never raised.

    Raises:
        StatusCacheError: the index is damaged.
    """
    get = fetch or (lambda uri: http_get(uri, max_bytes=DEFAULT_MAX_TOKEN_BYTES))
    cache, _ = cache_dir.load(bundle, now, policy)
    results: list[RefreshResult] = []
    for member in bundle.members:
        for uri in bundle.status_list_uris(member.city):
            if not force and not cache.needs_refresh(uri, now):
                results.append(RefreshResult(uri=uri, city=member.city, ok=True, skipped=True))
                continue
            try:
                token = get(uri)
                cache.put(uri, token, now, issuer=member.issuer)
                cache_dir.store(uri, token, now)
            except (ProtocolError, NodeError) as err:
                results.append(
                    RefreshResult(
                        uri=uri, city=member.city, ok=False, error=err.code, message=str(err)
                    )
                )
                continue
            results.append(RefreshResult(uri=uri, city=member.city, ok=True))
    return results


# --------------------------------------------------------------------------------------------
# Replay cache


class SqliteReplayCache:
    """A :class:`~protocol.replay.ReplayCache` in a SQLite file, shared by processes.

    One row per accepted one-way presentation, deleted once expired (a couple of minutes), so
    the file stays small. ``INSERT OR IGNORE`` on the primary key makes "check and record"
    atomic between concurrent verifiers on one machine.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS replay (key TEXT PRIMARY KEY, expires REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=5.0, isolation_level=None)

    def seen(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """See :meth:`protocol.replay.ReplayCache.seen`."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM replay WHERE expires <= ?", (now.timestamp(),))
            if expires_at <= now:
                known = conn.execute("SELECT 1 FROM replay WHERE key = ?", (key,)).fetchone()
                conn.execute("COMMIT")
                return known is not None
            cur = conn.execute(
                "INSERT OR IGNORE INTO replay (key, expires) VALUES (?, ?)",
                (key, expires_at.timestamp()),
            )
            conn.execute("COMMIT")
            return cur.rowcount == 0
        finally:
            conn.close()


# --------------------------------------------------------------------------------------------
# The verdict

_ERROR_TEXT: Final[Mapping[str, tuple[str, str]]] = {
    "revoked": ("该信用证明已被签发城市撤销", "the issuing city has revoked this attestation"),
    "expired": ("信用证明已过期，请持有人更新", "the attestation has expired; ask for a new one"),
    "not_yet_valid": ("信用证明尚未生效（请检查本机时间）", "not yet valid (check this clock)"),
    "wrong_audience": (
        "该出示不是给本商户或本优惠的",
        "presented to another verifier or incentive (aud mismatch)",
    ),
    "wrong_nonce": (
        "随机数不符，请持有人按本次请求重新出示",
        "nonce mismatch; ask the holder to present again for this request",
    ),
    "stale": ("出示已超时，请持有人重新生成二维码", "presentation too old; ask for a fresh one"),
    "replayed": ("该二维码已被使用过，不能重复使用", "this one-way QR code was already used"),
    "status_unavailable": (
        "无法确认撤销状态：状态列表缺失或过期，请先更新状态列表",
        "revocation status unknown: status list missing or expired; refresh the status lists",
    ),
    "untrusted_issuer": ("签发方不是信任联盟的成员", "the issuer is not a federation member"),
    "unknown_key": ("签发密钥不受信任", "the signing key is not trusted by the bundle"),
    "bad_signature": ("签名无效，证明可能被篡改", "invalid signature; possibly tampered"),
    "key_binding_invalid": (
        "持有人签名无效，可能不是本人出示",
        "holder signature invalid; possibly not the holder",
    ),
    "key_binding_missing": ("缺少持有人签名", "no holder signature (key binding)"),
    "too_large": ("数据过大，已拒绝", "input too large; refused"),
}
_DEFAULT_ERROR_TEXT: Final = ("出示的信用证明无效", "the presentation is invalid")


def error_text(code: str) -> Text:
    """A bilingual explanation of a verification error code for a merchant's screen."""
    zh, en = _ERROR_TEXT.get(code, _DEFAULT_ERROR_TEXT)
    return Text(zh=zh, en=en)


@dataclass(frozen=True)
class MerchantVerdict:
    """The outcome of one verification for one incentive.

    Attributes:
        valid: the presentation passed every protocol check.
        error: the stable error code when invalid, else ``None``.
        message: the technical message of that error, else ``None``.
        incentive: ``CITY/ID`` of the incentive asked about.
        issuer: the issuing member's city id (when the presentation was valid).
        level: the disclosed exact level, if any.
        level_at_least: the disclosed "level at least k" thresholds.
        band: the disclosed band of the issuer's scale, if any.
        eligibility: eligible / not eligible / undetermined; ``None`` when invalid.
        explanation: bilingual, always present (why invalid, or the mapped interval).
        ask_for: for an undetermined verdict, the finer disclosure to ask for.
        expires_at: when the attestation expires (when valid).
    """

    valid: bool
    error: str | None
    message: str | None
    incentive: str
    explanation: Text
    issuer: str | None = None
    level: int | None = None
    level_at_least: tuple[int, ...] = ()
    band: tuple[int, int] | None = None
    eligibility: Eligibility | None = None
    ask_for: DisclosureRequest | None = None
    expires_at: datetime | None = None
    interval: tuple[float, float] | None = None
    threshold: float | None = None
    unit: str | None = None
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """JSON-ready; the keys every consumer relies on are always present."""
        ask = None
        if self.ask_for is not None:
            ask = {
                "level": self.ask_for.level,
                "level_at_least": self.ask_for.level_at_least,
                "band": self.ask_for.band,
            }
        return {
            "valid": self.valid,
            "error": self.error,
            "message": self.message,
            "incentive": self.incentive,
            "issuer": self.issuer,
            "level": self.level,
            "level_at_least": list(self.level_at_least),
            "band": list(self.band) if self.band else None,
            "eligibility": self.eligibility.value if self.eligibility else None,
            "explanation": self.explanation.to_dict(),
            "interval": list(self.interval) if self.interval else None,
            "threshold": self.threshold,
            "unit": self.unit,
            "ask_for": ask,
            "expires_at": self.expires_at.astimezone(UTC).isoformat() if self.expires_at else None,
            "warnings": list(self.warnings),
        }


def invalid_verdict(incentive: str, code: str, message: str) -> MerchantVerdict:
    """The verdict for a presentation refused with error ``code``."""
    return MerchantVerdict(
        valid=False,
        error=code,
        message=message,
        incentive=incentive,
        explanation=error_text(code),
    )


def verify_for_incentive(
    presentation: str | bytes,
    *,
    bundle: TrustBundle,
    incentive: Incentive,
    local_scale: Scale,
    audience: str,
    nonce: str | None,
    status: StatusListSource,
    replay: ReplayCache | None,
    now: datetime,
    policy: VerifierPolicy = DEFAULT_POLICY,
) -> MerchantVerdict:
    """Verify ``presentation`` offline and decide eligibility for ``incentive``.

    Never raises for a bad presentation: every protocol error becomes an invalid verdict
    with its code and a bilingual explanation.

    Raises:
        ValueError: naive ``now``, or one-way mode (``nonce=None``) without a replay cache.
    """
    ref = incentive.ref
    try:
        verified = verify_presentation(
            presentation,
            keys=bundle,
            audience=audience,
            nonce=nonce,
            status=status,
            now=now,
            policy=policy,
            replay=replay,
        )
    except ProtocolError as err:
        return invalid_verdict(ref, err.code, str(err))
    try:
        holder_scale = bundle.scale(verified.city)
    except CertsError as err:  # pragma: no cover - resolve() already found the member
        return invalid_verdict(ref, err.code, str(err))
    disclosed, warning = disclosed_by(verified, holder_scale)
    try:
        decision = decide(incentive, local_scale, disclosed, now)
    except MalformedError as err:
        return invalid_verdict(ref, err.code, str(err))
    return MerchantVerdict(
        valid=True,
        error=None,
        message=None,
        incentive=ref,
        explanation=decision.explanation,
        issuer=verified.city,
        level=verified.level,
        level_at_least=tuple(sorted(verified.level_at_least)),
        band=verified.band,
        eligibility=decision.eligibility,
        ask_for=decision.ask_for,
        expires_at=verified.expires_at,
        interval=decision.interval,
        threshold=decision.threshold,
        unit=decision.unit,
        warnings=(warning,) if warning else (),
    )
