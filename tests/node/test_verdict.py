"""The verdict of ``POST /v1/verify`` for a valid presentation: the hand-written serializer
(``verdict_json``) says exactly what ``json.dumps`` of the verdict says, byte for byte."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import pytest

from node import appkeys
from node.api.verify import verdict, verdict_json
from protocol.attestation import StatusRef
from protocol.presentation import DisclosureRequest, present
from protocol.verifier import VerifiedPresentation
from tests.node.conftest import Node
from tests.node.test_api import _issue, _resident

ISSUERS = [
    ("https://zhengzhou.node.test", "zhengzhou", "shangding", "1"),
    ('https://x.test/"quoted"\\back', "城市", "分\u2028数", "2026-11"),
    ("", "c\n\t\x00", "s", ""),
]
LEVELS = [None, 0, 1, 5, 123456789012345678901234567890]
AT_LEAST = [frozenset(), frozenset({4}), frozenset({5, 1, 3})]
BANDS = [None, (130, 139), (0, 0)]
EXPIRES = [datetime(2026, 11, 25, 8, 0, tzinfo=UTC), datetime(2026, 11, 25, 8, 0, 0, 999_999, UTC)]


def _verified(
    issuer: tuple[str, str, str, str],
    level: int | None,
    at_least: frozenset[int],
    band: tuple[int, int] | None,
    expires: datetime,
) -> VerifiedPresentation:
    iss, city, scale_id, scale_version = issuer
    return VerifiedPresentation(
        issuer=iss,
        city=city,
        kid="k1",
        scale_id=scale_id,
        scale_version=scale_version,
        vct="urn:huxin:credit:1",
        issued_at=expires,
        expires_at=expires,
        status=StatusRef(uri="https://zhengzhou.node.test/status/1", idx=7),
        level=level,
        level_at_least=at_least,
        band=band,
    )


@pytest.mark.parametrize(
    ("issuer", "level", "at_least", "band", "expires"),
    list(itertools.product(ISSUERS, LEVELS, AT_LEAST, BANDS, EXPIRES)),
)
def test_verdict_json_is_json_dumps_of_the_verdict(
    issuer: tuple[str, str, str, str],
    level: int | None,
    at_least: frozenset[int],
    band: tuple[int, int] | None,
    expires: datetime,
) -> None:
    verified = _verified(issuer, level, at_least, band, expires)
    assert verdict_json(verified) == json.dumps(verdict(verified)).encode()


@pytest.mark.asyncio
async def test_a_valid_verdict_on_the_wire(node: Node) -> None:
    nid = await _resident(node, 11, 135)
    signers, atts = await _issue(node, nid, 1)
    pres = present(
        atts[0]["sd_jwt"],
        signers[0],
        request=DisclosureRequest(level=True),
        audience="shop-1",
        nonce="n-1",
        now=node.clock(),
    )
    resp = await node.call(
        "POST",
        "/v1/verify",
        role="merchant",
        json={"presentation": pres, "audience": "shop-1", "nonce": "n-1"},
    )
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    raw = await resp.read()
    body = json.loads(raw)
    assert raw == json.dumps(body).encode()
    assert body["valid"] is True
    assert body["issuer"] == node.config.issuer
    assert body["level"] == 4
    assert body["level_at_least"] == []
    assert body["band"] is None
    assert body["scale"]["id"] == node.app[appkeys.SCALE].id
