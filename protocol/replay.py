"""Replay detection for one-way (gate QR) presentations: the :class:`ReplayCache` interface.

A gate that cannot send a nonce accepts a presentation only within a short ``iat`` window and
only once. The verifier derives a replay key from the Key Binding JWT (see
:func:`protocol.verifier.replay_key`: the ``sha-256`` of the KB-JWT's signing input, which
covers ``nonce``, ``iat``, ``aud`` and ``sd_hash``; ECDSA signature malleability cannot change
it) and asks the cache whether it has seen it. The node and merchant apps back this interface
with memory (:class:`MemoryReplayCache`) or a database shared by several gates.

What it deliberately does not do: read the clock (``now`` is passed in) or persist anything.
"""

from __future__ import annotations

import heapq
from datetime import datetime
from typing import Protocol


class ReplayCache(Protocol):
    """Remembers replay keys until they expire."""

    def seen(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """Return ``True`` if ``key`` was already recorded and has not expired; else record it
        until ``expires_at`` and return ``False``. Must be atomic for concurrent verifiers."""
        ...


class MemoryReplayCache:
    """An in-process :class:`ReplayCache` bounded to ``max_entries``.

    Expired entries are evicted on every call. When the cache is full of unexpired entries,
    the one expiring soonest is evicted; a replay of that presentation within its remaining
    window would then pass, so size ``max_entries`` above the number of presentations a gate
    can accept within ``one_way_max_age`` plus leeway.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._max = max_entries
        self._expiry: dict[str, datetime] = {}
        self._heap: list[tuple[datetime, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def _evict(self, now: datetime) -> None:
        heap = self._heap
        while heap and (heap[0][0] <= now or len(self._expiry) > self._max):
            when, key = heapq.heappop(heap)
            if self._expiry.get(key) == when:
                del self._expiry[key]

    def seen(self, key: str, expires_at: datetime, now: datetime) -> bool:
        """See :meth:`ReplayCache.seen`."""
        self._evict(now)
        if key in self._expiry:
            return True
        if expires_at <= now:
            return False
        self._expiry[key] = expires_at
        heapq.heappush(self._heap, (expires_at, key))
        self._evict(now)
        return False
