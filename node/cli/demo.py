"""``huxin demo``: the five-city federation on this machine, its story, a sandbox, a playground.

Thin click wrapper over :mod:`node.demo`: sets up the federation (progress with timings),
tells the story, optionally writes the merchant sandbox (``--export``) and keeps the nodes up
(``--serve``) until Ctrl-C. Every child process is stopped on exit, on error and on Ctrl-C.

What it deliberately does not do: any set-up or story logic of its own.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

import click

from node.cli._common import reported_errors


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise KeyboardInterrupt


@click.command("demo")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep everything here (default: a temporary directory, removed at the end).",
)
@click.option(
    "--residents",
    type=click.IntRange(1, 1_000_000),
    default=10_000,
    show_default=True,
    help="Synthetic residents per city.",
)
@click.option("--serve", is_flag=True, help="Keep the nodes up afterwards until Ctrl-C.")
@click.option(
    "--export",
    "export_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write a sandbox for merchant integrators into this directory.",
)
def demo(data_dir: Path | None, residents: int, serve: bool, export_dir: Path | None) -> None:
    """五城联盟演示 Run the five-city federation on this machine and tell its story.

    Starts Zhengzhou, Hangzhou, Nanjing, Wuhan and Suzhou as five `huxin node run` processes
    on 127.0.0.1, each with its own SQLite database, with city CAs, a 3-of-5 federation root,
    incentive catalogues and synthetic residents; then a Zhengzhou resident visits Hangzhou, a
    Nanjing honest-card holder visits Suzhou, a dishonesty record revokes, and a city's key is
    rotated.

    \b
    Examples:
      huxin demo
      huxin demo --serve --data ./demo
      huxin demo --export ./sandbox --residents 1000
    """
    from node.demo.federation import DemoFederation
    from node.demo.story import Story, story_residents

    started = time.perf_counter()
    temporary = data_dir is None
    base = Path(tempfile.mkdtemp(prefix="huxin-demo-")) if data_dir is None else data_dir
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    # Ctrl-C must stop the demo even where the shell started it with SIGINT ignored.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    fed: DemoFederation | None = None
    try:
        with reported_errors():
            for given in (data_dir, export_dir):
                if given is not None and given.exists() and any(given.iterdir()):
                    from node.demo.procs import DemoError

                    raise DemoError(f"{given} is not empty; give a new or empty directory")
            people = story_residents()
            click.echo("互信 huxin 五城联盟演示 / five-city federation demo")
            click.echo(f"数据目录 data directory: {base}")
            click.echo("")
            click.echo("设立联盟 / setting up the federation:")
            fed = DemoFederation(
                base,
                residents=residents,
                report=click.echo,
                extra_residents={p.city: [p.resident] for p in people.values()},
            )
            fed.setup()
            setup_seconds = time.perf_counter() - started
            story = Story(fed, say=click.echo, people=people)
            story.run()
            chapters = ", ".join(f"{k} {v:.1f} s" for k, v in story.timings.items())
            click.echo("")
            click.echo(f"用时 timings: 设立 set-up {setup_seconds:.1f} s; 故事 story: {chapters}")
            if export_dir is not None:
                from node.demo.export import export_sandbox

                click.echo("")
                count = export_sandbox(fed, export_dir, report=click.echo)
                click.echo(f"沙盒已写入 sandbox written: {export_dir} ({count} presentations)")
            click.echo("")
            click.echo(f"演示完成 / demo finished in {time.perf_counter() - started:.1f} s")
            if serve:
                from node.demo.serve import print_playground, wait_forever

                print_playground(fed, say=click.echo)
                wait_forever()
    except KeyboardInterrupt:
        click.echo("\n正在停止 / stopping ...", err=True)
    finally:
        if fed is not None:
            fed.close()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        if temporary:
            shutil.rmtree(base, ignore_errors=True)
    sys.stdout.flush()
