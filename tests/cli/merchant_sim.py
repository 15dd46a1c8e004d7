"""A five-city federation as a merchant and a citizen meet it: bundle, catalogues, status lists.

Shared by ``tests/cli/test_verify.py`` and ``tests/cli/test_wallet.py``. Builds on
:mod:`tests.certs.sim` (keys, CAs, the 3-of-5 root) and adds what the merchant flows need: each
city's material carries its real seed incentive catalogue (``node/data/incentives``) and a
status list URI; :meth:`MerchantWorld.status_token` signs that list with chosen revoked indexes;
:meth:`MerchantWorld.issue` signs an attestation for a holder key. Fixed clock: ``NOW``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from certs.bundle import build_bundle, sign_material
from mapping.scale import builtin_scale
from node.merchant import StatusCacheDir
from protocol.attestation import CreditClaims, StatusRef, issue_attestation
from protocol.jose import Jwk
from protocol.status_list import INVALID, StatusList, sign_status_list_token
from tests.certs.sim import NOW, Federation, sign_root

AT = "2026-11-25T12:00:30Z"
CATALOGUES = Path(__file__).resolve().parents[2] / "node" / "data" / "incentives"
LIST_SIZE = 1024


@dataclass
class MerchantWorld:
    """The federation, its bundle and root files in ``base``."""

    fed: Federation
    base: Path
    status_base: str | None = None
    with_status_lists: bool = True

    def uri(self, city: str) -> str:
        prefix = self.status_base or self.fed[city].issuer
        return f"{prefix}/{city}/status/1" if self.status_base else f"{prefix}/status/1"

    @property
    def bundle(self) -> Path:
        return self.base / "trust-bundle.json"

    @property
    def root(self) -> Path:
        return self.base / "1.root.json"

    @property
    def status_dir(self) -> Path:
        return self.base / "status"

    def build(self) -> MerchantWorld:
        """Sign the root and every member's material, write the root and the bundle."""
        root = sign_root(self.fed.root_v1(), self.fed.governance("zhengzhou", "hangzhou", "fuzhou"))
        materials = []
        for name, city in self.fed.cities.items():
            catalogue = json.loads((CATALOGUES / f"{name}.json").read_text(encoding="utf-8"))
            materials.append(
                sign_material(
                    city.node,
                    federation=self.fed.federation,
                    city=name,
                    attestation_keys=[(city.node.public_key, city.node_cert)],
                    scale=builtin_scale(city.scale_id),
                    incentives=catalogue,
                    status_lists=[self.uri(name)] if self.with_status_lists else [],
                    now=NOW,
                )
            )
        data, _ = build_bundle([root], materials, now=NOW)
        self.base.mkdir(parents=True, exist_ok=True)
        self.root.write_bytes(root)
        self.bundle.write_bytes(data)
        return self

    def status_token(
        self, city: str, revoked: Iterable[int] = (), *, lifetime: timedelta = timedelta(days=1)
    ) -> bytes:
        """The city's signed status list with ``revoked`` indexes set to INVALID."""
        c = self.fed[city]
        token = sign_status_list_token(
            c.node,
            issuer=c.issuer,
            uri=self.uri(city),
            status_list=StatusList.build(LIST_SIZE, dict.fromkeys(revoked, INVALID)),
            now=NOW,
            lifetime=lifetime,
            ttl=timedelta(hours=1),
        )
        return token.encode("ascii")

    def save_status(self, revoked: dict[str, Iterable[int]] | None = None) -> Path:
        """Save every city's status list in the status cache directory; return it."""
        cache = StatusCacheDir(self.status_dir)
        for city in self.fed.cities:
            cache.store(self.uri(city), self.status_token(city, (revoked or {}).get(city, ())), NOW)
        return self.status_dir

    def issue(
        self,
        city: str,
        holder_jwk: Jwk,
        *,
        level: int,
        band: tuple[int, int] | None = None,
        idx: int = 7,
        lifetime: timedelta = timedelta(hours=24),
    ) -> str:
        """An attestation of ``city`` for the holder key (not yet key-bound)."""
        c = self.fed[city]
        scale = builtin_scale(c.scale_id)
        return issue_attestation(
            c.node,
            issuer=c.issuer,
            scale_id=scale.id,
            scale_version=scale.version,
            claims=CreditClaims(level=level, band=band),
            holder_jwk=holder_jwk,
            status=StatusRef(self.uri(city), idx),
            now=NOW,
            lifetime=lifetime,
        ).sd_jwt
