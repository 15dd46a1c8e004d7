"""``huxin demo --export DIR``: a sandbox for merchant integrators, with expected verdicts.

What it does: from the running demo federation, issues real attestations (through each city's
``POST /v1/attestations`` with the city app's credential) to synthetic residents of every city,
revokes some (consent withdrawal), saves the merchants' status lists with ``huxin verify
--refresh-status`` (the ``--status-cache`` layout), and makes presentations for the cases a
verifier must tell apart: valid and eligible, valid but not eligible, revoked, wrong audience,
wrong nonce, expired, tampered, for residents of each city. ``expected.json`` names, for each
presentation, the command-line inputs (incentive, audience, nonce, verification time) and the
result ``huxin verify --json`` must give (``valid``, ``error``, ``eligibility``).

Layout of DIR::

    trust-bundle.json   root.json (the pinned root, v1)   roots/N.root.json
    status/             saved status lists (huxin verify --status-cache)
    holder-keys/KID.pem one P-256 holder key per attestation; holder-key.pem: the first
    attestations/*.sd-jwt   presentations/*.txt   expected.json   README.txt

What it deliberately does not do: compute the expected results by running the verifier (they
are what each case is built to give), or include any resident's ID, name or score.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from certs.keys import private_key_pem
from node.demo.federation import DemoFederation, run_huxin
from node.demo.procs import DemoError
from node.demo.residents import Resident
from node.merchant import default_audience
from protocol.jose import KeySigner
from protocol.presentation import DisclosureRequest, present

#: Where each city's residents go, and which incentive they ask for (visitors honoured, level 4).
DESTINATIONS: Final = {
    "zhengzhou": "hangzhou/library-card",
    "hangzhou": "zhengzhou/library-card",
    "nanjing": "suzhou/library-card",
    "wuhan": "nanjing/library-card",
    "suzhou": "wuhan/library-card",
}
EXPIRED_AFTER: Final = timedelta(hours=25)


@dataclass(frozen=True)
class Case:
    """One exported presentation and the verdict it must give."""

    name: str
    city: str
    incentive: str
    audience: str
    nonce: str
    at: datetime
    valid: bool
    error: str | None
    eligibility: str | None
    zh: str
    en: str

    def to_dict(self) -> dict[str, object]:
        return {
            "file": f"presentations/{self.name}.txt",
            "holder_city": self.city,
            "incentive": self.incentive,
            "aud": self.audience,
            "nonce": self.nonce,
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "expected": {
                "valid": self.valid,
                "error": self.error,
                "eligibility": self.eligibility,
            },
            "description": {"zh": self.zh, "en": self.en},
        }


def _pick(residents: list[Resident], fed: DemoFederation, city: str, level: int) -> Resident:
    scale = fed.city(city).scale
    for r in residents[2:]:  # skip the story's people and keep the sample resident out
        if scale.level_of(r.score) == level:
            return r
    raise DemoError(f"{city}: no synthetic resident at level {level}")


def export_sandbox(fed: DemoFederation, out: Path, *, report: Callable[[str], None] = print) -> int:
    """Write the sandbox into ``out``; returns the number of presentations.

    Raises:
        DemoError: a node refused, or ``out`` is not empty.
    """
    if out.exists() and any(out.iterdir()):
        raise DemoError(f"{out} is not empty; give a new or empty directory")
    for sub in ("roots", "holder-keys", "attestations", "presentations"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    report("写出商户沙盒 / writing the merchant sandbox:")
    shutil.copyfile(fed.bundle_path, out / "trust-bundle.json")
    shutil.copyfile(fed.pinned_root_path, out / "root.json")
    for path in sorted(fed.root_path(1).parent.glob("*.root.json")):
        shutil.copyfile(path, out / "roots" / path.name)

    # Attestations: a batch of four for a level-4-or-above resident of each city, one for a
    # resident who then withdraws consent (revoked), and one for a low-level resident.
    holders: dict[str, list[tuple[KeySigner, str]]] = {}
    for city in DESTINATIONS:
        c = fed.city(city)
        people = {"good": _pick(c.residents, fed, city, 4)}
        people["revoked"] = next(
            r for r in c.residents[2:] if r is not people["good"] and c.scale.level_of(r.score) >= 4
        )
        if c.scale.kind == "score":
            people["low"] = _pick(c.residents, fed, city, 2)
        for role, r in people.items():
            fed.consent(city, r.national_id)
            keys = [KeySigner.generate() for _ in range(4 if role == "good" else 1)]
            issued = fed.issue(city, r.national_id, [k.public_jwk for k in keys])
            for n, (key, item) in enumerate(zip(keys, issued, strict=True)):
                token = str(item["sd_jwt"])
                name = f"{city}-{role}-{n + 1}"
                (out / "attestations" / f"{name}.sd-jwt").write_text(token + "\n")
                (out / "holder-keys" / f"{key.kid}.pem").write_bytes(
                    private_key_pem(key.private_key)
                )
                holders.setdefault(f"{city}-{role}", []).append((key, token))
        fed.consent(city, people["revoked"].national_id, granted=False)
    first_key = holders["zhengzhou-good"][0][0]
    (out / "holder-key.pem").write_bytes(private_key_pem(first_key.private_key))

    done = run_huxin(
        [
            "verify",
            "--refresh-status",
            "--bundle",
            out / "trust-bundle.json",
            "--root",
            out / "root.json",
            "--status-cache",
            out / "status",
        ],
        check=False,
    )
    if done.returncode != 0:
        raise DemoError(f"status lists could not be saved: {done.stderr.strip()}")
    report("  ✓ 状态列表 / status lists saved (status/)")

    at = datetime.now(UTC).replace(microsecond=0)
    later = at + EXPIRED_AFTER
    cases: list[tuple[Case, str]] = []

    def add(case: Case, holder: tuple[KeySigner, str], request: DisclosureRequest) -> None:
        key, token = holder
        presented_at = case.at
        text = present(
            token,
            key,
            request=request,
            audience=case.audience if case.error != "wrong_audience" else "urn:example:other",
            nonce=case.nonce if case.error != "wrong_nonce" else "a-different-nonce",
            now=presented_at,
        )
        if case.error == "bad_signature":
            jwt, _, rest = text.partition("~")
            head, payload, sig = jwt.split(".")
            flipped = ("A" if sig[5] != "A" else "B").join((sig[:5], sig[6:]))
            text = f"{head}.{payload}.{flipped}~{rest}"
        cases.append((case, text))

    level4 = DisclosureRequest(level_at_least=4)
    for city, incentive in DESTINATIONS.items():
        aud = default_audience(incentive)
        good = holders[f"{city}-good"]

        def case(
            name: str, city: str = city, incentive: str = incentive, aud: str = aud, **kw: object
        ) -> Case:
            fields: dict[str, object] = {
                "name": f"{city}-{name}",
                "city": city,
                "incentive": incentive,
                "audience": aud,
                "nonce": f"nonce-{city}-{name}",
                "at": at,
                "valid": False,
                "error": None,
                "eligibility": None,
                "zh": "",
                "en": "",
            }
            fields.update(kw)
            return Case(**fields)  # type: ignore[arg-type]

        add(
            case(
                "valid",
                valid=True,
                eligibility="eligible",
                zh="有效，符合：披露“等级至少4”",
                en="valid and eligible: discloses level at least 4",
            ),
            good[0],
            level4,
        )
        add(
            case(
                "wrong-audience",
                error="wrong_audience",
                zh="出示给另一个商户（aud 不符）",
                en="made for another verifier (aud mismatch)",
            ),
            good[1],
            level4,
        )
        add(
            case(
                "expired",
                at=later,
                error="expired",
                zh="证明已过期（25小时后核验）",
                en="the attestation has expired (verified 25 h later)",
            ),
            good[2],
            level4,
        )
        add(
            case(
                "revoked",
                error="revoked",
                zh="居民撤回授权，证明已被吊销",
                en="revoked: the resident withdrew consent",
            ),
            holders[f"{city}-revoked"][0],
            level4,
        )
        if f"{city}-low" in holders:
            add(
                case(
                    "not-eligible",
                    valid=True,
                    eligibility="not_eligible",
                    zh="有效，但等级 2 不符合",
                    en="valid, but level 2 is not eligible",
                ),
                holders[f"{city}-low"][0],
                DisclosureRequest(level=True),
            )
    zz = holders["zhengzhou-good"]
    add(
        Case(
            "zhengzhou-wrong-nonce",
            "zhengzhou",
            DESTINATIONS["zhengzhou"],
            default_audience(DESTINATIONS["zhengzhou"]),
            "nonce-zhengzhou-wrong-nonce",
            at,
            False,
            "wrong_nonce",
            None,
            "随机数不符（重放）",
            "nonce mismatch (a replay)",
        ),
        zz[3],
        level4,
    )
    add(
        Case(
            "hangzhou-tampered",
            "hangzhou",
            DESTINATIONS["hangzhou"],
            default_audience(DESTINATIONS["hangzhou"]),
            "nonce-hangzhou-tampered",
            at,
            False,
            "bad_signature",
            None,
            "签发者签名被篡改",
            "the issuer's signature was tampered with",
        ),
        holders["hangzhou-good"][3],
        level4,
    )
    for made, text in cases:
        (out / "presentations" / f"{made.name}.txt").write_text(text + "\n", encoding="ascii")
    expected = {
        "_comment": "Run: huxin verify FILE --bundle trust-bundle.json --root root.json "
        "--status-cache status --incentive INCENTIVE --aud AUD --nonce NONCE --at AT --json",
        "bundle": "trust-bundle.json",
        "root": "root.json",
        "status_cache": "status",
        "presentations": [made.to_dict() for made, _ in cases],
    }
    (out / "expected.json").write_text(
        json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (out / "README.txt").write_text(_README, encoding="utf-8")
    report(f"  ✓ {len(cases)} 份出示与预期结果 / presentations with expected results")
    return len(cases)


_README: Final = """\
huxin 商户沙盒 / merchant sandbox (synthetic residents only)

每个出示文件的预期核验结果见 expected.json。
expected.json says what `huxin verify` must answer for each file in presentations/:

  huxin verify presentations/FILE.txt --bundle trust-bundle.json --root root.json \\
      --status-cache status --incentive INCENTIVE --aud AUD --nonce NONCE --at AT --json

The attestations/ and holder-keys/ let you make your own presentations (see docs/wallet.md).
Attestations expire 24 h after the export; status lists too. See docs/demo.md.
"""
