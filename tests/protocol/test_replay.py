"""The in-memory replay cache: records once, expires, stays bounded."""

from __future__ import annotations

from datetime import timedelta

import pytest

from protocol.replay import MemoryReplayCache
from tests.protocol.sdjwt_support import NOW

LATER = NOW + timedelta(seconds=60)


def test_seen_once_then_replayed() -> None:
    cache = MemoryReplayCache()
    assert cache.seen("a", LATER, NOW) is False
    assert cache.seen("a", LATER, NOW + timedelta(seconds=1)) is True
    assert cache.seen("b", LATER, NOW) is False
    assert len(cache) == 2


def test_entries_expire() -> None:
    cache = MemoryReplayCache()
    assert cache.seen("a", LATER, NOW) is False
    assert cache.seen("a", LATER + timedelta(seconds=1), LATER) is False
    assert cache.seen("x", NOW, NOW) is False
    assert "x" not in cache._expiry


def test_bounded_by_max_entries() -> None:
    cache = MemoryReplayCache(max_entries=3)
    for i in range(10):
        cache.seen(f"k{i}", LATER + timedelta(seconds=i), NOW)
        assert len(cache) <= 3
    assert cache.seen("k9", LATER, NOW) is True
    assert cache.seen("k0", LATER, NOW) is False
    with pytest.raises(ValueError, match="positive"):
        MemoryReplayCache(0)
