"""Shared fixtures for the SD-JWT tests: keys, a fake status source, an issue/present shortcut."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from protocol.attestation import CreditClaims, IssuedAttestation, StatusRef, issue_attestation
from protocol.errors import StatusUnavailableError
from protocol.jose import EDDSA, ES256, KeySigner
from protocol.keys import StaticKeyResolver
from protocol.presentation import DisclosureRequest, present
from protocol.status_list import StatusList

ISSUER = "https://zz.huxin.cn"
AUDIENCE = "https://shop.example"
NONCE = "n-0S6_WzA2Mj"
STATUS_URI = "https://zz.huxin.cn/status/1"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
BOTH_ALGS = frozenset({ES256, EDDSA})


def status_list(size: int = 1000, statuses: Mapping[int, int] | None = None) -> StatusList:
    """A 2-bit status list of ``size`` entries, VALID except ``statuses``."""
    return StatusList.build(size, statuses or {}, bits=2)


@dataclass
class FakeSource:
    """An in-test status list source keyed by URI, with lists a test may swap or remove."""

    lists: dict[str, StatusList] = field(default_factory=lambda: {STATUS_URI: status_list()})

    def status_list(self, uri: str, now: datetime) -> StatusList:
        del now
        try:
            return self.lists[uri]
        except KeyError:
            raise StatusUnavailableError(f"no status list for {uri}") from None


@dataclass
class World:
    """An issuer, a holder and everything a verifier needs."""

    issuer: KeySigner
    holder: KeySigner
    keys: StaticKeyResolver
    status: FakeSource

    def issue(
        self,
        claims: CreditClaims | None = None,
        *,
        idx: int = 7,
        now: datetime = NOW,
        lifetime: timedelta = timedelta(hours=24),
    ) -> IssuedAttestation:
        return issue_attestation(
            self.issuer,
            issuer=ISSUER,
            scale_id="shangding",
            scale_version="2019.1",
            claims=claims or CreditClaims(level=4, band=(120, 149)),
            holder_jwk=self.holder.public_jwk,
            status=StatusRef(STATUS_URI, idx),
            now=now,
            lifetime=lifetime,
        )

    def present(
        self,
        request: DisclosureRequest | None = None,
        *,
        nonce: str | None = NONCE,
        now: datetime = NOW,
        attestation: IssuedAttestation | None = None,
    ) -> str:
        att = attestation or self.issue()
        return present(
            att.sd_jwt,
            self.holder,
            request=request or DisclosureRequest(level=True),
            audience=AUDIENCE,
            nonce=nonce,
            now=now,
        )


def make_world(issuer_alg: str = ES256, holder_alg: str = ES256) -> World:
    issuer = KeySigner.generate(issuer_alg)
    return World(
        issuer=issuer,
        holder=KeySigner.generate(holder_alg),
        keys=StaticKeyResolver.of({ISSUER: issuer.public_key}, city="zhengzhou"),
        status=FakeSource(),
    )
