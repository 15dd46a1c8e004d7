"""The node's configuration: ``DIR/node.toml`` plus ``HUXIN_*`` environment overrides.

What it does: defines every setting once (:data:`SETTINGS`: TOML location, environment variable,
type, default, help), loads the file, applies overrides from an environment mapping the caller
passes in, validates, and returns a frozen :class:`NodeConfig`. Paths in the file are relative to
the data directory. :func:`write_config` writes a fresh file for ``huxin node init``.

What it deliberately does not do: read ``os.environ`` at import time (callers pass the
environment when the node starts), open the database, or load keys.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

import tomli_w

from node.errors import ConfigError

CONFIG_FILE: Final = "node.toml"

#: The default scale of each member city (DESIGN.md "Built-in scales").
CITY_SCALES: Final[Mapping[str, str]] = {
    "zhengzhou": "shangding",
    "hangzhou": "qianjiang",
    "fuzhou": "jasmine",
    "nanjing": "honest-card",
    "wuhan": "wuhan",
    "suzhou": "osmanthus",
    "qiqihar": "qiqihar",
}


@dataclass(frozen=True)
class Setting:
    """One configuration setting: where it lives in TOML, its environment override, its type."""

    section: str
    key: str
    kind: type
    default: object
    help: str

    @property
    def env(self) -> str:
        """The environment variable that overrides it, e.g. ``HUXIN_DATABASE_URL``."""
        parts = ["HUXIN"] if self.section == "node" else ["HUXIN", self.section.upper()]
        return "_".join([*parts, self.key.upper()])


#: Every setting the node reads. ``docs/operator.md`` documents the same table.
SETTINGS: Final[tuple[Setting, ...]] = (
    Setting("node", "city", str, None, "city id (zhengzhou, hangzhou, ...); required"),
    Setting("node", "public_url", str, "http://127.0.0.1:8480", "URL other nodes reach us at"),
    Setting("node", "issuer", str, "", "the `iss` of our attestations; default: public_url"),
    Setting("server", "host", str, "127.0.0.1", "listen address"),
    Setting("server", "port", int, 8480, "listen port"),
    Setting("server", "client_max_size", int, 16 * 1024 * 1024, "largest request body, bytes"),
    Setting("server", "workers", int, 1, "worker processes sharing the port; 0: one per CPU"),
    Setting("database", "url", str, "", "SQLAlchemy async URL; default: SQLite DIR/node.db"),
    Setting("database", "pool_size", int, 10, "connections per replica (PostgreSQL)"),
    Setting("scale", "id", str, "", "built-in scale id; default: the city's scale"),
    Setting("scale", "file", str, "", "scale definition file replacing the built-in one"),
    Setting("keys", "signing_key", str, "signing-key.pem", "attestation signing key (PEM)"),
    Setting("keys", "certificate", str, "signing-cert.pem", "its certificate chain (PEM)"),
    Setting("keys", "resident_key", str, "resident-hash.key", "HMAC key for resident ids"),
    Setting("issuance", "lifetime_seconds", int, 24 * 3600, "attestation lifetime"),
    Setting("issuance", "max_batch", int, 64, "most attestations per request"),
    Setting("issuance", "band_width", int, 10, "width of the disclosable score band; 0: none"),
    Setting("status", "list_size", int, 1 << 17, "entries per status list (herd size)"),
    Setting("status", "ttl_seconds", int, 300, "status list `ttl`: how long caches keep it"),
    Setting("status", "lifetime_seconds", int, 24 * 3600, "status list token `exp` - `iat`"),
    Setting(
        "status",
        "source_refresh_seconds",
        int,
        2,
        "how stale /v1/verify's view of the lists may be (other replicas' revocations)",
    ),
    Setting("incentives", "file", str, "incentives.json", "the city's incentive catalogue"),
    Setting("federation", "root_file", str, "federation-root.json", "pinned federation root"),
    Setting("sync", "dir", str, "federation-cache", "last good copies of peers' material"),
    Setting("sync", "interval_seconds", int, 60, "seconds between sync rounds; 0: no loop"),
    Setting("sync", "timeout_ms", int, 5000, "total time one peer request may take"),
    Setting("sync", "max_bytes", int, 4 * 1024 * 1024, "largest peer response accepted"),
    Setting("sync", "attempts", int, 3, "tries per request (transport errors, 5xx)"),
    Setting("sync", "backoff_ms", int, 500, "first retry delay (exponential, jittered)"),
    Setting("sync", "max_backoff_ms", int, 10_000, "longest retry delay"),
    Setting("sync", "material_max_age_seconds", int, 7 * 86400, "use a peer's copy this long"),
    Setting("log", "level", str, "INFO", "log level (DEBUG, INFO, WARNING, ERROR)"),
    Setting("auth", "cache_seconds", int, 5, "remember a valid credential this long (0: never)"),
)


@dataclass(frozen=True)
class NodeConfig:
    """A validated node configuration. Paths are absolute."""

    data_dir: Path
    city: str
    public_url: str
    issuer: str
    host: str
    port: int
    client_max_size: int
    #: Worker processes serving the port (0: one per CPU; ``node.server`` resolves it).
    workers: int
    database_url: str
    pool_size: int
    scale_id: str
    scale_file: Path | None
    signing_key: Path
    certificate: Path
    resident_key: Path
    attestation_lifetime: timedelta
    max_batch: int
    band_width: int
    status_list_size: int
    status_ttl: timedelta
    status_lifetime: timedelta
    #: How long online verification trusts its in-process copy of the lists without asking the
    #: database whether another replica revoked something (revocations here show at once).
    status_source_refresh: timedelta
    incentives_file: Path
    federation_root_file: Path
    sync_dir: Path
    sync_interval: timedelta
    sync_timeout: timedelta
    sync_max_bytes: int
    sync_attempts: int
    sync_backoff: timedelta
    sync_max_backoff: timedelta
    material_max_age: timedelta
    log_level: str
    #: How long a successful credential lookup is remembered in memory (0: not at all).
    auth_cache: timedelta

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite (one process) rather than a server."""
        return self.database_url.startswith("sqlite")


def default_database_url(data_dir: Path) -> str:
    """The SQLite database in the data directory."""
    return f"sqlite+aiosqlite:///{(data_dir / 'node.db').resolve()}"


def _coerce(setting: Setting, value: object, origin: str) -> object:
    if setting.kind is int:
        if isinstance(value, bool):
            raise ConfigError(f"{origin}: {setting.key} must be an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise ConfigError(f"{origin}: {setting.key} must be an integer") from None
        raise ConfigError(f"{origin}: {setting.key} must be an integer")
    if not isinstance(value, str):
        raise ConfigError(f"{origin}: {setting.key} must be a string")
    return value


def _raw_values(data_dir: Path, env: Mapping[str, str]) -> dict[tuple[str, str], object]:
    path = data_dir / CONFIG_FILE
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path} not found; run `huxin node init` first") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    known = {(s.section, s.key) for s in SETTINGS}
    values: dict[tuple[str, str], object] = {}
    for section, body in doc.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        for key, value in body.items():
            if (section, key) not in known:
                raise ConfigError(f"{path}: unknown setting {section}.{key}")
            values[(section, key)] = value
    for setting in SETTINGS:
        origin = f"{path}"
        raw = values.get((setting.section, setting.key), setting.default)
        if setting.env in env:
            raw, origin = env[setting.env], f"${setting.env}"
        if raw is None:
            raise ConfigError(f"{path}: {setting.section}.{setting.key} is required")
        values[(setting.section, setting.key)] = _coerce(setting, raw, origin)
    return values


def load_config(data_dir: str | Path, env: Mapping[str, str] | None = None) -> NodeConfig:
    """Load ``DIR/node.toml`` and apply ``HUXIN_*`` overrides from ``env``.

    Args:
        data_dir: the node's data directory.
        env: environment variables to honour (the caller passes ``os.environ`` at start-up);
            ``None`` means no overrides.

    Raises:
        ConfigError: the file is missing or invalid, a value has the wrong type or range.
    """
    root = Path(data_dir).resolve()
    v = _raw_values(root, env or {})

    def s(section: str, key: str) -> str:
        value = v[(section, key)]
        assert isinstance(value, str)  # noqa: S101 - guaranteed by _coerce
        return value

    def i(section: str, key: str, low: int = 0) -> int:
        value = v[(section, key)]
        assert isinstance(value, int)  # noqa: S101 - guaranteed by _coerce
        if value < low:
            raise ConfigError(f"{section}.{key} must be at least {low}")
        return value

    def path(section: str, key: str) -> Path:
        return (root / s(section, key)).resolve()

    city = s("node", "city")
    if city not in CITY_SCALES and not s("scale", "id"):
        raise ConfigError(f"city {city!r} has no default scale; set scale.id")
    public_url = s("node", "public_url").rstrip("/")
    list_size = i("status", "list_size", 8)
    if list_size % 8:
        raise ConfigError("status.list_size must be a multiple of 8")
    level = s("log", "level").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"log.level {level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    return NodeConfig(
        data_dir=root,
        city=city,
        public_url=public_url,
        issuer=s("node", "issuer") or public_url,
        host=s("server", "host"),
        port=i("server", "port", 0),
        client_max_size=i("server", "client_max_size", 1024),
        workers=i("server", "workers", 0),
        database_url=s("database", "url") or default_database_url(root),
        pool_size=i("database", "pool_size", 1),
        scale_id=s("scale", "id") or CITY_SCALES[city],
        scale_file=path("scale", "file") if s("scale", "file") else None,
        signing_key=path("keys", "signing_key"),
        certificate=path("keys", "certificate"),
        resident_key=path("keys", "resident_key"),
        attestation_lifetime=timedelta(seconds=i("issuance", "lifetime_seconds", 60)),
        max_batch=i("issuance", "max_batch", 1),
        band_width=i("issuance", "band_width", 0),
        status_list_size=list_size,
        status_ttl=timedelta(seconds=i("status", "ttl_seconds", 1)),
        status_lifetime=timedelta(seconds=i("status", "lifetime_seconds", 60)),
        status_source_refresh=timedelta(seconds=i("status", "source_refresh_seconds", 0)),
        incentives_file=path("incentives", "file"),
        federation_root_file=path("federation", "root_file"),
        sync_dir=path("sync", "dir"),
        sync_interval=timedelta(seconds=i("sync", "interval_seconds", 0)),
        sync_timeout=timedelta(milliseconds=i("sync", "timeout_ms", 1)),
        sync_max_bytes=i("sync", "max_bytes", 1024),
        sync_attempts=i("sync", "attempts", 1),
        sync_backoff=timedelta(milliseconds=i("sync", "backoff_ms", 0)),
        sync_max_backoff=timedelta(milliseconds=i("sync", "max_backoff_ms", 0)),
        material_max_age=timedelta(seconds=i("sync", "material_max_age_seconds", 60)),
        log_level=level,
        auth_cache=timedelta(seconds=i("auth", "cache_seconds", 0)),
    )


def write_config(data_dir: str | Path, values: Mapping[str, Mapping[str, object]]) -> Path:
    """Write ``DIR/node.toml`` from ``{section: {key: value}}`` (one TOML table per section).

    Raises:
        ConfigError: a section or key is not a known setting.
    """
    known = {(s.section, s.key) for s in SETTINGS}
    doc: dict[str, dict[str, object]] = {}
    for section, body in values.items():
        for key, value in body.items():
            if (section, key) not in known:
                raise ConfigError(f"unknown setting {section}.{key}")
            doc.setdefault(section, {})[key] = value
    path = Path(data_dir) / CONFIG_FILE
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path
