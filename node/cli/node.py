"""``huxin node``: set up, run and operate a city node.

Commands: ``init`` (configuration, keys, CSR, database), ``run``, ``migrate``, ``credential
add|list|revoke``, ``import`` (bulk score records with a progress bar), ``audit verify``. Each
reads ``DIR/node.toml`` with ``HUXIN_*`` environment overrides at the moment it runs.

What it deliberately does not do: hold logic -- it calls ``node.*`` and reports coded errors as
``error[code]: message``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import click

from node.cli._common import echo_json, reported_errors

T = TypeVar("T")

_DATA = click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The node's data directory.",
)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _migrate(database_url: str) -> None:
    """Bring the database at ``database_url`` to the newest schema (alembic ``head``)."""
    from node.db import create_engine
    from node.db import migrate as migrate_schema  # ``migrate`` here is the command

    engine = create_engine(database_url, pool_size=1)
    try:
        await migrate_schema(engine)
    finally:
        await engine.dispose()


def _now() -> datetime:
    return datetime.now(UTC)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line: time, level, logger, message and structured extras."""

    _SKIP = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as JSON."""
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._SKIP:
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


@click.group()
def node() -> None:
    """Set up and run a city node (设立并运行城市节点)."""


@node.command()
@click.option("--city", required=True, help="City id, e.g. zhengzhou.")
@_DATA
@click.option("--public-url", default=None, help="URL other nodes and wallets reach us at.")
@click.option("--database-url", default=None, help="postgresql+asyncpg://... (default SQLite).")
@click.option("--port", type=int, default=None, help="Listen port (default 8480).")
@click.option("--scale-file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option(
    "--cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Certificate chain from `huxin ca issue` for an existing --key.",
)
@click.option(
    "--key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Use this signing key (PEM) instead of generating one.",
)
def init(
    city: str,
    data_dir: Path,
    public_url: str | None,
    database_url: str | None,
    port: int | None,
    scale_file: Path | None,
    cert: Path | None,
    key: Path | None,
) -> None:
    """Create DIR/node.toml, the signing key and its CSR, the resident-hash key and the database."""
    from node import keystore
    from node.config import CONFIG_FILE, load_config, write_config
    from node.errors import ConfigError

    with reported_errors():
        if cert is not None and key is None:
            raise ConfigError("--cert certifies an existing key: give that key with --key")
        if cert is not None and key is not None:
            keystore.check_certificate(cert.read_bytes(), key.read_bytes())
        data_dir.mkdir(parents=True, exist_ok=True)
        if (data_dir / CONFIG_FILE).exists():
            raise ConfigError(f"{data_dir / CONFIG_FILE} exists; this node is already set up")
        values: dict[str, dict[str, object]] = {"node": {"city": city}}
        if public_url:
            values["node"]["public_url"] = public_url
        if port is not None:
            values["server"] = {"port": port}
        if database_url:
            values["database"] = {"url": database_url}
        if scale_file is not None:
            shutil.copyfile(scale_file, data_dir / "scale.json")
            values["scale"] = {"file": "scale.json"}
        write_config(data_dir, values)
        config = load_config(data_dir, os.environ)
        if key is not None:
            from certs.keys import PRIVATE_KEY_FILE_MODE

            config.signing_key.write_bytes(key.read_bytes())
            os.chmod(config.signing_key, PRIVATE_KEY_FILE_MODE)
            keystore.create_resident_key(config)
            csr = None
        else:
            csr = keystore.create_keys(config)
        if cert is not None:
            keystore.install_certificate(config, cert.read_bytes())
        catalogue = resources.files("node") / "data" / "incentives" / f"{city}.json"
        if catalogue.is_file() and not config.incentives_file.exists():
            config.incentives_file.write_bytes(catalogue.read_bytes())

        _run(_migrate(config.database_url))
    click.echo(f"节点已设立 / node set up: {data_dir / CONFIG_FILE}")
    if csr is not None and cert is None:
        public = config.signing_key.with_suffix(".pub.pem")
        click.echo(
            f"证书签发请求 / certificate request: {csr} (public key {public})\n"
            f"  have the city CA certify it: huxin ca issue --dir CA_DIR --public-key {public}"
            f"\n  then: huxin node install-cert --data {data_dir} CERT.pem"
        )


@node.command("install-cert")
@_DATA
@click.argument("cert", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def install_cert(data_dir: Path, cert: Path) -> None:
    """Install the certificate (chain) the city CA issued for this node's signing key."""
    from node import keystore
    from node.config import load_config

    with reported_errors():
        config = load_config(data_dir, os.environ)
        keystore.install_certificate(config, cert.read_bytes())
    click.echo(f"证书已安装 / certificate installed: {config.certificate}")


@node.command()
@_DATA
@click.option("--host", default=None, help="Listen address (default from node.toml).")
@click.option("--port", type=int, default=None, help="Listen port (default from node.toml).")
@click.option(
    "--workers",
    default=None,
    metavar="N|auto",
    help="Worker processes sharing the port (default from node.toml; auto: one per CPU).",
)
def run(data_dir: Path, host: str | None, port: int | None, workers: str | None) -> None:
    """Serve the node until interrupted (JSON logs on standard error).

    With more than one worker this process supervises pre-forked workers sharing the port
    (``SO_REUSEPORT``); SIGTERM or SIGINT stops them all. Exits 1 when workers keep dying.
    """
    from node import failpoints
    from node.config import load_config
    from node.server import serve

    with reported_errors():
        count = _workers_option(workers)
        config = load_config(data_dir, os.environ)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLogFormatter())
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(config.log_level)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        failpoints.configure(os.environ)
        code = serve(
            config,
            host=host or config.host,
            port=config.port if port is None else port,
            workers=config.workers if count is None else count,
        )
    if code:
        sys.exit(code)


def _workers_option(value: str | None) -> int | None:
    """``--workers``: a positive count, ``auto`` (0: one per CPU) or absent.

    Raises:
        ConfigError: anything else.
    """
    from node.errors import ConfigError

    if value is None:
        return None
    if value.strip().lower() == "auto":
        return 0
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 1:
        raise ConfigError(f"--workers must be a positive number or auto, not {value!r}")
    return count


@node.command()
@_DATA
def migrate(data_dir: Path) -> None:
    """Upgrade the database schema to the newest version."""
    from node.config import load_config

    with reported_errors():
        config = load_config(data_dir, os.environ)
        _run(_migrate(config.database_url))
    click.echo("数据库已是最新 / database schema is current")


@node.group()
def credential() -> None:
    """API credentials: office, app, merchant."""


@credential.command("add")
@_DATA
@click.option("--role", required=True, type=click.Choice(["office", "app", "merchant"]))
@click.option("--name", required=True, help="Who holds it, e.g. zhengzhou-app.")
def credential_add(data_dir: Path, role: str, name: str) -> None:
    """Create a credential and print its bearer token (shown once)."""
    from node import auth

    with reported_errors():
        engine = _engine(data_dir)

        async def add() -> str:
            try:
                return await auth.add_credential(
                    engine, name=name, role=auth.Role(role), actor="cli", now=_now()
                )
            finally:
                await engine.dispose()

        token = _run(add())
    click.echo(token)


@credential.command("list")
@_DATA
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def credential_list(data_dir: Path, as_json: bool) -> None:
    """List credentials (never their tokens)."""
    from node import auth

    with reported_errors():
        engine = _engine(data_dir)

        async def listing() -> list[auth.CredentialInfo]:
            try:
                return await auth.list_credentials(engine)
            finally:
                await engine.dispose()

        found = _run(listing())
    if as_json:
        echo_json([c.to_dict() for c in found])
        return
    for c in found:
        state = "revoked" if c.revoked_at else "active"
        click.echo(f"{c.name}\t{c.role.value}\t{state}")


@credential.command("revoke")
@_DATA
@click.option("--name", required=True)
def credential_revoke(data_dir: Path, name: str) -> None:
    """Revoke a credential; its token stops working at once."""
    from node import auth

    with reported_errors():
        engine = _engine(data_dir)

        async def revoke() -> None:
            try:
                await auth.revoke_credential(engine, name=name, actor="cli", now=_now())
            finally:
                await engine.dispose()

        _run(revoke())
    click.echo(f"已吊销 / revoked: {name}")


def _engine(data_dir: Path) -> Any:
    from node.config import load_config
    from node.db import create_engine

    config = load_config(data_dir, os.environ)
    return create_engine(config.database_url, pool_size=2)


@node.command("import")
@_DATA
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=50_000)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_(data_dir: Path, file: Path, batch_size: int, quiet: bool) -> None:
    """Import score records from FILE (NDJSON, or CSV with header national_id,score,seq).

    Idempotent and resumable: rerun after an interruption and it continues from its checkpoint.
    """
    from node.app import load_scale
    from node.config import load_config
    from node.db import create_engine
    from node.imports import RecordValidator, count_records, import_file
    from node.keystore import load_keys

    with reported_errors():
        config = load_config(data_dir, os.environ)
        validate = RecordValidator(load_scale(config), load_keys(config).hasher)
        total = 0 if quiet else count_records(file)

        async def work() -> dict[str, int]:
            engine = create_engine(config.database_url, pool_size=1)
            try:
                if quiet:
                    stats = await import_file(
                        engine,
                        file,
                        validate=validate,
                        actor="cli:import",
                        clock=_now,
                        batch_size=batch_size,
                    )
                else:
                    with click.progressbar(
                        length=total, label="导入 / importing", file=sys.stderr
                    ) as bar:
                        stats = await import_file(
                            engine,
                            file,
                            validate=validate,
                            actor="cli:import",
                            clock=_now,
                            batch_size=batch_size,
                            progress=bar.update,
                        )
                return stats.to_dict()
            finally:
                await engine.dispose()

        result = _run(work())
    echo_json(result)


@node.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
@_DATA
def audit_verify(data_dir: Path) -> None:
    """Check the audit chain; name the first edited, deleted or reordered entry."""
    from node.audit import verify_chain

    with reported_errors():
        engine = _engine(data_dir)

        async def check() -> int:
            try:
                return await verify_chain(engine)
            finally:
                await engine.dispose()

        count = _run(check())
    click.echo(f"审计日志完好 / audit log intact: {count} entries")
