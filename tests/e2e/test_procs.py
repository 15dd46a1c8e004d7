"""The demo's process supervisor: children and their own children never outlive it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from node.demo.procs import DemoError, Supervisor, free_port, wait_ready

_SPAWNER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _grandchild(log: Path) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if text.strip():
            return int(text.split()[0])
        time.sleep(0.05)
    raise AssertionError("the child never reported its own child")


def test_close_stops_children_and_grandchildren(tmp_path: Path) -> None:
    with Supervisor() as sup:
        child = sup.start("a", [sys.executable, "-c", _SPAWNER], log=tmp_path / "a.log")
        grandchild = _grandchild(tmp_path / "a.log")
        assert _alive(child.pid)
        assert _alive(grandchild)
        with pytest.raises(DemoError):
            sup.start("a", [sys.executable, "-c", "pass"], log=tmp_path / "b.log")
    assert not _alive(child.pid)
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild)


def test_an_error_inside_the_block_still_stops_everything(tmp_path: Path) -> None:
    sup = Supervisor()
    child = sup.start(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(120)"], log=tmp_path / "s.log"
    )
    with pytest.raises(RuntimeError), sup:
        raise RuntimeError("a step failed")
    assert not _alive(child.pid)


def test_kill_and_restart(tmp_path: Path) -> None:
    with Supervisor() as sup:
        first = sup.start(
            "n", [sys.executable, "-c", "import time; time.sleep(120)"], log=tmp_path / "n.log"
        )
        sup.kill("n")
        assert not first.alive()
        second = sup.start(
            "n", [sys.executable, "-c", "import time; time.sleep(120)"], log=tmp_path / "n.log"
        )
        assert second.alive()
        assert second.pid != first.pid


def test_wait_ready_reports_an_exited_process(tmp_path: Path) -> None:
    with Supervisor() as sup:
        log = tmp_path / "x.log"
        child = sup.start(
            "x", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"], log=log
        )
        with pytest.raises(DemoError, match="exited with 3"):
            wait_ready(
                f"http://127.0.0.1:{free_port()}/readyz", process=child.process, log=log, timeout=10
            )
