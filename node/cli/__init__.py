"""The ``huxin`` command line: one group, whose subcommands live in their own modules.

Subcommands are imported only when used, so ``huxin scale ...`` does not pay for the node's
database stack. Every domain error is reported by :func:`node.cli._common.run_guarded` as
``error[code]: message`` with a non-zero exit.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

#: name -> "module:attribute" of a click command or group. Order is the order in ``--help``.
_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("node.cli.demo:demo", "Run the five-city federation on this machine."),
    "scale": ("node.cli.scale:scale", "List, show and convert between city credit scales."),
    "ca": ("node.cli.ca:ca", "A city's certificate authority: create it, issue node certificates."),
    "federation": ("node.cli.federation:federation", "The k-of-n signed federation root."),
    "bundle": ("node.cli.bundle:bundle", "Build and verify the merchant trust bundle."),
    "node": ("node.cli.node:node", "Set up and run a city node."),
    "verify": ("node.cli.verify:verify", "Verify a visitor's presentation offline (merchant)."),
    "wallet": ("node.cli.wallet:wallet", "A citizen's wallet: fetch attestations, present them."),
}


class _LazyGroup(click.Group):
    def _available(self) -> dict[str, tuple[str, str]]:
        out = {}
        for name, (target, short) in _COMMANDS.items():
            module = target.split(":", 1)[0]
            if importlib.util.find_spec(module) is not None:
                out[name] = (target, short)
        return out

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self._available(), *sorted(self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self._available().get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        module_name, attr = entry[0].split(":", 1)
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):  # pragma: no cover - programming error
            raise TypeError(f"{entry[0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, short) for name, (_, short) in self._available().items()]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="huxin")
def cli() -> None:
    """互信 huxin: a federated credit exchange between cities.

    Start with `huxin demo`, or `huxin COMMAND --help` for any command below.
    """


def main() -> None:
    """Console entry point."""
    cli(prog_name="huxin")
