"""``huxin ca``: creating a city CA and issuing node certificates from the command line."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs.ca import ATTESTATION_EKU
from certs.keys import load_certificate
from tests.cli.federation_flow import AT, huxin


def test_help_shows_a_worked_example() -> None:
    for args in (["ca"], ["ca", "init"], ["ca", "issue"]):
        out = huxin([*args, "--help"]).output
        assert "huxin ca" in out
        assert "Example" in out or "example" in out


def test_init_and_issue(tmp_path: Path) -> None:
    d = tmp_path / "hangzhou"
    out = huxin(
        ["ca", "init", "--dir", d, "--city", "hangzhou", "--federation", "huxin-demo", "--at", AT]
    ).output
    assert f"wrote {d / 'offline' / 'ca.key'} (private key, mode 0600)" in out
    assert (d / "offline" / "ca.key").stat().st_mode & 0o777 == 0o600
    ca = load_certificate((d / "public" / "ca.pem").read_bytes())
    assert "OU=hangzhou" in ca.subject.rfc4514_string()
    out = huxin(["ca", "issue", "--dir", d, "--at", AT]).output
    assert "attestation certificate for 'hangzhou'" in out
    cert = load_certificate((d / "public" / "attestation.pem").read_bytes())
    assert ATTESTATION_EKU.dotted_string in str(cert.extensions)
    assert (d / "node" / "attestation.key").stat().st_mode & 0o777 == 0o600
    # Renewal certifies the existing key.
    out = huxin(["ca", "issue", "--dir", d, "--at", AT, "--days", "7"]).output
    assert "certifying the existing key" in out
    out = huxin(
        [
            "ca",
            "issue",
            "--dir",
            d,
            "--purpose",
            "tls",
            "--dns",
            "hangzhou.example",
            "--ip",
            "127.0.0.1",
            "--at",
            AT,
        ]
    ).output
    assert "tls certificate" in out
    result = huxin(
        ["ca", "issue", "--dir", d, "--purpose", "tls", "--key", d / "node" / "tls-2.key"], code=1
    )
    assert "error[bad_file]" in result.output
    assert "DNS name" in result.output


def test_existing_ca_is_never_overwritten(tmp_path: Path) -> None:
    args: list[str | Path] = [
        "ca",
        "init",
        "--dir",
        tmp_path,
        "--city",
        "fuzhou",
        "--federation",
        "f",
    ]
    huxin(args)
    before = (tmp_path / "offline" / "ca.key").read_bytes()
    assert "error[exists]" in huxin(args, code=1).output
    assert (tmp_path / "offline" / "ca.key").read_bytes() == before


def test_encrypted_ca_key(tmp_path: Path) -> None:
    secret = tmp_path / "pass.txt"
    secret.write_text("correct horse battery staple\n")
    d = tmp_path / "nanjing"
    huxin(
        [
            "ca",
            "init",
            "--dir",
            d,
            "--city",
            "nanjing",
            "--federation",
            "f",
            "--passphrase-file",
            secret,
            "--alg",
            "EdDSA",
        ]
    )
    assert b"ENCRYPTED" in (d / "offline" / "ca.key").read_bytes()
    result = huxin(["ca", "issue", "--dir", d], code=1)
    assert "error[passphrase_required]" in result.output
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("nope\n")
    result = huxin(["ca", "issue", "--dir", d, "--ca-passphrase-file", wrong], code=1)
    assert "error[bad_passphrase]" in result.output
    huxin(["ca", "issue", "--dir", d, "--ca-passphrase-file", secret])


def test_bad_input(tmp_path: Path) -> None:
    result = huxin(
        ["ca", "init", "--dir", tmp_path, "--city", "Zheng Zhou", "--federation", "f"], code=2
    )
    assert "lowercase" in result.output
    result = huxin(["ca", "issue", "--dir", tmp_path], code=1)
    assert "error[file_not_found]" in result.output
    d = tmp_path / "wuhan"
    huxin(["ca", "init", "--dir", d, "--city", "wuhan", "--federation", "f"])
    (d / "offline" / "ca.key").chmod(0o600)
    (d / "offline" / "ca.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n")
    result = huxin(["ca", "issue", "--dir", d], code=1)
    assert "error[bad_file]" in result.output
    assert "truncated" in result.output


def test_wrong_key_type(tmp_path: Path) -> None:
    d = tmp_path / "suzhou"
    huxin(["ca", "init", "--dir", d, "--city", "suzhou", "--federation", "f"])
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key = d / "node" / "attestation.key"
    key.parent.mkdir()
    key.write_bytes(p384)
    result = huxin(["ca", "issue", "--dir", d], code=1)
    assert "error[wrong_key_type]" in result.output
    assert "secp384r1" in result.output
