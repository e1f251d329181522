from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from returnhub.api.deps import Context

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable; how far behind the worker is")
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


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    rendered: Response = request.app.state.metrics.render()
    return rendered
