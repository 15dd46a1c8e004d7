"""A diagnostic: periodic ``tracemalloc`` snapshot diffs of a running node, written to a file.

What it does: when ``HUXIN_TRACEMALLOC=PATH`` is set for ``huxin node run``, :func:`start` turns
on ``tracemalloc`` (``HUXIN_TRACEMALLOC_FRAMES`` frames, default 6; 0: no tracing, only the
C heap figures below) and a daemon thread that, every ``HUXIN_TRACEMALLOC_INTERVAL`` seconds
(default 10), appends one report to ``PATH``: the process's ``RssAnon``, what the C heap holds
(glibc's in-use and free bytes, SQLite's own allocations), the Python heap traced now, the
allocation sites (and tracebacks) that grew most since the first snapshot -- the baseline,
taken one interval after start so that start-up and first-request allocations are not
counted -- and the object types whose live count grew most.
With several workers each worker writes its own file, ``PATH.<worker index>``.
``python -m bench.load --soak S --tracemalloc PATH`` uses it to find what makes memory grow
under load.

What it deliberately does not do: run unless asked (tracemalloc slows the node by a factor of
about two; the variable is read once at start-up, zero cost when unset), judge what it reports,
or remove anything it finds.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Final, TextIO

from node.errors import ConfigError

ENV: Final = "HUXIN_TRACEMALLOC"
TOP: Final = 25


def settings(env: Mapping[str, str]) -> tuple[Path, float, int] | None:
    """``(path, interval, frames)`` when ``env`` names an output file, else ``None``.

    Raises:
        ConfigError: the interval or frame count is not a positive number.
    """
    path = env.get(ENV)
    if not path:
        return None
    try:
        interval = float(env.get(f"{ENV}_INTERVAL", "10"))
        frames = int(env.get(f"{ENV}_FRAMES", "6"))
    except ValueError:
        interval, frames = 0.0, 0
    if interval <= 0 or frames < 0:
        raise ConfigError(f"{ENV}_INTERVAL must be positive and {ENV}_FRAMES at least 0")
    return Path(path), interval, frames


def start(env: Mapping[str, str], *, worker: int | None = None) -> threading.Thread | None:
    """Start tracing and the reporting thread if ``env`` names an output file.

    Called in the process that serves: with several workers, in each worker after the fork
    (threads do not survive ``fork``), each writing ``PATH.<worker index>`` (a replacement
    worker appends to its predecessor's file; each report names its process id).

    Raises:
        ConfigError: the interval or frame count is not a positive number.
    """
    found = settings(env)
    if found is None:
        return None
    path, interval, frames = found
    if worker is not None:
        path = path.with_name(f"{path.name}.{worker}")
    if frames:
        tracemalloc.start(frames)
    thread = threading.Thread(
        target=_run, args=(path, interval), name="huxin-memtrace", daemon=True
    )
    thread.start()
    return thread


def _rss_anon_kib() -> int:
    try:
        text = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0


class _MallInfo2(ctypes.Structure):
    _fields_ = [  # the layout of glibc's struct mallinfo2
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _native() -> str:
    """What the C heap holds: glibc's in-use and free bytes, and SQLite's own allocations.

    Python objects are only part of ``RssAnon``: memory that SQLite (its page cache), OpenSSL
    or the event loop allocate with ``malloc`` is not traced, and memory that glibc keeps free
    in its arenas (fragmentation) is not a live allocation at all. Empty where unavailable.
    """
    parts = [f"threads={threading.active_count()} python_blocks={sys.getallocatedblocks()}"]
    try:
        libc = ctypes.CDLL(None)
        mallinfo2 = libc.mallinfo2
        mallinfo2.restype = _MallInfo2
        info = mallinfo2()
        in_use = info.uordblks + info.hblkhd
        parts.append(f"malloc in use={in_use / 2**20:.1f} MiB free={info.fordblks / 2**20:.1f} MiB")
    except (OSError, AttributeError):
        pass
    try:
        sqlite = ctypes.CDLL("libsqlite3.so.0")
        sqlite.sqlite3_memory_used.restype = ctypes.c_int64
        parts.append(f"sqlite3_memory_used={sqlite.sqlite3_memory_used() / 2**20:.1f} MiB")
    except (OSError, AttributeError):
        pass
    return " ".join(parts)


def _type_counts() -> Counter[str]:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


def _run(path: Path, interval: float) -> None:
    started = time.monotonic()
    time.sleep(interval)
    filters = (
        tracemalloc.Filter(inclusive=False, filename_pattern=tracemalloc.__file__),
        tracemalloc.Filter(inclusive=False, filename_pattern=__file__),
    )
    tracing = tracemalloc.is_tracing()
    base = tracemalloc.take_snapshot().filter_traces(filters) if tracing else None
    # Listing every object allocates a few MiB at once; only done when tracing anyway.
    base_types = _type_counts() if tracing else Counter[str]()
    base_rss = _rss_anon_kib()
    with path.open("a", encoding="utf-8") as out:
        while True:
            time.sleep(interval)
            at = time.monotonic() - started
            rss = _rss_anon_kib()
            out.write(
                f"=== pid={os.getpid()} t={at:.0f}s RssAnon={rss / 1024:.1f} MiB "
                f"(+{(rss - base_rss) / 1024:.1f} since baseline) {_native()}\n"
            )
            snap = None if base is None else tracemalloc.take_snapshot().filter_traces(filters)
            _report(out, base, snap, base_types)
            out.flush()


def _report(
    out: TextIO,
    base: tracemalloc.Snapshot | None,
    snap: tracemalloc.Snapshot | None,
    base_types: Counter[str],
) -> None:
    lines = []
    if base is not None and snap is not None:
        current, peak = tracemalloc.get_traced_memory()
        lines += [
            f"--- traced Python heap {current / 2**20:.2f} MiB (peak {peak / 2**20:.2f})",
            "--- top growth by line since baseline",
        ]
        lines += [f"  {stat}" for stat in snap.compare_to(base, "lineno")[:TOP]]
        lines.append("--- top growth by traceback since baseline")
        for stat in snap.compare_to(base, "traceback")[:5]:
            lines.append(f"  {stat.size_diff / 1024:+.1f} KiB, {stat.count_diff:+d} blocks")
            lines += [f"    {frame}" for frame in stat.traceback.format()]
        counts = _type_counts()
        counts.subtract(base_types)
        lines.append("--- live object types grown since baseline")
        lines += [f"  {name}: {n:+d}" for name, n in counts.most_common(15) if n > 0]
    if lines:
        out.write("\n".join(lines) + "\n")
