"""``huxin scale``: list, show, convert, table, operator files, and error reporting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mapping.scale import builtin_scale
from node.cli import cli
from node.cli.scale import display_width, render_table


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["scale", *args])


def _json(result: Result) -> object:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- the "done when" ---------------------------------------------------------------


def test_convert_135_shangding_to_qianjiang_json() -> None:
    out = _json(_run("convert", "135", "--from", "shangding", "--to", "qianjiang", "--json"))
    assert isinstance(out, dict)
    assert out["from"] == "shangding"
    assert out["to"] == "qianjiang"
    assert out["score"] == 135
    assert out["level"] == 4
    assert out["level_name"] == "信用优秀"
    assert out["value"] == 725
    assert 700 <= out["value"] <= 749
    assert out["interval"] == [725, 725]


def test_table_shangding_to_qianjiang() -> None:
    result = _run("table", "--from", "shangding", "--to", "qianjiang")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("商鼎分 Shangding score (shangding 2019-1) -> 钱江分")
    rows = [line.split() for line in lines if line[:1].isdigit()]
    assert [row[:2] for row in rows] == [
        ["5", "150..200"],
        ["4", "120..149"],
        ["3", "100..119"],
        ["2", "80..99"],
        ["1", "0..79"],
    ]
    assert "700..748.33" in rows[1]
    assert "商鼎分 135 -> 钱江分 725" in result.stdout
    assert "暂定 provisional: 钱江分" in result.stdout


def test_table_columns_line_up_with_chinese_text() -> None:
    result = _run("table", "--from", "qianjiang", "--to", "jasmine")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("等级"))
    body = [line for line in lines if line[:1].isdigit()]
    # The target column starts at the same display column in the header and on every row,
    # although the columns before it hold Chinese text of different lengths.
    column = display_width(header[: header.index("-> 茉莉分")])
    intervals = ["850..1000", "750..848", "650..749", "550..648", "0..549"]
    assert len(body) == len(intervals)
    for line, interval in zip(body, intervals, strict=True):
        assert display_width(line[: line.rindex(interval)]) == column
    assert "极差、较差 very poor, poor" in body[-1]


def test_table_json() -> None:
    out = _json(_run("table", "--from", "honest-card", "--to", "qianjiang", "--json"))
    assert isinstance(out, dict)
    assert out["from"] == "honest-card"
    rows = out["rows"]
    assert isinstance(rows, list)
    assert rows[0]["interval"] == [700.0, 1000.0]
    assert [b["level"] for b in rows[0]["target_bands"]] == [4, 5]


# -- list and show -------------------------------------------------------------------------


def test_list() -> None:
    result = _run("list")
    assert result.exit_code == 0, result.output
    for scale_id in ("shangding", "qianjiang", "jasmine", "honest-card", "wuhan", "osmanthus"):
        assert scale_id in result.stdout
    qianjiang = next(line for line in result.stdout.splitlines() if line.startswith("qianjiang"))
    assert "hangzhou" in qianjiang
    assert "0..1000" in qianjiang
    assert "暂定 provisional" in qianjiang
    shangding = next(line for line in result.stdout.splitlines() if line.startswith("shangding"))
    assert "暂定" not in shangding


def test_list_json() -> None:
    out = _json(_run("list", "--json"))
    assert isinstance(out, list)
    by_id = {row["id"]: row for row in out}
    assert by_id["qiqihar"]["provisional"] is True
    assert by_id["shangding"]["city"] == "zhengzhou"


def test_show() -> None:
    result = _run("show", "jasmine")
    assert result.exit_code == 0, result.output
    assert "茉莉分 Jasmine score" in result.stdout
    assert "基础分 Base: 500" in result.stdout
    assert "350..549" in result.stdout
    assert "来源 Source:" in result.stdout


def test_show_json_is_the_data_file_schema(tmp_path: Path) -> None:
    out = _json(_run("show", "shangding", "--json"))
    assert out == builtin_scale("shangding").to_dict()
    # An operator starts their own file from it and checks it with --file.
    assert isinstance(out, dict)
    out.update(id="my-city", city="mycity", version="2026-1")
    path = tmp_path / "my-city.json"
    path.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    result = _run("show", "--file", str(path))
    assert result.exit_code == 0, result.output
    assert "(my-city, version 2026-1)" in result.stdout


def test_convert_with_operator_files(tmp_path: Path) -> None:
    definition = builtin_scale("qianjiang").to_dict()
    definition.update(id="hangzhou-official", provisional=False, min=350, max=950)
    bands = definition["bands"]
    assert isinstance(bands, list)
    bands[0]["low"] = 350
    bands[-1]["high"] = 950
    path = tmp_path / "hz.json"
    path.write_text(json.dumps(definition, ensure_ascii=False), encoding="utf-8")
    out = _json(_run("convert", "200", "--from", "shangding", "--to-file", str(path), "--json"))
    assert isinstance(out, dict)
    assert out["to"] == "hangzhou-official"
    assert out["value"] == 950
    out = _json(_run("convert", "350", "--from-file", str(path), "--to", "shangding", "--json"))
    assert isinstance(out, dict)
    assert out["value"] == 0


# -- convert text and membership -----------------------------------------------------------


def test_convert_text() -> None:
    result = _run("convert", "686", "--from", "jasmine", "--to", "shangding")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "茉莉分 686 -> 商鼎分 107.2"
    assert "3 信用良好 good" in result.stdout


def test_convert_membership() -> None:
    out = _json(_run("convert", "1", "--from", "honest-card", "--to", "jasmine", "--json"))
    assert isinstance(out, dict)
    assert out["level"] == 4
    assert out["levels"] == [4, 5]
    assert out["value"] is None
    assert out["interval"] == [750, 1000]
    text = _run("convert", "1", "--from", "honest-card", "--to", "jasmine")
    assert "750..1000 (无点估计 no point estimate)" in text.stdout


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["convert", "201", "--from", "shangding", "--to", "qianjiang"], "score_out_of_range"),
        (["convert", "-5", "--from", "shangding", "--to", "qianjiang"], "score_out_of_range"),
        (["convert", "abc", "--from", "shangding", "--to", "qianjiang"], "not_a_number"),
        (["convert", "nan", "--from", "shangding", "--to", "qianjiang"], "not_a_number"),
        (["convert", "135", "--from", "zhengzhou", "--to", "qianjiang"], "unknown_scale"),
        (["convert", "135", "--from", "shangding", "--to", "nope"], "unknown_scale"),
        (
            ["convert", "135", "--from", "shangding", "--to", "honest-card"],
            "unsupported_conversion",
        ),
        (["convert", "0", "--from", "honest-card", "--to", "qianjiang"], "score_out_of_range"),
        (["show", "nope"], "unknown_scale"),
        (["table", "--from", "shangding", "--to", "nope"], "unknown_scale"),
    ],
)
def test_bad_input_reports_code(args: list[str], code: str) -> None:
    result = _run(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error[{code}]: ")
    assert result.stdout == ""


def test_bad_input_with_json_prints_error_object() -> None:
    result = _run("convert", "999", "--from", "shangding", "--to", "qianjiang", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "score_out_of_range"
    assert "error[score_out_of_range]: score 999" in result.stderr


def test_malformed_definition_file(tmp_path: Path) -> None:
    definition = builtin_scale("shangding").to_dict()
    bands = definition["bands"]
    assert isinstance(bands, list)
    bands[2]["low"] = 101  # a gap after 80..99
    path = tmp_path / "gap.json"
    path.write_text(json.dumps(definition, ensure_ascii=False), encoding="utf-8")
    for args in (
        ["show", "--file", str(path)],
        ["convert", "135", "--from-file", str(path), "--to", "qianjiang"],
        ["table", "--from", "qianjiang", "--to-file", str(path)],
    ):
        result = _run(*args)
        assert result.exit_code == 1
        assert "error[bad_scale_definition]" in result.stderr
        assert "gap between band 2 [80..99] 轻微失信 and band 3 [101..119]" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    result = _run("show", "--file", str(broken))
    assert result.exit_code == 1
    assert result.stderr.startswith("error[bad_scale_file]: ")
    missing = _run("show", "--file", str(tmp_path / "missing.json"))
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error[bad_scale_file]: cannot read")


@pytest.mark.parametrize(
    "args",
    [
        ["convert", "135", "--to", "qianjiang"],
        ["convert", "135", "--from", "shangding", "--from-file", "x.json", "--to", "qianjiang"],
        ["table", "--from", "shangding"],
        ["show"],
        ["show", "shangding", "--file", "x.json"],
    ],
)
def test_usage_errors(args: list[str]) -> None:
    result = _run(*args)
    assert result.exit_code == 2
    assert "give exactly one of" in result.output


def test_help_documents_operator_files() -> None:
    result = _run("--help")
    assert result.exit_code == 0
    assert "--from-file" in result.output
    for command in ("list", "show", "convert", "table"):
        assert command in result.output


# -- table rendering -----------------------------------------------------------------------


def test_display_width_counts_cjk_double() -> None:
    assert display_width("abc") == 3
    assert display_width("商鼎分") == 6
    assert display_width("\uff08示例\uff09") == 8  # full-width parentheses


def test_render_table_pads_by_display_width() -> None:
    text = render_table([["商鼎分", "x"], ["ab", "y"]], ["名称", "v"])
    lines = text.splitlines()
    assert [display_width(line[: line.rindex(" ") + 1]) for line in lines] == [8, 8, 8]


def test_render_table_without_rows() -> None:
    assert render_table([]) == ""
    assert render_table([], ["名称", "v"]) == "名称  v"
