"""Failpoints: named places in the node where a test (or an operator rehearsing a failure) can
make the process pause, fail or die, so that a crash lands exactly where it is meant to.

What it does: :func:`configure` reads ``HUXIN_FAILPOINTS`` once, when ``huxin node run`` starts,
e.g. ``HUXIN_FAILPOINTS="status.publish=sleep:5;issuance.commit=kill"``. Each entry is
``NAME=ACTION``, entries separated by ``;``. Actions:

* ``sleep:SECONDS`` -- the coroutine waits that long (the event loop keeps serving), so a test
  can SIGKILL the process while it is inside the operation;
* ``kill`` -- the process sends itself SIGKILL there (no cleanup, no flush: a power cut);
* ``error`` -- :class:`FailpointError` is raised there (the request fails as a database error
  would, and its transaction rolls back).

Before acting, a failpoint logs ``{"msg": "failpoint reached", "failpoint": NAME, ...}`` at
WARNING, so a test can wait for that line instead of guessing a delay. The places:

========================  ======================================================================
``issuance.commit``        issuance: status indices reserved, attestations signed and the audit
                           entry written, before the transaction commits
``status.publish``         status list publication: the list read and the token signed, before it
                           is cached and served
``import.commit``          bulk import (HTTP and file): a batch written, before it commits
========================  ======================================================================

When the variable is unset a failpoint costs one dictionary truth test.

What it deliberately does not do: read the environment at import time, offer failpoints over
HTTP or in ``node.toml`` (a production node never has them set), or decide anything itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from node.errors import ConfigError

ENV: Final = "HUXIN_FAILPOINTS"
#: Every failpoint the node has; configuring another name is an error (a typo must not pass).
NAMES: Final = frozenset({"issuance.commit", "status.publish", "import.commit"})

log = logging.getLogger("huxin.failpoints")


class FailpointError(RuntimeError):
    """Raised by a failpoint configured with ``error``."""


@dataclass(frozen=True)
class Action:
    """What a configured failpoint does when reached."""

    kind: str  # "sleep", "kill" or "error"
    seconds: float = 0.0


_ACTIVE: dict[str, Action] = {}


def parse(spec: str) -> dict[str, Action]:
    """The failpoints of a ``HUXIN_FAILPOINTS`` value.

    Raises:
        ConfigError: an unknown failpoint name or action, or a bad sleep time.
    """
    out: dict[str, Action] = {}
    for entry in filter(None, (part.strip() for part in spec.split(";"))):
        name, sep, action = entry.partition("=")
        name, action = name.strip(), action.strip()
        if not sep or name not in NAMES:
            raise ConfigError(f"{ENV}: unknown failpoint {name!r} (one of {sorted(NAMES)})")
        kind, _, arg = action.partition(":")
        if kind == "sleep":
            try:
                seconds = float(arg)
            except ValueError:
                seconds = -1.0
            if not 0 <= seconds <= 3600:
                raise ConfigError(f"{ENV}: {name}=sleep needs 0..3600 seconds, not {arg!r}")
            out[name] = Action("sleep", seconds)
        elif kind in ("kill", "error") and not arg:
            out[name] = Action(kind)
        else:
            raise ConfigError(f"{ENV}: {name}: unknown action {action!r} (sleep:S, kill, error)")
    return out


def configure(env: Mapping[str, str]) -> dict[str, Action]:
    """Set the process's failpoints from ``env`` (called once at start-up); returns them.

    Raises:
        ConfigError: the value does not parse (see :func:`parse`).
    """
    active = parse(env.get(ENV, ""))
    _ACTIVE.clear()
    _ACTIVE.update(active)
    if active:
        log.warning("failpoints configured", extra={"failpoints": sorted(active)})
    return dict(active)


async def reach(name: str) -> None:
    """Act on failpoint ``name`` if it is configured (nothing otherwise).

    Raises:
        FailpointError: it is configured with ``error``.
    """
    if not _ACTIVE:
        return
    action = _ACTIVE.get(name)
    if action is None:
        return
    log.warning(
        "failpoint reached",
        extra={"failpoint": name, "action": action.kind, "pid": os.getpid()},
    )
    if action.kind == "sleep":
        await asyncio.sleep(action.seconds)
    elif action.kind == "kill":
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        raise FailpointError(f"failpoint {name}")
