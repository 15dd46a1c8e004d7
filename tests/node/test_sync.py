"""Peer sync details: which failures are retried, tampered and replayed material, settings."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest

from node import appkeys
from node.config import load_config, write_config
from node.errors import ConfigError
from protocol.jose import b64u_decode, b64u_encode
from tests.node.sim import SimFederation


async def _peer(sim: SimFederation, at: str, city: str) -> dict[str, object]:
    body = await (await sim[at].node.call("GET", "/readyz")).json()
    peer = body["federation"]["peers"][city]
    assert isinstance(peer, dict)
    return peer


def _tampered(material: bytes) -> bytes:
    """The material with one field changed and the signature left as it was."""
    doc = json.loads(material)
    payload = json.loads(material_payload(doc))
    payload["status_lists"] = ["https://evil.example/status/1"]
    doc["payload"] = b64u_encode(json.dumps(payload).encode())
    return json.dumps(doc).encode()


def material_payload(doc: dict[str, object]) -> bytes:
    payload = doc["payload"]
    assert isinstance(payload, str)
    return b64u_decode(payload)


@pytest.mark.asyncio
async def test_only_transient_failures_are_retried(sim: SimFederation) -> None:
    await sim.sync()
    proxy = sim["wuhan"].proxy
    good = sim["wuhan"].app[appkeys.OWN_MATERIAL].data
    assert good is not None
    # Two requests per round reach wuhan (root chain, material); `sync.attempts` is 2.
    for mode, hits, code in (
        ("error", 4, "peer_http_5xx"),
        ("down", 4, "peer_unreachable"),
        ("garbage", 2, "bad_file"),
        ("fixed", 1, "bad_signature"),  # the root chain passes through, the material is forged
    ):
        proxy.mode, proxy.fixed, proxy.hits = mode, _tampered(good), 0
        await sim.sync(["hangzhou"])
        expected = hits + (1 if mode == "fixed" else 0)
        if mode == "down":  # aiohttp resends once on a dropped keep-alive connection
            assert expected <= proxy.hits <= 2 * expected
        else:
            assert proxy.hits == expected, mode
        peer = await _peer(sim, "hangzhou", "wuhan")
        assert (peer["state"], peer["last_error"]) == ("failing", code)
    held = sim["hangzhou"].app[appkeys.FEDERATION].material_data("wuhan")
    assert held == good


@pytest.mark.asyncio
async def test_an_older_material_does_not_replace_a_newer_one(sim: SimFederation) -> None:
    await sim.sync()
    old = sim["wuhan"].app[appkeys.OWN_MATERIAL].data
    sim.clock.advance(hours=2)  # wuhan re-signs its material (at least hourly)
    await sim.sync()
    new = sim["wuhan"].app[appkeys.OWN_MATERIAL].data
    assert new is not None
    assert old != new
    fed = sim["hangzhou"].app[appkeys.FEDERATION]
    assert fed.material_data("wuhan") == new
    proxy = sim["wuhan"].proxy
    proxy.mode, proxy.fixed = "fixed", old or b""
    await sim.sync(["hangzhou"])
    peer = await _peer(sim, "hangzhou", "wuhan")
    assert peer["last_error"] == "rollback"
    assert fed.material_data("wuhan") == new


@pytest.mark.asyncio
async def test_material_endpoint_and_metadata(sim: SimFederation) -> None:
    node = sim["fuzhou"].node
    resp = await node.call("GET", "/federation/material")
    assert resp.status == 200
    again = await node.call(
        "GET", "/federation/material", headers={"If-None-Match": resp.headers["ETag"]}
    )
    assert again.status == 304
    meta = await node.ok("GET", "/.well-known/huxin-node")
    assert meta["federation_bundle_uri"] == sim.url("fuzhou") + "/federation/bundle"
    assert meta["federation_material_uri"] == sim.url("fuzhou") + "/federation/material"


def test_sync_settings_and_overrides(tmp_path: Path) -> None:
    write_config(tmp_path, {"node": {"city": "wuhan"}, "sync": {"timeout_ms": 750}})
    config = load_config(tmp_path, {"HUXIN_SYNC_ATTEMPTS": "5", "HUXIN_SYNC_INTERVAL_SECONDS": "0"})
    assert config.sync_timeout == timedelta(milliseconds=750)
    assert config.sync_attempts == 5
    assert config.sync_interval == timedelta(0)
    assert config.sync_dir == (tmp_path / "federation-cache").resolve()
    assert config.material_max_age == timedelta(days=7)
    with pytest.raises(ConfigError, match=r"sync\.attempts"):
        load_config(tmp_path, {"HUXIN_SYNC_ATTEMPTS": "0"})


@pytest.mark.asyncio
async def test_the_background_loop_runs_rounds_on_its_schedule(sim: SimFederation) -> None:
    syncer = sim["nanjing"].syncer
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        if seconds != 60.0:  # a retry's back-off inside a round (a slow peer under load)
            return
        waits.append(seconds)
        if len(waits) == 3:
            raise asyncio.CancelledError

    syncer._sleep = sleep  # the loop's schedule, without waiting
    before = syncer.rounds
    with pytest.raises(asyncio.CancelledError):
        await syncer.run_forever(timedelta(seconds=60))
    assert syncer.rounds == before + 3
    assert waits == [60.0] * 3
    body = await (await sim["nanjing"].node.call("GET", "/readyz")).json()
    assert body["status"] == "ready"
