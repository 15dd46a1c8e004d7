"""node.scalefile: an operator's scale definition file, read and handed to ``mapping``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mapping.errors import ScaleDefinitionError, ScaleFileError
from mapping.scale import MAX_DEFINITION_BYTES
from node.scalefile import load_scale_file
from tests.mapping.test_scale import _definition, _gap


def test_load_operator_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(_definition(), ensure_ascii=False), encoding="utf-8")
    assert load_scale_file(path).id == "test-scale"
    assert load_scale_file(str(path)).name_zh == "测试分"


def test_load_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ScaleFileError, match="cannot read") as info:
        load_scale_file(tmp_path / "missing.json")
    assert info.value.code == "bad_scale_file"
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json", encoding="utf-8")
    with pytest.raises(ScaleFileError, match="not valid JSON"):
        load_scale_file(bad_json)
    invalid = tmp_path / "invalid.json"
    definition = _definition()
    _gap(definition)
    invalid.write_text(json.dumps(definition), encoding="utf-8")
    with pytest.raises(ScaleDefinitionError, match=r"invalid\.json: .*gap"):
        load_scale_file(invalid)


def test_a_file_above_the_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    path.write_bytes(b" " * (MAX_DEFINITION_BYTES + 1))
    with pytest.raises(ScaleFileError, match="larger than"):
        load_scale_file(path)
