"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from returnhub import __version__, jobs
from returnhub.api import openapi, plain
from returnhub.api.errors import failure_answer, install_error_handlers
from returnhub.api.gladly import routes as gladly_routes
from returnhub.api.metrics import Metrics, MetricsMiddleware, OutboxCollector
from returnhub.api.page_headers import PageHeaders
from returnhub.api.request_guard import RequestGuard
from returnhub.api.routes import (
    allowlist,
    conversations,
    customers,
    health,
    links,
    operations,
    orders,
    returns,
    routing,
    warehouse,
    webhooks,
)
from returnhub.delivery.backlog import BacklogMonitor
from returnhub.delivery.worker import BackgroundWorker, Worker, WorkerMetrics
from returnhub.logs import configure_logging
from returnhub.runtime import AppContext
from returnhub.settings import Settings, get_settings
from returnhub.store.db import Database
from returnhub.store.types import utcnow
from returnhub.web import agent, portal
from returnhub.web.common import STATIC_DIR


def create_app(
    settings: Settings | None = None,
    db: Database | None = None,
    clock: Callable[[], datetime] = utcnow,
    *,
    worker: bool | None = None,
) -> FastAPI:
    """The API; with ``worker`` (default: RETURNHUB_EMBEDDED_WORKER) the outbox worker runs in
    a background thread for the app's lifetime."""
    settings = settings or get_settings()
    settings.check_secrets()
    configure_logging(settings)
    db = db or Database.from_settings(settings)
    jobs.wire(db, settings)
    metrics = Metrics()
    metrics.registry.register(OutboxCollector(db, clock))
    # In process mode `returnhub serve` starts the worker beside the API (delivery/supervisor).
    embedded = settings.embedded_worker and settings.embedded_worker_mode == "thread"
    run_worker = embedded if worker is None else worker
    worker_metrics = WorkerMetrics(metrics.registry)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        background = None
        backlog.start()
        if run_worker:
            worker_of_app = Worker(
                db,
                settings,
                handlers=jobs.default_handlers(),
                batch_handlers=jobs.default_batch_handlers(),
                clock=clock,
                metrics=worker_metrics,
            )
            background = BackgroundWorker(worker_of_app)
            background.start()
        try:
            yield
        finally:
            if background is not None:
                background.stop()
            app.state.context.close()

    app = FastAPI(
        lifespan=lifespan,
        title="returnhub",
        version=__version__,
        description="One ledger of customers, orders and returns. Authenticate with "
        "`Authorization: Bearer <key>`.",
        # Metrics are Prometheus (/metrics) and logs structlog; FastAPI's native OpenTelemetry
        # hooks have nothing to report to, and looking for a provider costs every request
        # ~10 µs (a thirtieth of a Gladly lookup).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # The backlog's age is wall time (events are stamped by the wall clock), not the app's clock.
    backlog = BacklogMonitor(db, settings, utcnow, metrics.registry)
    app.state.context = AppContext(settings=settings, db=db, clock=clock, backlog=backlog)
    app.state.metrics = metrics
    install_error_handlers(app)
    openapi.install(app)
    # PageHeaders is added last, so outermost: the guard's refusals carry its headers too.
    app.add_middleware(
        RequestGuard,
        ctx=app.state.context,
        route_limits={"/api/v1/warehouse/receipts": warehouse.MAX_RECEIPT_BYTES},
    )
    app.add_middleware(PageHeaders)
    # Machine-facing hot paths are plain ASGI ahead of FastAPI's stack; the metrics middleware
    # wraps them and everything else.
    plain.install(
        app,
        [webhooks.route(app.state.context), gladly_routes.lookup_route(app.state.context)],
        on_error=failure_answer,
        outermost=lambda inner: MetricsMiddleware(inner, metrics),
    )
    # Gladly is a machine on a clock: match its routes first.
    app.include_router(gladly_routes.router)
    app.include_router(portal.router)
    app.include_router(agent.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (
        health,
        customers,
        orders,
        returns,
        allowlist,
        operations,
        routing,
        links,
        warehouse,
        conversations,
    ):
        app.include_router(module.router)
    app.include_router(orders.links_router)
    return app


def served_app() -> FastAPI:
    """The app as ``returnhub serve`` runs it (uvicorn's factory). Everything alive once it is
    built (modules, settings, routes, the rules) is moved out of the garbage collector's
    generations: a full collection then walks only what requests allocated. Not done in
    create_app, which tests call many times in one process."""
    app = create_app()
    gc.collect()
    gc.freeze()
    return app
