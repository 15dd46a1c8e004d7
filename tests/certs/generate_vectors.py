"""Generate ``tests/certs/vectors/root_update.json``: language-neutral federation root vectors.

Run ``.venv/bin/python -m tests.certs.generate_vectors`` from the repository root. Keys are
derived from fixed numbers, so every run produces the same keys; governance keys are Ed25519,
whose signatures are deterministic, and one ES256 key covers the other algorithm (its signatures
vary run to run, which does not change any expected result). CA certificate serial numbers are
random, so a regenerated file differs in those bytes only.

Each case (Wycheproof-shaped: ``tcId``, ``comment``, ``result``, ``error``) gives a pinned root,
a chain of signed roots and a verification time; a verifier runs the TUF root update of
``docs/federation.md`` section 3.3 with a 7-day grace period and must reach ``result``:
``valid`` (with the newest ``version`` and ``warnings`` count) or ``invalid`` with ``error``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from certs.ca import create_ca
from certs.multisig import GeneralJws, combine, json_bytes_pretty, sign
from certs.root import ROOT_JWS_TYP, Root
from certs.update import Proposal, initial_root, member_entry, parse_member_entry, propose
from protocol.jose import KeySigner, b64u_decode, b64u_encode

OUT = Path(__file__).parent / "vectors" / "root_update.json"
FEDERATION = "huxin-vectors"
START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)
CITIES = ("zhengzhou", "hangzhou", "fuzhou", "nanjing", "wuhan")
SCALES = {
    "zhengzhou": "shangding",
    "hangzhou": "qianjiang",
    "fuzhou": "jasmine",
    "nanjing": "honest-card",
    "wuhan": "wuhan",
}


def _ed(label: str) -> KeySigner:
    seed = hashlib.sha256(f"huxin vectors {label}".encode()).digest()
    return KeySigner(ed25519.Ed25519PrivateKey.from_private_bytes(seed))


def _p256(label: str) -> KeySigner:
    seed = int.from_bytes(hashlib.sha256(f"huxin vectors {label}".encode()).digest(), "big")
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    return KeySigner(ec.derive_private_key(seed % (order - 1) + 1, ec.SECP256R1()))


def _root_v1(federation: str, gov: dict[str, KeySigner], expires: datetime) -> Root:
    members = []
    for city in CITIES:
        ca = create_ca(
            _p256(f"{federation} {city} ca").private_key,
            federation=federation,
            city=city,
            now=START,
        )
        entry = member_entry(
            city=city,
            name_zh=city,
            name_en=city.title(),
            issuer=f"https://{city}.huxin.example",
            node_url=f"https://{city}.huxin.example",
            scale_id=SCALES[city],
            ca_certificate=ca,
            governance_keys=[gov[city].public_key],
        )
        members.append(parse_member_entry(json.dumps(entry).encode(), federation=federation))
    return initial_root(federation=federation, members=members, threshold=3, expires=expires)


def _signed(root: Root | bytes, signers: Sequence[KeySigner]) -> dict[str, object]:
    payload = root if isinstance(root, bytes) else root.payload()
    docs = [sign(payload, s, typ=ROOT_JWS_TYP) for s in signers]
    jws = combine(docs) if docs else GeneralJws(b64u_encode(payload), payload, ())
    result: dict[str, object] = json.loads(jws.to_bytes())
    return result


def _tamper(doc: dict[str, object], **changes: object) -> dict[str, object]:
    """The same signatures over an edited payload."""
    payload_b64 = doc["payload"]
    assert isinstance(payload_b64, str)
    payload = json.loads(b64u_decode(payload_b64))
    payload.update(changes)
    return {**doc, "payload": b64u_encode(json_bytes_pretty(payload))}


def generate() -> dict[str, object]:
    gov = {c: _ed(f"governance {c}") for c in CITIES}
    gov["wuhan"] = _p256("governance wuhan")  # one ES256 key among the Ed25519 ones
    new_wuhan = _ed("governance wuhan 2")
    expires = START + timedelta(days=365)
    v1 = _root_v1(FEDERATION, gov, expires)
    s = [gov[c] for c in CITIES]  # zhengzhou, hangzhou, fuzhou, nanjing, wuhan
    v1_doc = _signed(v1, s[:3])
    v2 = propose(v1, Proposal(governance_keys={"wuhan": (new_wuhan.public_key,)}))
    v2_doc = _signed(v2, [s[0], s[3], s[4], new_wuhan])
    v3 = propose(v2, Proposal(remove=("nanjing",), threshold=3))
    v3_doc = _signed(v3, [s[0], s[1], s[2]])
    other = _root_v1("other-federation", {c: _ed(f"other {c}") for c in CITIES}, expires)
    other_v2 = propose(other, Proposal(threshold=2))
    fork_v2 = propose(v1, Proposal(threshold=2))
    short_v1 = _root_v1(FEDERATION, gov, START + timedelta(days=30))
    short_doc = _signed(short_v1, s[:3])
    after_expiry = START + timedelta(days=33)
    frozen_time = START + timedelta(days=40)
    removed_v3 = propose(v2, Proposal(remove=("nanjing",)))

    cases: list[dict[str, object]] = []
    roots: dict[str, dict[str, object]] = {}

    def named(name: str, doc: dict[str, object]) -> str:
        roots[name] = doc
        return name

    def case(
        comment: str,
        chain: Sequence[str],
        *,
        pinned: str = "v1",
        now: datetime = NOW,
        error: str | None = None,
        version: int | None = None,
        warnings: int = 0,
    ) -> None:
        entry: dict[str, object] = {
            "tcId": len(cases) + 1,
            "comment": comment,
            "now": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "pinned": pinned,
            "chain": list(chain),
            "result": "invalid" if error else "valid",
        }
        if error:
            entry["error"] = error
        else:
            entry["version"] = version
            entry["warnings"] = warnings
        cases.append(entry)

    named("v1", v1_doc)
    named("v2", v2_doc)
    named("v3", v3_doc)
    case("pinned root signed by 3 of 5", ["v1"], version=1)
    case(
        "rotation: v2 signed by 3 of v1 and 3 of v2 (old and new Wuhan key)",
        ["v1", "v2"],
        version=2,
    )
    case("chain given out of order", ["v3", "v1", "v2"], version=3)
    case("pinned at v2, v1 ignored", ["v1", "v2", "v3"], pinned="v2", version=3)
    case(
        "pinned root signed by 2 of 5",
        [],
        pinned=named("v1-two-signatures", _signed(v1, s[:2])),
        error="threshold_not_met",
    )
    case(
        "one key signs three times: counted once",
        [],
        pinned=named("v1-one-key-thrice", _signed(v1, [s[0], s[0], s[0]])),
        error="threshold_not_met",
    )
    case(
        "v2 without the old Wuhan key: 2 of v1",
        ["v1", named("v2-no-old-wuhan", _signed(v2, [s[0], s[3], new_wuhan]))],
        error="threshold_not_met",
    )
    case(
        "v2 without the new Wuhan key: 2 of v2",
        ["v1", named("v2-no-new-wuhan", _signed(v2, [s[0], s[3], s[4]]))],
        error="threshold_not_met",
    )
    case(
        "v3 removes Nanjing; Nanjing's signature counts only for v2",
        ["v1", "v2", named("v3-signed-by-removed", _signed(removed_v3, [s[0], s[1], s[3]]))],
        error="threshold_not_met",
    )
    case("rollback: pinned v2, only v1 offered", ["v1"], pinned="v2", error="rollback")
    case("skipped version: v1 then v3", ["v1", "v3"], error="version_skipped")
    case(
        "another federation's v2 after our v1",
        ["v1", named("other-v2", _signed(other_v2, [_ed(f"other {c}") for c in CITIES]))],
        error="wrong_federation",
    )
    case(
        "fork: another v2 at the pinned version",
        [named("fork-v2", _signed(fork_v2, s)), "v3"],
        pinned="v2",
        error="root_mismatch",
    )
    case(
        "forged: threshold edited to 1 under the v1 signatures",
        [],
        pinned=named("v1-forged", _tamper(v1_doc, threshold=1)),
        error="threshold_not_met",
    )
    named("short-v1", short_doc)
    case(
        "expired 3 days ago: inside the 7-day grace, one warning",
        ["short-v1"],
        pinned="short-v1",
        now=after_expiry,
        version=1,
        warnings=1,
    )
    case(
        "expired 10 days ago: frozen",
        ["short-v1"],
        pinned="short-v1",
        now=frozen_time,
        error="frozen",
    )
    case(
        "unknown field in the payload",
        [],
        pinned=named("v1-extra-field", _signed(_with_field(v1), s[:3])),
        error="invalid_root",
    )
    return {
        "algorithm": "huxin-root-update",
        "generator": "tests/certs/generate_vectors.py",
        "spec": "docs/federation.md section 3.3; TUF specification 5.3",
        "grace_days": 7,
        "numberOfTests": len(cases),
        "roots": roots,
        "tests": cases,
    }


def _with_field(root: Root) -> bytes:
    """``root``'s payload with an extra top-level member."""
    return json_bytes_pretty({**root.to_dict(), "comment": "not in the schema"})


def main() -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(json_bytes_pretty(generate()))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
