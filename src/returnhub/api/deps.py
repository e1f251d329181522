"""Request-scoped dependencies of the REST API: the caller's key and the scopes it needs."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from returnhub.runtime import AppContext, Context
from returnhub.services.keys import DEMO_PRINCIPAL, Principal, Scope, authenticate
from returnhub.settings import DEMO_API_KEY

# Declared as a FastAPI security dependency so that the OpenAPI document names the scheme on
# every operation that needs a key; auto_error off, since our 401 says how to get a key.
BEARER = HTTPBearer(
    scheme_name="apiKey",
    description="An API key: `Authorization: Bearer <key>` (create one with "
    "`returnhub keys create --scope agent`). Each operation's description names the scopes "
    "it needs; a key with the admin scope may call every operation.",
    auto_error=False,
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


def _principal(credentials: HTTPAuthorizationCredentials | None, ctx: AppContext) -> Principal:
    if credentials is None:
        raise HTTPException(
            401,
            "missing API key: send 'Authorization: Bearer <key>' (create one with "
            "`returnhub keys create --scope agent`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = credentials.credentials
    if ctx.settings.is_demo and hmac.compare_digest(token.encode(), DEMO_API_KEY.encode()):
        return DEMO_PRINCIPAL
    with ctx.db.read() as session:
        principal = authenticate(session, token)
    if principal is None:
        raise HTTPException(
            401, "the API key is unknown or revoked", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


# Where the request guard leaves the principal it authenticated (see api/request_guard.py).
PRINCIPAL_STATE = "returnhub_principal"


class Require:
    """A dependency that authenticates the caller and checks it holds one of ``scopes`` (or
    admin). ``scope_note`` is what the OpenAPI document says the operation needs."""

    def __init__(self, *scopes: Scope) -> None:
        self.scopes = scopes
        self.needed = " or ".join(s.value for s in (Scope.ADMIN, *scopes))
        self.scope_note = f"Scopes: {', '.join(s.value for s in (Scope.ADMIN, *scopes))} (any one)."

    def __call__(self, request: Request, ctx: Context, credentials: Credentials) -> Principal:
        # The request guard already authenticated a write's key before its body was read.
        held = request.scope.get("state", {}).get(PRINCIPAL_STATE)
        principal = held if isinstance(held, Principal) else _principal(credentials, ctx)
        if not principal.allows(*self.scopes):
            raise HTTPException(
                403,
                f"this key has scopes {sorted(s.value for s in principal.scopes)}; "
                f"this endpoint needs {self.needed}",
            )
        return principal


def require(*scopes: Scope) -> Require:
    return Require(*scopes)


READ_SCOPES = (Scope.AGENT, Scope.HELPDESK)
Reader = Annotated[Principal, Depends(require(*READ_SCOPES))]
Writer = Annotated[Principal, Depends(require(Scope.AGENT))]
NoteWriter = Annotated[Principal, Depends(require(Scope.AGENT, Scope.HELPDESK))]
Admin = Annotated[Principal, Depends(require())]
