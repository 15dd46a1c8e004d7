"""Prometheus metrics of one node application, on its own registry (no global state).

What it does: defines the counters and histograms the middleware and services update, and
renders them for ``/metrics``. With several worker processes (``huxin node run --workers N``)
the supervisor calls :func:`enable_multiprocess` before it forks: prometheus-client's
multiprocess mode, where every worker keeps its values in memory-mapped files in one directory
and :func:`exposition_registry` sums them, so ``/metrics`` from any worker reports the node as a
whole. Counters and histograms add up over the workers (including workers that have exited and
were replaced: the counts stay monotonic); the gauges are set by the sync code and say the same
thing in every worker, so the most recent value of a live worker is reported
(``livemostrecent``; ``livemax`` for the root version). :func:`worker_exited` drops an exited
worker's gauges.

What it deliberately does not do: label by resident or credential (no personal data in
metrics), or switch modes within one process.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

#: The environment variable prometheus-client's multiprocess mode reads.
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"


def enable_multiprocess(directory: Path) -> None:
    """Empty ``directory`` and switch this process (and the workers it forks afterwards) to
    prometheus-client's multiprocess mode with its files there.

    Call before any metric is created; prometheus-client reads the variable when it is imported,
    so the value class is switched here too.
    """
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def worker_exited(pid: int) -> None:
    """Forget the live gauges of a worker process that exited (multiprocess mode only)."""
    if os.environ.get(MULTIPROC_ENV):
        mark_process_dead(pid)  # type: ignore[no-untyped-call]


def exposition_registry(own: CollectorRegistry) -> CollectorRegistry:
    """What ``/metrics`` renders: ``own`` in one process; in multiprocess mode a registry that
    sums every worker's files."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return own
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


@dataclass(frozen=True)
class Metrics:
    """The node's metrics."""

    requests: Counter
    latency: Histogram
    attestations: Counter
    revocations: Counter
    score_records: Counter
    sync_rounds: Counter
    sync_errors: Counter
    peer_up: Gauge
    peer_last_success: Gauge
    peer_age: Gauge
    root_version: Gauge
    #: Label children by route (and status): ``labels()`` costs microseconds per request.
    _children: dict[tuple[str, str], tuple[Counter, Histogram]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one request of ``route`` answered with ``status`` and record its latency."""
        key = (route, str(status))
        pair = self._children.get(key)
        if pair is None:
            pair = self._children[key] = (
                self.requests.labels(route=route, status=key[1]),
                self.latency.labels(route=route),
            )
        pair[0].inc()
        pair[1].observe(seconds)

    @classmethod
    def create(cls, registry: CollectorRegistry) -> Metrics:
        """Register every metric on ``registry``."""
        return cls(
            requests=Counter(
                "huxin_http_requests",
                "HTTP requests by route and status",
                ["route", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "huxin_http_request_seconds",
                "HTTP request latency by route",
                ["route"],
                registry=registry,
            ),
            attestations=Counter(
                "huxin_attestations_issued", "Attestations issued", registry=registry
            ),
            revocations=Counter(
                "huxin_attestations_revoked", "Attestations revoked", registry=registry
            ),
            score_records=Counter(
                "huxin_score_records", "Score records received", registry=registry
            ),
            sync_rounds=Counter("huxin_sync_rounds", "Peer sync rounds run", registry=registry),
            sync_errors=Counter(
                "huxin_sync_errors",
                "Failed peer fetches or verifications by peer city and error code",
                ["peer", "code"],
                registry=registry,
            ),
            peer_up=Gauge(
                "huxin_sync_peer_up",
                "1 when the last sync round with the peer succeeded, else 0",
                ["peer"],
                registry=registry,
                multiprocess_mode="livemostrecent",
            ),
            peer_last_success=Gauge(
                "huxin_sync_peer_last_success_timestamp_seconds",
                "Unix time of the last successful sync round with the peer (0: never)",
                ["peer"],
                registry=registry,
                multiprocess_mode="livemostrecent",
            ),
            peer_age=Gauge(
                "huxin_sync_peer_material_age_seconds",
                "Age of the peer's material the node holds (-1: none)",
                ["peer"],
                registry=registry,
                multiprocess_mode="livemostrecent",
            ),
            root_version=Gauge(
                "huxin_federation_root_version",
                "Version of the newest trusted federation root (0: none)",
                registry=registry,
                multiprocess_mode="livemax",
            ),
        )
