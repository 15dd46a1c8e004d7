"""``HUXIN_FAILPOINTS``: parsing, and what a reached failpoint does (the kill tests in
``test_faults_kill.py`` use them against a real process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from node import failpoints
from node.errors import ConfigError


@pytest.fixture(autouse=True)
def _unset() -> Iterator[None]:
    yield
    failpoints.configure({})


def test_parse() -> None:
    assert failpoints.parse("") == {}
    assert failpoints.parse(" status.publish=sleep:2.5 ; issuance.commit=kill;") == {
        "status.publish": failpoints.Action("sleep", 2.5),
        "issuance.commit": failpoints.Action("kill"),
    }
    assert failpoints.parse("import.commit=error") == {"import.commit": failpoints.Action("error")}


@pytest.mark.parametrize(
    "spec",
    [
        "status.publsh=sleep:1",  # a typo must not pass silently
        "status.publish",
        "status.publish=sleep",
        "status.publish=sleep:-1",
        "status.publish=sleep:x",
        "status.publish=sleep:4000",
        "status.publish=kill:3",
        "status.publish=panic",
    ],
)
def test_bad_specs_are_configuration_errors(spec: str) -> None:
    with pytest.raises(ConfigError):
        failpoints.configure({failpoints.ENV: spec})


def test_unset_failpoints_do_nothing() -> None:
    assert failpoints.configure({}) == {}
    asyncio.run(failpoints.reach("status.publish"))


def test_error_and_sleep(caplog: pytest.LogCaptureFixture) -> None:
    failpoints.configure({failpoints.ENV: "import.commit=error;status.publish=sleep:0.2"})
    with pytest.raises(failpoints.FailpointError):
        asyncio.run(failpoints.reach("import.commit"))
    t0 = time.monotonic()
    asyncio.run(failpoints.reach("status.publish"))
    assert time.monotonic() - t0 >= 0.2
    asyncio.run(failpoints.reach("issuance.commit"))  # not configured: nothing
    reached = [r for r in caplog.records if r.getMessage() == "failpoint reached"]
    assert [getattr(r, "failpoint", None) for r in reached] == ["import.commit", "status.publish"]
