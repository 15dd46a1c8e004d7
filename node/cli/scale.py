"""``huxin scale``: list, show, convert between and compare the city credit scales.

Thin click wrappers over :mod:`mapping`: they resolve a scale (a built-in id, or an operator's
definition file), call the pure mapping API and print a terminal table (column widths count CJK
characters as two cells) or JSON. Every mapping error is reported as ``error[code]: message``
with exit status 1 (and, with ``--json``, also as ``{"error": {"code", "message"}}`` on standard
output).

This module holds no mapping logic of its own: level lookup, conversion and validation live in
:mod:`mapping.scale` and :mod:`mapping.convert`.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import click

from mapping.convert import Conversion, convert_score, correspondence
from mapping.levels import federation_level
from mapping.scale import (
    KIND_SCORE,
    Band,
    Scale,
    builtin_scale,
    builtin_scales,
    parse_score,
)
from node.cli._common import echo_json, reported_errors
from node.scalefile import load_scale_file

_FILE = click.Path(dir_okay=False, path_type=Path)


# -- terminal tables -----------------------------------------------------------------------


def display_width(text: str) -> int:
    """Terminal cells ``text`` occupies: wide and full-width (CJK) characters count two."""
    return sum(
        0
        if unicodedata.combining(ch)
        else 2
        if unicodedata.east_asian_width(ch) in ("W", "F")
        else 1
        for ch in text
    )


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def render_table(rows: Sequence[Sequence[str]], headers: Sequence[str] | None = None) -> str:
    """Left-aligned columns separated by two spaces, padded by display width."""
    every = [headers, *rows] if headers is not None else list(rows)
    if not every:
        return ""
    widths = [max(display_width(row[i]) for row in every) for i in range(len(every[0]))]
    lines = []
    for row in every:
        cells = [_pad(cell, width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _fmt(value: float, scale: Scale | None = None) -> str:
    """A value with at most two decimals, never rounded across one of ``scale``'s level edges."""
    text = f"{value:.2f}"
    if scale is not None and scale.level_of(float(text)) != scale.level_of(value):
        text = f"{math.floor(value * 100) / 100:.2f}"  # just below an edge: round down
    return text.rstrip("0").rstrip(".") if "." in text else text


def _range(low: float, high: float, scale: Scale | None = None) -> str:
    return _fmt(low, scale) if low == high else f"{_fmt(low, scale)}..{_fmt(high, scale)}"


def _band_name(band: Band) -> str:
    return f"{band.name_zh} {band.name_en}"


def _provisional_mark(scale: Scale) -> str:
    return "暂定 provisional" if scale.provisional else ""


# -- resolving scales ----------------------------------------------------------------------


def _resolve(scale_id: str | None, path: Path | None, option: str) -> Scale:
    if (scale_id is None) == (path is None):
        raise click.UsageError(f"give exactly one of --{option} ID and --{option}-file PATH")
    if path is not None:
        return load_scale_file(path)
    assert scale_id is not None  # noqa: S101 - narrowed by the check above
    return builtin_scale(scale_id)


def _guard(as_json: bool) -> AbstractContextManager[None]:
    def on_error(code: str, message: str) -> None:
        echo_json({"error": {"code": code, "message": message}})

    return reported_errors(on_error if as_json else None)


def _json_option() -> click.Option:
    return click.Option(["--json", "as_json"], is_flag=True, help="Print JSON instead of text.")


# -- commands ------------------------------------------------------------------------------


@click.group()
def scale() -> None:
    """城市信用分 City credit scales: list, show, convert, compare.

    Built-in scales are named by id (`huxin scale list`). An operator's own definition file
    (the JSON schema of `huxin scale show ID --json`, see docs/scales.md) is used with
    `--file PATH` in `show`, and `--from-file PATH` / `--to-file PATH` instead of
    `--from ID` / `--to ID` in `convert` and `table`. Bad input prints `error[code]: message`
    and exits 1.
    """


@scale.command("list", params=[_json_option()])
def list_scales(as_json: bool) -> None:
    """列出城市信用分 List the built-in scales: city, range, provisional marks."""
    with _guard(as_json):
        scales = builtin_scales()
        if as_json:
            echo_json(
                [
                    {
                        "id": s.id,
                        "version": s.version,
                        "name_zh": s.name_zh,
                        "name_en": s.name_en,
                        "city": s.city,
                        "kind": s.kind,
                        "min": s.min,
                        "max": s.max,
                        "provisional": s.provisional,
                    }
                    for s in scales
                ]
            )
            return
        rows = [
            [
                s.id,
                s.name_zh,
                s.name_en,
                s.city,
                s.kind,
                f"{s.min}..{s.max}",
                s.version,
                _provisional_mark(s),
            ]
            for s in scales
        ]
        headers = ["ID", "名称", "Name", "城市 City", "类型 Kind", "范围 Range", "版本 Version", ""]
        click.echo(render_table(rows, headers))
        if any(s.provisional for s in scales):
            click.echo(
                "\n暂定 = 未公开的事实为示例值，节点设立时以官方定义替换。"
                "\nprovisional = unpublished facts are illustrative; replace the file with the "
                "official definition at node set-up (`huxin scale show ID` says which)."
            )


@scale.command("show", params=[_json_option()])
@click.argument("scale_id", metavar="ID", required=False)
@click.option("--file", "path", type=_FILE, help="Show an operator's definition file instead.")
def show(scale_id: str | None, path: Path | None, as_json: bool) -> None:
    """显示分档 Show a scale's bands (ID, or --file PATH to check an operator's file).

    With --json, prints the definition in the data-file schema: a starting point for an
    operator's own file.
    """
    with _guard(as_json):
        if (scale_id is None) == (path is None):
            raise click.UsageError("give exactly one of ID and --file PATH")
        chosen = load_scale_file(path) if path is not None else builtin_scale(str(scale_id))
        if as_json:
            echo_json(chosen.to_dict())
            return
        click.echo(f"{chosen.name_zh} {chosen.name_en}  ({chosen.id}, version {chosen.version})")
        facts = [
            f"城市 City: {chosen.city}",
            f"类型 Kind: {chosen.kind}",
            f"范围 Range: {chosen.min}..{chosen.max}"
            + (" (integer)" if chosen.integer else " (decimal)"),
        ]
        if chosen.base is not None:
            facts.append(f"基础分 Base: {chosen.base}")
        click.echo("   ".join(facts))
        if chosen.provisional:
            click.echo("暂定 PROVISIONAL: not every fact of this scale is published.")
        click.echo()
        rows = [
            [_range(b.low, b.high), str(b.level), _band_name(b), _level_name(b.level)]
            for b in reversed(chosen.bands)
        ]
        headers = ["分数 Scores", "等级 Level", "名称 Name", "联邦等级 Federation level"]
        click.echo(render_table(rows, headers))
        click.echo()
        click.echo(f"来源 Source: {chosen.source}")
        if chosen.notes:
            click.echo(f"说明 Notes: {chosen.notes}")


def _level_name(level: int) -> str:
    named = federation_level(level)
    return f"{named.name_zh} {named.name_en}"


def _scale_options(func: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(
        [
            click.option("--from", "from_id", metavar="ID", help="Source scale id."),
            click.option("--from-file", type=_FILE, help="Source scale definition file."),
            click.option("--to", "to_id", metavar="ID", help="Target scale id."),
            click.option("--to-file", type=_FILE, help="Target scale definition file."),
            click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text."),
        ]
    ):
        func = option(func)
    return func


@scale.command("convert", context_settings={"ignore_unknown_options": True})
@click.argument("score")
@_scale_options
def convert(
    score: str,
    from_id: str | None,
    from_file: Path | None,
    to_id: str | None,
    to_file: Path | None,
    as_json: bool,
) -> None:
    """换算 Convert SCORE from one scale to another (level-anchored, piecewise linear).

    Prints the federation level, the point estimate on the target and the interval. A
    membership card (honest-card, SCORE 1) converts to an interval with no point estimate.
    --json prints one object: from, to, score, level, level_name, value (number or null),
    interval [low, high], and more. SCORE may be a decimal; a negative SCORE can be given as
    is (e.g. -5).
    """
    with _guard(as_json):
        source = _resolve(from_id, from_file, "from")
        target = _resolve(to_id, to_file, "to")
        result = convert_score(parse_score(score), source, target)
        if as_json:
            echo_json(result.to_dict())
            return
        click.echo(_describe(result))


def _describe(result: Conversion) -> str:
    source, target = result.source, result.target
    low, high = result.interval
    if result.value is not None:
        headline = (
            f"{source.name_zh} {_fmt(result.score, source)} -> "
            f"{target.name_zh} {_fmt(result.value, target)}"
        )
        levels = f"{result.level} {_level_name(result.level)}"
    else:
        headline = (
            f"{source.name_zh} {_fmt(result.score)} -> {target.name_zh} "
            f"{_range(low, high, target)} (无点估计 no point estimate)"
        )
        levels = f"{result.level}..{result.top_level} ({_level_name(result.level)} 及以上 or above)"
    rows = [
        ["联邦等级 Federation level", levels],
        [
            f"{source.name_zh} 档位 band",
            f"{_range(result.band.low, result.band.high)} {_band_name(result.band)}",
        ],
    ]
    if result.target_band is not None:
        band = result.target_band
        rows.append(
            [f"{target.name_zh} 档位 band", f"{_range(band.low, band.high)} {_band_name(band)}"]
        )
    rows.append(["区间 Interval", f"[{_fmt(low, target)}, {_fmt(high, target)}]"])
    lines = [headline, render_table(rows)]
    for s in dict.fromkeys((source, target)):
        if s.provisional:
            lines.append(f"暂定 provisional: {s.name_zh} ({s.id}) -- see `huxin scale show {s.id}`")
    return "\n".join(lines)


@scale.command("table")
@_scale_options
def table(
    from_id: str | None,
    from_file: Path | None,
    to_id: str | None,
    to_file: Path | None,
    as_json: bool,
) -> None:
    """对照表 The band-to-band correspondence of two scales, for an operator to check.

    Each source band's scores map into the target interval shown (the scores low and high
    of the band map to its ends); the last column names the target bands it meets.
    """
    with _guard(as_json):
        source = _resolve(from_id, from_file, "from")
        target = _resolve(to_id, to_file, "to")
        rows = correspondence(source, target)
        if as_json:
            echo_json(
                {
                    "from": source.id,
                    "from_version": source.version,
                    "to": target.id,
                    "to_version": target.version,
                    "provisional": source.provisional or target.provisional,
                    "rows": [
                        {
                            "band": row.band.to_dict(),
                            "interval": [row.interval[0], row.interval[1]],
                            "target_bands": [b.to_dict() for b in row.target_bands],
                        }
                        for row in rows
                    ],
                }
            )
            return
        click.echo(
            f"{source.name_zh} {source.name_en} ({source.id} {source.version}) -> "
            f"{target.name_zh} {target.name_en} ({target.id} {target.version})"
        )
        click.echo("按联邦等级分段线性换算 level-anchored, piecewise linear")
        click.echo()
        lines = []
        for row in reversed(rows):
            band = row.band
            lines.append(
                [
                    _levels(band, row.target_bands),
                    _range(band.low, band.high),
                    _band_name(band),
                    _range(row.interval[0], row.interval[1], target),
                    "、".join(b.name_zh for b in row.target_bands)
                    + " "
                    + ", ".join(b.name_en for b in row.target_bands),
                ]
            )
        headers = [
            "等级 Level",
            f"{source.name_zh}",
            "名称 Name",
            f"-> {target.name_zh}",
            f"{target.name_zh} 名称 Name",
        ]
        click.echo(render_table(lines, headers))
        example = _example(source, target)
        if example:
            click.echo()
            click.echo(example)
        notes = [s for s in dict.fromkeys((source, target)) if s.provisional]
        if notes:
            click.echo()
            for s in notes:
                click.echo(f"暂定 provisional: {s.name_zh} ({s.id}): {s.notes}")


def _levels(band: Band, target_bands: Sequence[Band]) -> str:
    """The federation level(s) of a table row: a membership band reaches up to the target's."""
    top = max([band.level, *(b.level for b in target_bands)])
    return str(band.level) if top == band.level else f"{band.level}..{top}"


def _example(source: Scale, target: Scale) -> str:
    """A worked example for the table's footer: the middle of the source's level 4."""
    if source.kind != KIND_SCORE or 4 not in source.levels:
        return ""
    start, end = source.level_axis(4)
    middle = (start + end) / 2
    result = convert_score(middle, source, target)
    assert result.value is not None  # noqa: S101 - a score source always has a point value
    return (
        f"例 e.g. {source.name_zh} {_fmt(middle, source)} -> {target.name_zh} "
        f"{_fmt(result.value, target)}: 在等级 4 中位置相同 same position within level 4 "
        f"([{start}, {end}) -> [{target.level_axis(4)[0]}, {target.level_axis(4)[1]}))"
    )
