"""Prometheus metrics: request counts and latency per route template (not per raw path,
which would explode label cardinality with ids)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from fastapi import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from returnhub.delivery import outbox
from returnhub.store.db import Database


class Metrics:
    def __init__(self) -> None:
        # One registry per app, so several apps in one process (tests) never collide.
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "returnhub_http_requests_total",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "returnhub_http_request_duration_seconds",
            "HTTP request latency by method and route",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Plain ASGI middleware (not BaseHTTPMiddleware, which costs a task and a stream per
    request): times each HTTP request and counts it by route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # The labelled children, looked up once per label set: prometheus_client's labels()
        # validates and locks on every call, and this runs for every request.
        self._children: dict[tuple[object, ...], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            # The router records the matched route in the scope; unknown paths have none.
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            method = str(scope.get("method", ""))
            self._child(self.metrics.latency, method, route).observe(time.perf_counter() - started)
            self._child(self.metrics.requests, method, route, str(status)).inc()

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child


class OutboxCollector(Collector):
    """Outbox gauges read from the database at scrape time, so every process reports the
    same truth whichever worker did the work."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "returnhub_outbox_jobs", "Outbox jobs by status", labels=["status"]
        )
        oldest = GaugeMetricFamily(
            "returnhub_outbox_oldest_pending_seconds", "Age of the oldest pending outbox job"
        )
        try:
            with self.db.read() as session:
                counts = outbox.counts_by_status(session)
                age = outbox.oldest_pending_age(session, self.clock())
        except Exception:
            return  # the database is down: /readyz says so; metrics stay scrapeable
        for status, count in counts.items():
            jobs.add_metric([status], count)
        oldest.add_metric([], age)
        yield jobs
        yield oldest
