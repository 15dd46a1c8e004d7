"""Level-anchored conversion: the worked example, band edges, intervals, membership, eligibility."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mapping.convert import (
    Conversion,
    Eligibility,
    convert_interval,
    convert_many,
    convert_score,
    correspondence,
    eligibility,
    level_interval,
)
from mapping.errors import (
    InvalidIntervalError,
    NotANumberError,
    ScoreOutOfRangeError,
    UnknownLevelError,
    UnsupportedConversionError,
)
from mapping.scale import Scale, builtin_scale


def _s(scale_id: str) -> Scale:
    return builtin_scale(scale_id)


def test_worked_example_shangding_135_is_qianjiang_725() -> None:
    conversion = convert_score(135, _s("shangding"), _s("qianjiang"))
    assert isinstance(conversion, Conversion)
    assert conversion.level == 4
    assert conversion.value == 725.0
    assert conversion.interval == (725.0, 725.0)
    assert conversion.band.name_zh == "信用优秀"
    assert conversion.target_band is not None
    assert (conversion.target_band.low, conversion.target_band.high) == (700, 749)
    assert conversion.federation_level.name_zh == "信用优秀"


# (score on the source, expected value on the target); every row also checks the level.
EDGE_TABLE: list[tuple[str, str, float, float]] = [
    # 商鼎分 -> 钱江分
    ("shangding", "qianjiang", 0, 0.0),
    ("shangding", "qianjiang", 79, 543.125),
    ("shangding", "qianjiang", 80, 550.0),
    ("shangding", "qianjiang", 99, 597.5),
    ("shangding", "qianjiang", 100, 600.0),
    ("shangding", "qianjiang", 119, 695.0),
    ("shangding", "qianjiang", 120, 700.0),
    ("shangding", "qianjiang", 149, 700 + 29 * 50 / 30),
    ("shangding", "qianjiang", 150, 750.0),
    ("shangding", "qianjiang", 175, 875.0),
    ("shangding", "qianjiang", 200, 1000.0),
    # 钱江分 -> 商鼎分
    ("qianjiang", "shangding", 549, 549 * 80 / 550),
    ("qianjiang", "shangding", 550, 80.0),
    ("qianjiang", "shangding", 599, 99.6),
    ("qianjiang", "shangding", 600, 100.0),
    ("qianjiang", "shangding", 699, 119.8),
    ("qianjiang", "shangding", 700, 120.0),
    ("qianjiang", "shangding", 749, 149.4),
    ("qianjiang", "shangding", 750, 150.0),
    ("qianjiang", "shangding", 1000, 200.0),
    # 茉莉分 -> 钱江分 (two jasmine bands share level 1: the level's span is 0..549)
    ("jasmine", "qianjiang", 349, 349.0),
    ("jasmine", "qianjiang", 350, 350.0),
    ("jasmine", "qianjiang", 549, 549.0),
    ("jasmine", "qianjiang", 550, 550.0),
    ("jasmine", "qianjiang", 649, 599.5),
    ("jasmine", "qianjiang", 650, 600.0),
    ("jasmine", "qianjiang", 686, 636.0),
    ("jasmine", "qianjiang", 749, 699.0),
    ("jasmine", "qianjiang", 750, 700.0),
    ("jasmine", "qianjiang", 849, 749.5),
    ("jasmine", "qianjiang", 850, 750.0),
    ("jasmine", "qianjiang", 1000, 1000.0),
    # 茉莉分 -> 商鼎分
    ("jasmine", "shangding", 686, 107.2),
    ("jasmine", "shangding", 849, 149.7),
    ("jasmine", "shangding", 850, 150.0),
]


@pytest.mark.parametrize(("source", "target", "score", "value"), EDGE_TABLE)
def test_edge_table(source: str, target: str, score: float, value: float) -> None:
    src, dst = _s(source), _s(target)
    conversion = convert_score(score, src, dst)
    assert conversion.value == pytest.approx(value, abs=1e-9)
    assert conversion.level == src.level_of(score)
    assert dst.level_of(value) == conversion.level
    assert conversion.interval == (conversion.value, conversion.value)


def test_identity_conversion() -> None:
    shangding = _s("shangding")
    for score in (0, 79, 80, 135, 149, 150, 200):
        assert convert_score(score, shangding, shangding).value == score


def test_values_never_cross_a_level_edge() -> None:
    # The float just below 150 is level 4; its image must stay below 钱江分 750.
    just_below = 149.99999999999997
    conversion = convert_score(just_below, _s("shangding"), _s("qianjiang"))
    assert conversion.level == 4
    assert conversion.value is not None
    assert conversion.value < 750
    assert _s("qianjiang").level_of(conversion.value) == 4


# -- intervals -----------------------------------------------------------------------------


def test_convert_interval_of_a_band() -> None:
    low, high = convert_interval(120, 149, _s("shangding"), _s("qianjiang"))
    assert low == 700.0
    assert high == pytest.approx(748.3333333333334)
    assert convert_interval(150, 200, _s("shangding"), _s("qianjiang")) == (750.0, 1000.0)


def test_convert_interval_errors() -> None:
    with pytest.raises(InvalidIntervalError) as info:
        convert_interval(130, 120, _s("shangding"), _s("qianjiang"))
    assert info.value.code == "bad_interval"
    with pytest.raises(ScoreOutOfRangeError):
        convert_interval(120, 201, _s("shangding"), _s("qianjiang"))


def test_level_interval() -> None:
    assert level_interval(4, _s("qianjiang")) == (700.0, 749.0)
    assert level_interval(5, _s("qianjiang")) == (750.0, 1000.0)
    assert level_interval(1, _s("jasmine")) == (0.0, 549.0)
    with pytest.raises(UnknownLevelError) as info:
        level_interval(6, _s("qianjiang"))
    assert info.value.code == "unknown_level"
    with pytest.raises(UnsupportedConversionError):
        level_interval(4, _s("honest-card"))


def test_level_interval_of_non_integer_scale_ends_below_next_level() -> None:
    decimal = replace(_s("qianjiang"), integer=False)
    low, high = level_interval(4, decimal)
    assert low == 700.0
    assert 749.999 < high < 750
    assert decimal.level_of(high) == 4


# -- membership (Nanjing honest-citizen card) ----------------------------------------------


@pytest.mark.parametrize(
    ("target", "interval"),
    [("qianjiang", (700.0, 1000.0)), ("shangding", (120.0, 200.0)), ("jasmine", (750.0, 1000.0))],
)
def test_membership_converts_to_levels_four_and_five(
    target: str, interval: tuple[float, float]
) -> None:
    conversion = convert_score(1, _s("honest-card"), _s(target))
    assert conversion.level == 4
    assert conversion.top_level == 5
    assert conversion.value is None
    assert conversion.target_band is None
    assert conversion.interval == interval
    assert convert_interval(1, 1, _s("honest-card"), _s(target)) == interval
    as_json = conversion.to_dict()
    assert as_json["value"] is None
    assert as_json["levels"] == [4, 5]


def test_membership_is_not_a_target() -> None:
    with pytest.raises(UnsupportedConversionError) as info:
        convert_score(135, _s("shangding"), _s("honest-card"))
    assert info.value.code == "unsupported_conversion"


def test_non_member_cannot_be_converted() -> None:
    with pytest.raises(ScoreOutOfRangeError):
        convert_score(0, _s("honest-card"), _s("qianjiang"))


# -- eligibility ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interval", "threshold", "expected"),
    [
        ((700.0, 749.0), 686, Eligibility.ELIGIBLE),
        ((686.0, 686.0), 686, Eligibility.ELIGIBLE),
        ((650.0, 749.0), 686, Eligibility.UNDETERMINED),
        ((550.0, 649.0), 686, Eligibility.NOT_ELIGIBLE),
        ((685.99, 685.99), 686, Eligibility.NOT_ELIGIBLE),
        ((700.0, 749.0), 750, Eligibility.NOT_ELIGIBLE),
        ((700.0, 749.0), 749, Eligibility.UNDETERMINED),
    ],
)
def test_eligibility(
    interval: tuple[float, float], threshold: float, expected: Eligibility
) -> None:
    assert eligibility(interval, threshold) is expected


def test_eligibility_scenarios_from_the_seeds() -> None:
    # Fuzhou: 20% off bus and metro at 茉莉分 686 and above.
    jasmine = _s("jasmine")
    assert eligibility(level_interval(4, jasmine), 686) is Eligibility.ELIGIBLE
    assert eligibility(level_interval(3, jasmine), 686) is Eligibility.UNDETERMINED
    assert eligibility(level_interval(2, jasmine), 686) is Eligibility.NOT_ELIGIBLE
    card = convert_score(1, _s("honest-card"), jasmine)
    assert eligibility(card.interval, 686) is Eligibility.ELIGIBLE
    # Hangzhou: campus fitness above 580 for a Zhengzhou visitor with an exact score.
    qianjiang, shangding = _s("qianjiang"), _s("shangding")
    assert eligibility(convert_score(99, shangding, qianjiang).interval, 580) is (
        Eligibility.ELIGIBLE
    )
    assert eligibility(convert_score(91, shangding, qianjiang).interval, 580) is (
        Eligibility.NOT_ELIGIBLE
    )
    # A disclosed band of the issuer's scale, against the next level's start.
    band = convert_interval(120, 149, shangding, qianjiang)
    assert eligibility(band, 750) is Eligibility.NOT_ELIGIBLE


def test_eligibility_rejects_bad_input() -> None:
    with pytest.raises(InvalidIntervalError):
        eligibility((750.0, 700.0), 720)
    with pytest.raises(NotANumberError):
        eligibility((700.0, float("nan")), 720)
    with pytest.raises(NotANumberError):
        eligibility((700.0, 750.0), float("inf"))


def test_eligibility_values() -> None:
    assert [e.value for e in Eligibility] == ["eligible", "not_eligible", "undetermined"]


# -- bulk and tables -----------------------------------------------------------------------


def test_convert_many() -> None:
    results = convert_many([80, 135, 200], _s("shangding"), _s("qianjiang"))
    assert [r.value for r in results] == [550.0, 725.0, 1000.0]
    assert convert_many([], _s("shangding"), _s("qianjiang")) == ()


def test_convert_many_names_the_bad_score() -> None:
    with pytest.raises(ScoreOutOfRangeError, match=r"score #2: score 300"):
        convert_many([100, 300], _s("shangding"), _s("qianjiang"))
    with pytest.raises(NotANumberError, match=r"score #1"):
        convert_many([float("nan")], _s("shangding"), _s("qianjiang"))
    with pytest.raises(UnsupportedConversionError):
        convert_many([1], _s("shangding"), _s("honest-card"))


def test_correspondence_rows() -> None:
    rows = correspondence(_s("qianjiang"), _s("jasmine"))
    assert len(rows) == 5
    first = rows[0]
    assert [b.name_zh for b in first.target_bands] == ["极差", "较差"]
    assert first.interval == (0.0, 549.0)
    assert rows[-1].interval == (850.0, 1000.0)
    card = correspondence(_s("honest-card"), _s("jasmine"))
    assert [b.name_zh for b in card[0].target_bands] == ["优秀", "极好"]


def test_to_dict_fields() -> None:
    as_json = convert_score(135, _s("shangding"), _s("qianjiang")).to_dict()
    assert {"from", "to", "score", "level", "level_name", "value", "interval"} <= set(as_json)
    assert as_json["from"] == "shangding"
    assert as_json["to"] == "qianjiang"
    assert as_json["level_name"] == "信用优秀"
    assert as_json["interval"] == [725, 725]
    assert as_json["provisional"] is True
