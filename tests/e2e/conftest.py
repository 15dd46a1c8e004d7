"""The five-city federation as real processes, set up once per test session.

The fixture runs exactly what ``huxin demo`` runs -- set-up, the story, the sandbox export --
with 500 synthetic residents per city to keep the suite fast, and stops every process at the
end. Tests that change the federation (a node killed and restarted) run after those that read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.demo.export import export_sandbox
from node.demo.federation import DemoFederation
from node.demo.story import Story, story_residents

RESIDENTS_PER_CITY = 500


@dataclass
class Demo:
    """The running federation, the story told on it, and the exported sandbox."""

    fed: DemoFederation
    story: Story
    sandbox: Path
    output: list[str]


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """Set up the federation, tell the story, export the sandbox; stop everything after."""
    base = tmp_path_factory.mktemp("demo")
    output: list[str] = []
    people = story_residents()
    fed = DemoFederation(
        base / "data",
        residents=RESIDENTS_PER_CITY,
        report=output.append,
        extra_residents={p.city: [p.resident] for p in people.values()},
    )
    try:
        fed.setup()
        story = Story(fed, say=output.append, people=people)
        story.run()
        sandbox = base / "sandbox"
        export_sandbox(fed, sandbox, report=output.append)
        yield Demo(fed, story, sandbox, output)
    finally:
        fed.close()
