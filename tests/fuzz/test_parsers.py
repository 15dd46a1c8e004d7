"""Property-based fuzzing of every parser that sees outside bytes (bounded run; see conftest).

For each target of ``tests/fuzz/targets.py``:

* its valid seeds parse to the expected value, and so do no-op variants (bytes for text,
  reformatted JSON around signed payloads, reordered members);
* arbitrary bytes, text and JSON values (hypothesis strategies, and the long run's own random
  generator) raise nothing but the package's documented error root, finish fast, and never
  verify;
* structured mutations of valid inputs (the long run's mutations, seeded by hypothesis) either
  give back the same verified value or a documented error -- never a crash, a hang or a false
  accept.

``bench/fuzz.py`` runs the same properties for 100,000 cases per parser.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.targets import BY_NAME, TARGETS, Case, Outcome, Target, check, next_case

NAMES = [t.name for t in TARGETS]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)


def _ok(target: Target, case: Case, outcome: Outcome) -> None:
    assert outcome.kind in ("accept", "reject"), (
        f"{target.name}: {outcome.kind} after {case.mutation}: {outcome.detail}\n"
        f"input: {case.data!r:.500}"
    )


def _as_input(target: Target, index: int, value: object) -> Case:
    """Shape a hypothesis value as the input type of seed ``index``'s entry point."""
    seeds = target.seeds()
    seed = seeds[index % len(seeds)]
    data: object
    if isinstance(seed.data, dict):
        data = value if isinstance(value, dict) else {"value": value}
    elif isinstance(value, bytes):
        data = value.decode("latin-1") if isinstance(seed.data, str) else value
    else:
        text = value if isinstance(value, str) else json.dumps(value)
        data = text if isinstance(seed.data, str) else text.encode("utf-8", "surrogatepass")
    return Case(seed, data, "hypothesis", arbitrary=True)


@pytest.mark.parametrize("name", NAMES)
def test_seeds_and_noops_verify_to_the_same_value(name: str) -> None:
    target = BY_NAME[name]
    for seed in target.seeds():
        assert target.call(seed, seed.data) == seed.expected
        for variant in target.noops(seed):
            outcome = check(target, Case(seed, variant, "noop"))
            assert outcome.kind == "accept", (name, seed.label, outcome)
            assert target.call(seed, variant) == seed.expected


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(
    index=st.integers(0, 7),
    value=st.binary(max_size=2000) | st.text(max_size=500) | json_values,
)
def test_arbitrary_values_raise_only_the_documented_errors(
    name: str, index: int, value: object
) -> None:
    target = BY_NAME[name]
    case = _as_input(target, index, value)
    _ok(target, case, check(target, case))


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_random_inputs_raise_only_the_documented_errors(name: str, rng: random.Random) -> None:
    target = BY_NAME[name]
    case = target.arbitrary(rng)
    _ok(target, case, check(target, case))


@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(rng=st.randoms(use_true_random=False))
def test_mutations_never_crash_or_falsely_verify(name: str, rng: random.Random) -> None:
    target = BY_NAME[name]
    case = next_case(target, rng, arbitrary_share=0.0)
    _ok(target, case, check(target, case))


def test_every_parser_that_sees_outside_bytes_is_covered() -> None:
    assert set(NAMES) == {
        "presentation",
        "qrform",
        "sdjwt",
        "jose",
        "status_list",
        "status_list_token",
        "status_list_cache",
        "keys",
        "multisig",
        "root",
        "material",
        "bundle",
        "scale_json",
        "scale",
        "catalogue",
    }
    signed = {t.name for t in TARGETS if t.signed}
    assert signed == {
        "presentation",
        "qrform",
        "status_list_token",
        "status_list_cache",
        "multisig",
        "root",
        "material",
        "bundle",
    }
