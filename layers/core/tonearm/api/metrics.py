"""``GET /metrics``: Prometheus text format, one registry per app.

Each app gets its own ``CollectorRegistry`` (not prometheus_client's global one), so a process that
builds several apps (the tests) never registers a metric twice. Requests are counted by route
template (``/music-status/{task_id}``, never the raw path: one series per route, not per task),
method and status, each label with a bounded set of values (an unknown method is ``other``, a path no
route matches ``unmatched``: made-up methods or paths cannot grow the exposition); generations come
from the process-wide counters the generate task keeps (``tonearm.jobs.telemetry``). In AWS the durable
numbers are the CloudWatch metrics that the handlers emit with Powertools (EMF); a Lambda instance's
``/metrics`` covers that instance only.

With ``Settings.metrics_api_key`` set, ``/metrics`` answers only requests carrying that key
(``Authorization: Bearer <key>``, as Prometheus's ``authorization`` scrape setting sends it).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from tonearm.api.errors import ErrorResponse, error_response
from tonearm.generation.telemetry import GENERATIONS, SECONDS_BUCKETS, GenerationStats
from tonearm.jobs.errors import UnauthorizedError
from tonearm.jobs.service import parse_authorization

#: The methods counted under their own name; any other is counted as ``other``.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The route label of requests no route matched (whatever their path).
UNMATCHED = "unmatched"

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


def method_label(method: str) -> str:
    """``method`` if it is a standard one, else ``other`` (one series, however many are made up)."""
    return method if method in KNOWN_METHODS else "other"


def metrics_key_accepted(expected: str, authorization: str | None) -> bool:
    """Whether ``authorization`` carries ``expected`` (always, when no key is configured)."""
    if not expected:
        return True
    try:
        sent = parse_authorization(authorization)
    except UnauthorizedError:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def install_metrics(app: FastAPI, *, api_key: str = "") -> CollectorRegistry:
    """Measure every request of ``app`` and serve ``GET /metrics`` (behind ``api_key`` when one is
    given); return the app's registry."""
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
            route = getattr(request.scope.get("route"), "path", None) or UNMATCHED
            method = method_label(request.method)
            requests.labels(route, method, str(status)).inc()
            duration.labels(route, method).observe(time.perf_counter() - started)

    @app.get(
        "/metrics",
        tags=["Health"],
        response_class=Response,
        responses={
            200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."},
            401: {"model": ErrorResponse, "description": "METRICS_API_KEY is set and was not sent."},
        },
    )
    def metrics(request: Request) -> Response:
        """Prometheus metrics of this process (text exposition format)."""
        if not metrics_key_accepted(api_key, request.headers.get("authorization")):
            response = error_response(
                401, "unauthorized", "send the metrics key: Authorization: Bearer <key>"
            )
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
