"""``huxin demo`` as a user runs it: a subprocess, Ctrl-C while serving, no orphans left."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from mapping.scale import builtin_scale
from node.demo.federation import huxin_command
from node.demo.residents import Resident, is_synthetic, residents_for, synthetic_national_id

SERVE_DEADLINE_SECONDS = 120.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); read its state.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_demo_serve_then_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    proc = subprocess.Popen(  # noqa: S603 - our own command
        [*huxin_command(), "demo", "--serve", "--residents", "200", "--data", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + SERVE_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "huxin verify p.txt" in line:  # the last line of the playground
                break
        text = "".join(lines)
        assert "nodes running" in text, text
        pids = [int(p) for p in re.findall(r"pid (\d+), data", text)]
        assert len(pids) == 5, text
        assert all(_alive(p) for p in pids)
        assert re.search(r"zhengzhou\s+merchant\s+hx_", text)
        assert "huxin wallet fetch" in text
        assert "curl -s" in text
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, rest
        assert "stopping" in rest
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids)
        assert (data / "trust-bundle.json").exists()  # --data is kept
    finally:
        if proc.poll() is None:
            # Let the demo stop its nodes (their own process groups) before forcing it.
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_synthetic_residents_are_seeded_and_never_real() -> None:
    import random

    scale = builtin_scale("shangding")
    a = residents_for(scale, 2000, seed="x")
    assert a == residents_for(scale, 2000, seed="x")
    assert all(is_synthetic(r.national_id) for r in a)
    assert len({r.national_id for r in a}) == 2000
    scores = [r.score for r in a]
    assert min(scores) >= 0
    assert max(scores) <= 200
    mean = sum(scores) / len(scores)
    assert 95 < mean < 105  # around the base score 100
    assert len({scale.level_of(s) for s in scores}) == 5  # every level is populated
    card = residents_for(builtin_scale("honest-card"), 10, seed="y")
    assert {r.score for r in card} == {1}
    nid = synthetic_national_id(random.Random(1))
    assert not is_synthetic(nid[:17] + ("0" if nid[17] != "0" else "1"))
    assert not is_synthetic("110101199003070011")  # a real region code
    assert Resident(nid, 1).seq == 1


def test_demo_refuses_non_empty_directories(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from node.cli import cli

    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("keep me")
    for option in ("--data", "--export"):
        result = CliRunner().invoke(cli, ["demo", option, str(full)])
        assert result.exit_code == 1
        assert "error[demo_failed]" in result.output
        assert "not empty" in result.output
    assert (full / "x").read_text() == "keep me"
