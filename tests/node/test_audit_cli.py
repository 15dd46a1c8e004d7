"""The audit chain detects edits, deletions and reordering; ``huxin node`` CLI commands;
configuration overrides; migrations match the models."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine as create_sync_engine

from node.cli import cli
from node.config import SETTINGS, load_config, write_config
from node.errors import ConfigError
from node.models import METADATA


def _init(tmp_path: Path) -> Path:
    data = tmp_path / "node"
    result = CliRunner().invoke(cli, ["node", "init", "--city", "zhengzhou", "--data", str(data)])
    assert result.exit_code == 0, result.output
    return data


def _cmd(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_init_writes_keys_with_private_modes(tmp_path: Path) -> None:
    data = _init(tmp_path)
    assert (data / "signing-key.pem").stat().st_mode & 0o777 == 0o600
    assert (data / "resident-hash.key").stat().st_mode & 0o777 == 0o600
    assert (data / "signing-key.csr").read_bytes().startswith(b"-----BEGIN CERTIFICATE REQUEST")
    assert (data / "node.db").exists()
    code, out = _cmd("node", "init", "--city", "zhengzhou", "--data", str(data))
    assert code == 1
    assert "error[config_error]" in out


def test_credentials_and_audit_verify_detects_tampering(tmp_path: Path) -> None:
    data = _init(tmp_path)
    tokens = []
    for n, role in enumerate(["office", "app", "merchant", "app"]):
        code, out = _cmd(
            "node", "credential", "add", "--data", str(data), "--role", role, "--name", f"c{n}"
        )
        assert code == 0, out
        tokens.append(out.strip())
    assert all(t.startswith("hx_") for t in tokens)
    code, out = _cmd(
        "node", "credential", "add", "--data", str(data), "--role", "app", "--name", "c1"
    )
    assert code == 1
    assert "error[conflict]" in out
    code, out = _cmd("node", "credential", "revoke", "--data", str(data), "--name", "c3")
    assert code == 0
    code, out = _cmd("node", "credential", "list", "--data", str(data))
    assert "c3\tapp\trevoked" in out
    assert tokens[0] not in out
    with sqlite3.connect(data / "node.db") as conn:
        stored = [r[0] for r in conn.execute("SELECT token_hash FROM credential")]
    assert tokens[0] not in stored
    code, out = _cmd("node", "audit", "verify", "--data", str(data))
    assert code == 0, out
    assert "5 entries" in out

    db = data / "node.db"

    def tamper(sql: str) -> str:
        copy = tmp_path / "copy"
        copy.mkdir(exist_ok=True)
        for f in data.iterdir():
            if not f.name.startswith("node.db"):
                (copy / f.name).write_bytes(f.read_bytes())
        with sqlite3.connect(db) as src, sqlite3.connect(copy / "node.db") as dst:
            src.backup(dst)
            dst.executescript(sql)
        code, out = _cmd("node", "audit", "verify", "--data", str(copy))
        assert code == 1
        for f in copy.iterdir():
            f.unlink()
        return out

    edited = tamper('UPDATE audit_entry SET detail = \'{"name":"evil"}\' WHERE seq = 2;')
    assert "error[audit_chain_broken]" in edited
    assert "entry 2 was edited" in edited
    deleted = tamper("DELETE FROM audit_entry WHERE seq = 3;")
    assert "entry 3 is missing" in deleted
    swapped = tamper(
        "UPDATE audit_entry SET seq = 100 WHERE seq = 2;"
        "UPDATE audit_entry SET seq = 2 WHERE seq = 3;"
        "UPDATE audit_entry SET seq = 3 WHERE seq = 100;"
    )
    assert "entry 2 does not follow" in swapped
    truncated = tamper("DELETE FROM audit_entry WHERE seq = 5;")
    assert "deleted" in truncated


def test_config_env_overrides_and_validation(tmp_path: Path) -> None:
    write_config(tmp_path, {"node": {"city": "hangzhou"}, "server": {"port": 9000}})
    cfg = load_config(tmp_path)
    assert (cfg.port, cfg.scale_id, cfg.is_sqlite) == (9000, "qianjiang", True)
    cfg = load_config(tmp_path, {"HUXIN_SERVER_PORT": "9100", "HUXIN_CITY": "fuzhou"})
    assert (cfg.port, cfg.city, cfg.scale_id) == (9100, "fuzhou", "jasmine")
    with pytest.raises(ConfigError):
        load_config(tmp_path, {"HUXIN_SERVER_PORT": "many"})
    with pytest.raises(ConfigError):
        load_config(tmp_path, {"HUXIN_STATUS_LIST_SIZE": "1001"})
    with pytest.raises(ConfigError):
        load_config(tmp_path / "missing")
    (tmp_path / "node.toml").write_text('[node]\ncity = "x"\nbogus = 1\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(tmp_path)
    envs = [s.env for s in SETTINGS]
    assert len(envs) == len(set(envs))
    assert "HUXIN_DATABASE_URL" in envs


def test_migrations_match_models(tmp_path: Path) -> None:
    data = _init(tmp_path)
    engine = create_sync_engine(f"sqlite:///{data / 'node.db'}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), METADATA)
    finally:
        engine.dispose()
    assert diff == []
    code, out = _cmd("node", "migrate", "--data", str(data))
    assert code == 0, out


def test_init_with_a_certificate_from_the_city_ca(tmp_path: Path) -> None:
    ca = tmp_path / "zz"
    assert _cmd("ca", "init", "--dir", str(ca), "--city", "zhengzhou", "--federation", "t")[0] == 0
    code, out = _cmd("ca", "issue", "--dir", str(ca), "--purpose", "attestation")
    assert code == 0, out
    key = ca / "node" / "attestation.key"
    cert = ca / "public" / "attestation.pem"
    data = tmp_path / "node"
    code, out = _cmd(
        "node",
        "init",
        "--city",
        "zhengzhou",
        "--data",
        str(data),
        "--key",
        str(key),
        "--cert",
        str(cert),
    )
    assert code == 0, out
    from node.keystore import load_keys

    keys = load_keys(load_config(data))
    jwks = keys.jwks()["keys"]
    assert isinstance(jwks, list)
    assert jwks[0]["x5c"]
    # A certificate for another key is refused.
    other = tmp_path / "other"
    code, out = _cmd(
        "node", "init", "--city", "zhengzhou", "--data", str(other), "--cert", str(cert)
    )
    assert code == 1
    assert "--key" in out
    assert not other.exists()
    stray = tmp_path / "stray.key"
    assert (
        _cmd(
            "ca", "issue", "--dir", str(ca), "--key", str(stray), "--out", str(tmp_path / "s.pem")
        )[0]
        == 0
    )
    code, out = _cmd(
        "node",
        "init",
        "--city",
        "zhengzhou",
        "--data",
        str(other),
        "--key",
        str(stray),
        "--cert",
        str(cert),
    )
    assert code == 1
    assert "not for this node's signing key" in out
    assert not other.exists()


def test_install_cert_for_the_generated_key(tmp_path: Path) -> None:
    data = _init(tmp_path)
    ca = tmp_path / "zz"
    assert _cmd("ca", "init", "--dir", str(ca), "--city", "zhengzhou", "--federation", "t")[0] == 0
    public = data / "signing-key.pub.pem"
    code, out = _cmd(
        "ca",
        "issue",
        "--dir",
        str(ca),
        "--public-key",
        str(public),
        "--out",
        str(tmp_path / "c.pem"),
    )
    assert code == 0, out
    code, out = _cmd("node", "install-cert", "--data", str(data), str(tmp_path / "c.pem"))
    assert code == 0, out
    assert (data / "signing-cert.pem").exists()
    code, out = _cmd("node", "install-cert", "--data", str(data), str(ca / "public" / "ca.pem"))
    assert code == 1


def test_node_run_serves_and_stops(tmp_path: Path) -> None:
    import json
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    data = _init(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-c",
        "from node.cli import main; main()",
        "node",
        "run",
        "--data",
        str(data),
        "--port",
        str(port),
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    log = tmp_path / "run.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)  # noqa: S603
        try:
            body = None
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and body is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                        body = json.loads(r.read())
                except OSError:
                    time.sleep(0.1)
            assert body == {"status": "ok"}
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=20) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("route") == "healthz" and line.get("status") == 200 for line in lines)


def test_operator_guide_documents_every_setting() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "operator.md").read_text()
    for setting in SETTINGS:
        assert f"`{setting.section}.{setting.key}`" in guide, setting
        assert f"`{setting.env}`" in guide, setting
