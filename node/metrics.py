"""Prometheus metrics of one node application, on its own registry (no global state).

What it does: defines the counters and histograms the middleware and services update, and
renders them for ``/metrics``. What it deliberately does not do: label by resident or
credential (no personal data in metrics).
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass(frozen=True)
class Metrics:
    """The node's metrics."""

    requests: Counter
    latency: Histogram
    attestations: Counter
    revocations: Counter
    score_records: Counter

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
        )
