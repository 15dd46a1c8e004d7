"""``bench.replicas`` briefly: two ``huxin node run`` replicas on one PostgreSQL database,
issuing and revoking concurrently, pass every consistency check."""

from __future__ import annotations

import asyncio

import pytest

from bench.replicas import run_replicas

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_two_replicas_issue_and_revoke_consistently(postgres_url: str) -> None:
    report = asyncio.run(
        run_replicas(postgres_url, replicas=2, duration=3.0, residents=8, list_size=256)
    )
    failed = [f"{c.name}: {c.detail}" for c in report.checks if not c.passed]
    assert not failed, failed
    assert len(report.checks) == 11
    issued = report.rows[0]
    assert issued.stats.median > 0, issued.metric
    assert "0 errors" in issued.metric, issued.metric
