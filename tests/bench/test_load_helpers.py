"""The load generator's pure helpers: latency percentiles and the memory slope."""

from __future__ import annotations

import os

from bench.load import _rss_mib, _slope_per_minute, judge_flat, warm_up_seconds
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


def test_warm_up_is_a_third_of_the_soak_and_at_least_ten_seconds() -> None:
    assert warm_up_seconds(15) == 10.0
    assert warm_up_seconds(60) == 20.0
    assert warm_up_seconds(300) == 100.0


def test_rss_of_a_process_and_its_children() -> None:
    anon = _rss_mib(os.getpid(), "RssAnon")
    assert 1 < anon < _rss_mib(os.getpid(), "VmRSS")
    assert _rss_mib(2**22 + 1, "RssAnon") == 0  # no such process


def test_flat_tolerates_one_allocator_step_but_not_a_trend() -> None:
    level = [(float(t), 94.0) for t in range(40)]
    assert judge_flat(level) == (0.0, 0.0, True)
    step = [(float(t), 94.0 + (0.9 if t > 30 else 0.0)) for t in range(40)]
    slope, growth, flat = judge_flat(step)
    assert slope > 1.0
    assert flat
    assert abs(growth - 0.9) < 1e-9
    leak = [(float(t), 94.0 + t / 20) for t in range(200)]  # 3 MiB/min for 200 s
    assert judge_flat(leak)[2] is False
    slow = [(float(t), 94.0 + t / 150) for t in range(200)]  # 0.4 MiB/min: under the bound
    assert judge_flat(slow)[2] is True
    shrinking = [(float(t), 94.0 - t / 20) for t in range(40)]
    assert judge_flat(shrinking)[2] is True
