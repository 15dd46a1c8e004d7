"""The benchmark harness: a registry, bounded timing, bounds measured in the same run, one table.

What it does: benchmarks register with :func:`benchmark` (any module ``bench/<name>.py`` is
imported by :func:`discover`, so adding a file is enough). Each returns :class:`Row` objects:
a figure measured ``repeats`` times (:class:`Stats`: median, min, max), optionally with a
:class:`Bound` -- the same work done by the raw primitive (``cryptography`` ES256/EdDSA, plain
``zlib``) *measured in the same process, on the same pinned core, in the same run* -- and the
ratio between them. :func:`main` is ``python -m bench``: pins the process to one core, runs all
(or the named) benchmarks and prints one aligned table, or Markdown with ``--markdown``.

Where a figure and its bound are measured side by side, :func:`interleaved_times` and
:func:`interleaved_rates` sample them round-robin, so load from other jobs on a shared machine
falls on both sides of the ratio.

Rules for benchmarks: every loop is bounded (:func:`measure_rate` stops after a time budget,
:func:`time_call` runs a fixed number of times); in ``--quick`` mode (``settings.quick``) a
benchmark shrinks its workload (:meth:`Settings.pick`) so that all of them together finish in
a few seconds -- ``tests/test_bench.py`` runs that mode.

Ratios are "fraction of the bound achieved": for rates ``ours / bound``, for times and sizes
``bound / ours``; above 1.0 means better than the bound.

What it deliberately does not do: load generation over HTTP, fuzzing, or any assertion on the
numbers -- targets are judged by people reading ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import os
import pkgutil
import platform
import statistics
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, TypeVar

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

T = TypeVar("T")

#: The message raw signing bounds sign: about the size of an SD-JWT signing input.
BOUND_MESSAGE: Final = b"eyJhbGciOiJFUzI1NiJ9." + b"A" * 600
_NOT_BENCHMARKS: Final = frozenset({"harness", "__main__"})


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Stats:
    """Summary of repeated measurements (in the row's unit)."""

    median: float
    min: float
    max: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Iterable[float]) -> Stats:
        """Summarise ``samples`` (at least one).

        Raises:
            ValueError: no samples.
        """
        values = tuple(samples)
        if not values:
            raise ValueError("no samples")
        return cls(statistics.median(values), min(values), max(values), values)

    def scaled(self, factor: float) -> Stats:
        """Every figure multiplied by ``factor`` (unit changes, per-item rates)."""
        return Stats(
            self.median * factor,
            self.min * factor,
            self.max * factor,
            tuple(v * factor for v in self.samples),
        )


@dataclass(frozen=True)
class Bound:
    """What the raw primitive achieves on the same work, measured in the same run."""

    label: str
    stats: Stats
    unit: str

    def scaled(self, factor: float, label: str) -> Bound:
        """A derived bound, e.g. ``verify_rate.scaled(0.5, "2 x raw ES256 verify")``."""
        return Bound(label, self.stats.scaled(factor), self.unit)


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    benchmark: str
    metric: str
    unit: str
    stats: Stats
    higher_is_better: bool = True
    bound: Bound | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """Fraction of the bound achieved (above 1.0 = better than the bound), if any."""
        if self.bound is None or self.stats.median == 0 or self.bound.stats.median == 0:
            return None
        if self.higher_is_better:
            return self.stats.median / self.bound.stats.median
        return self.bound.stats.median / self.stats.median


@dataclass(frozen=True)
class Settings:
    """How hard to measure.

    Attributes:
        quick: smoke mode: small workloads, one repeat, tiny time budgets.
        repeats: measurements per figure (median/min/max over these).
        budget: seconds each rate measurement runs for.
    """

    quick: bool = False
    repeats: int = 5
    budget: float = 0.5

    def pick(self, full: T, quick: T) -> T:
        """``quick`` in smoke mode, ``full`` otherwise."""
        return quick if self.quick else full


#: The settings of ``--quick``.
QUICK: Final = Settings(quick=True, repeats=1, budget=0.01)

BenchFunction = Callable[[Settings], list[Row]]


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark."""

    name: str
    description: str
    run: BenchFunction


_REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str, *, description: str) -> Callable[[BenchFunction], BenchFunction]:
    """Register ``fn(settings) -> list[Row]`` under ``name``.

    Raises:
        ValueError: ``name`` is already registered by another function.
    """

    def register(fn: BenchFunction) -> BenchFunction:
        held = _REGISTRY.get(name)
        if held is not None and held.run is not fn:
            raise ValueError(f"benchmark {name!r} is registered twice")
        _REGISTRY[name] = Benchmark(name, description, fn)
        return fn

    return register


def discover() -> dict[str, Benchmark]:
    """Import every ``bench/*.py`` module (they register themselves); return the registry."""
    package = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(package)]), key=lambda m: m.name):
        if info.name not in _NOT_BENCHMARKS and not info.name.startswith("_"):
            importlib.import_module(f"bench.{info.name}")
    return dict(_REGISTRY)


# --------------------------------------------------------------------------------------------
# Measuring


def time_call(fn: Callable[[], object], *, repeats: int) -> Stats:
    """Seconds per call of ``fn``, measured ``repeats`` times (one call each)."""
    samples = []
    for _ in range(max(1, repeats)):
        gc.collect(1)  # young generations only: a full pass costs 100+ ms in a big heap
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return Stats.of(samples)


def measure_rate(fn: Callable[[], object], *, repeats: int, budget: float, batch: int = 1) -> Stats:
    """Calls per second of ``fn``: each of ``repeats`` samples runs for about ``budget`` s.

    ``batch`` calls are made between clock reads (use it for sub-microsecond operations).
    Bounded: a sample stops at the first clock read past its budget.
    """
    samples = []
    for _ in range(max(1, repeats)):
        gc.collect(1)  # young generations only: a full pass costs 100+ ms in a big heap
        calls = 0
        start = time.perf_counter()
        deadline = start + budget
        while True:
            for _ in range(batch):
                fn()
            calls += batch
            now = time.perf_counter()
            if now >= deadline:
                break
        samples.append(calls / (now - start))
    return Stats.of(samples)


def interleaved_times(fns: Mapping[str, Callable[[], object]], *, repeats: int) -> dict[str, Stats]:
    """Seconds per call of several functions, sampled round-robin (one call each per round).

    Use it for a figure and its bound: load from other jobs then falls on both sides.
    """
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, repeats)):
        for name, fn in fns.items():
            samples[name].append(time_call(fn, repeats=1).median)
    return {name: Stats.of(values) for name, values in samples.items()}


def interleaved_rates(
    fns: Mapping[str, Callable[[], object]], *, repeats: int, budget: float, batch: int = 1
) -> dict[str, Stats]:
    """Calls per second of several functions, sampled round-robin (one sample each per round)."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, repeats)):
        for name, fn in fns.items():
            rate = measure_rate(fn, repeats=1, budget=budget, batch=batch)
            samples[name].append(rate.median)
    return {name: Stats.of(values) for name, values in samples.items()}


# --------------------------------------------------------------------------------------------
# Bounds: the raw primitives. ``raw_*_rate`` measure once per run (memoised per settings);
# ``raw_*_call`` give the bare operation, to sample round-robin with a figure.


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(0x1D2C3B4A5968778695A4B3C2D1E0F, ec.SECP256R1())


def _ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def raw_es256_sign_call() -> Callable[[], object]:
    """One raw ``cryptography`` ECDSA P-256/SHA-256 signature of :data:`BOUND_MESSAGE` per call.

    For :func:`interleaved_rates`, so a figure and this bound share the machine's load.
    """
    key = _ec_key()
    algorithm = ec.ECDSA(hashes.SHA256())
    return lambda: key.sign(BOUND_MESSAGE, algorithm)


def raw_es256_verify_call() -> Callable[[], object]:
    """One raw ``cryptography`` ECDSA P-256/SHA-256 verification per call."""
    key = _ec_key()
    algorithm = ec.ECDSA(hashes.SHA256())
    signature = key.sign(BOUND_MESSAGE, algorithm)
    public = key.public_key()
    return lambda: public.verify(signature, BOUND_MESSAGE, algorithm)


def raw_eddsa_sign_call() -> Callable[[], object]:
    """One raw ``cryptography`` Ed25519 signature per call."""
    key = _ed_key()
    return lambda: key.sign(BOUND_MESSAGE)


def raw_eddsa_verify_call() -> Callable[[], object]:
    """One raw ``cryptography`` Ed25519 verification per call."""
    key = _ed_key()
    signature = key.sign(BOUND_MESSAGE)
    public = key.public_key()
    return lambda: public.verify(signature, BOUND_MESSAGE)


def _rate_bound(label: str, call: Callable[[], object], settings: Settings) -> Bound:
    return Bound(
        label, measure_rate(call, repeats=settings.repeats, budget=settings.budget), "ops/s"
    )


@functools.cache
def raw_es256_sign_rate(settings: Settings = Settings()) -> Bound:
    """Raw ``cryptography`` ECDSA P-256/SHA-256 signatures per second on :data:`BOUND_MESSAGE`."""
    return _rate_bound("raw ES256 sign", raw_es256_sign_call(), settings)


@functools.cache
def raw_es256_verify_rate(settings: Settings = Settings()) -> Bound:
    """Raw ``cryptography`` ECDSA P-256/SHA-256 verifications per second."""
    return _rate_bound("raw ES256 verify", raw_es256_verify_call(), settings)


@functools.cache
def raw_eddsa_sign_rate(settings: Settings = Settings()) -> Bound:
    """Raw ``cryptography`` Ed25519 signatures per second."""
    return _rate_bound("raw EdDSA sign", raw_eddsa_sign_call(), settings)


@functools.cache
def raw_eddsa_verify_rate(settings: Settings = Settings()) -> Bound:
    """Raw ``cryptography`` Ed25519 verifications per second."""
    return _rate_bound("raw EdDSA verify", raw_eddsa_verify_call(), settings)


def raw_zlib_compress_time(data: bytes, settings: Settings) -> Bound:
    """Milliseconds for ``zlib.compress(data, 9)``: the floor of any status list encoding."""
    stats = time_call(lambda: zlib.compress(data, 9), repeats=settings.repeats)
    return Bound("raw zlib.compress(9)", stats.scaled(1000), "ms")


def raw_zlib_decompress_time(compressed: bytes, settings: Settings) -> Bound:
    """Milliseconds for ``zlib.decompress(compressed)``: the floor of any decoding."""
    stats = time_call(lambda: zlib.decompress(compressed), repeats=settings.repeats)
    return Bound("raw zlib.decompress", stats.scaled(1000), "ms")


# --------------------------------------------------------------------------------------------
# The machine


def _cpu_times() -> dict[int, tuple[int, int]]:
    """``{cpu: (idle, total)}`` jiffies from /proc/stat; empty where unavailable."""
    try:
        lines = Path("/proc/stat").read_text(encoding="ascii").splitlines()
    except OSError:
        return {}
    times = {}
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            values = [int(v) for v in fields]
            times[int(name[3:])] = (values[3] + values[4], sum(values[:8]))
    return times


def idlest_cpu(allowed: Iterable[int], *, window: float = 0.2) -> int:
    """The allowed CPU that was idle the longest over ``window`` seconds (first one if unknown)."""
    cpus = sorted(allowed)
    before = _cpu_times()
    time.sleep(window)
    after = _cpu_times()

    def idle_share(cpu: int) -> float:
        if cpu not in before or cpu not in after:
            return 0.0
        idle = after[cpu][0] - before[cpu][0]
        total = after[cpu][1] - before[cpu][1]
        return idle / total if total > 0 else 0.0

    return max(cpus, key=lambda cpu: (idle_share(cpu), -cpu))


def pin_to_one_core(cpu: int | None = None) -> str:
    """Pin this process to one CPU (``cpu``, else the idlest allowed one); say what happened."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (os.sched_setaffinity is unavailable on this platform)"
    allowed = sorted(os.sched_getaffinity(0))
    how = "as asked"
    if cpu is None:
        cpu = idlest_cpu(allowed) if len(allowed) > 1 else allowed[0]
        how = "the idlest over 0.2 s"
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu} ({how}; {len(allowed)} allowed, {os.cpu_count()} online)"


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or "unknown"
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine() -> dict[str, str]:
    """A description of the machine and the libraries that bound the figures."""
    import cryptography
    from cryptography.hazmat.backends.openssl.backend import backend

    return {
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"),
        "cpu": _cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "openssl": f"{backend.openssl_version_text()} (cryptography {cryptography.__version__})",
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "os": platform.platform(),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?",
    }


# --------------------------------------------------------------------------------------------
# Running and reporting


def run(names: Sequence[str], settings: Settings) -> list[Row]:
    """Run the named benchmarks (all if ``names`` is empty), in registry order.

    Raises:
        KeyError: a name is not registered.
    """
    registry = discover()
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise KeyError(f"unknown benchmark(s): {', '.join(unknown)}; have {', '.join(registry)}")
    rows: list[Row] = []
    for name in names or list(registry):
        rows.extend(registry[name].run(settings))
    return rows


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


_HEADERS: Final = ("benchmark", "metric", "median", "min", "max", "unit", "bound", "ratio")


def table_rows(rows: Sequence[Row]) -> list[tuple[str, ...]]:
    """The table's cells, one tuple per row (header excluded)."""
    cells: list[tuple[str, ...]] = []
    for row in rows:
        bound = "" if row.bound is None else f"{row.bound.label}: {_fmt(row.bound.stats.median)}"
        ratio = row.ratio
        cells.append(
            (
                row.benchmark,
                row.metric + (f" ({row.note})" if row.note else ""),
                _fmt(row.stats.median),
                _fmt(row.stats.min),
                _fmt(row.stats.max),
                row.unit,
                bound,
                "" if ratio is None else f"{ratio:.2f}",
            )
        )
    return cells


def print_report(header: Sequence[str], rows: Sequence[Row], *, markdown: bool) -> None:
    """Print a run's header lines and its table (Markdown: header as a quote, for RESULTS.md)."""
    print("\n".join(f"> {h}  " for h in header) if markdown else "\n".join(header))
    print()
    print(render_table(rows, markdown=markdown))


def render_table(rows: Sequence[Row], *, markdown: bool = False) -> str:
    """Format rows as one aligned plain-text table, or as a Markdown table."""
    cells = table_rows(rows)
    numeric = {2, 3, 4, 7}
    if markdown:
        lines = ["| " + " | ".join(_HEADERS) + " |"]
        lines.append("|" + "|".join("---:" if i in numeric else "---" for i in range(8)) + "|")
        lines.extend("| " + " | ".join(c) + " |" for c in cells)
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [_HEADERS, *cells]) for i in range(len(_HEADERS))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    return "\n".join([line(_HEADERS), line(["-" * w for w in widths]), *map(line, cells)])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench [NAME ...] [--quick] [--markdown] [--repeats N] [--no-pin]``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Run huxin's benchmarks and print one table."
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="short smoke run, tiny workloads")
    parser.add_argument("--markdown", action="store_true", help="print Markdown for RESULTS.md")
    parser.add_argument("--repeats", type=int, help="measurements per figure (default 5)")
    parser.add_argument("--budget", type=float, help="seconds per rate measurement")
    parser.add_argument("--cpu", type=int, help="CPU to pin to (default: first allowed)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one core")
    parser.add_argument("--list", action="store_true", help="list benchmarks and exit")
    args = parser.parse_args(argv)

    if args.list:
        for name, bench in discover().items():
            print(f"{name}: {bench.description}")
        return 0
    settings = QUICK if args.quick else Settings()
    if args.repeats is not None:
        settings = replace(settings, repeats=max(1, args.repeats))
    if args.budget is not None:
        settings = replace(settings, budget=max(0.001, args.budget))
    info = machine()  # before pinning, so nproc is the machine's
    pinning = "not pinned (--no-pin)" if args.no_pin else pin_to_one_core(args.cpu)
    started = time.perf_counter()
    try:
        rows = run(args.names, settings)
    except KeyError as err:
        print(f"error: {err.args[0]}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    mode = "quick" if settings.quick else "full"
    header = [
        f"huxin benchmarks ({mode}: {settings.repeats} repeats, {settings.budget:g} s per rate "
        f"sample; {pinning}; {elapsed:.1f} s)",
        f"machine: {info['cpu']}, nproc {info['nproc']}; {info['python']}; {info['openssl']}; "
        f"zlib {info['zlib']}; load average before the run {info['load']}",
        "ratio = fraction of the bound achieved (ours/bound for rates, bound/ours for times); "
        "bounds measured in this run",
    ]
    print_report(header, rows, markdown=args.markdown)
    return 0
