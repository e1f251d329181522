from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from returnhub.api.deps import Context
from returnhub.api.plain import error_body

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database is reachable; how far behind the worker is",
    responses=error_body(503, "The database does not answer"),
)
def readyz(ctx: Context) -> JSONResponse:
    if ctx.db.ping():
        body: dict[str, object] = {"status": "ready", "database": ctx.db.dialect}
        if ctx.backlog is not None:
            # Still ready while intake sheds: lookups and pages are served as usual.
            body["backlog"] = ctx.backlog.describe()
        return JSONResponse(body)
    return JSONResponse(
        {
            "errors": [
                {
                    "field": "",
                    "code": "database_unreachable",
                    "message": "the database does not answer",
                }
            ]
        },
        status_code=503,
    )


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
