"""Child process management for the demo: start, wait until ready, stop, never orphan.

What it does: :class:`Supervisor` starts each child in its own process group
(``start_new_session``) with its output in a log file, remembers it, and stops every child on
:meth:`Supervisor.close` -- SIGTERM to the group, a bounded wait, then SIGKILL. The supervisor
is a context manager and also registers itself with :mod:`atexit`, so children are stopped on a
normal exit, on an error and on Ctrl-C. :func:`free_port` asks the OS for a free port.
:func:`wait_ready` polls a URL until it answers 200, with a deadline.

What it deliberately does not do: restart children by itself, or signal anything it did not
start.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Final

from node.errors import NodeError

STOP_TIMEOUT_SECONDS: Final = 5.0
READY_TIMEOUT_SECONDS: Final = 30.0


class DemoError(NodeError):
    """The demo could not set up or run a step."""

    code = "demo_failed"
    http_status = 500


def free_port() -> int:
    """A TCP port on 127.0.0.1 the OS says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(
    url: str,
    *,
    timeout: float = READY_TIMEOUT_SECONDS,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    name: str | None = None,
) -> None:
    """Poll ``url`` until it answers 200.

    Raises:
        DemoError: the deadline passed, or ``process`` exited first.
    """
    who = name or url
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise DemoError(
                f"{who}: the process exited with {process.returncode} (log {log}):\n{tail}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - our own URL
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise DemoError(f"{who} ({url}) did not become ready within {timeout:.0f} s")


@dataclass
class Child:
    """One started child process and its log file."""

    name: str
    args: tuple[str, ...]
    process: subprocess.Popen[bytes]
    log: Path
    _log_file: IO[bytes] = field(repr=False)

    @property
    def pid(self) -> int:
        """The child's process id (also its process group id)."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether the child is still running."""
        return self.process.poll() is None


class Supervisor:
    """Starts children in their own process groups and stops all of them, always."""

    def __init__(self) -> None:
        self.children: dict[str, Child] = {}
        atexit.register(self.close)

    def start(
        self,
        name: str,
        args: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        """Start ``args`` as child ``name`` (replacing a stopped child of that name).

        Raises:
            DemoError: a child of that name is still running.
        """
        old = self.children.get(name)
        if old is not None and old.alive():
            raise DemoError(f"{name} is already running (pid {old.pid})")
        log.parent.mkdir(parents=True, exist_ok=True)
        log_file = log.open("ab")
        process = subprocess.Popen(  # noqa: S603 - our own command line
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
        child = Child(name, tuple(args), process, log, log_file)
        self.children[name] = child
        return child

    def kill(self, name: str) -> None:
        """SIGKILL child ``name``'s process group at once (a crash, for tests and demos)."""
        child = self.children[name]
        self._signal(child, signal.SIGKILL)
        child.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        child._log_file.close()

    def stop(self, name: str, *, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """SIGTERM child ``name``'s group, wait up to ``timeout``, then SIGKILL it.

        Returns:
            The exit status, or ``None`` if it had to be killed and did not report one.
        """
        child = self.children[name]
        if child.alive():
            self._signal(child, signal.SIGTERM)
            try:
                child.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(child, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.process.wait(timeout=timeout)
        # The group may hold grandchildren (e.g. an import worker): make sure none is left.
        self._signal(child, signal.SIGKILL)
        child._log_file.close()
        return child.process.returncode

    @staticmethod
    def _signal(child: Child, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, sig)

    def close(self) -> None:
        """Stop every child: SIGTERM all groups, one bounded wait, SIGKILL what is left."""
        children = list(self.children.values())
        for child in children:
            if child.alive():
                self._signal(child, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in children:
            remaining = max(0.0, deadline - time.monotonic())
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=remaining)
        for child in children:
            self._signal(child, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            child._log_file.close()
        self.children.clear()
        atexit.unregister(self.close)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
