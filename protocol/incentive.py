"""信易+ incentive catalogues and the three-valued decision whether a visitor qualifies.

What it does: parses and validates a city's published incentive catalogue (strictly: unknown
fields are refused), and decides, from what a verified presentation disclosed (a level, "level at
least k" booleans, a band of the issuer's scale), whether the holder qualifies for one incentive
-- eligible, not eligible, or undetermined -- with a bilingual explanation of the mapped interval
against the threshold (DESIGN.md "Mapping between scales"). It also computes, for a wallet, the
least disclosure that decides an incentive's rule.

What it deliberately does not do: verify presentations (``protocol.verifier`` does), fetch
catalogues (the node and the trust bundle do), or read the clock (``now`` is passed in).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Final

from mapping.convert import Eligibility, convert_interval, eligibility, level_interval
from mapping.levels import HIGHEST_LEVEL, LOWEST_LEVEL, federation_level
from mapping.scale import Scale
from protocol.errors import MalformedError
from protocol.presentation import DisclosureRequest
from protocol.verifier import VerifiedPresentation

#: China Standard Time: catalogue validity dates are calendar dates there (no DST).
CHINA_TZ: Final = timezone(timedelta(hours=8), "CST")

CATEGORIES: Final = frozenset(
    {
        "government",
        "transport",
        "medical",
        "elderly_care",
        "reading",
        "sports",
        "rental",
        "tourism",
        "shopping",
        "finance",
        "other",
    }
)
MAX_INCENTIVES: Final = 500

_CATALOGUE_FIELDS: Final = frozenset({"city", "scale", "version", "source", "incentives"})
_INCENTIVE_FIELDS: Final = frozenset(
    {
        "id",
        "title",
        "category",
        "rule",
        "rule_text",
        "visitors",
        "valid_from",
        "valid_until",
        "source",
        "provisional",
    }
)
_RULE_FIELDS: Final = frozenset({"min_level", "min_score"})


class CatalogueError(MalformedError):
    """An incentive catalogue does not follow the published schema."""

    code = "bad_catalogue"


@dataclass(frozen=True)
class Text:
    """A bilingual text: Chinese first, English second."""

    zh: str
    en: str

    def to_dict(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


@dataclass(frozen=True)
class Rule:
    """Who qualifies: a minimum federation level, or a minimum score on the city's own scale.

    Exactly one of ``min_level`` and ``min_score`` is set. ``min_score`` is inclusive: a seed's
    "高于580分" (strictly above 580 on an integer scale) is published as ``min_score: 581``.
    """

    min_level: int | None = None
    min_score: int | None = None

    def to_dict(self) -> dict[str, int]:
        if self.min_level is not None:
            return {"min_level": self.min_level}
        assert self.min_score is not None  # noqa: S101 - guaranteed by parsing
        return {"min_score": self.min_score}


@dataclass(frozen=True)
class Incentive:
    """One 信易+ incentive of a city's catalogue."""

    city: str
    id: str
    title: Text
    category: str
    rule: Rule
    rule_text: Text
    visitors: bool
    valid_from: date | None
    valid_until: date | None
    source: str
    provisional: bool = False

    @property
    def ref(self) -> str:
        """``CITY/ID``, the name the CLI and API use."""
        return f"{self.city}/{self.id}"

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "title": self.title.to_dict(),
            "category": self.category,
            "rule": self.rule.to_dict(),
            "rule_text": self.rule_text.to_dict(),
            "visitors": self.visitors,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "source": self.source or None,  # parsing reads an absent source as ""
            "provisional": self.provisional,
        }


@dataclass(frozen=True)
class Catalogue:
    """A city's published incentive catalogue."""

    city: str
    scale: str
    version: str
    source: str
    incentives: tuple[Incentive, ...]

    def get(self, incentive_id: str) -> Incentive:
        """The incentive ``incentive_id``.

        Raises:
            UnknownIncentiveError: the catalogue has no such incentive.
        """
        for incentive in self.incentives:
            if incentive.id == incentive_id:
                return incentive
        raise UnknownIncentiveError(f"{self.city} has no incentive {incentive_id!r}")

    def to_dict(self) -> dict[str, object]:
        return {
            "city": self.city,
            "scale": self.scale,
            "version": self.version,
            "source": self.source or None,  # parsing reads an absent source as ""
            "incentives": [i.to_dict() for i in self.incentives],
        }


class UnknownIncentiveError(MalformedError):
    """The named incentive is not in the catalogue."""

    code = "unknown_incentive"


# --------------------------------------------------------------------------------------------
# Parsing


def _str(obj: Mapping[str, object], name: str, where: str, *, optional: bool = False) -> str:
    value = obj.get(name)
    if value is None and optional:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}: {name!r} must be a non-empty string")
    return value


def _text(obj: Mapping[str, object], name: str, where: str) -> Text:
    value = obj.get(name)
    if not isinstance(value, Mapping) or set(value) != {"zh", "en"}:
        raise CatalogueError(f"{where}: {name!r} must be an object with exactly 'zh' and 'en'")
    return Text(zh=_str(value, "zh", f"{where}.{name}"), en=_str(value, "en", f"{where}.{name}"))


def _date(obj: Mapping[str, object], name: str, where: str) -> date | None:
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise CatalogueError(f"{where}: {name!r} must be an ISO date (YYYY-MM-DD) or null")
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise CatalogueError(f"{where}: {name!r} is not an ISO date: {value!r}") from err


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _rule(obj: object, where: str, scale: Scale) -> Rule:
    if not isinstance(obj, Mapping) or len(obj) != 1 or not set(obj) <= _RULE_FIELDS:
        raise CatalogueError(f"{where}: 'rule' must be exactly one of {sorted(_RULE_FIELDS)}")
    if "min_level" in obj:
        level = _int(obj["min_level"])
        if level is None or not LOWEST_LEVEL <= level <= HIGHEST_LEVEL:
            raise CatalogueError(f"{where}: min_level must be an integer 1..5")
        return Rule(min_level=level)
    score = _int(obj["min_score"])
    if scale.kind != "score":
        raise CatalogueError(f"{where}: min_score needs a score scale; {scale.id} is not one")
    if score is None or not scale.min <= score <= scale.max:
        raise CatalogueError(
            f"{where}: min_score must be an integer within {scale.id} [{scale.min}, {scale.max}]"
        )
    return Rule(min_score=score)


def parse_catalogue(obj: Mapping[str, object], scale: Scale) -> Catalogue:
    """Validate a catalogue document against the city's scale.

    Args:
        obj: the parsed JSON document.
        scale: the city's own scale (rules with ``min_score`` are checked against it).

    Raises:
        CatalogueError: unknown or missing fields, wrong types, a category outside
            :data:`CATEGORIES`, a rule out of range, duplicate ids, ``valid_until`` before
            ``valid_from``, or a scale id different from ``scale``.
    """
    unknown = set(obj) - _CATALOGUE_FIELDS
    if unknown:
        raise CatalogueError(f"catalogue: unknown fields {sorted(unknown)}")
    city = _str(obj, "city", "catalogue")
    where = f"catalogue {city}"
    scale_id = _str(obj, "scale", where)
    if scale_id != scale.id:
        raise CatalogueError(f"{where}: scale {scale_id!r} but the city's scale is {scale.id!r}")
    items = obj.get("incentives")
    if not isinstance(items, list) or len(items) > MAX_INCENTIVES:
        raise CatalogueError(f"{where}: 'incentives' must be a list of at most {MAX_INCENTIVES}")
    incentives: list[Incentive] = []
    seen: set[str] = set()
    for n, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise CatalogueError(f"{where}: incentive #{n} is not an object")
        incentive = _incentive(item, city, f"{where} incentive #{n}", scale)
        if incentive.id in seen:
            raise CatalogueError(f"{where}: duplicate incentive id {incentive.id!r}")
        seen.add(incentive.id)
        incentives.append(incentive)
    return Catalogue(
        city=city,
        scale=scale_id,
        version=_str(obj, "version", where),
        source=_str(obj, "source", where, optional=True),
        incentives=tuple(incentives),
    )


def _incentive(item: Mapping[str, object], city: str, where: str, scale: Scale) -> Incentive:
    unknown = set(item) - _INCENTIVE_FIELDS
    if unknown:
        raise CatalogueError(f"{where}: unknown fields {sorted(unknown)}")
    ident = _str(item, "id", where)
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in ident):
        raise CatalogueError(f"{where}: id {ident!r} must be ASCII letters, digits, '-' or '_'")
    where = f"{where} ({ident})"
    category = _str(item, "category", where)
    if category not in CATEGORIES:
        raise CatalogueError(f"{where}: category {category!r} is not one of {sorted(CATEGORIES)}")
    visitors = item.get("visitors")
    if not isinstance(visitors, bool):
        raise CatalogueError(f"{where}: 'visitors' must be true or false")
    provisional = item.get("provisional", False)
    if not isinstance(provisional, bool):
        raise CatalogueError(f"{where}: 'provisional' must be true or false")
    valid_from = _date(item, "valid_from", where)
    valid_until = _date(item, "valid_until", where)
    if valid_from and valid_until and valid_until < valid_from:
        raise CatalogueError(f"{where}: valid_until is before valid_from")
    return Incentive(
        city=city,
        id=ident,
        title=_text(item, "title", where),
        category=category,
        rule=_rule(item.get("rule"), where, scale),
        rule_text=_text(item, "rule_text", where),
        visitors=visitors,
        valid_from=valid_from,
        valid_until=valid_until,
        source=_str(item, "source", where, optional=True),
        provisional=provisional,
    )


# --------------------------------------------------------------------------------------------
# Deciding


@dataclass(frozen=True)
class Disclosed:
    """What a verified presentation disclosed about its holder, on the issuer's scale."""

    city: str
    scale: Scale
    level: int | None = None
    level_at_least: frozenset[int] = frozenset()
    band: tuple[int, int] | None = None


def disclosed_by(
    verified: VerifiedPresentation, issuer_scale: Scale
) -> tuple[Disclosed, str | None]:
    """What ``verified`` disclosed, on the issuer's scale as the federation publishes it.

    A band is only meaningful on the scale it was cut from: when the attestation names another
    scale than the one the issuer's member material publishes, the band is ignored (the level
    and "at least" flags still count) and a warning says so.

    Returns:
        The disclosed claims, and the warning or ``None``.
    """
    band, warning = verified.band, None
    if verified.scale_id != issuer_scale.id:
        band = None
        if verified.band is not None:
            warning = (
                f"the attestation is on scale {verified.scale_id!r}, the federation publishes "
                f"{issuer_scale.id!r} for {verified.city}; its band is ignored"
            )
    disclosed = Disclosed(
        city=verified.city,
        scale=issuer_scale,
        level=verified.level,
        level_at_least=verified.level_at_least,
        band=band,
    )
    return disclosed, warning


@dataclass(frozen=True)
class Decision:
    """The answer to "does this visitor qualify?", explaining itself.

    Attributes:
        eligibility: eligible, not eligible, or undetermined.
        interval: where the holder lies on the incentive's scale (or on federation levels for a
            level rule), as a closed interval.
        threshold: the rule's threshold in the same unit as ``interval``.
        unit: ``"level"`` or the incentive city's scale id.
        explanation: bilingual, one sentence.
        ask_for: for an undetermined decision, the finer disclosure that would decide it.
    """

    eligibility: Eligibility
    interval: tuple[float, float] | None
    threshold: float | None
    unit: str
    explanation: Text
    ask_for: DisclosureRequest | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "eligibility": self.eligibility.value,
            "interval": list(self.interval) if self.interval else None,
            "threshold": self.threshold,
            "unit": self.unit,
            "explanation": self.explanation.to_dict(),
        }


_VERDICT: Final = {
    Eligibility.ELIGIBLE: ("符合", "eligible"),
    Eligibility.NOT_ELIGIBLE: ("不符合", "not eligible"),
    Eligibility.UNDETERMINED: (
        "无法确定，需要更细的披露",
        "undetermined, a finer disclosure is needed",
    ),
}


def _level_bounds(disclosed: Disclosed) -> tuple[int, int]:
    low, high = LOWEST_LEVEL, HIGHEST_LEVEL
    if disclosed.level_at_least:
        low = max(low, max(disclosed.level_at_least))
    if disclosed.level is not None:
        low = max(low, disclosed.level)
        # A membership card attests "this level or above", never an exact level.
        if disclosed.scale.kind == "score":
            high = min(high, disclosed.level)
    if disclosed.band is not None:
        scale = disclosed.scale
        low = max(low, scale.level_of(disclosed.band[0]))
        high = min(high, scale.level_of(disclosed.band[1]))
    if low > high:
        raise MalformedError("the disclosed claims contradict each other")
    return low, high


def _offered(incentive: Incentive, visitor_city: str, now: datetime) -> Text | None:
    """Why the incentive is not offered to this holder now, or ``None`` when it is."""
    today = now.astimezone(CHINA_TZ).date()
    if incentive.valid_from and today < incentive.valid_from:
        return Text(
            zh=f"该优惠自 {incentive.valid_from} 起提供",
            en=f"this incentive starts on {incentive.valid_from}",
        )
    if incentive.valid_until and today > incentive.valid_until:
        return Text(
            zh=f"该优惠已于 {incentive.valid_until} 结束",
            en=f"this incentive ended on {incentive.valid_until}",
        )
    if visitor_city != incentive.city and not incentive.visitors:
        return Text(zh="该优惠仅面向本市居民", en="this incentive is for local residents only")
    return None


def decide(
    incentive: Incentive, local_scale: Scale, disclosed: Disclosed, now: datetime
) -> Decision:
    """Decide whether the holder of ``disclosed`` qualifies for ``incentive`` at ``now``.

    A level rule is decided on federation levels. A score rule maps what was disclosed onto the
    incentive city's scale (level-anchored, DESIGN.md) and compares the whole mapped interval
    with the threshold: eligible when all of it clears the threshold, not eligible when none of
    it does, undetermined otherwise (``ask_for`` then names the band disclosure).

    Raises:
        MalformedError: the disclosed claims contradict each other.
    """
    refusal = _offered(incentive, disclosed.city, now)
    if refusal is not None:
        return Decision(Eligibility.NOT_ELIGIBLE, None, None, "level", refusal)
    low, high = _level_bounds(disclosed)
    rule = incentive.rule
    if rule.min_level is not None:
        threshold = rule.min_level
        verdict = eligibility((low, high), threshold)
        shown = f"{low}" if low == high else f"{low}–{high}"
        zh_verdict, en_verdict = _VERDICT[verdict]
        return Decision(
            eligibility=verdict,
            interval=(float(low), float(high)),
            threshold=float(threshold),
            unit="level",
            explanation=Text(
                zh=f"持有人信用等级 {shown}，要求 {threshold} 级"
                f"（{federation_level(threshold).name_zh}）及以上：{zh_verdict}",
                en=f"holder's level {shown}, rule level {threshold} "
                f"({federation_level(threshold).name_en}) or above: {en_verdict}",
            ),
            # Undetermined implies threshold > low >= 1, so this never asks for k = 1.
            ask_for=_at_least(threshold) if verdict is Eligibility.UNDETERMINED else None,
        )
    assert rule.min_score is not None  # noqa: S101 - a rule has exactly one threshold
    threshold_score = rule.min_score
    interval = (level_interval(low, local_scale)[0], level_interval(high, local_scale)[1])
    if disclosed.band is not None and disclosed.scale.kind == "score":
        band = convert_interval(disclosed.band[0], disclosed.band[1], disclosed.scale, local_scale)
        interval = (max(interval[0], band[0]), min(interval[1], band[1]))
    verdict = eligibility(interval, threshold_score)
    zh_verdict, en_verdict = _VERDICT[verdict]
    span = f"[{_fmt(interval[0])}, {_fmt(interval[1])}]"
    ask_for = None
    if verdict is Eligibility.UNDETERMINED and disclosed.band is None:
        ask_for = DisclosureRequest(band=True)
    return Decision(
        eligibility=verdict,
        interval=interval,
        threshold=float(threshold_score),
        unit=local_scale.id,
        explanation=Text(
            zh=f"按等级锚定换算为{local_scale.name_zh} {span}，"
            f"门槛 {threshold_score}：{zh_verdict}",
            en=f"maps to {local_scale.name_en} {span} (level-anchored), "
            f"threshold {threshold_score}: {en_verdict}",
        ),
        ask_for=ask_for,
    )


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _at_least(k: int) -> DisclosureRequest:
    # Every attestation proves level >= 1 by being valid, so k = 1 asks for nothing.
    return DisclosureRequest() if k <= LOWEST_LEVEL else DisclosureRequest(level_at_least=k)


def least_disclosure(
    incentive: Incentive,
    local_scale: Scale,
    holder_scale: Scale,
    holder_level: int,
    holder_band: tuple[int, int] | None,
) -> DisclosureRequest | None:
    """The least a holder needs to disclose to qualify, or ``None`` when they cannot.

    Prefers a single "level at least k" boolean; discloses the band only when the threshold
    falls inside the holder's own level on the incentive's scale and the band clears it. A rule
    that every attested resident meets (level 1, or a score threshold at or below the bottom of
    level 1) needs no Disclosure at all: the answer is the empty ``DisclosureRequest()``, whose
    presentation proves only a valid, unrevoked attestation. "Level at least 1" is never asked
    for; attestations carry no such claim.
    """
    rule = incentive.rule
    if rule.min_level is not None:
        if holder_level < rule.min_level:
            return None
        return _at_least(rule.min_level)
    assert rule.min_score is not None  # noqa: S101 - a rule has exactly one threshold
    threshold = rule.min_score
    for k in range(LOWEST_LEVEL, holder_level + 1):
        if level_interval(k, local_scale)[0] >= threshold:
            return _at_least(k)
    if level_interval(holder_level, local_scale)[1] < threshold:
        return None
    if holder_band is None or holder_scale.kind != "score":
        return None
    band = convert_interval(holder_band[0], holder_band[1], holder_scale, local_scale)
    return DisclosureRequest(band=True) if band[0] >= threshold else None
