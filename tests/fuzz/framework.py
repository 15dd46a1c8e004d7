"""The fuzzing framework: seeds, cases, outcomes, the judge, and bounded runs.

A :class:`Target` knows how to call one parser, which exceptions are its documented errors (the
package's error root), how to build valid inputs (:class:`Seed`), how to make arbitrary and
mutated inputs from a :class:`random.Random`, and how to judge an accepted input. :func:`check`
runs one :class:`Case` and classifies it:

* ``reject`` -- the documented error root (``ProtocolError``, ``CertsError``, ``MappingError``);
* ``accept`` -- a value that passes the judge;
* ``crash`` -- any other exception (``KeyError``, ``RecursionError``, ``OverflowError``, ...);
* ``false_accept`` -- an accepted value that must not have been: arbitrary bytes that verify,
  a mutated signed input whose verified value or signed content differs from the original's,
  or an unsigned value that breaks the parser's own invariants;
* ``hang`` -- a case slower than :data:`HANG_SECONDS`.

Mutations say who (if anyone) re-signed them: ``none`` (nobody: a verifier must not accept
anything but the original value from the original signed bytes), ``holder`` (the wallet
re-signed its Key Binding JWT: the issuer's claims must come out unchanged), or ``issuer`` (a
trusted signer signed something odd: acceptance is legitimate, a crash is still a bug).
:func:`run` drives one target from a seed for a number of cases or seconds (the long run).

What it deliberately does not do: know any parser (the ``*_targets`` modules do), or read the
clock except to time cases.
"""

from __future__ import annotations

import base64
import json
import random
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from tests.fuzz.mutate import (
    Deep,
    encode_json,
    random_bytes,
    random_json,
)

Kind = Literal["accept", "reject", "crash", "false_accept", "hang"]
Trust = Literal["none", "holder", "issuer"]
#: A single case slower than this counts as a hang (inputs are bounded; honest cases take ms).
HANG_SECONDS: Final = 2.0
KINDS: Final[tuple[Kind, ...]] = ("accept", "reject", "crash", "false_accept", "hang")


@dataclass(frozen=True)
class Seed:
    """A valid input and what the parser makes of it.

    Attributes:
        label: names the seed and selects how the target calls the parser.
        data: the valid input.
        expected: the parser's summary of ``data`` (computed once, at setup).
        signed: the signed content of ``data`` (``None`` for unsigned inputs).
    """

    label: str
    data: object
    expected: object = None
    signed: object = None


@dataclass(frozen=True)
class Case:
    """One input for a target: arbitrary, or a mutation of a seed."""

    seed: Seed
    data: object
    mutation: str
    trust: Trust = "none"
    arbitrary: bool = False


@dataclass(frozen=True)
class Outcome:
    """How one case ended."""

    kind: Kind
    detail: str = ""
    seconds: float = 0.0


class Target:
    """One parser under fuzzing. Subclasses fill in the parser-specific parts."""

    name: str = ""
    description: str = ""
    errors: tuple[type[Exception], ...] = ()
    #: Whether the input carries signatures (so a changed input must never verify).
    signed: bool = False

    def __init__(self) -> None:
        self._seeds: tuple[Seed, ...] | None = None

    # -- setup ----------------------------------------------------------------------------

    def raw_seeds(self) -> Sequence[tuple[str, object]]:
        """``(label, valid input)`` pairs."""
        raise NotImplementedError

    def seeds(self) -> tuple[Seed, ...]:
        """The valid inputs with their expected summaries (computed once)."""
        if self._seeds is None:
            built = []
            for label, data in self.raw_seeds():
                probe = Seed(label, data)
                built.append(
                    Seed(label, data, self.call(probe, data), self.signed_content(probe, data))
                )
            self._seeds = tuple(built)
        return self._seeds

    # -- the parser -----------------------------------------------------------------------

    def call(self, seed: Seed, data: object) -> object:
        """Run the parser as ``seed.label`` says; return a comparable summary of the result."""
        raise NotImplementedError

    def signed_content(self, seed: Seed, data: object) -> object:
        """What the signatures of ``data`` cover (decoded leniently); ``None`` if unsigned."""
        del seed, data
        return None

    def invariant(self, seed: Seed, data: object, summary: object) -> str | None:
        """For an accepted unsigned input: a broken invariant, or ``None``."""
        del seed, data, summary
        return None

    def noops(self, seed: Seed) -> list[object]:
        """Variants of ``seed.data`` that must parse to exactly ``seed.expected``."""
        data = seed.data
        if isinstance(data, str) and data.isascii():
            return [data.encode("ascii")]
        if isinstance(data, bytes) and data.isascii() and not data.lstrip().startswith(b"{"):
            return [data.decode("ascii")]
        if isinstance(data, dict):
            return [dict(reversed(list(data.items())))]
        doc = lenient_json(data)
        if isinstance(doc, dict):
            variants: list[object] = [
                json.dumps(doc).encode(),
                json.dumps(dict(reversed(list(doc.items()))), indent=4).encode(),
                json.dumps(doc, ensure_ascii=True, sort_keys=True).encode(),
            ]
            if isinstance(doc.get("signatures"), list):
                variants.append(json.dumps({**doc, "signatures": doc["signatures"][::-1]}).encode())
            return variants
        return []

    # -- inputs ---------------------------------------------------------------------------

    def arbitrary(self, rng: random.Random) -> Case:
        """An arbitrary input (random bytes, text or JSON) for a random seed's entry point."""
        seed = rng.choice(self.seeds())
        data = random_bytes(rng) if rng.random() < 0.5 else encode_json(random_json(rng), rng)
        return Case(seed, self.coerce(seed, data, rng), "arbitrary", arbitrary=True)

    def coerce(self, seed: Seed, data: bytes, rng: random.Random) -> object:
        """Turn arbitrary bytes into the input type of ``seed``'s entry point."""
        if isinstance(seed.data, str):
            return data.decode("utf-8", "replace") if rng.random() < 0.5 else data.decode("latin-1")
        return data

    def mutate(self, rng: random.Random, seed: Seed) -> Case:
        """A mutation of ``seed``."""
        raise NotImplementedError

    # -- judging --------------------------------------------------------------------------

    def judge(self, case: Case, summary: object) -> str | None:
        """Why accepting ``case`` with ``summary`` is wrong, or ``None`` if it is fine."""
        if not self.signed:
            return self.invariant(case.seed, case.data, summary)
        if case.arbitrary:
            return "arbitrary input verified"
        if case.trust == "issuer":
            return None
        if summary != case.seed.expected:
            return f"verified to another value after {case.mutation}"
        if case.trust == "none" and self.signed_content(case.seed, case.data) != case.seed.signed:
            return f"verified with altered signed content after {case.mutation}"
        return None


def describe(err: BaseException) -> str:
    """``Type: message @ file:line`` of the innermost frame in our code."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [
        f for f in frames if "/site-packages/" not in f.filename and "python3." not in f.filename
    ]
    where = ours[-1] if ours else (frames[-1] if frames else None)
    loc = f" @ {Path(where.filename).name}:{where.lineno}" if where else ""
    return f"{type(err).__name__}: {str(err)[:160]}{loc}"


def check(target: Target, case: Case) -> Outcome:
    """Run one case and classify it (see the module docstring)."""
    start = time.perf_counter()
    kind: Kind
    detail = ""
    try:
        with warnings.catch_warnings():
            # cryptography warns about certificates it will refuse in a future release (a
            # negative serial number, a country name of 10 letters); pytest turns warnings
            # into errors, but outside ``-W error`` they change nothing: not parser failures.
            warnings.simplefilter("ignore")
            summary = target.call(case.seed, case.data)
    except target.errors:
        kind = "reject"
    except Exception as err:
        kind, detail = "crash", describe(err)
    else:
        try:
            problem = target.judge(case, summary)
        except Exception as err:
            problem = f"accepted, but checking the value raised {describe(err)}"
        kind, detail = ("false_accept", problem) if problem else ("accept", "")
    seconds = time.perf_counter() - start
    if kind in ("accept", "reject") and seconds > HANG_SECONDS:
        kind, detail = "hang", f"{case.mutation} took {seconds:.2f} s"
    return Outcome(kind, detail, seconds)


def next_case(target: Target, rng: random.Random, *, arbitrary_share: float = 0.2) -> Case:
    """The next case of a run: arbitrary with probability ``arbitrary_share``, else a mutation
    of a random seed (sometimes two or three stacked unsigned mutations)."""
    if rng.random() < arbitrary_share:
        return target.arbitrary(rng)
    seed = rng.choice(target.seeds())
    case = target.mutate(rng, seed)
    stacked = 1 if rng.random() < 0.75 else rng.randint(2, 3)
    for _ in range(stacked - 1):
        if case.trust != "none":
            break
        again = target.mutate(rng, Seed(seed.label, case.data, seed.expected, seed.signed))
        if again.trust != "none":
            break
        case = Case(seed, again.data, f"{case.mutation}+{again.mutation}")
    return case


def pick(rng: random.Random, ops: Sequence[tuple[str, Callable[[], Case]]]) -> Case:
    return rng.choice(ops)[1]()


def lenient_json(data: object) -> object:
    try:
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        if not isinstance(raw, bytes):
            return None
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def loose_json_bytes(obj: object, *, indent: int | None = None) -> bytes:
    """JSON bytes tolerating what earlier mutations left behind (surrogates, deep nesting)."""
    try:
        text = json.dumps(obj, ensure_ascii=False, indent=indent)
        return text.encode("utf-8", "surrogatepass")
    except (TypeError, ValueError, RecursionError):
        return Deep(3000, True, 1).text().encode("ascii")


def jws_content(token: object) -> tuple[object, ...] | None:
    """Decoded header and payload bytes of a compact JWS (lenient: for comparison only)."""
    text = token.decode("latin-1") if isinstance(token, bytes) else token
    if not isinstance(text, str):
        return None
    parts = text.split(".")
    if len(parts) != 3:
        return None
    out: list[object] = []
    for part in parts[:2]:
        try:
            out.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        except ValueError:
            return None
    return tuple(out)


@dataclass
class Tally:
    """Counts of one run over one target."""

    target: str
    cases: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    seconds: float = 0.0
    slowest: float = 0.0
    examples: list[str] = field(default_factory=list)

    def add(self, case: Case, outcome: Outcome, *, keep: int = 5) -> None:
        self.cases += 1
        self.counts[outcome.kind] += 1
        self.slowest = max(self.slowest, outcome.seconds)
        if outcome.kind in ("crash", "false_accept", "hang") and len(self.examples) < keep:
            try:
                shown = repr(case.data)
            except RecursionError:
                shown = "<nested too deeply to show>"
            if len(shown) > 300:
                shown = shown[:300] + f"... ({len(shown)} chars)"
            self.examples.append(
                f"{outcome.kind} [{case.mutation}]: {outcome.detail}\n    input: {shown}"
            )

    @property
    def failures(self) -> int:
        return self.counts["crash"] + self.counts["false_accept"] + self.counts["hang"]


def run(
    target: Target,
    *,
    cases: int,
    seed: int,
    max_seconds: float,
    on_case: Callable[[Case, Outcome], None] | None = None,
) -> Tally:
    """Run up to ``cases`` cases (and at most ``max_seconds``) of ``target`` from ``seed``."""
    rng = random.Random(f"{target.name}:{seed}")
    target.seeds()
    tally = Tally(target.name)
    start = time.perf_counter()
    deadline = start + max_seconds
    while tally.cases < cases and time.perf_counter() < deadline:
        case = next_case(target, rng)
        outcome = check(target, case)
        tally.add(case, outcome)
        if on_case is not None:
            on_case(case, outcome)
    tally.seconds = time.perf_counter() - start
    return tally
