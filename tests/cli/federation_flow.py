"""Five cities set up a federation through the ``huxin`` CLI, as the docs tell a new user to.

Shared by ``tests/cli/test_federation.py`` and ``tests/cli/test_bundle.py``. Every command runs
in-process through click's ``CliRunner`` with a fixed ``--at`` time, in a temporary directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner, Result

from node.cli import cli

AT = "2026-11-25T12:00:00Z"
CITIES = (
    ("zhengzhou", "郑州", "Zhengzhou", "shangding"),
    ("hangzhou", "杭州", "Hangzhou", "qianjiang"),
    ("fuzhou", "福州", "Fuzhou", "jasmine"),
    ("nanjing", "南京", "Nanjing", "honest-card"),
    ("wuhan", "武汉", "Wuhan", "wuhan"),
)


def huxin(args: Sequence[str | Path], *, code: int = 0) -> Result:
    """Run ``huxin ARGS`` and check its exit status."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


@dataclass
class Flow:
    """Paths of one federation set up in ``base``."""

    base: Path

    def city(self, name: str) -> Path:
        return self.base / name

    @property
    def proposals(self) -> Path:
        return self.base / "federation" / "proposals"

    def root(self, version: int) -> Path:
        return self.base / "federation" / "roots" / f"{version}.root.json"

    @property
    def bundle(self) -> Path:
        return self.base / "trust-bundle.json"

    def setup_cas(self) -> None:
        for city, name_zh, name_en, scale in CITIES:
            d = self.city(city)
            huxin(
                ["ca", "init", "--dir", d, "--city", city, "--federation", "huxin-demo", "--at", AT]
            )
            huxin(["ca", "issue", "--dir", d, "--purpose", "attestation", "--at", AT])
            huxin(
                [
                    "federation",
                    "member",
                    "--dir",
                    d,
                    "--name-zh",
                    name_zh,
                    "--name-en",
                    name_en,
                    "--node-url",
                    f"https://{city}.huxin.example",
                    "--scale",
                    scale,
                ]
            )

    def sign(self, version: int, *keys: Path, previous: Path | None = None) -> None:
        for key in keys:
            args: list[str | Path] = [
                "federation",
                "sign",
                "--proposal",
                self.proposals / f"root-{version}.json",
                "--key",
                key,
            ]
            if previous is not None:
                args += ["--previous", previous]
            huxin(args)

    def signatures(self, version: int) -> list[Path]:
        return sorted(self.proposals.glob(f"root-{version}.*.sig.json"))

    def governance(self, city: str, name: str = "governance") -> Path:
        return self.city(city) / "governance" / f"{name}.key"

    def agree_root(self) -> None:
        members = [self.city(c[0]) / "public" / "member.json" for c in CITIES]
        huxin(
            [
                "federation",
                "init",
                "--federation",
                "huxin-demo",
                "--threshold",
                "3",
                "--days",
                "365",
                "--at",
                AT,
                "--out",
                self.proposals / "root-1.json",
                *members,
            ]
        )
        self.sign(1, *(self.governance(c) for c in ("zhengzhou", "hangzhou", "fuzhou")))
        huxin(
            [
                "federation",
                "combine",
                "--proposal",
                self.proposals / "root-1.json",
                "--out",
                self.root(1),
                *self.signatures(1),
            ]
        )

    def rotate_wuhan(self) -> None:
        wuhan = self.city("wuhan")
        huxin(["federation", "keygen", "--dir", wuhan, "--name", "governance-2"])
        huxin(
            [
                "federation",
                "propose",
                "--current",
                self.root(1),
                "--rotate-key",
                f"wuhan={wuhan / 'public' / 'governance-2.jwk'}",
                "--out",
                self.proposals / "root-2.json",
            ]
        )
        self.sign(
            2,
            self.governance("zhengzhou"),
            self.governance("nanjing"),
            self.governance("wuhan"),
            self.governance("wuhan", "governance-2"),
            previous=self.root(1),
        )
        huxin(
            [
                "federation",
                "combine",
                "--proposal",
                self.proposals / "root-2.json",
                "--previous",
                self.root(1),
                "--out",
                self.root(2),
                *self.signatures(2),
            ]
        )

    def materials(self) -> list[Path]:
        out = []
        for city, *_ in CITIES:
            path = self.city(city) / "public" / "material.json"
            huxin(
                [
                    "bundle",
                    "material",
                    "--dir",
                    self.city(city),
                    "--root",
                    self.root(2),
                    "--status-list",
                    f"https://{city}.huxin.example/status/1",
                    "--at",
                    AT,
                ]
            )
            out.append(path)
        return out

    def build_bundle(self) -> None:
        huxin(
            [
                "bundle",
                "build",
                "--root",
                self.root(1),
                "--root",
                self.root(2),
                "--at",
                AT,
                "--out",
                self.bundle,
                *self.materials(),
            ]
        )


def five_city_federation(base: Path) -> Flow:
    """CAs, a 3-of-5 root, Wuhan's key rotated in v2, and a trust bundle, all in ``base``."""
    flow = Flow(base)
    flow.setup_cas()
    flow.agree_root()
    flow.rotate_wuhan()
    flow.build_bundle()
    return flow
