"""The benchmark harness keeps working: a tiny smoke run of every benchmark, and its helpers."""

from __future__ import annotations

import time

import pytest

from bench import harness
from bench.harness import Bound, Row, Settings, Stats


def test_quick_run_of_every_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.perf_counter()
    assert harness.main(["--quick", "--no-pin"]) == 0
    elapsed = time.perf_counter() - started
    out = capsys.readouterr().out
    assert "not pinned (--no-pin)" in out
    assert "machine:" in out
    for name in harness.discover():
        assert f"\n{name} " in out, name
    assert "build, sparse" in out
    assert "raw zlib.compress(9)" in out
    assert "raw ES256 verify" in out
    assert elapsed < 30  # the smoke run itself aims at well under 5 s


def test_subset_and_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert harness.main(["status_list", "--quick", "--no-pin", "--markdown"]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert table[0].startswith("| benchmark | metric | median")
    assert all(line.count("|") == table[0].count("|") for line in table)
    assert all(line.split("|")[1].strip() == "status_list" for line in table[2:])


def test_unknown_benchmark_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert harness.main(["no_such_bench", "--quick", "--no-pin"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert harness.main(["--list"]) == 0
    assert "status_list:" in capsys.readouterr().out


def test_stats_and_ratio_direction() -> None:
    stats = Stats.of([3.0, 1.0, 2.0])
    assert (stats.median, stats.min, stats.max) == (2.0, 1.0, 3.0)
    bound = Bound("raw", Stats.of([4.0]), "x")
    assert Row("b", "rate", "ops/s", stats, True, bound).ratio == 0.5
    assert Row("b", "time", "ms", stats, False, bound).ratio == 2.0
    assert Row("b", "none", "ms", stats).ratio is None
    assert bound.scaled(0.5, "half").stats.median == 2.0
    with pytest.raises(ValueError, match="no samples"):
        Stats.of([])


def test_measure_rate_is_bounded_in_time() -> None:
    started = time.perf_counter()
    stats = harness.measure_rate(lambda: None, repeats=3, budget=0.01, batch=100)
    assert time.perf_counter() - started < 1
    assert len(stats.samples) == 3
    assert stats.min > 0


def test_settings_pick() -> None:
    assert Settings().pick(12_000_000, 1) == 12_000_000
    assert harness.QUICK.pick(12_000_000, 1) == 1


def test_plain_table_is_aligned() -> None:
    rows = [
        Row("a", "x", "ms", Stats.of([1.5])),
        Row(
            "bbb",
            "longer metric",
            "ops/s",
            Stats.of([12345.0]),
            True,
            Bound("r", Stats.of([1.0]), "ops/s"),
        ),
    ]
    lines = harness.render_table(rows).splitlines()
    assert len(lines) == 4
    unit_column = lines[0].index("unit")
    assert lines[2][unit_column:] == "ms"
    assert lines[3][unit_column:].startswith("ops/s ")
    assert "12,345" in lines[3]
    assert lines[3].rstrip().endswith("12345.00")


def test_interleaved_sampling_runs_each_function_once_per_round() -> None:
    calls: list[str] = []
    times = harness.interleaved_times(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3
    )
    assert calls == ["a", "b"] * 3
    assert set(times) == {"a", "b"}
    assert all(len(s.samples) == 3 for s in times.values())
    rates = harness.interleaved_rates({"x": lambda: None}, repeats=2, budget=0.005, batch=10)
    assert len(rates["x"].samples) == 2


def test_idlest_cpu_is_one_of_the_allowed() -> None:
    assert harness.idlest_cpu([0], window=0.001) == 0
    assert harness.idlest_cpu([0, 1], window=0.01) in {0, 1}


def test_raw_calls_do_the_operation() -> None:
    for call in (
        harness.raw_es256_sign_call(),
        harness.raw_es256_verify_call(),
        harness.raw_eddsa_sign_call(),
        harness.raw_eddsa_verify_call(),
    ):
        call()
    assert harness.raw_eddsa_verify_rate(harness.QUICK).stats.median > 0
