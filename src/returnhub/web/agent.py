"""The agent workspace at ``/agent``: sign in with an API key, search, link, work returns.

Session: a cookie holding a random token (HttpOnly, SameSite=Lax) whose hash is a row of
``agent_sessions`` (services/agent_sessions.py): signing out, revoking the key, changing the
password, the idle lifetime and the absolute lifetime each end it for good. Each request
re-checks that the key is not revoked. Every POST carries the session's CSRF token in a hidden
field; the sign-in form uses a double-submit cookie because there is no session yet.

Failed sign-ins are counted per username and per client address (services/throttle.py). Every
database call and the password hash run on worker threads: the event loop only reads request
bodies, so a slow hash or a wait for the SQLite write lock never holds up other requests.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from returnhub.connectors.registry import configured_systems
from returnhub.domain.errors import DomainError, InvalidInput, NotFound
from returnhub.domain.lifecycle import ReturnAction, ReturnState, allowed_actions
from returnhub.domain.money import format_amount
from returnhub.runtime import AppContext, Context
from returnhub.services import (
    agent_sessions,
    allowlist,
    keys,
    linking,
    lookup,
    orders,
    return_links,
    returns,
    routing,
    search,
    throttle,
)
from returnhub.services.commands import ActionIn, AllowlistIn, NoteIn
from returnhub.services.keys import DEMO_PRINCIPAL
from returnhub.settings import DEMO_API_KEY
from returnhub.store.tables import ApiKey, Return
from returnhub.web import passwords
from returnhub.web.common import (
    domain_message,
    error_page,
    mac_of,
    page,
    read_form,
    same,
)

router = APIRouter(prefix="/agent", include_in_schema=False)

SESSION_COOKIE = "rh_agent"
LOGIN_CSRF_COOKIE = "rh_login_csrf"
USER_PREFIX = "user:"
AGENT_SCOPES = (keys.Scope.AGENT,)
# The only words ``/agent/login?error=`` can put on the sign-in page: anything else shows none.
LOGIN_ERRORS = {
    "password": "That username and password do not match.",
    "key": "That API key is unknown or revoked.",
    "scope": "That key has no agent scope; ask for an agent key.",
    "ended": "Your session has ended. Sign in again.",
}
# Sign-ins hashing at once, per process: half the CPUs, so a burst never takes them all.
SIGNIN_SLOTS = max(1, (os.cpu_count() or 2) // 2)
# A counter with no failure for an hour starts again.
FORGET_FAILURES_SECONDS = 3600
# What the workspace offers on a return; the state machine decides which apply right now.
WORKSPACE_ACTIONS = (
    ReturnAction.AUTHORIZE,
    ReturnAction.PROCESS,
    ReturnAction.FLAG,
    ReturnAction.CLOSE,
    ReturnAction.REJECT,
)
SYSTEM_ICONS = {"returnhub": "RH", "loop": "LP", "returnlogic": "RL", "shopify": "SH"}


@dataclass(frozen=True)
class Agent:
    principal: keys.Principal
    csrf: str
    token: str


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _address(request: Request) -> str:
    # The peer address, or the client's behind a proxy when uvicorn runs with --proxy-headers
    # and --forwarded-allow-ips naming that proxy (a header alone is never trusted).
    return request.client.host if request.client else "unknown"


def _lifetime(ctx: AppContext) -> agent_sessions.Lifetime:
    s = ctx.settings
    return agent_sessions.Lifetime(
        idle=timedelta(minutes=s.agent_session_idle_minutes),
        absolute=timedelta(hours=s.agent_session_max_hours),
    )


def _session(request: Request, ctx: AppContext) -> Agent | None:
    """The signed-in agent, or None. Blocking (database): call it on a worker thread."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    now = ctx.clock()
    with ctx.db.read() as session:
        live = agent_sessions.find(session, token, now, _lifetime(ctx))
        if live is None:
            return None
        principal = _principal_of(session, ctx, live)
    if principal is None or not principal.allows(*AGENT_SCOPES):
        return None
    if live.needs_touch:
        with ctx.db.write() as session:
            agent_sessions.touch(session, live.id, now)
    return Agent(principal, live.csrf, token)


def _principal_of(
    session: Any, ctx: AppContext, live: agent_sessions.Live
) -> keys.Principal | None:
    if live.principal.startswith(USER_PREFIX):
        username = live.principal.removeprefix(USER_PREFIX)
        stored = passwords.parse_users(ctx.settings.agent_users.get_secret_value()).get(username)
        # A changed password (or a removed user) ends the sessions made with the old one.
        if stored is None or not same(live.credential, _fingerprint(ctx, stored)):
            return None
        return _user_principal(username)
    if live.principal == DEMO_PRINCIPAL.key_id:
        return DEMO_PRINCIPAL if ctx.settings.is_demo else None
    key = session.scalar(
        select(ApiKey).where(ApiKey.public_id == live.principal, ApiKey.revoked_at.is_(None))
    )
    if key is None:
        return None
    return keys.Principal(
        key.public_id, key.name or key.prefix, frozenset(keys.Scope(s) for s in key.scopes)
    )


def _fingerprint(ctx: AppContext, stored_hash: str) -> str:
    return mac_of(ctx.settings, "agent-password/v1", stored_hash)[:22]


def _user_principal(username: str) -> keys.Principal:
    return keys.Principal(f"{USER_PREFIX}{username}", username, frozenset({keys.Scope.AGENT}))


NOTICE_PURPOSE = "agent-notice/v1"


def _back(ctx: AppContext, path: str, notice: str) -> Response:
    """Redirect after a POST with a confirmation. The notice is signed, so nobody can put their
    own words on these pages through a crafted link."""
    sig = mac_of(ctx.settings, NOTICE_PURPOSE, notice)[:22]
    return RedirectResponse(f"{path}?{urlencode({'notice': notice, 'sig': sig})}", 303)


def _notice(ctx: AppContext, notice: str, sig: str) -> str:
    return notice if same(sig, mac_of(ctx.settings, NOTICE_PURPOSE, notice)[:22]) else ""


def _login_redirect() -> Response:
    return RedirectResponse("/agent/login", status_code=303)


def _csrf_refused(request: Request) -> Response:
    return error_page(
        request,
        403,
        "The form could not be verified",
        "The security token was missing or wrong. Reload the page and try again.",
    )


Work = Callable[[Agent, dict[str, str]], Response]


async def _posted(request: Request, ctx: AppContext, work: Work) -> Response:
    """Run ``work`` for the signed-in agent with the form of a POST whose CSRF token matches.

    The session is checked before the body is read, and both it and ``work`` run on worker
    threads: the loop only waits for the body.
    """
    agent = await run_in_threadpool(_session, request, ctx)
    if agent is None:
        return _login_redirect()
    form = await read_form(request)
    if not same(form.get("csrf", ""), agent.csrf):
        return _csrf_refused(request)
    return await run_in_threadpool(work, agent, form)


def _render(
    request: Request, agent: Agent, name: str, context: dict[str, Any], status: int = 200
) -> Response:
    return page(
        request,
        name,
        {"agent": agent, "csrf": agent.csrf, "icons": SYSTEM_ICONS, **context},
        status,
    )


# ---- sign in -----------------------------------------------------------------------------------


def _limits(ctx: AppContext) -> tuple[throttle.Limit, throttle.Limit]:
    """Per username, per client address."""
    s = ctx.settings
    user = throttle.Limit(
        s.agent_signin_free_failures,
        1.0,
        s.agent_signin_max_delay_seconds,
        FORGET_FAILURES_SECONDS,
    )
    address = throttle.Limit(
        s.agent_signin_address_free_failures,
        1.0,
        s.agent_signin_max_delay_seconds,
        FORGET_FAILURES_SECONDS,
    )
    return user, address


def _login_page(request: Request, ctx: AppContext, message: str, status: int) -> Response:
    token = secrets.token_urlsafe(24)
    s = ctx.settings
    response = page(
        request,
        "agent_login.html",
        {
            "csrf": token,
            "error": message,
            "demo": s.is_demo,
            "users": bool(s.agent_users.get_secret_value().strip()),
            "free_failures": s.agent_signin_free_failures,
            "address_free_failures": s.agent_signin_address_free_failures,
            "max_delay": throttle.retry_text(s.agent_signin_max_delay_seconds),
        },
        status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/agent",
    )
    return response


@router.get("/login")
def login_form(request: Request, ctx: Context, error: str = "") -> Response:
    message = LOGIN_ERRORS.get(error, "")
    return _login_page(request, ctx, message, 401 if message else 200)


@router.post("/login")
async def login(request: Request, ctx: Context) -> Response:
    form = await read_form(request)
    if not same(form.get("csrf", ""), request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        return _csrf_refused(request)
    # The password hash and every database call run on a worker thread, and only a few sign-ins
    # at a time: the others wait here without holding a thread, and a burst leaves the CPU
    # (and the thread pool) to the rest of the server.
    async with _signin_slots(request):
        return await run_in_threadpool(_sign_in, request, ctx, form)


def _signin_slots(request: Request) -> asyncio.Semaphore:
    slots: asyncio.Semaphore | None = getattr(request.app.state, "signin_slots", None)
    if slots is None:
        slots = asyncio.Semaphore(SIGNIN_SLOTS)
        request.app.state.signin_slots = slots
    return slots


def _sign_in(request: Request, ctx: AppContext, form: dict[str, str]) -> Response:
    now = ctx.clock()
    raw = form.get("api_key", "").strip()
    username = form.get("username", "").strip()[:200]
    user_limit, address_limit = _limits(ctx)
    counted = [(f"signin-address:{_address(request)}", address_limit)]
    if username:
        counted.append((f"signin-user:{username}", user_limit))
    with ctx.db.read() as session:
        wait = throttle.wait_seconds(session, [key for key, _ in counted], now)
    if wait:
        # Refused unchecked: the hash is not even run, so a blocked guess learns nothing.
        response = _login_page(
            request,
            ctx,
            f"Too many failed sign-ins. Try again in {throttle.retry_text(wait)}.",
            429,
        )
        response.headers["Retry-After"] = str(int(-(-wait // 1)))
        return response
    principal: keys.Principal | None = None
    credential = ""
    failure = ""
    if username:
        users = passwords.parse_users(ctx.settings.agent_users.get_secret_value())
        stored = passwords.check(users, username, form.get("password", ""))
        if stored is None:
            failure = "password"
        else:
            principal = _user_principal(username)
            credential = _fingerprint(ctx, stored)
    elif raw and ctx.settings.is_demo and hmac.compare_digest(raw.encode(), DEMO_API_KEY.encode()):
        principal = DEMO_PRINCIPAL
    elif raw:
        with ctx.db.read() as session:
            principal = keys.authenticate(session, raw)
    if principal is None:
        failure = failure or "key"
    if failure:
        with ctx.db.write() as session:
            for key, limit in counted:
                throttle.fail(session, key, limit, now)
        return login_form(request, ctx, failure)
    assert principal is not None
    if not principal.allows(*AGENT_SCOPES):
        return login_form(request, ctx, "scope")
    with ctx.db.write() as session:
        if username:
            throttle.clear(session, f"signin-user:{username}")
        opened = agent_sessions.open_session(
            session, principal.key_id, credential, now, _lifetime(ctx)
        )
    response = RedirectResponse("/agent", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        max_age=ctx.settings.agent_session_max_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/agent")
    return response


@router.post("/logout")
async def logout(request: Request, ctx: Context) -> Response:
    def work(agent: Agent, _: dict[str, str]) -> Response:
        with ctx.db.write() as session:
            agent_sessions.end(session, agent.token, ctx.clock())
        response = _login_redirect()
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return await _posted(request, ctx, work)


# ---- search ------------------------------------------------------------------------------------


@dataclass
class SearchView:
    rows: list[search.SearchRow]
    errors: list[search.SystemFailure]
    searched: list[str]
    problem: str = ""


def _search(
    ctx: AppContext, by: str, term: str, where: str, customer_id: str | None = None
) -> SearchView:
    term = term.strip()
    if by == "phone":
        terms = search.SearchTerms(phone=term)
    elif by == "order":
        terms = search.SearchTerms(order_number=term)
    else:
        terms = search.SearchTerms(email=term)
    if where == "all":
        choice: search.SystemChoice = search.AllSystems()
    elif where == "all-unlinked":
        choice = search.UnlinkedSystems(customer_id)
    else:
        choice = search.NamedSystems((where,))
    try:
        result = search.search(ctx.settings, ctx.db, ctx.http, terms, choice)
    except search.UnknownSystems:
        return SearchView([], [], [], f"unknown system {where!r}")
    except InvalidInput as exc:  # an unreadable phone number
        return SearchView([], [], [], domain_message(exc))
    if not result.chosen:
        return SearchView([], [], [], "no unlinked external systems are connected")
    return SearchView(result.rows, result.errors, result.searched)


def _systems(ctx: AppContext) -> list[str]:
    return list(configured_systems(ctx.settings, ctx.db, ctx.http))


@router.get("")
def home(
    request: Request, ctx: Context, q: str = "", by: str = "email", where: str = "all"
) -> Response:
    agent = _session(request, ctx)
    if agent is None:
        return _login_redirect()
    view = _search(ctx, by, q, where) if q.strip() else None
    return _render(
        request,
        agent,
        "agent_search.html",
        {
            "q": q,
            "by": by,
            "where": where,
            "where_choices": [("all", "All systems"), *((s, s) for s in _systems(ctx))],
            "view": view,
        },
    )


# ---- customer ----------------------------------------------------------------------------------


def _customer_context(ctx: AppContext, customer_id: str) -> dict[str, Any]:
    now = ctx.clock()
    with ctx.db.read() as session:
        customer = lookup.get_customer(session, customer_id)
        links = linking.links_of(session, customer)
        customer_orders = orders.list_orders(session, customer_id, limit=20)
        customer_returns = returns.list_returns(session, customer_id=customer_id, limit=50)
        pulled = linking.pulled_returns(session, customer)
        decision: Any = None
        decision_error = ""
        try:
            rules = routing.active_rules(ctx.settings)
            routed = routing.route_contact(
                session,
                rules,
                None,
                routing.CustomerRef(customer_id=customer_id),
                now,
                ctx.settings.default_phone_region,
            )
            decision = routed.decision
        except routing.RulesUnavailable as exc:
            decision_error = str(exc)
        session.expunge_all()
    return {
        "customer": customer,
        "links": links,
        "orders": customer_orders,
        "returns": customer_returns,
        "pulled": pulled,
        "decision": decision,
        "decision_error": decision_error,
    }


@router.get("/customers/{customer_id}")
def customer_page(
    customer_id: str,
    request: Request,
    ctx: Context,
    q: str = "",
    by: str = "email",
    where: str = "all-unlinked",
    notice: str = "",
    sig: str = "",
) -> Response:
    agent = _session(request, ctx)
    if agent is None:
        return _login_redirect()
    try:
        context = _customer_context(ctx, customer_id)
    except NotFound:
        return error_page(request, 404, "Customer not found", f"No customer {customer_id}.")
    view = _search(ctx, by, q, where, customer_id) if q.strip() else None
    return _render(
        request,
        agent,
        "agent_customer.html",
        {
            **context,
            "q": q,
            "by": by,
            "where": where,
            "where_choices": [
                ("all-unlinked", "All unlinked external systems"),
                *((s, s) for s in _systems(ctx) if s != linking.LEDGER),
            ],
            "view": view,
            "notice": _notice(ctx, notice, sig),
        },
    )


@router.get("/customers/{customer_id}/returns")
def customer_returns(customer_id: str, request: Request, ctx: Context) -> Response:
    """The returns list alone, polled by the customer page so changes show without reload."""
    agent = _session(request, ctx)
    if agent is None:
        return Response(status_code=401)
    with ctx.db.read() as session:
        try:
            rows = returns.list_returns(session, customer_id=customer_id, limit=50)
            pulled = linking.pulled_returns(session, lookup.get_customer(session, customer_id))
        except NotFound:
            return Response(status_code=404)
        return _render(
            request,
            agent,
            "_returns.html",
            {"returns": rows, "pulled": pulled, "customer_id": customer_id},
        )


@router.post("/customers/{customer_id}/links")
async def link_customer(customer_id: str, request: Request, ctx: Context) -> Response:
    def work(agent: Agent, form: dict[str, str]) -> Response:
        known = set(configured_systems(ctx.settings, ctx.db, ctx.http))
        system, external_id = form.get("system", ""), form.get("external_id", "")
        try:
            with ctx.db.write() as session:
                linking.link(
                    session,
                    customer_id,
                    system,
                    external_id,
                    how="manual",
                    actor=agent.principal.name,
                    known_systems=known,
                )
        except DomainError as exc:
            return error_page(request, 409, "Could not link", domain_message(exc))
        return _back(
            ctx, f"/agent/customers/{customer_id}", f"Linked {system} profile {external_id}"
        )

    return await _posted(request, ctx, work)


@router.post("/customers/{customer_id}/unlink")
async def unlink_customer(customer_id: str, request: Request, ctx: Context) -> Response:
    def work(agent: Agent, _: dict[str, str]) -> Response:
        try:
            with ctx.db.write() as session:
                linking.unlink_all(session, customer_id, agent.principal.name)
        except DomainError as exc:
            return error_page(request, 404, "Could not unlink", domain_message(exc))
        return _back(ctx, f"/agent/customers/{customer_id}", "Unlinked from every system")

    return await _posted(request, ctx, work)


# ---- orders ------------------------------------------------------------------------------------


@router.get("/orders/{order_id}")
def order_page(order_id: str, request: Request, ctx: Context) -> Response:
    """One order: its lines, fulfilments and returns (Gladly's ORDER cards link here)."""
    agent = _session(request, ctx)
    if agent is None:
        return _login_redirect()
    with ctx.db.read() as session:
        try:
            order = orders.get_order(session, order_id)
        except NotFound:
            return error_page(request, 404, "Order not found", f"No order {order_id}.")
        return _render(
            request,
            agent,
            "agent_order.html",
            {
                "o": order,
                "total": sum(line.unit_price * line.quantity for line in order.lines),
                "returned": orders.returned_quantities(session, order),
                "order_returns": returns.list_returns(session, order_id=order_id, limit=50),
                # Each currency's own minor unit (KWD has three decimals, JPY none).
                "amount": format_amount,
            },
        )


@router.post("/orders/{order_id}/return-link")
async def make_return_link(order_id: str, request: Request, ctx: Context) -> Response:
    def work(agent: Agent, form: dict[str, str]) -> Response:
        try:
            with ctx.db.read() as session:
                link = return_links.create(
                    session, ctx.settings, order_id, form.get("gift") == "on", ctx.clock()
                )
        except DomainError as exc:
            return error_page(request, 404, "Could not create the link", domain_message(exc))
        return _render(request, agent, "_return_link.html", {"link": link})

    return await _posted(request, ctx, work)


@router.post("/orders/{order_id}/exception")
async def grant_exception(order_id: str, request: Request, ctx: Context) -> Response:
    def work(agent: Agent, form: dict[str, str]) -> Response:
        try:
            with ctx.db.write() as session:
                order = orders.get_order(session, order_id)
                customer_id, order_name = order.customer.public_id, order.name
                allowlist.add_entry(
                    session,
                    AllowlistIn(
                        kind="order",
                        value=order.name,
                        reason=form.get("reason", "")[:2000] or "exception granted by an agent",
                    ),
                    agent.principal.name,
                )
        except DomainError as exc:
            return error_page(request, 409, "Could not grant the exception", domain_message(exc))
        return _back(
            ctx, f"/agent/customers/{customer_id}", f"Exception granted for order {order_name}"
        )

    return await _posted(request, ctx, work)


# ---- returns -----------------------------------------------------------------------------------


def _return_context(ret: Return) -> dict[str, Any]:
    state = ReturnState(ret.state)
    legal = set(allowed_actions(state))
    return {
        "ret": ret,
        "actions": [a.value for a in WORKSPACE_ACTIONS if a.value in legal],
        "timeline": sorted(ret.timeline, key=lambda e: (e.created_at, e.id), reverse=True),
        "notes": sorted(ret.notes, key=lambda n: (n.created_at, n.id), reverse=True),
    }


@router.get("/returns/{return_id}")
def return_page(
    return_id: str, request: Request, ctx: Context, notice: str = "", sig: str = ""
) -> Response:
    agent = _session(request, ctx)
    if agent is None:
        return _login_redirect()
    with ctx.db.read() as session:
        try:
            ret = returns.get_return(session, return_id)
        except NotFound:
            return error_page(request, 404, "Return not found", f"No return {return_id}.")
        return _render(
            request,
            agent,
            "agent_return.html",
            {**_return_context(ret), "notice": _notice(ctx, notice, sig)},
        )


@router.get("/returns/{return_id}/live")
def return_live(return_id: str, request: Request, ctx: Context) -> Response:
    agent = _session(request, ctx)
    if agent is None:
        return Response(status_code=401)
    with ctx.db.read() as session:
        try:
            ret = returns.get_return(session, return_id)
        except NotFound:
            return Response(status_code=404)
        return _render(request, agent, "_return_live.html", _return_context(ret))


@router.post("/returns/{return_id}/notes")
async def add_note(return_id: str, request: Request, ctx: Context) -> Response:
    def work(agent: Agent, form: dict[str, str]) -> Response:
        body = form.get("body", "").strip()
        if not body:
            return error_page(request, 422, "The note is empty", "Write something first.")
        try:
            with ctx.db.write() as session:
                returns.add_note(
                    session, return_id, NoteIn(body=body[:10_000]), agent.principal.name
                )
        except DomainError as exc:
            return error_page(request, 404, "Could not add the note", domain_message(exc))
        return _back(ctx, f"/agent/returns/{return_id}", "Note added")

    return await _posted(request, ctx, work)


@router.post("/returns/{return_id}/actions/{action}")
async def act(return_id: str, action: str, request: Request, ctx: Context) -> Response:
    def work(agent: Agent, form: dict[str, str]) -> Response:
        try:
            chosen = ReturnAction(action)
        except ValueError:
            return error_page(request, 404, "Unknown action", f"There is no action {action!r}.")
        try:
            with ctx.db.write() as session:
                returns.apply_action(
                    session,
                    return_id,
                    chosen,
                    ActionIn(message=form.get("message", "")[:2000]),
                    agent.principal.name,
                    ctx.clock(),
                )
        except DomainError as exc:
            return error_page(
                request, 409, f"Could not {chosen.value} this return", domain_message(exc)
            )
        return _back(ctx, f"/agent/returns/{return_id}", f"Done: {chosen.value}")

    return await _posted(request, ctx, work)
