from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from returnhub.api.plain import error_body
from returnhub.runtime import Context

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable and takes writes; how far behind the worker is",
    responses=error_body(503, "The database does not answer, or its writes are failing"),
)
def readyz(ctx: Context) -> JSONResponse:
    if not ctx.db.ping():
        return _not_ready("database_unreachable", "the database does not answer")
    failure = ctx.db.write_health.recent_failure()
    if failure is not None:
        return _not_ready(
            "database_writes_failing",
            f"a write failed {failure.seconds_ago:.0f} s ago ({failure.error}); ready again "
            f"{ctx.db.write_health.window:.0f} s after the last failed write",
        )
    body: dict[str, object] = {"status": "ready", "database": ctx.db.dialect}
    if ctx.backlog is not None:
        # Still ready while intake sheds: lookups and pages are served as usual.
        body["backlog"] = ctx.backlog.describe()
    return JSONResponse(body)


def _not_ready(code: str, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"field": "", "code": code, "message": message}]}, 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics(request: Request) -> Response:
    rendered: Response = request.app.state.metrics.render()
    return rendered
