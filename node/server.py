"""Serving the node: one process, or a supervisor with pre-forked worker processes.

What it does: :func:`serve` runs the application built by :func:`node.app.create_app` on the
event loop :func:`new_event_loop` picks (uvloop when importable, else asyncio's own; a log line
names it). With ``workers`` = 1 the node is one process. With more, this process becomes a
supervisor: it opens one listening socket per worker on the same address with ``SO_REUSEPORT``
(the kernel spreads new connections over them), forks the workers -- each builds its own
application: event loop, database engine, caches, sync loop -- and then only watches them:

* SIGTERM or SIGINT: every worker gets SIGTERM (aiohttp's graceful shutdown, then each worker's
  ``cleanup_ctx``); a worker still running after :data:`STOP_TIMEOUT` seconds is killed; the
  supervisor exits 0.
* A worker that exits on its own is logged (``worker exited``, with its exit code or signal)
  and started again on the same socket, so connections the kernel queued for it are served by
  the replacement. When workers die more than :data:`MAX_RESTARTS` times within
  :data:`RESTART_WINDOW` seconds (a node that cannot start: database down, port or key
  problem), the supervisor stops the rest and exits 1.
* Workers ask the kernel to send them SIGTERM when the supervisor dies (Linux), so a killed
  supervisor does not leave orphans serving the port.

The supervisor keeps its copies of the listening sockets open, so the port stays bound between
a worker's death and its replacement.

What workers share (``docs/operator.md`` section 4.4): the database and the data directory.
Worker 0 is the sync leader -- the only one running peer sync rounds -- and its replacement
after a restart is the leader again; the others take what it keeps in ``sync.dir`` (see
``node.app``). Before forking, the supervisor switches metrics to prometheus-client's
multiprocess mode with its files in ``DIR/`` :data:`METRICS_DIR` (emptied at start;
``node.metrics``) and drops an exited worker's live gauges. ``HUXIN_TRACEMALLOC`` reporting
starts in each worker (``node.memtrace``).

What it deliberately does not do: share in-memory state between workers (caches stay per
worker), or balance load itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

from aiohttp import web

from node import memtrace
from node.app import create_app
from node.config import NodeConfig
from node.errors import ConfigError
from node.metrics import enable_multiprocess, worker_exited

log = logging.getLogger("huxin.node")

#: Seconds the supervisor waits for workers to finish after SIGTERM before killing them.
STOP_TIMEOUT: Final = 30.0
#: More worker deaths than this within :data:`RESTART_WINDOW` seconds stop the node.
MAX_RESTARTS: Final = 5
RESTART_WINDOW: Final = 60.0
#: Seconds an open connection may take to finish when a worker shuts down.
SHUTDOWN_TIMEOUT: Final = 10.0
BACKLOG: Final = 1024
#: prometheus-client's multiprocess files with several workers, under the data directory.
METRICS_DIR: Final = "metrics.d"
#: The worker index that runs peer sync (the sync leader).
LEADER: Final = 0
_SIGNALS: Final = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGCHLD})
_PR_SET_PDEATHSIG: Final = 1


def new_event_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    """A fresh event loop and its name: uvloop's when importable, else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop(), "asyncio"
    return uvloop.new_event_loop(), "uvloop"


def cpu_count() -> int:
    """CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def worker_count(configured: int) -> int:
    """``server.workers`` resolved: 0 means one per CPU this process may use."""
    return configured if configured > 0 else cpu_count()


def serve(config: NodeConfig, *, host: str, port: int, workers: int) -> int:
    """Serve the node until SIGTERM/SIGINT; the process exit code.

    Raises:
        ConfigError: more than one worker where ``SO_REUSEPORT`` or ``fork`` is missing, or
            the address cannot be bound.
    """
    count = worker_count(workers)
    config = replace(config, workers=count)
    memtrace.settings(os.environ)  # a bad setting stops the node here, not in every worker
    if count == 1:
        _run_worker(config, host=host, port=port, sockets=None, index=None)
        return 0
    if not hasattr(socket, "SO_REUSEPORT") or not hasattr(os, "fork"):
        raise ConfigError("server.workers > 1 needs SO_REUSEPORT and fork (Linux, BSD, macOS)")
    try:
        enable_multiprocess(config.data_dir / METRICS_DIR)
    except OSError as err:
        raise ConfigError(f"cannot prepare {config.data_dir / METRICS_DIR}: {err}") from err
    sockets = _listeners(host, port, count)
    try:
        return _Supervisor(config, sockets).run()
    finally:
        for group in sockets:
            for sock in group:
                sock.close()


def _run_worker(
    config: NodeConfig,
    *,
    host: str,
    port: int,
    sockets: Sequence[socket.socket] | None,
    index: int | None,
) -> None:
    memtrace.start(os.environ, worker=index)
    loop, name = new_event_loop()
    extra: dict[str, object] = {"loop": name, "pid": os.getpid()}
    if index is not None:
        extra["worker"] = index
        extra["sync_leader"] = index == LEADER
    log.info("event loop: %s", name, extra=extra)
    if sockets is None:
        web.run_app(
            create_app(config),
            host=host,
            port=port,
            loop=loop,
            access_log=None,
            print=lambda msg: log.info(msg),
        )
        return
    # A worker may be sent SIGTERM twice (by the supervisor and by whoever signalled the whole
    # process group, e.g. systemd): only the first starts the graceful shutdown, a second one
    # must not interrupt the cleanup.
    _stop_once(loop)
    web.run_app(
        create_app(config, sync_leader=index == LEADER),
        sock=sockets,
        loop=loop,
        access_log=None,
        backlog=BACKLOG,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        handle_signals=False,
        print=None,
    )


def _stop_once(loop: asyncio.AbstractEventLoop) -> None:
    """SIGTERM/SIGINT: the first one stops aiohttp gracefully, later ones are ignored."""

    def ignore() -> None:
        log.info("already stopping; signal ignored")

    def stop() -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, ignore)
        raise web.GracefulExit

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)


def _listeners(host: str, port: int, count: int) -> list[list[socket.socket]]:
    """``count`` groups of listening sockets, one per address ``host`` resolves to, all with
    ``SO_REUSEPORT`` on the same port (port 0: the one the kernel picks for the first).

    Raises:
        ConfigError: the address does not resolve or cannot be bound.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as err:
        raise ConfigError(f"cannot resolve server.host {host!r}: {err}") from err
    groups: list[list[socket.socket]] = []
    try:
        for _ in range(count):
            group: list[socket.socket] = []
            groups.append(group)
            for family, kind, proto, _name, address in infos:
                sock = socket.socket(family, kind, proto)
                group.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind((address[0], port, *address[2:]))
                port = port or sock.getsockname()[1]
                sock.listen(BACKLOG)
                sock.setblocking(False)
    except OSError as err:
        for group in groups:
            for sock in group:
                sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {err}") from err
    return groups


class _Supervisor:
    """Forks the workers, restarts the ones that die, stops them all on SIGTERM/SIGINT."""

    def __init__(self, config: NodeConfig, sockets: list[list[socket.socket]]) -> None:
        self._config = config
        self._sockets = sockets
        self._pids: dict[int, int] = {}  # pid -> worker index
        self._deaths: list[float] = []

    def run(self) -> int:
        address = self._sockets[0][0].getsockname()
        log.info(
            "supervisor: %d workers on %s:%d",
            len(self._sockets),
            address[0],
            address[1],
            extra={"pid": os.getpid(), "workers": len(self._sockets)},
        )
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            for index in range(len(self._sockets)):
                self._start(index, old_mask)
            code = self._watch(old_mask)
        finally:
            self._stop()
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        log.info("supervisor: stopped", extra={"pid": os.getpid(), "exit_code": code})
        return code

    def _start(self, index: int, old_mask: set[int | signal.Signals]) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the supervisor's code
            code = 1
            try:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
                _die_with_parent(parent)
                for i, group in enumerate(self._sockets):
                    if i != index:
                        for sock in group:
                            sock.close()
                _run_worker(
                    self._config, host="", port=0, sockets=self._sockets[index], index=index
                )
                code = 0
            except BaseException:  # the worker's last word: log it and exit non-zero
                log.exception("worker failed", extra={"worker": index, "pid": os.getpid()})
            finally:
                logging.shutdown()
                os._exit(code)
        self._pids[pid] = index
        log.info("worker started", extra={"worker": index, "pid": pid})

    def _watch(self, old_mask: set[int | signal.Signals]) -> int:
        """Wait for signals; restart dead workers. The supervisor's exit code."""
        while True:
            info = signal.sigtimedwait(_SIGNALS, 1.0)
            # SIGINT and SIGTERM are delivered before SIGCHLD: a Ctrl-C that reached the
            # workers too (one process group) stops the node instead of restarting them.
            if info is not None and info.si_signo in (signal.SIGTERM, signal.SIGINT):
                log.info("supervisor: stopping on %s", signal.Signals(info.si_signo).name)
                return 0
            for pid, status in self._reap():
                index = self._pids.pop(pid)
                worker_exited(pid)
                log.error(
                    "worker exited",
                    extra={"worker": index, "pid": pid, **_exit_reason(status)},
                )
                now = time.monotonic()
                self._deaths = [t for t in self._deaths if now - t < RESTART_WINDOW]
                self._deaths.append(now)
                if len(self._deaths) > MAX_RESTARTS:
                    log.error(
                        "workers keep exiting; stopping the node",
                        extra={"deaths": len(self._deaths), "window_s": RESTART_WINDOW},
                    )
                    return 1
                self._start(index, old_mask)

    def _reap(self) -> list[tuple[int, int]]:
        """Workers that exited since the last call, as ``(pid, wait status)``."""
        done: list[tuple[int, int]] = []
        while self._pids:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in self._pids:
                done.append((pid, status))
        return done

    def _stop(self) -> None:
        """SIGTERM every worker, wait up to :data:`STOP_TIMEOUT`, then SIGKILL the rest."""
        for pid in self._pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self._pids and time.monotonic() < deadline:
            for pid, status in self._reap():
                index = self._pids.pop(pid)
                worker_exited(pid)
                log.info(
                    "worker stopped", extra={"worker": index, "pid": pid, **_exit_reason(status)}
                )
            if self._pids:
                signal.sigtimedwait({signal.SIGCHLD}, 0.1)
        for pid, index in list(self._pids.items()):
            log.error("worker did not stop in time; killing it", extra={"worker": index})
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            del self._pids[pid]


def _exit_reason(status: int) -> dict[str, object]:
    if os.WIFSIGNALED(status):
        return {"signal": signal.Signals(os.WTERMSIG(status)).name}
    return {"exit_code": os.waitstatus_to_exitcode(status)}


def _die_with_parent(parent: int) -> None:
    """Ask for SIGTERM when the supervisor dies (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(1)
