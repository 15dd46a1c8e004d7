"""信易+ catalogues: strict parsing, seed catalogues, three-valued decisions, least disclosure."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mapping.convert import Eligibility
from mapping.scale import Scale, builtin_scale
from protocol.attestation import StatusRef
from protocol.errors import MalformedError
from protocol.incentive import (
    CatalogueError,
    Disclosed,
    Incentive,
    UnknownIncentiveError,
    decide,
    disclosed_by,
    least_disclosure,
    parse_catalogue,
)
from protocol.presentation import DisclosureRequest
from protocol.verifier import VerifiedPresentation

CATALOGUES = Path(__file__).parents[2] / "node" / "data" / "incentives"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CITY_SCALE = {
    "zhengzhou": "shangding",
    "hangzhou": "qianjiang",
    "fuzhou": "jasmine",
    "nanjing": "honest-card",
    "wuhan": "wuhan",
    "suzhou": "osmanthus",
}


def catalogue_doc(city: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads((CATALOGUES / f"{city}.json").read_text("utf-8"))
    return doc


def incentive(ref: str) -> tuple[Incentive, Scale]:
    city, ident = ref.split("/")
    scale = builtin_scale(CITY_SCALE[city])
    return parse_catalogue(catalogue_doc(city), scale).get(ident), scale


@pytest.mark.parametrize("city", sorted(CITY_SCALE))
def test_seed_catalogues_parse_and_round_trip(city: str) -> None:
    scale = builtin_scale(CITY_SCALE[city])
    catalogue = parse_catalogue(catalogue_doc(city), scale)
    assert catalogue.city == city
    assert catalogue.incentives
    assert parse_catalogue(catalogue.to_dict(), scale) == catalogue


def test_seed_facts() -> None:
    fitness, _ = incentive("hangzhou/campus-fitness")
    assert fitness.rule.min_score == 581  # "高于580分": strictly above 580
    assert not fitness.provisional
    bus, _ = incentive("fuzhou/bus-metro-discount")
    assert bus.rule.min_score == 686
    library, _ = incentive("zhengzhou/library-card")
    assert library.rule.min_level == 4
    assert library.visitors


def bad(mutate: dict[str, object], city: str = "hangzhou") -> None:
    doc = catalogue_doc(city)
    items = doc["incentives"]
    assert isinstance(items, list)
    items[0] = {**items[0], **mutate}
    with pytest.raises(CatalogueError):
        parse_catalogue(doc, builtin_scale(CITY_SCALE[city]))


@pytest.mark.parametrize(
    "mutate",
    [
        {"colour": "red"},
        {"category": "casino"},
        {"rule": {"min_score": 1001}},
        {"rule": {"min_level": 6}},
        {"rule": {"min_level": 4, "min_score": 600}},
        {"rule": {"min_level": True}},
        {"rule": {}},
        {"title": {"zh": "只有中文"}},
        {"visitors": "yes"},
        {"valid_from": "2026-13-01"},
        {"valid_from": "2026-02-01", "valid_until": "2026-01-01"},
        {"id": "空格 id"},
        {"provisional": 1},
    ],
)
def test_bad_incentives_are_refused(mutate: dict[str, object]) -> None:
    bad(mutate)


def test_catalogue_level_errors() -> None:
    doc = catalogue_doc("hangzhou")
    with pytest.raises(CatalogueError, match="scale"):
        parse_catalogue(doc, builtin_scale("shangding"))
    with pytest.raises(CatalogueError, match="unknown fields"):
        parse_catalogue({**doc, "extra": 1}, builtin_scale("qianjiang"))
    items = doc["incentives"]
    assert isinstance(items, list)
    with pytest.raises(CatalogueError, match="duplicate"):
        parse_catalogue({**doc, "incentives": [items[0], items[0]]}, builtin_scale("qianjiang"))
    nanjing = catalogue_doc("nanjing")
    entries = nanjing["incentives"]
    assert isinstance(entries, list)
    entries[0] = {**entries[0], "rule": {"min_score": 1}}
    with pytest.raises(CatalogueError, match="min_score needs a score scale"):
        parse_catalogue(nanjing, builtin_scale("honest-card"))
    with pytest.raises(UnknownIncentiveError):
        parse_catalogue(doc, builtin_scale("qianjiang")).get("nope")


def test_catalogue_errors_are_malformed_with_a_code() -> None:
    assert issubclass(CatalogueError, MalformedError)
    assert CatalogueError.code == "bad_catalogue"


# -------------------------------------------------------------------------------------------
# Decisions


def visitor(city: str, **claims: object) -> Disclosed:
    return Disclosed(city=city, scale=builtin_scale(CITY_SCALE[city]), **claims)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"level_at_least": frozenset({4})}, Eligibility.ELIGIBLE),
        ({"level": 5}, Eligibility.ELIGIBLE),
        ({"level": 3}, Eligibility.NOT_ELIGIBLE),
        ({"level_at_least": frozenset({3})}, Eligibility.UNDETERMINED),
        ({}, Eligibility.UNDETERMINED),
    ],
)
def test_level_rule(claims: dict[str, object], expected: Eligibility) -> None:
    library, scale = incentive("zhengzhou/library-card")
    decision = decide(library, scale, visitor("hangzhou", **claims), NOW)
    assert decision.eligibility is expected
    assert decision.unit == "level"
    if expected is Eligibility.UNDETERMINED:
        assert decision.ask_for == DisclosureRequest(level_at_least=4)


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        # 钱江分 581 and above. Level 3 is 600..699: all of it clears the threshold.
        ({"level": 3}, Eligibility.ELIGIBLE),
        ({"level_at_least": frozenset({3})}, Eligibility.ELIGIBLE),
        # Level 2 is 550..599: the threshold falls inside, a band decides.
        ({"level": 2}, Eligibility.UNDETERMINED),
        # 商鼎分 band 95..99 of level 2 (80..99) maps to 587.5..597.5: above 581.
        ({"level": 2, "band": (95, 99)}, Eligibility.ELIGIBLE),
        # 商鼎分 80..84 maps to 550..560: below.
        ({"level": 2, "band": (80, 84)}, Eligibility.NOT_ELIGIBLE),
        # 商鼎分 90..99 maps to 575..597.5: straddles 581.
        ({"band": (90, 99)}, Eligibility.UNDETERMINED),
        ({"level": 1}, Eligibility.NOT_ELIGIBLE),
    ],
)
def test_score_rule_maps_the_visitor_onto_the_local_scale(
    claims: dict[str, object], expected: Eligibility
) -> None:
    fitness, scale = incentive("hangzhou/campus-fitness")
    decision = decide(fitness, scale, visitor("zhengzhou", **claims), NOW)
    assert decision.eligibility is expected, decision.explanation
    assert decision.unit == "qianjiang"
    assert decision.threshold == 581
    assert "581" in decision.explanation.zh
    assert "581" in decision.explanation.en
    if expected is Eligibility.UNDETERMINED and "band" not in claims:
        assert decision.ask_for == DisclosureRequest(band=True)


def test_honest_card_level_is_a_lower_bound() -> None:
    library, scale = incentive("suzhou/library-card")
    decision = decide(library, scale, visitor("nanjing", level=4), NOW)
    assert decision.eligibility is Eligibility.ELIGIBLE
    assert decision.interval == (4.0, 5.0)


def test_not_offered_to_visitors_or_outside_dates() -> None:
    care, scale = incentive("zhengzhou/elderly-care")
    away = decide(care, scale, visitor("hangzhou", level=5), NOW)
    assert away.eligibility is Eligibility.NOT_ELIGIBLE
    assert "本市居民" in away.explanation.zh
    home = decide(care, scale, visitor("zhengzhou", level=5), NOW)
    assert home.eligibility is Eligibility.ELIGIBLE
    library, scale = incentive("zhengzhou/library-card")
    before = decide(library, scale, visitor("hangzhou", level=5), datetime(2019, 1, 1, tzinfo=UTC))
    assert before.eligibility is Eligibility.NOT_ELIGIBLE
    assert "2019-09-01" in before.explanation.en


def test_contradictory_claims_are_malformed() -> None:
    library, scale = incentive("zhengzhou/library-card")
    with pytest.raises(MalformedError):
        decide(library, scale, visitor("hangzhou", level=2, level_at_least=frozenset({4})), NOW)


# -------------------------------------------------------------------------------------------
# Least disclosure (the wallet)


@pytest.mark.parametrize(
    ("ref", "holder_city", "level", "band", "expected"),
    [
        ("zhengzhou/library-card", "hangzhou", 5, None, DisclosureRequest(level_at_least=4)),
        ("zhengzhou/library-card", "hangzhou", 3, None, None),
        # 钱江分 581: level 3 (600..) is the least level that decides it.
        (
            "hangzhou/campus-fitness",
            "zhengzhou",
            4,
            (130, 139),
            DisclosureRequest(level_at_least=3),
        ),
        ("hangzhou/campus-fitness", "zhengzhou", 2, (95, 99), DisclosureRequest(band=True)),
        ("hangzhou/campus-fitness", "zhengzhou", 2, (90, 99), None),
        ("hangzhou/campus-fitness", "zhengzhou", 1, (70, 79), None),
        # 茉莉分 686 sits inside level 3 (650..749): level 4 decides; level 3 needs the band.
        (
            "fuzhou/bus-metro-discount",
            "hangzhou",
            4,
            (700, 749),
            DisclosureRequest(level_at_least=4),
        ),
    ],
)
def test_least_disclosure(
    ref: str,
    holder_city: str,
    level: int,
    band: tuple[int, int] | None,
    expected: DisclosureRequest | None,
) -> None:
    target, scale = incentive(ref)
    holder_scale = builtin_scale(CITY_SCALE[holder_city])
    assert least_disclosure(target, scale, holder_scale, level, band) == expected


def test_least_disclosure_is_enough_to_decide() -> None:
    fitness, scale = incentive("hangzhou/campus-fitness")
    request = least_disclosure(fitness, scale, builtin_scale("shangding"), 2, (95, 99))
    assert request == DisclosureRequest(band=True)
    decision = decide(fitness, scale, visitor("zhengzhou", band=(95, 99)), NOW)
    assert decision.eligibility is Eligibility.ELIGIBLE


@pytest.mark.parametrize("kind", ["min_level", "min_score"])
@pytest.mark.parametrize("level", [1, 3, 5])
def test_a_rule_everyone_meets_asks_for_nothing(kind: str, level: int) -> None:
    # "Level at least 1" has no slot in an attestation: a valid presentation already proves it.
    scale = builtin_scale("qianjiang")
    doc = catalogue_doc("hangzhou")
    items = doc["incentives"]
    assert isinstance(items, list)
    items[0] = {**items[0], "rule": {kind: 1 if kind == "min_level" else scale.min}}
    target = parse_catalogue(doc, scale).incentives[0]
    request = least_disclosure(target, scale, builtin_scale("shangding"), level, None)
    assert request == DisclosureRequest()
    assert request.claim_names() == ()
    decision = decide(target, scale, visitor("zhengzhou"), NOW)
    assert decision.eligibility is Eligibility.ELIGIBLE
    assert decision.ask_for is None


def verified_with(scale_id: str, band: tuple[int, int] | None) -> VerifiedPresentation:
    return VerifiedPresentation(
        issuer="https://zz.example",
        city="zhengzhou",
        kid="kid",
        scale_id=scale_id,
        scale_version="2019-1",
        vct="urn:huxin:credit-level:1",
        issued_at=NOW,
        expires_at=NOW,
        status=StatusRef(uri="https://zz.example/status/1", idx=7),
        level=2,
        level_at_least=frozenset({2}),
        band=band,
    )


def test_disclosed_by_keeps_a_band_on_the_published_scale() -> None:
    disclosed, warning = disclosed_by(
        verified_with("shangding", (95, 99)), builtin_scale("shangding")
    )
    assert warning is None
    assert disclosed == Disclosed(
        city="zhengzhou",
        scale=builtin_scale("shangding"),
        level=2,
        level_at_least=frozenset({2}),
        band=(95, 99),
    )


def test_disclosed_by_ignores_a_band_cut_from_another_scale() -> None:
    disclosed, warning = disclosed_by(
        verified_with("jasmine", (95, 99)), builtin_scale("shangding")
    )
    assert disclosed.band is None
    assert disclosed.level == 2
    assert warning is not None
    assert "jasmine" in warning
    assert disclosed_by(verified_with("jasmine", None), builtin_scale("shangding"))[1] is None
