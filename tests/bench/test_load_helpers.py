"""The load generator's pure helpers: latency percentiles and the memory slope."""

from __future__ import annotations

from bench.load import _slope_per_minute
from bench.node import LoadResult


def test_percentiles_and_rate() -> None:
    result = LoadResult(
        requests=100, errors=10, elapsed=2.0, latencies=[i / 1000 for i in range(1, 101)]
    )
    assert result.rate == 45.0
    assert result.percentile(50) in (0.050, 0.051)
    assert result.percentile(99) == 0.099
    assert result.percentile(100) == 0.100
    assert LoadResult(0, 0, 0.0, []).percentile(99) == 0.0
    assert LoadResult(0, 0, 0.0, []).rate == 0.0


def test_slope_per_minute() -> None:
    assert _slope_per_minute([(float(t), 100.0) for t in range(30)]) == 0.0
    rising = [(float(t), 100.0 + t / 60) for t in range(30)]  # 1 MiB per minute
    assert abs(_slope_per_minute(rising) - 1.0) < 1e-9
    assert _slope_per_minute([(0.0, 1.0)]) == 0.0
