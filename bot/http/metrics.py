"""Prometheus metrics of one HTTP app (its own registry, so apps and tests never share counters).

metrics = Metrics()
metrics.observe_request("/api/v1/search", "POST", 200, 0.012)
metrics.observe_answer(answer)
body = metrics.render()                        # text exposition format for GET /metrics
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from rag.models import Answer

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds; the embedded default answers in ~5-300 ms depending on load, an LLM drafter in seconds.
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "kb_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "kb_http_request_duration_seconds",
            "Time to answer an HTTP request, by route.",
            ["route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge("kb_http_in_flight_requests", "Requests being handled now.", registry=self.registry)
        self.stages = Histogram(
            "kb_stage_duration_seconds",
            "Engine stage durations (embed, retrieve, draft, total).",
            ["stage"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.answers = Counter(
            "kb_answers",
            "Answers by decision and confidence level.",
            ["decision", "level"],
            registry=self.registry,
        )
        self.degraded = Counter("kb_answers_degraded", "Answers that a fallback produced.", registry=self.registry)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "other"  # clients choose methods: bound the labels
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_answer(self, answer: Answer) -> None:
        self.answers.labels(answer.decision, answer.confidence.level).inc()
        if answer.degraded:
            self.degraded.inc()
        self.observe_stages(answer.timings_ms)

    def observe_stages(self, timings_ms: dict[str, float]) -> None:
        for stage, ms in timings_ms.items():
            self.stages.labels(stage).observe(ms / 1000.0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
