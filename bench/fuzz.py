"""The long fuzz run: at least 100,000 cases per parser, the same properties as ``tests/fuzz``.

``python -m bench.fuzz --cases 100000`` (or ``python bench/fuzz.py ...``) runs every target of
``tests/fuzz/targets.py`` in sequence with a seeded :class:`random.Random` -- the generators and
the judge the hypothesis tests use -- and prints, per parser, the cases run, accepted and
rejected inputs, crashes (any exception outside the package's documented error root), false
accepts, hangs, the time taken and the slowest case, then up to five examples of each failure.
The exit status is 1 if any parser crashed, hung or falsely accepted. Every parser's run is
bounded by ``--max-seconds``.

Registered with the benchmark harness as ``fuzz`` too (``python -m bench fuzz``): a short run
(a few hundred cases per parser, 20 in ``--quick`` mode) reporting fuzz cases per second, so the
full benchmark table says the fuzzers still run clean.

What it deliberately does not do: fuzz the node's HTTP API (schemathesis does, against a live
node), or keep a corpus between runs. The seed fixes the sequence of mutations; keys and ECDSA
signatures are fresh each run, so two runs with one seed differ in the exact bytes they try.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python bench/fuzz.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Row, Settings, Stats, benchmark, machine
from tests.fuzz.targets import BY_NAME, TARGETS, Tally, run

DEFAULT_CASES = 100_000
DEFAULT_MAX_SECONDS = 1800.0


def _table(tallies: Sequence[Tally]) -> str:
    header: tuple[str, ...] = ("parser", "cases", "accepted", "rejected", "crashes")
    header += ("false accepts", "hangs", "seconds", "cases/s", "slowest ms")
    rows = [header]
    for t in tallies:
        rows.append(
            (
                t.target,
                f"{t.cases:,}",
                f"{t.counts['accept']:,}",
                f"{t.counts['reject']:,}",
                str(t.counts["crash"]),
                str(t.counts["false_accept"]),
                str(t.counts["hang"]),
                f"{t.seconds:.1f}",
                f"{t.cases / t.seconds:,.0f}" if t.seconds else "-",
                f"{t.slowest * 1000:.1f}",
            )
        )
    total = sum(t.cases for t in tallies)
    fails = [sum(t.counts[k] for t in tallies) for k in ("crash", "false_accept", "hang")]
    seconds = sum(t.seconds for t in tallies)
    rows.append(("total", f"{total:,}", "", "", *map(str, fails), f"{seconds:.1f}", "", ""))
    lines = ["| " + " | ".join(r) + " |" for r in rows]
    lines.insert(1, "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.fuzz [--cases N] [--max-seconds S] [--seed K] [--only NAME ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.fuzz",
        description="Fuzz every huxin parser that sees outside bytes (the long run).",
    )
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="cases per parser")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=DEFAULT_MAX_SECONDS,
        help="time limit per parser (the run stops early if it is reached)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (reproducible runs)")
    parser.add_argument("--only", nargs="*", choices=sorted(BY_NAME), help="parsers to fuzz")
    args = parser.parse_args(argv)

    targets = [BY_NAME[n] for n in args.only] if args.only else list(TARGETS)
    info = machine()
    print(
        f"huxin fuzz: {args.cases:,} cases per parser, at most {args.max_seconds:g} s each, "
        f"seed {args.seed}\nmachine: {info.get('cpu', '?')}, nproc {info.get('nproc', '?')}; "
        f"{info.get('python', '')}; load average before the run {info.get('load', '?')}",
        flush=True,
    )
    tallies: list[Tally] = []
    started = time.perf_counter()
    for target in targets:
        tally = run(target, cases=args.cases, seed=args.seed, max_seconds=args.max_seconds)
        tallies.append(tally)
        print(
            f"{target.name}: {tally.cases:,} cases in {tally.seconds:.1f} s, "
            f"{tally.counts['crash']} crashes, {tally.counts['false_accept']} false accepts, "
            f"{tally.counts['hang']} hangs",
            flush=True,
        )
        for example in tally.examples:
            print("  " + example, flush=True)
    print()
    print(_table(tallies))
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    short = [t.target for t in tallies if t.cases < args.cases]
    if short:
        print(f"stopped by --max-seconds before {args.cases:,} cases: {', '.join(short)}")
    return 1 if any(t.failures for t in tallies) else 0


@benchmark("fuzz", description="fuzz cases per second per parser (must be clean)")
def fuzz_rates(settings: Settings) -> list[Row]:
    """A short fuzz run per parser as benchmark rows; a failure shows in the metric name."""
    cases = settings.pick(300, 20)
    rows = []
    for target in TARGETS:
        tally = run(target, cases=cases, seed=1, max_seconds=settings.pick(10.0, 2.0))
        rate = tally.cases / tally.seconds if tally.seconds else 0.0
        verdict = "clean" if not tally.failures else f"{tally.failures} FAILURES"
        rows.append(
            Row(
                "fuzz",
                f"{target.name} ({tally.cases} cases, {verdict})",
                "cases/s",
                Stats.of([rate]),
                note="python -m bench.fuzz for the long run",
            )
        )
    return rows


if __name__ == "__main__":
    sys.exit(main())
