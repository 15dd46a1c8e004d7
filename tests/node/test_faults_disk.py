"""A full disk under the sync store: the round goes on, the verified copies serve from memory.

The sync store (``sync_dir``) only keeps the last good copies for a restart; failing to write
it must not abort a sync round (which would leave every peer's state unreported). Regression
test for a round aborted by ``OSError`` from the store.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from node import appkeys, sync
from tests.node.sim import SimFederation

pytestmark = pytest.mark.asyncio


def _disk_full(path: Path, data: bytes) -> None:
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


async def test_disk_full_sync_store_does_not_abort_the_round(
    sim: SimFederation, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = sim["hangzhou"].node.config.sync_dir / "materials"
    with monkeypatch.context() as patch:
        patch.setattr(sync, "_atomic_write", _disk_full)
        with caplog.at_level(logging.ERROR, logger="huxin.node"):
            await sim.sync(["hangzhou"])
        resp = await sim["hangzhou"].node.call("GET", "/readyz")
        body = await resp.json()
        assert (resp.status, body["status"]) == (200, "ready"), body
        assert {p["state"] for p in body["federation"]["peers"].values()} == {"ok"}
        assert sim["hangzhou"].app[appkeys.FEDERATION].material_data("wuhan") is not None
        assert not (store / "wuhan.json").exists()
        assert any(r.getMessage() == "could not keep a copy on disk" for r in caplog.records)
    # Space again: the next round keeps the copies for a restart.
    sim.clock.advance(seconds=301)
    await sim.sync(["hangzhou"])
    assert (store / "wuhan.json").exists()
