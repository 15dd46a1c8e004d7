"""An in-memory federation of five cities for the certs tests (no files, fixed clock).

Each :class:`City` holds its offline CA key and certificate, one governance key, and a node
attestation key with a 30-day certificate. :class:`Federation` drafts roots and signs them with
any chosen set of keys, so each test states exactly who signed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509

from certs.bundle import sign_material
from certs.ca import Purpose, create_ca, issue_node_certificate
from certs.multisig import GeneralJws, combine, sign
from certs.root import ROOT_JWS_TYP, Member, Root
from certs.update import initial_root, member_entry, parse_member_entry
from mapping.scale import builtin_scale
from protocol.jose import KeySigner, b64u_encode

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FEDERATION = "huxin-test"
CITIES = (
    ("zhengzhou", "郑州", "Zhengzhou", "shangding"),
    ("hangzhou", "杭州", "Hangzhou", "qianjiang"),
    ("fuzhou", "福州", "Fuzhou", "jasmine"),
    ("nanjing", "南京", "Nanjing", "honest-card"),
    ("wuhan", "武汉", "Wuhan", "wuhan"),
)


@dataclass
class City:
    """One city's keys and certificates."""

    city: str
    name_zh: str
    name_en: str
    scale_id: str
    federation: str
    ca_key: KeySigner = field(default_factory=KeySigner.generate)
    governance: KeySigner = field(default_factory=KeySigner.generate)
    node: KeySigner = field(default_factory=KeySigner.generate)
    ca_cert: x509.Certificate = field(init=False)
    node_cert: x509.Certificate = field(init=False)

    def __post_init__(self) -> None:
        self.ca_cert = create_ca(
            self.ca_key.private_key, federation=self.federation, city=self.city, now=NOW
        )
        self.node_cert = self.issue(self.node)

    @property
    def issuer(self) -> str:
        return f"https://{self.city}.huxin.example"

    def issue(
        self, key: KeySigner, *, now: datetime = NOW, lifetime: timedelta = timedelta(days=30)
    ) -> x509.Certificate:
        return issue_node_certificate(
            self.ca_key.private_key,
            self.ca_cert,
            key.public_key,
            purpose=Purpose.ATTESTATION,
            now=now,
            lifetime=lifetime,
        )

    def entry(self) -> Member:
        obj = member_entry(
            city=self.city,
            name_zh=self.name_zh,
            name_en=self.name_en,
            issuer=self.issuer,
            node_url=self.issuer,
            scale_id=self.scale_id,
            ca_certificate=self.ca_cert,
            governance_keys=[self.governance.public_key],
        )
        return parse_member_entry(json.dumps(obj).encode(), federation=self.federation)

    def material(
        self,
        *,
        keys: Iterable[tuple[KeySigner, x509.Certificate]] | None = None,
        signer: KeySigner | None = None,
        now: datetime = NOW,
        federation: str | None = None,
    ) -> bytes:
        pairs = list(keys) if keys is not None else [(self.node, self.node_cert)]
        return sign_material(
            signer or pairs[0][0],
            federation=federation or self.federation,
            city=self.city,
            attestation_keys=[(k.public_key, c) for k, c in pairs],
            scale=builtin_scale(self.scale_id),
            incentives={
                "city": self.city,
                "scale": self.scale_id,
                "version": "1",
                "incentives": [],
            },
            status_lists=[f"{self.issuer}/status/1"],
            now=now,
        )


class Federation:
    """Five cities and helpers to draft and sign roots."""

    def __init__(self, federation: str = FEDERATION) -> None:
        self.federation = federation
        self.cities = {c[0]: City(c[0], c[1], c[2], c[3], federation=federation) for c in CITIES}

    def __getitem__(self, city: str) -> City:
        return self.cities[city]

    def root_v1(self, *, threshold: int = 3, expires: datetime | None = None) -> Root:
        return initial_root(
            federation=self.federation,
            members=[c.entry() for c in self.cities.values()],
            threshold=threshold,
            expires=expires or NOW + timedelta(days=365),
        )

    def governance(self, *cities: str) -> list[KeySigner]:
        return [self.cities[c].governance for c in cities]


def sign_root(root: Root, signers: Iterable[KeySigner]) -> bytes:
    """The signed root file with one signature per signer (in order)."""
    payload = root.payload()
    docs = [sign(payload, s, typ=ROOT_JWS_TYP) for s in signers]
    if not docs:
        return GeneralJws(
            payload_b64=b64u_encode(payload), payload=payload, signatures=()
        ).to_bytes()
    return combine(docs).to_bytes()
