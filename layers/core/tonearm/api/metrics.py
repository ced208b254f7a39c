"""``GET /metrics``: Prometheus text format, one registry per app.

Each app gets its own ``CollectorRegistry`` (not prometheus_client's global one), so a process that
builds several apps (the tests) never registers a metric twice. Requests are counted by route
template (``/music-status/{task_id}``, never the raw path: one series per route, not per task),
method and status; generations come from the process-wide counters the generate task keeps
(``tonearm.jobs.telemetry``). In AWS the durable numbers are the CloudWatch metrics that the
handlers emit with Powertools (EMF); a Lambda instance's ``/metrics`` covers that instance only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from tonearm.generation.telemetry import GENERATIONS, SECONDS_BUCKETS, GenerationStats

#: The statuses a generation ends with (always exported, so rates work from the first scrape).
GENERATION_STATUSES = ("succeeded", "failed")


class GenerationCollector(Collector):
    """Exports ``tonearm_generations_total{status}`` and ``tonearm_generation_seconds`` on scrape."""

    def __init__(self, stats: GenerationStats = GENERATIONS) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        """One consistent snapshot of the counters per scrape."""
        snap = self.stats.snapshot()
        counts = CounterMetricFamily(
            "tonearm_generations", "Generations (tonearm/generate tasks) by outcome.", labels=["status"]
        )
        for status in sorted(set(GENERATION_STATUSES) | set(snap.counts)):
            counts.add_metric([status], snap.counts.get(status, 0))
        yield counts
        cumulative, buckets = 0, []
        for bound, n in zip((*SECONDS_BUCKETS, float("inf")), snap.bucket_counts, strict=True):
            cumulative += n
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
        yield HistogramMetricFamily(
            "tonearm_generation_seconds",
            "Wall time of successful generations [s].",
            buckets=buckets,
            sum_value=snap.seconds_sum,
        )


def install_metrics(app: FastAPI) -> CollectorRegistry:
    """Measure every request of ``app`` and serve ``GET /metrics``; return the app's registry."""
    registry = CollectorRegistry()
    requests = Counter(
        "tonearm_http_requests",
        "HTTP requests by route template, method and status.",
        ["route", "method", "status"],
        registry=registry,
    )
    duration = Histogram(
        "tonearm_http_request_duration_seconds",
        "HTTP request duration by route template and method [s].",
        ["route", "method"],
        registry=registry,
    )
    registry.register(GenerationCollector())
    app.state.metrics_registry = registry

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises past its handlers
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            # the router leaves the matched route in the scope; unmatched paths share one series
            route = getattr(request.scope.get("route"), "path", None) or "unmatched"
            requests.labels(route, request.method, str(status)).inc()
            duration.labels(route, request.method).observe(time.perf_counter() - started)

    @app.get("/metrics", tags=["Health"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics of this process (text exposition format)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
