"""Property tests of the conversion invariants (DESIGN.md, "Mapping between scales").

Monotone, level-preserving, range-preserving, a round trip within one point, interval images
that contain the mapped points, and eligibility consistent with the points. Scales are drawn
both from the built-in score scales and from random valid definitions. Example counts are kept
modest so the module runs in a few seconds.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mapping.convert import (
    Eligibility,
    convert_interval,
    convert_score,
    eligibility,
    level_interval,
)
from mapping.scale import Band, Scale, builtin_scale, builtin_scales

SCORE_SCALES = tuple(s for s in builtin_scales() if s.kind == "score")
EXAMPLES = settings(max_examples=60, deadline=None)


@st.composite
def random_scales(draw: st.DrawFn) -> Scale:
    """A random valid score scale: 5..8 bands, levels non-decreasing over all of 1..5."""
    extra = draw(st.lists(st.integers(1, 5), max_size=3))
    levels = sorted([1, 2, 3, 4, 5, *extra])
    widths = draw(st.lists(st.integers(1, 400), min_size=len(levels), max_size=len(levels)))
    widths[-1] = max(widths[-1], 2)  # the top band needs max > low
    low = draw(st.integers(-500, 500))
    bands = []
    for number, (level, width) in enumerate(zip(levels, widths, strict=True)):
        bands.append(Band(low, low + width - 1, level, f"档{number}", f"band {number}"))
        low += width
    return Scale(
        id="random",
        version="1",
        name_zh="随机分",
        name_en="random score",
        city="random",
        kind="score",
        min=bands[0].low,
        max=bands[-1].high,
        integer=draw(st.booleans()),
        base=None,
        bands=tuple(bands),
        source="hypothesis",
        provisional=True,
    )


scales = st.one_of(st.sampled_from(SCORE_SCALES), random_scales())


@st.composite
def score_on(draw: st.DrawFn, scale: Scale) -> float:
    """A score on ``scale``: often an integer (edges included), sometimes any real."""
    edges = [b.low for b in scale.bands] + [b.high for b in scale.bands]
    return draw(
        st.one_of(
            st.sampled_from(edges).map(float),
            st.integers(scale.min, scale.max).map(float),
            st.floats(scale.min, scale.max, allow_nan=False, allow_infinity=False),
        )
    )


def _value(score: float, source: Scale, target: Scale) -> float:
    value = convert_score(score, source, target).value
    assert value is not None
    return value


@EXAMPLES
@given(st.data(), scales, scales)
def test_monotone(data: st.DataObject, source: Scale, target: Scale) -> None:
    a = data.draw(score_on(source))
    b = data.draw(score_on(source))
    low, high = min(a, b), max(a, b)
    assert _value(low, source, target) <= _value(high, source, target)


@EXAMPLES
@given(st.data(), scales, scales)
def test_level_preserving(data: st.DataObject, source: Scale, target: Scale) -> None:
    score = data.draw(score_on(source))
    value = _value(score, source, target)
    assert target.level_of(value) == source.level_of(score)
    low, high = level_interval(source.level_of(score), target)
    assert target.level_of(low) == target.level_of(high) == source.level_of(score)


@EXAMPLES
@given(st.data(), scales, scales)
def test_range_preserving(data: st.DataObject, source: Scale, target: Scale) -> None:
    score = data.draw(score_on(source))
    assert target.min <= _value(score, source, target) <= target.max
    assert _value(source.min, source, target) == target.min
    assert _value(source.max, source, target) == target.max


@EXAMPLES
@given(st.data(), scales, scales)
def test_round_trip_within_one_point(data: st.DataObject, source: Scale, target: Scale) -> None:
    score = data.draw(score_on(source))
    back = _value(_value(score, source, target), target, source)
    assert abs(back - score) <= 1
    # In fact the map is a bijection: only float rounding separates the two.
    assert abs(back - score) <= 1e-9 * max(1.0, abs(source.max), abs(source.min))


@EXAMPLES
@given(st.data(), scales, scales)
def test_interval_image_contains_mapped_points(
    data: st.DataObject, source: Scale, target: Scale
) -> None:
    a = data.draw(score_on(source))
    b = data.draw(score_on(source))
    low, high = min(a, b), max(a, b)
    image_low, image_high = convert_interval(low, high, source, target)
    assert image_low <= image_high
    inside = data.draw(st.floats(low, high, allow_nan=False))
    assert image_low <= _value(inside, source, target) <= image_high
    assert (image_low, image_high) == (_value(low, source, target), _value(high, source, target))


@EXAMPLES
@given(st.data(), scales, scales)
def test_eligibility_agrees_with_every_point(
    data: st.DataObject, source: Scale, target: Scale
) -> None:
    a = data.draw(score_on(source))
    b = data.draw(score_on(source))
    low, high = min(a, b), max(a, b)
    interval = convert_interval(low, high, source, target)
    threshold = data.draw(score_on(target))
    verdict = eligibility(interval, threshold)
    point = _value(data.draw(st.floats(low, high, allow_nan=False)), source, target)
    if verdict is Eligibility.ELIGIBLE:
        assert point >= threshold
    elif verdict is Eligibility.NOT_ELIGIBLE:
        assert point < threshold
    else:
        assert interval[0] < threshold <= interval[1]


@EXAMPLES
@given(st.data(), scales)
def test_membership_interval_covers_its_levels(data: st.DataObject, target: Scale) -> None:
    card = builtin_scale("honest-card")
    low, high = convert_score(1, card, target).interval
    for level in (4, 5):
        level_low, level_high = level_interval(level, target)
        assert low <= level_low <= level_high <= high
    threshold = data.draw(score_on(target))
    if eligibility((low, high), threshold) is Eligibility.ELIGIBLE:
        assert level_interval(4, target)[0] >= threshold
