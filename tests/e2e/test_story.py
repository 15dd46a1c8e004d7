"""Every flow of the demo's story, checked on five real node processes."""

from __future__ import annotations

import re

from node.demo.story import LOWERED_SCORE
from tests.e2e.conftest import Demo


def _verdict(demo: Demo, name: str) -> dict[str, object]:
    verdict = demo.story.verdicts[name]
    return verdict


def test_five_nodes_run_as_separate_processes(demo: Demo) -> None:
    children = demo.fed.supervisor.children
    assert sorted(children) == sorted(["zhengzhou", "hangzhou", "nanjing", "wuhan", "suzhou"])
    assert len({c.pid for c in children.values()}) == 5
    for city, child in children.items():
        assert child.alive(), city
        assert (demo.fed.city(city).node_dir / "node.db").exists()
        assert "node" in child.args
        assert "run" in child.args


def test_zhengzhou_resident_at_the_hangzhou_library(demo: Demo) -> None:
    v = _verdict(demo, "zhengzhou-library-card")
    assert v["valid"] is True
    assert v["exit_status"] == 0
    assert v["issuer"] == "zhengzhou"
    assert v["eligibility"] == "eligible"
    # Least disclosure: "level at least 4" settles a 650 threshold; no level, no band.
    assert v["level_at_least"] == [4]
    assert v["level"] is None
    assert v["band"] is None
    assert v["interval"] == [700, 1000]
    assert v["threshold"] == 650


def test_zhengzhou_resident_at_hangzhou_campus_fitness(demo: Demo) -> None:
    v = _verdict(demo, "zhengzhou-campus-fitness")
    assert v["valid"] is True
    assert v["eligibility"] == "eligible"
    assert v["level_at_least"] == [3]
    assert v["threshold"] == 581
    assert v["interval"] == [600, 1000]


def test_the_mapping_is_shown(demo: Demo) -> None:
    text = "\n".join(demo.output)
    assert "商鼎分 135 = 信用优秀 level 4 → 钱江分 ≈ 725" in text
    assert "按等级锚定换算为钱江分 [700, 1000]，门槛 650：符合" in text


def test_nanjing_honest_card_holder_in_suzhou(demo: Demo) -> None:
    v = _verdict(demo, "nanjing-suzhou")
    assert v["valid"] is True
    assert v["issuer"] == "nanjing"
    assert v["eligibility"] == "eligible"
    assert v["level_at_least"] == [4]


def test_dishonesty_record_revokes_and_the_next_check_refuses(demo: Demo) -> None:
    v = _verdict(demo, "zhengzhou-revoked")
    assert v["valid"] is False
    assert v["error"] == "revoked"
    assert v["exit_status"] == 1
    assert any(f"score {LOWERED_SCORE} (fair): 8 " in line for line in demo.output)
    # The new batch is level 2: the wallet refuses to show anything for a 650 threshold.
    assert demo.story.verdicts["zhengzhou-lowered-wallet"] == {"presented": False}


def test_key_rotation_by_a_new_root_version(demo: Demo) -> None:
    fed = demo.fed
    assert fed.root_path(2).exists()
    assert len(fed.roots) == 2
    assert fed.bundle is not None
    assert fed.bundle.root.version == 2
    old = _verdict(demo, "nanjing-old-key")
    assert old["valid"] is False
    assert old["error"] == "unknown_key"
    new = _verdict(demo, "nanjing-new-key")
    assert new["valid"] is True
    assert new["eligibility"] == "eligible"
    # Every node serves the new root.
    for city in fed.cities.values():
        assert (city.node_dir / "federation-root.json").read_bytes() == fed.roots[-1]


def test_progress_steps_are_timed(demo: Demo) -> None:
    timed = [line for line in demo.output if re.match(r"^  ✓ .+ \(\d+\.\d s\)", line)]
    assert len(timed) == 7
