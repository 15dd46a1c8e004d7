"""Scale definitions: built-in files, band lookup at every edge, and validation of bad files."""

from __future__ import annotations

import json
from dataclasses import replace
from importlib import resources

import pytest

from mapping.errors import (
    MappingError,
    NotANumberError,
    ScaleDefinitionError,
    ScaleFileError,
    ScoreOutOfRangeError,
    UnknownLevelError,
    UnknownScaleError,
)
from mapping.scale import (
    BUILTIN_SCALE_IDS,
    Band,
    Scale,
    builtin_scale,
    builtin_scales,
    parse_scale,
    parse_scale_json,
    parse_score,
)

# -- built-in definitions ------------------------------------------------------------------


def test_builtin_ids_and_cities() -> None:
    cities = {s.id: s.city for s in builtin_scales()}
    assert cities == {
        "shangding": "zhengzhou",
        "qianjiang": "hangzhou",
        "jasmine": "fuzhou",
        "honest-card": "nanjing",
        "wuhan": "wuhan",
        "osmanthus": "suzhou",
        "qiqihar": "qiqihar",
    }
    assert tuple(cities) == BUILTIN_SCALE_IDS


@pytest.mark.parametrize("scale_id", BUILTIN_SCALE_IDS)
def test_builtin_file_round_trips_through_to_dict(scale_id: str) -> None:
    text = resources.files("mapping.scales").joinpath(f"{scale_id}.json").read_text("utf-8")
    as_file = json.loads(text)
    scale = builtin_scale(scale_id)
    assert scale.to_dict() == as_file
    assert parse_scale(scale.to_dict()) == scale
    assert scale.version
    assert scale.source
    assert scale.kind in {"score", "membership"}


@pytest.mark.parametrize(
    ("scale_id", "provisional"),
    [
        ("shangding", False),
        ("qianjiang", True),
        ("jasmine", False),
        ("honest-card", False),
        ("wuhan", True),
        ("osmanthus", True),
        ("qiqihar", True),
    ],
)
def test_provisional_marks(scale_id: str, provisional: bool) -> None:
    scale = builtin_scale(scale_id)
    assert scale.provisional is provisional
    if provisional:
        assert "Provisional" in scale.notes


def test_published_facts() -> None:
    shangding = builtin_scale("shangding")
    assert (shangding.min, shangding.max, shangding.base) == (0, 200, 100)
    assert "郑信用〔2019〕3号" in shangding.source  # noqa: RUF001
    jasmine = builtin_scale("jasmine")
    assert (jasmine.min, jasmine.max, jasmine.base) == (0, 1000, 500)
    assert [(b.low, b.high, b.level) for b in jasmine.bands] == [
        (0, 349, 1),
        (350, 549, 1),
        (550, 649, 2),
        (650, 749, 3),
        (750, 849, 4),
        (850, 1000, 5),
    ]
    assert builtin_scale("qiqihar").base == 500
    card = builtin_scale("honest-card")
    assert card.kind == "membership"
    assert card.levels == (4,)


def test_unknown_builtin() -> None:
    with pytest.raises(UnknownScaleError, match="no-such") as info:
        builtin_scale("no-such")
    assert info.value.code == "unknown_scale"
    assert isinstance(info.value, MappingError)


# -- band edges (issue 2's table) ----------------------------------------------------------

SHANGDING_EDGES = [
    (79, 1, "信用较差"),
    (80, 2, "轻微失信"),
    (99, 2, "轻微失信"),
    (100, 3, "信用良好"),
    (119, 3, "信用良好"),
    (120, 4, "信用优秀"),
    (149, 4, "信用优秀"),
    (150, 5, "信用极好"),
    (200, 5, "信用极好"),
    (0, 1, "信用较差"),
]
QIANJIANG_EDGES = [
    (549, 1, "信用待提高"),
    (550, 2, "信用一般"),
    (599, 2, "信用一般"),
    (600, 3, "信用良好"),
    (699, 3, "信用良好"),
    (700, 4, "信用优秀"),
    (749, 4, "信用优秀"),
    (750, 5, "信用极好"),
    (1000, 5, "信用极好"),
]
JASMINE_EDGES = [
    (349, 1, "极差"),
    (350, 1, "较差"),
    (549, 1, "较差"),
    (550, 2, "一般"),
    (649, 2, "一般"),
    (650, 3, "良好"),
    (686, 3, "良好"),
    (749, 3, "良好"),
    (750, 4, "优秀"),
    (849, 4, "优秀"),
    (850, 5, "极好"),
    (1000, 5, "极好"),
]


@pytest.mark.parametrize(
    ("scale_id", "score", "level", "name"),
    [("shangding", *row) for row in SHANGDING_EDGES]
    + [("qianjiang", *row) for row in QIANJIANG_EDGES]
    + [("jasmine", *row) for row in JASMINE_EDGES],
)
def test_band_edges(scale_id: str, score: int, level: int, name: str) -> None:
    scale = builtin_scale(scale_id)
    assert scale.level_of(score) == level
    assert scale.band_of(score).name_zh == name


def test_between_integer_edges_is_lower_inclusive() -> None:
    shangding = builtin_scale("shangding")
    assert shangding.level_of(149.5) == 4  # [120, 150)
    assert shangding.level_of(149.999) == 4
    assert shangding.level_of(79.9) == 1


def test_level_spans() -> None:
    shangding = builtin_scale("shangding")
    assert shangding.level_span(4) == (120, 149)
    assert shangding.level_axis(4) == (120, 150)
    assert shangding.level_axis(5) == (150, 200)  # top level closed at max
    jasmine = builtin_scale("jasmine")
    assert jasmine.level_span(1) == (0, 549)
    assert jasmine.level_axis(1) == (0, 550)
    assert len(jasmine.bands_of_level(1)) == 2
    with pytest.raises(UnknownLevelError):
        builtin_scale("honest-card").level_span(5)


@pytest.mark.parametrize(
    ("score", "error"),
    [
        (-1, ScoreOutOfRangeError),
        (201, ScoreOutOfRangeError),
        (200.5, ScoreOutOfRangeError),
        (float("nan"), NotANumberError),
        (float("inf"), NotANumberError),
        (True, NotANumberError),
        ("135", NotANumberError),
    ],
)
def test_bad_scores(score: object, error: type[MappingError]) -> None:
    with pytest.raises(error):
        builtin_scale("shangding").level_of(score)  # type: ignore[arg-type]


def test_out_of_range_message_and_code() -> None:
    with pytest.raises(ScoreOutOfRangeError, match=r"201 .*0\.\.200") as info:
        builtin_scale("shangding").band_of(201)
    assert info.value.code == "score_out_of_range"


@pytest.mark.parametrize(("text", "value"), [("135", 135.0), (" 686.5 ", 686.5), ("-3", -3.0)])
def test_parse_score(text: str, value: float) -> None:
    assert parse_score(text) == value


@pytest.mark.parametrize("text", ["abc", "", "1e", "nan", "inf", "-infinity", "12,5"])
def test_parse_score_rejects(text: str) -> None:
    with pytest.raises(NotANumberError) as info:
        parse_score(text)
    assert info.value.code == "not_a_number"


# -- validation ----------------------------------------------------------------------------


def _definition() -> dict[str, object]:
    """A valid small score scale to mutate."""
    return {
        "id": "test-scale",
        "version": "1",
        "name_zh": "测试分",
        "name_en": "Test score",
        "city": "testcity",
        "kind": "score",
        "min": 0,
        "max": 100,
        "integer": True,
        "base": 50,
        "bands": [
            {"low": 0, "high": 19, "level": 1, "name_zh": "一", "name_en": "one"},
            {"low": 20, "high": 39, "level": 2, "name_zh": "二", "name_en": "two"},
            {"low": 40, "high": 59, "level": 3, "name_zh": "三", "name_en": "three"},
            {"low": 60, "high": 79, "level": 4, "name_zh": "四", "name_en": "four"},
            {"low": 80, "high": 100, "level": 5, "name_zh": "五", "name_en": "five"},
        ],
        "source": "a test",
        "provisional": True,
    }


def _bands(definition: dict[str, object]) -> list[dict[str, object]]:
    bands = definition["bands"]
    assert isinstance(bands, list)
    return bands


def test_valid_definition_parses() -> None:
    scale = parse_scale(_definition())
    assert isinstance(scale, Scale)
    assert scale.bands[0] == Band(0, 19, 1, "一", "one")
    assert scale.notes == ""
    assert "notes" not in scale.to_dict()


def _gap(d: dict[str, object]) -> None:
    _bands(d)[1]["low"] = 21


def _overlap(d: dict[str, object]) -> None:
    _bands(d)[1]["low"] = 19


def _out_of_order(d: dict[str, object]) -> None:
    bands = _bands(d)
    bands[1], bands[2] = bands[2], bands[1]


def _level_down(d: dict[str, object]) -> None:
    _bands(d)[2]["level"] = 1


def _range_not_covered_top(d: dict[str, object]) -> None:
    d["max"] = 120


def _range_not_covered_bottom(d: dict[str, object]) -> None:
    d["min"] = -5


def _beyond_max(d: dict[str, object]) -> None:
    d["max"] = 90


def _below_min(d: dict[str, object]) -> None:
    d["min"] = 5


def _unknown_field(d: dict[str, object]) -> None:
    d["colour"] = "red"


def _unknown_band_field(d: dict[str, object]) -> None:
    _bands(d)[3]["colour"] = "red"


def _missing_field(d: dict[str, object]) -> None:
    del d["source"]


def _missing_level(d: dict[str, object]) -> None:
    _bands(d)[1]["level"] = 1


def _level_six(d: dict[str, object]) -> None:
    _bands(d)[4]["level"] = 6


def _low_above_high(d: dict[str, object]) -> None:
    _bands(d)[4]["high"] = 70


def _float_edge(d: dict[str, object]) -> None:
    _bands(d)[1]["low"] = 20.0


def _bool_edge(d: dict[str, object]) -> None:
    d["min"] = False


def _bad_kind(d: dict[str, object]) -> None:
    d["kind"] = "stars"


def _bad_id(d: dict[str, object]) -> None:
    d["id"] = "Bad Id"


def _base_outside(d: dict[str, object]) -> None:
    d["base"] = 101


def _empty_bands(d: dict[str, object]) -> None:
    d["bands"] = []


def _single_score_top(d: dict[str, object]) -> None:
    bands = _bands(d)
    bands[3]["high"] = 99
    bands[4]["low"] = 100


def _provisional_string(d: dict[str, object]) -> None:
    d["provisional"] = "yes"


def _band_not_object(d: dict[str, object]) -> None:
    d["bands"] = [[0, 19, 1], *_bands(d)[1:]]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_gap, r"gap between band 1 \[0\.\.19\] 一 and band 2 \[21\.\.39\] 二: scores 20\.\.20"),
        (_overlap, r"band 2 \[19\.\.39\] 二 overlaps band 1 \[0\.\.19\] 一"),
        (_out_of_order, r"band 3 \[20\.\.39\] 二 starts below band 2 \[40\.\.59\] 三"),
        (_level_down, r"band 3 \[40\.\.59\] 三 has level 1, below level 2 of band 2"),
        (_range_not_covered_top, r"scores 101\.\.120 lie above the last band"),
        (_range_not_covered_bottom, r"scores -5\.\.-1 lie below the first band"),
        (_beyond_max, r"band 5 \[80\.\.100\] 五 ends above the maximum 90"),
        (_below_min, r"band 1 \[0\.\.19\] 一 starts below the minimum 5"),
        (_unknown_field, r"unknown field\(s\) 'colour'"),
        (_unknown_band_field, r"band 4: unknown field\(s\) 'colour'"),
        (_missing_field, r"missing field\(s\) 'source'"),
        (_missing_level, r"no band at federation level\(s\) 2"),
        (_level_six, r"level 6 is not a federation level"),
        (_low_above_high, r"low 80 is above high 70"),
        (_float_edge, r"band 2: 'low' must be an integer"),
        (_bool_edge, r"'min' must be an integer"),
        (_bad_kind, r"kind 'stars'"),
        (_bad_id, r"'id' must be lower-case"),
        (_base_outside, r"base 101 is outside"),
        (_empty_bands, r"'bands' must be a non-empty list"),
        (_single_score_top, r"top band \[100\.\.100\] 五 is a single score"),
        (_provisional_string, r"'provisional' must be true or false"),
        (_band_not_object, r"band 1: must be an object"),
    ],
)
def test_invalid_definitions(mutate: object, message: str) -> None:
    definition = _definition()
    assert callable(mutate)
    mutate(definition)
    with pytest.raises(ScaleDefinitionError, match=message) as info:
        parse_scale(definition)
    assert info.value.code == "bad_scale_definition"


def test_membership_scale_may_skip_levels() -> None:
    definition = _definition()
    definition.update(
        kind="membership",
        min=1,
        max=1,
        base=None,
        bands=[{"low": 1, "high": 1, "level": 4, "name_zh": "会员", "name_en": "member"}],
    )
    assert parse_scale(definition).levels == (4,)


def test_direct_construction_validates() -> None:
    scale = parse_scale(_definition())
    with pytest.raises(ScaleDefinitionError, match="gap"):
        replace(scale, bands=(scale.bands[0], *scale.bands[2:]))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"[1, 2]", "one JSON object, got list"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"id": "a", "id": "b"}', "duplicate field 'id'"),
    ],
)
def test_parse_scale_json_rejects(data: bytes, message: str) -> None:
    with pytest.raises(ScaleFileError, match=message):
        parse_scale_json(data)
