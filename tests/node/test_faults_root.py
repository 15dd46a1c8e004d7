"""The federation root past its expiry: degraded inside the grace period, not ready beyond it.

``docs/operations.md`` promises what ``/readyz`` says in both cases; the simulator's root
expires 365 days after it starts and the grace period is the default 7 days.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.node.sim import SimFederation

pytestmark = pytest.mark.asyncio


async def _ready(sim: SimFederation) -> tuple[int, dict[str, Any]]:
    resp = await sim["hangzhou"].node.call("GET", "/readyz")
    body = await resp.json()
    assert isinstance(body, dict)
    return resp.status, body


async def test_root_in_grace_then_frozen(sim: SimFederation) -> None:
    await sim.sync()
    status, body = await _ready(sim)
    assert (status, body["status"]) == (200, "ready")
    assert body["federation"]["root_warnings"] == []

    sim.clock.advance(days=365, hours=1)  # expired, inside the 7-day grace period
    status, body = await _ready(sim)
    assert (status, body["status"]) == (200, "degraded"), body
    assert body["checks"]["federation_root"] is True
    assert len(body["federation"]["root_warnings"]) == 1
    assert (await sim["hangzhou"].node.call("GET", "/healthz")).status == 200

    sim.clock.advance(days=8)  # beyond the grace period: frozen
    status, body = await _ready(sim)
    assert (status, body["status"]) == (503, "not_ready"), body
    assert body["checks"]["federation_root"] is False
    assert body["checks"]["database"] is True
    assert len(body["federation"]["root_warnings"]) == 1
