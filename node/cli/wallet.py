"""``huxin wallet``: a citizen's wallet -- holder keys, attestations, minimal presentations, QR.

What it does: keeps a batch of P-256 holder keys (one private key file each, mode 0600) and the
attestations issued for them in a wallet directory (``--dir``, else ``$HUXIN_WALLET``, else
``~/.huxin/wallet``); fetches a batch from a city node through the city app backend's
credential (``POST /v1/attestations``); imports attestations obtained another way; shows what
it holds; and presents: for an incentive ``CITY/ID`` it discloses the least the rule needs
(:func:`protocol.incentive.least_disclosure`), signs with a fresh, unused attestation of the
batch (and marks it used), and prints the presentation or a QR code.

Layout::

    DIR/wallet.json        {"version": 1, "keys": {KID: {"alg", "file"}},
                            "attestations": [{"id", "sd_jwt", "holder_kid", "issuer", "level",
                                              "band", "scale", "expires_at", "used_at", ...}]}
    DIR/keys/KID.pem       one P-256 private key (PKCS#8), mode 0600

What it deliberately does not do: verify attestations (the merchant does; the wallet got them
over an authenticated channel), reuse an attestation, or ever print a private key.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Final

import click

from certs.bundle import TrustBundle
from certs.keys import generate_private_key, load_private_key, private_key_pem
from mapping.scale import Scale, builtin_scale
from node.cli._common import echo_json, fail, reported_errors
from node.cli.ca import parse_at, read_bytes
from node.cli.federation import read_root
from node.errors import NodeError
from node.merchant import default_audience, load_incentive, split_ref
from node.qr import encode_png, write_terminal
from protocol.errors import MalformedError
from protocol.incentive import Incentive, least_disclosure, parse_catalogue
from protocol.jose import ES256, Jwk, KeySigner, json_bytes, jwk_thumbprint, parse_json_object
from protocol.presentation import DisclosureRequest, present
from protocol.qrform import compact_presentation
from protocol.sdjwt import decode_jws, process_disclosures, split_compact

WALLET_ENV: Final = "HUXIN_WALLET"
WALLET_FILE: Final = "wallet.json"
KEYS_DIR: Final = "keys"
WALLET_VERSION: Final = 1
DEFAULT_BATCH: Final = 8
MAX_BATCH: Final = 64
FETCH_TIMEOUT_SECONDS: Final = 30.0
MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)
_EXISTING = click.Path(dir_okay=False, exists=True, path_type=Path)


class WalletError(NodeError):
    """The wallet cannot do what was asked."""

    code = "wallet_error"
    http_status = 400


class NoWalletError(WalletError):
    """No wallet in the directory."""

    code = "no_wallet"


class WalletExistsError(WalletError):
    """``init`` on a directory that already holds a wallet."""

    code = "wallet_exists"


class UnknownHolderKeyError(WalletError):
    """An attestation is bound to a key this wallet does not hold."""

    code = "unknown_holder_key"


class NoAttestationLeftError(WalletError):
    """Every attestation is used or expired."""

    code = "no_attestation_left"


class CannotQualifyError(WalletError):
    """No disclosure of what the wallet holds meets the incentive's rule."""

    code = "cannot_qualify"


class FetchFailedError(WalletError):
    """The node refused or could not be reached."""

    code = "fetch_failed"
    http_status = 502


def wallet_dir(option: Path | None) -> Path:
    """``--dir``, else ``$HUXIN_WALLET``, else ``~/.huxin/wallet`` (read when the command runs)."""
    if option is not None:
        return option
    env = os.environ.get(WALLET_ENV)
    return Path(env) if env else Path.home() / ".huxin" / "wallet"


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _time(seconds: object) -> datetime | None:
    if isinstance(seconds, int | float) and not isinstance(seconds, bool):
        return datetime.fromtimestamp(seconds, UTC)
    return None


@dataclass
class Held:
    """One attestation in the wallet (what ``show`` lists; never a private key)."""

    id: int
    sd_jwt: str
    holder_kid: str
    issuer: str
    scale: str
    level: int
    band: tuple[int, int] | None
    expires_at: datetime
    added_at: datetime
    used_at: datetime | None = None
    used_for: str | None = None
    superseded_at: datetime | None = None

    def to_dict(self, *, with_token: bool = True) -> dict[str, object]:
        out: dict[str, object] = {
            "id": self.id,
            "holder_kid": self.holder_kid,
            "issuer": self.issuer,
            "scale": self.scale,
            "level": self.level,
            "band": list(self.band) if self.band else None,
            "expires_at": self.expires_at.isoformat(),
            "added_at": self.added_at.isoformat(),
            "used_at": self.used_at.isoformat() if self.used_at else None,
            "used_for": self.used_for,
            "superseded_at": self.superseded_at.isoformat() if self.superseded_at else None,
        }
        if with_token:
            out["sd_jwt"] = self.sd_jwt
        return out

    @classmethod
    def from_dict(cls, obj: dict[str, object]) -> Held:
        band = obj.get("band")
        used_at = obj.get("used_at")
        used_for = obj.get("used_for")
        superseded_at = obj.get("superseded_at")
        return cls(
            id=int(str(obj["id"])),
            sd_jwt=str(obj["sd_jwt"]),
            holder_kid=str(obj["holder_kid"]),
            issuer=str(obj["issuer"]),
            scale=str(obj["scale"]),
            level=int(str(obj["level"])),
            band=(int(band[0]), int(band[1])) if isinstance(band, list) else None,
            expires_at=datetime.fromisoformat(str(obj["expires_at"])),
            added_at=datetime.fromisoformat(str(obj["added_at"])),
            used_at=datetime.fromisoformat(used_at) if isinstance(used_at, str) else None,
            used_for=used_for if isinstance(used_for, str) else None,
            superseded_at=(
                datetime.fromisoformat(superseded_at) if isinstance(superseded_at, str) else None
            ),
        )

    def state(self, now: datetime) -> str:
        if self.used_at is not None:
            return "used"
        if self.superseded_at is not None:
            return "superseded"
        if self.expires_at <= now:
            return "expired"
        return "unused"


def read_attestation(sd_jwt: str) -> tuple[str, str, str, int, tuple[int, int] | None, datetime]:
    """``(holder_kid, issuer, scale id, level, band, expires_at)`` of an issued attestation.

    Raises:
        MalformedError: not a huxin attestation as issued (key-bound, or claims missing).
    """
    parts = split_compact(sd_jwt)
    if parts.kb_jwt is not None:
        raise MalformedError("this is a presentation, not an attestation as issued")
    payload = decode_jws(parts.issuer_jwt, what="attestation").payload
    disclosed = process_disclosures(payload, parts.disclosures).disclosed
    cnf = payload.get("cnf")
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    scale = payload.get("scale")
    scale_id = scale.get("id") if isinstance(scale, dict) else None
    issuer, level, exp = payload.get("iss"), disclosed.get("level"), _time(payload.get("exp"))
    band = disclosed.get("band")
    if (
        not isinstance(jwk, dict)
        or not isinstance(issuer, str)
        or not isinstance(scale_id, str)
        or type(level) is not int
        or exp is None
    ):
        raise MalformedError("not a huxin attestation (cnf.jwk, iss, scale, level, exp)")
    parsed_band = None
    if isinstance(band, list) and len(band) == 2 and all(type(b) is int for b in band):
        parsed_band = (int(str(band[0])), int(str(band[1])))
    return jwk_thumbprint(jwk), issuer, scale_id, level, parsed_band, exp


class Wallet:
    """The wallet directory: keys and attestations. Load with :meth:`open` or :meth:`create`."""

    def __init__(self, path: Path, keys: dict[str, dict[str, str]], held: list[Held]) -> None:
        self.path = path
        self.keys = keys
        self.held = held

    @classmethod
    def create(cls, path: Path, count: int) -> Wallet:
        if (path / WALLET_FILE).exists():
            raise WalletExistsError(f"{path} already holds a wallet")
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        wallet = cls(path, {}, [])
        wallet.add_keys(count)
        return wallet

    @classmethod
    def open(cls, path: Path) -> Wallet:
        try:
            obj = json.loads((path / WALLET_FILE).read_bytes())
        except FileNotFoundError:
            raise NoWalletError(f"no wallet in {path}; run `huxin wallet init`") from None
        except (OSError, ValueError) as err:
            raise WalletError(f"cannot read {path / WALLET_FILE}: {err}") from err
        if not isinstance(obj, dict) or obj.get("version") != WALLET_VERSION:
            raise WalletError(f"{path / WALLET_FILE} is not a huxin wallet file")
        return cls(path, dict(obj["keys"]), [Held.from_dict(a) for a in obj["attestations"]])

    def save(self) -> None:
        doc = {
            "version": WALLET_VERSION,
            "keys": self.keys,
            "attestations": [h.to_dict() for h in self.held],
        }
        target = self.path / WALLET_FILE
        tmp = self.path / f".{WALLET_FILE}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n")
        os.replace(tmp, target)

    def add_keys(self, count: int) -> list[str]:
        kids = []
        for _ in range(count):
            key = generate_private_key(ES256)
            kid = KeySigner(key).kid
            name = f"{KEYS_DIR}/{kid}.pem"
            _write_private(self.path / name, private_key_pem(key))
            self.keys[kid] = {"alg": ES256, "file": name}
            kids.append(kid)
        self.save()
        return kids

    def fresh_keys(self) -> list[str]:
        """Keys that hold no attestation yet (to register for the next batch)."""
        bound = {h.holder_kid for h in self.held}
        return [kid for kid in self.keys if kid not in bound]

    def public_jwk(self, kid: str) -> Jwk:
        return self.signer(kid).public_jwk

    def signer(self, kid: str) -> KeySigner:
        entry = self.keys[kid]
        path = self.path / entry["file"]
        return KeySigner(load_private_key(read_bytes(path), what=str(path)))

    def add(self, sd_jwt: str, now: datetime) -> Held:
        """Add an attestation issued for one of this wallet's keys.

        Raises:
            MalformedError: not an attestation as issued.
            UnknownHolderKeyError: bound to a key the wallet does not hold.
            WalletError: the wallet already holds it, or that key already has one.
        """
        kid, issuer, scale, level, band, exp = read_attestation(sd_jwt)
        if kid not in self.keys:
            raise UnknownHolderKeyError(
                f"the attestation is bound to key {kid[:8]}…, which this wallet does not hold"
            )
        if any(h.holder_kid == kid for h in self.held):
            raise WalletError(f"key {kid[:8]}… already holds an attestation; each needs its own")
        held = Held(
            id=max((h.id for h in self.held), default=0) + 1,
            sd_jwt=sd_jwt,
            holder_kid=kid,
            issuer=issuer,
            scale=scale,
            level=level,
            band=band,
            expires_at=exp,
            added_at=now,
        )
        self.held.append(held)
        return held

    def supersede(self, batch: list[Held], now: datetime) -> int:
        """Retire the unused attestations of ``batch``'s issuers that came before ``batch``.

        A new batch from the home node reflects the resident's current level; the older unused
        ones may be revoked (a level change) or signed with a retired key, and presenting them
        would only be refused. Returns how many were retired.
        """
        issuers = {h.issuer for h in batch}
        fresh = {h.id for h in batch}
        retired = 0
        for h in self.held:
            if h.issuer in issuers and h.id not in fresh and h.state(now) == "unused":
                h.superseded_at = now
                retired += 1
        return retired


def _open(directory: Path | None) -> Wallet:
    return Wallet.open(wallet_dir(directory))


@click.group()
def wallet() -> None:
    """市民钱包 A citizen's wallet: holder keys, attestations, minimal presentations as QR codes.

    The wallet lives in --dir, else $HUXIN_WALLET, else ~/.huxin/wallet.

    \b
    Example:
      huxin wallet init                      # a batch of 8 holder keys
      huxin wallet fetch --node https://zhengzhou.node.example --credential $APP_TOKEN
                                             # prompts for the national ID
      huxin wallet show
      huxin wallet present --for hangzhou/campus-fitness --qr-terminal
    """


@wallet.command("init")
@click.option("--dir", "directory", type=_DIR, default=None, help="Wallet directory.")
@click.option(
    "--count",
    type=click.IntRange(1, MAX_BATCH),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Holder keys to create (one attestation each).",
)
def init(directory: Path | None, count: int) -> None:
    """创建钱包 Create the wallet with a batch of P-256 holder keys (files mode 0600)."""
    path = wallet_dir(directory)
    with reported_errors():
        w = Wallet.create(path, count)
    click.echo(f"钱包已创建 wallet created: {w.path} ({len(w.keys)} holder keys)")


@wallet.command("keys")
@click.option("--dir", "directory", type=_DIR, default=None, help="Wallet directory.")
@click.option("--json", "as_json", is_flag=True, help="Print {holder_keys: [JWK, ...]}.")
def keys(directory: Path | None, as_json: bool) -> None:
    """公钥 Public holder keys not yet bound to an attestation (to register with the city app)."""
    with reported_errors():
        w = _open(directory)
        jwks = [w.public_jwk(kid) for kid in w.fresh_keys()]
    if as_json:
        echo_json({"holder_keys": jwks})
        return
    click.echo(f"{len(jwks)} 个空闲持有人密钥 unbound holder keys:")
    for jwk in jwks:
        click.echo(f"  {jwk_thumbprint(jwk)}")


def _tokens_from(data: bytes, what: str) -> list[str]:
    """SD-JWTs from a node response, a JSON list, or text (one per line)."""
    text = data.decode("utf-8", errors="replace").strip()
    if text.startswith(("{", "[")):
        try:
            obj = json.loads(text)
        except ValueError:
            fail("bad_file", f"{what} is not JSON")
        items = obj.get("attestations") if isinstance(obj, dict) else obj
        if not isinstance(items, list):
            fail("bad_file", f"{what}: expected a list of attestations")
        out = []
        for item in items:
            token = item.get("sd_jwt") if isinstance(item, dict) else item
            if not isinstance(token, str):
                fail("bad_file", f"{what}: an attestation is not a string")
            out.append(token)
        return out
    return [line.strip() for line in text.splitlines() if line.strip()]


def _add_all(w: Wallet, tokens: list[str], now: datetime) -> list[Held]:
    added = [w.add(token, now) for token in tokens]
    w.save()
    return added


@wallet.command("import")
@click.option("--dir", "directory", type=_DIR, default=None, help="Wallet directory.")
@click.option("--at", "at", default=None, help="Time recorded (default: now).")
@click.argument("file")
def import_(directory: Path | None, at: str | None, file: str) -> None:
    """导入证明 Add attestations from FILE (`-`: standard input).

    FILE holds a node's /v1/attestations response, a JSON list, or one SD-JWT per line. Each
    must be bound to a holder key of this wallet.
    """
    now = parse_at(at)
    data = sys.stdin.buffer.read(MAX_RESPONSE_BYTES) if file == "-" else read_bytes(Path(file))
    with reported_errors():
        w = _open(directory)
        added = _add_all(w, _tokens_from(data, file), now)
    click.echo(f"已导入 imported {len(added)} 份证明 attestation(s)")


def _post_json(url: str, body: dict[str, object], credential: str) -> dict[str, object]:
    if not url.startswith(("https://", "http://")):
        raise FetchFailedError(f"{url!r} is not an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {credential}",
            "User-Agent": "huxin-wallet",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            raw: bytes = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as err:
        detail = err.read(64 * 1024).decode("utf-8", errors="replace")
        try:
            obj = json.loads(detail)
            detail = f"{obj.get('error')}: {obj.get('message')}"
        except (ValueError, AttributeError):
            pass
        raise FetchFailedError(f"the node answered HTTP {err.code}: {detail}") from err
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise FetchFailedError(f"cannot reach {url}: {getattr(err, 'reason', err)}") from err
    if len(raw) > MAX_RESPONSE_BYTES:
        raise FetchFailedError("the node's answer is too large")
    try:
        return parse_json_object(raw, what="the node's answer")
    except MalformedError as err:
        raise FetchFailedError(err.message) from err


@wallet.command("fetch")
@click.option("--dir", "directory", type=_DIR, default=None, help="Wallet directory.")
@click.option("--node", "node_url", required=True, help="The city node's base URL.")
@click.option(
    "--credential",
    envvar="HUXIN_CREDENTIAL",
    required=True,
    help="The city app backend's credential (or $HUXIN_CREDENTIAL).",
)
@click.option(
    "--national-id",
    envvar="HUXIN_NATIONAL_ID",
    prompt="身份证号 national ID",
    hide_input=True,
    help="The signed-in resident's national ID (or $HUXIN_NATIONAL_ID; prompted).",
)
@click.option(
    "--count",
    type=click.IntRange(1, MAX_BATCH),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Attestations to ask for.",
)
@click.option("--at", "at", default=None, help="Time recorded (default: now).")
def fetch(
    directory: Path | None,
    node_url: str,
    credential: str,
    national_id: str,
    count: int,
    at: str | None,
) -> None:
    """获取证明 Register fresh holder keys and fetch a batch of attestations from the node.

    Goes through the city app backend's credential (role `app`): POST /v1/attestations with
    the resident's national ID and one public key per attestation. The ID goes only to the
    resident's own city node.
    """
    now = parse_at(at)
    with reported_errors():
        w = _open(directory)
        fresh = w.fresh_keys()
        if len(fresh) < count:
            fresh += w.add_keys(count - len(fresh))
        fresh = fresh[:count]
        answer = _post_json(
            node_url.rstrip("/") + "/v1/attestations",
            {"national_id": national_id, "holder_keys": [w.public_jwk(k) for k in fresh]},
            credential,
        )
        items = answer.get("attestations")
        if not isinstance(items, list):
            raise FetchFailedError("the node's answer has no attestations list")
        tokens = [i.get("sd_jwt") for i in items if isinstance(i, dict)]
        if not tokens or not all(isinstance(t, str) for t in tokens):
            raise FetchFailedError("the node's answer holds no attestation")
        added = [w.add(str(t), now) for t in tokens]
        retired = w.supersede(added, now)
        w.save()
    first = added[0]
    click.echo(
        f"已获取 fetched {len(added)} 份证明 attestations from {first.issuer}: "
        f"等级 level {first.level}, 有效至 until {first.expires_at:%Y-%m-%d %H:%M} UTC"
    )
    if retired:
        click.echo(
            f"旧批次 {retired} 份未用证明已停用 / {retired} unused attestations of the "
            "previous batch retired"
        )


@wallet.command("show")
@click.option("--dir", "directory", type=_DIR, default=None, help="Wallet directory.")
@click.option("--at", "at", default=None, help="Time to judge expiry (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (no tokens, no keys).")
def show(directory: Path | None, at: str | None, as_json: bool) -> None:
    """查看钱包 List the attestations: issuer, level, expiry, used or not. Never prints keys."""
    now = parse_at(at)
    with reported_errors():
        w = _open(directory)
    rows = [{**h.to_dict(with_token=False), "state": h.state(now)} for h in w.held]
    unused = sum(1 for r in rows if r["state"] == "unused")
    if as_json:
        echo_json({"dir": str(w.path), "unused": unused, "attestations": rows})
        return
    click.echo(
        f"钱包 wallet {w.path}: {len(w.held)} 份证明 attestations, {unused} 份可用 unused, "
        f"{len(w.fresh_keys())} 个空闲密钥 unbound keys"
    )
    names = {
        "unused": "可用 unused",
        "used": "已用 used",
        "expired": "过期 expired",
        "superseded": "已停用 retired",
    }
    for h in w.held:
        band = f" band {h.band[0]}–{h.band[1]}" if h.band else ""
        used = f" → {h.used_for}" if h.used_for else ""
        click.echo(
            f"  #{h.id:<3} {names[h.state(now)]:<12} {h.issuer}  等级 level {h.level}{band}  "
            f"至 until {h.expires_at:%Y-%m-%d %H:%M} UTC  key {h.holder_kid[:8]}{used}"
        )


def _builtin_incentive(ref: str) -> tuple[Incentive, Scale]:
    city, ident = split_ref(ref)
    name = f"{city}.json"
    files = resources.files("node.data.incentives")
    if not files.joinpath(name).is_file():
        raise WalletError(f"no built-in catalogue for {city!r}; pass --bundle")
    obj = parse_json_object(files.joinpath(name).read_bytes(), what=name)
    scale_id = obj.get("scale")
    scale = builtin_scale(str(scale_id))
    return parse_catalogue(obj, scale).get(ident), scale


def _load_bundle(bundle_path: Path, root_path: Path | None, now: datetime) -> TrustBundle:
    data = read_bytes(bundle_path)
    if root_path is not None:
        pinned = read_root(root_path)
    else:
        obj = parse_json_object(data, what=str(bundle_path))
        roots = obj.get("roots")
        if not isinstance(roots, list) or not roots:
            fail("invalid_bundle", f"{bundle_path} holds no roots")
        click.echo("warning: no --root: trusting the bundle's own first root", err=True)
        pinned = json_bytes(roots[0])
    return TrustBundle.load(data, pinned_root=pinned, now=now)


def _describe(request: DisclosureRequest) -> tuple[str, str]:
    if request.level_at_least is not None:
        k = request.level_at_least
        return f"信用等级至少 {k} 级", f"level at least {k}"
    if request.band:
        return "分数段", "the score band"
    if request.level:
        return "信用等级", "the level"
    return "仅证明有效（不披露等级）", "only a valid attestation (no level disclosed)"


@wallet.command("present")
@click.option("--dir", "directory", type=_DIR, default=None, help="Wallet directory.")
@click.option("--for", "incentive_ref", required=True, help="The incentive: CITY/ID.")
@click.option("--aud", "audience", default=None, help="The verifier's id (default per incentive).")
@click.option("--nonce", default=None, help="The verifier's nonce (omit for a one-way QR code).")
@click.option("--bundle", "bundle_path", type=_EXISTING, default=None, help="Trust bundle file.")
@click.option("--root", "root_path", type=_EXISTING, default=None, help="Pinned root file.")
@click.option("--qr", "qr_path", type=_FILE, default=None, help="Save a QR code PNG here.")
@click.option("--qr-terminal", is_flag=True, help="Draw the QR code in the terminal.")
@click.option("--out", "out_path", type=_FILE, default=None, help="Save the presentation text.")
@click.option(
    "--compact",
    is_flag=True,
    help="Print/save the compact QR form (HX1:...) instead of the RFC 9901 text.",
)
@click.option("--at", "at", default=None, help="Presentation time (default: now).")
def present_(
    directory: Path | None,
    incentive_ref: str,
    audience: str | None,
    nonce: str | None,
    bundle_path: Path | None,
    root_path: Path | None,
    qr_path: Path | None,
    qr_terminal: bool,
    out_path: Path | None,
    compact: bool,
    at: str | None,
) -> None:
    """出示证明 Present for an incentive, disclosing the least its rule needs.

    Uses a fresh, unused attestation each time (presentations cannot be linked) and marks it
    used. Without --qr/--qr-terminal/--out the presentation is printed on standard output.
    QR codes carry its compact form (HX1:..., about 830 characters instead of 1,400); --compact
    prints or saves that form too. Verifiers accept both.
    The incentive's rule comes from --bundle, else from the catalogues shipped with huxin.

    \b
    Examples:
      huxin wallet present --for hangzhou/campus-fitness --qr-terminal
      huxin wallet present --for zhengzhou/library-card --aud shop-42 --nonce 8Hq2 --qr p.png
    """
    now = parse_at(at)
    with reported_errors():
        w = _open(directory)
        if bundle_path is not None:
            bundle = _load_bundle(bundle_path, root_path, now)
            incentive, local_scale = load_incentive(bundle, incentive_ref)
            scales = {m.issuer: bundle.scale(m.city) for m in bundle.members}
        else:
            incentive, local_scale = _builtin_incentive(incentive_ref)
            scales = {}
        candidates = [h for h in w.held if h.state(now) == "unused"]
        if not candidates:
            used = sum(1 for h in w.held if h.used_at is not None)
            retired = sum(1 for h in w.held if h.state(now) == "superseded")
            expired = len(w.held) - used - retired
            raise NoAttestationLeftError(
                f"没有可用的证明了（{used} 份已用，{expired} 份过期，{retired} 份已停用），"
                f"请运行 huxin wallet fetch / no unused attestation left ({used} used, "
                f"{expired} expired, {retired} retired); "
                "run `huxin wallet fetch`"
            )
        # Soonest expiry first (nothing goes to waste); skip any that cannot meet the rule
        # (after a level change a wallet may hold attestations of two levels).
        choice = None
        for candidate in sorted(candidates, key=lambda h: (h.expires_at, h.id)):
            holder_scale = scales.get(candidate.issuer) or builtin_scale(candidate.scale)
            wanted = least_disclosure(
                incentive, local_scale, holder_scale, candidate.level, candidate.band
            )
            if wanted is not None:
                choice = (candidate, wanted)
                break
        if choice is None:
            raise CannotQualifyError(
                f"您的信用等级不满足「{incentive.title.zh}」的条件（{incentive.rule_text.zh}）/ "
                f"your attestation does not meet the rule of “{incentive.title.en}” "
                f"({incentive.rule_text.en})"
            )
        held, request = choice
        presentation = present(
            held.sd_jwt,
            w.signer(held.holder_kid),
            request=request,
            audience=audience or default_audience(incentive.ref),
            nonce=nonce,
            now=now,
        )
        held.used_at = now
        held.used_for = incentive.ref
        w.save()
    zh, en = _describe(request)
    left = len(candidates) - 1
    click.echo(
        f"出示 {zh}（证明 #{held.id}，剩余 {left} 份）/ disclosing {en} "
        f"(attestation #{held.id}, {left} left)",
        err=True,
    )
    if left == 0:
        click.echo(
            "提示：证明已用完，请获取新的一批 / note: batch used up; fetch a new one", err=True
        )
    packed = compact_presentation(presentation)
    text = packed if compact else presentation
    if out_path is not None:
        out_path.write_text(text + "\n", encoding="ascii")
    if qr_path is not None:
        with reported_errors():
            qr_path.write_bytes(encode_png(packed))
    if qr_terminal:
        with reported_errors():
            write_terminal(packed, sys.stdout)
    if out_path is None and qr_path is None and not qr_terminal:
        click.echo(text)
