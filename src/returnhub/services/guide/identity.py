"""Who the customer is: verification by the channel, by order number + ZIP, or by a claimed
email confirmed with a ZIP; wrong guesses counted and throttled across conversations.

Every failure answers with the same words, whether the order or email exists or not, so the
guide never tells a stranger what the ledger holds.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from returnhub.domain.contact import normalize_email
from returnhub.domain.errors import DomainError
from returnhub.domain.intents import Intent
from returnhub.domain.rules import Channel
from returnhub.services import routing, throttle
from returnhub.services.guide.answers import ASK_IDENTITY, ASK_ZIP, NOT_VERIFIED
from returnhub.services.guide.handoff import hand_off
from returnhub.services.guide.state import UNKNOWN_CLAIM, Awaiting, ConversationState
from returnhub.services.guide.turn import Action, Decision, Reply, Turn
from returnhub.services.guide.vocabulary import EMAIL, ORDER_NUMBER, ZIP_BARE, ZIP_LABELLED
from returnhub.settings import Settings
from returnhub.store.tables import Customer, Order

MAX_VERIFY_FAILURES = 3
Counted = list[tuple[str, throttle.Limit]]
# Past the free guesses a key waits a minute, doubling per wrong guess up to six hours; a key
# with no wrong guess for a day starts again.
GUESS_BLOCK_SECONDS, GUESS_BLOCK_MAX_SECONDS, GUESS_FORGET_SECONDS = 60.0, 6 * 3600.0, 86400.0


def identify_by_channel(
    session: Session,
    settings: Settings,
    channel: Channel,
    email: str,
    phone: str,
    state: ConversationState,
) -> int | None:
    """The customer the channel's own email or phone names (their key), if any.

    The email channel's sender is only a claim unless the help desk authenticated it: then the
    claim is remembered and a ZIP still decides.
    """
    trusted_email = channel is not Channel.EMAIL or settings.guide_trust_email_sender
    region = settings.default_phone_region
    if (email and trusted_email) or phone:
        ref = routing.CustomerRef(
            email=(email if trusted_email else "") or None, phone=phone or None
        )
        match = routing.identify(session, ref, region)
        if match is not None:
            state.verified_by = f"channel_{match.matched_by}"
            return match.key
    if email and not trusted_email:
        # An unauthenticated From: is a claim like a typed email: the ZIP still decides.
        claimed = routing.identify(session, routing.CustomerRef(email=email), region)
        state.claimed_customer = claimed.key if claimed else UNKNOWN_CLAIM
    return None


def _normal_zip(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()


def zip_matches(given: str, expected: str) -> bool:
    a, b = _normal_zip(given), _normal_zip(expected)
    if not a or not b:
        return False
    # US ZIP+4 against a five-digit ZIP (either way round).
    return a == b or (a.isdigit() and b.isdigit() and a[:5] == b[:5] and min(len(a), len(b)) == 5)


def find_zip(text: str, order_token: str | None) -> str | None:
    labelled = ZIP_LABELLED.search(text)
    if labelled:
        return labelled.group(1).strip()
    for found in ZIP_BARE.finditer(text):
        if order_token is None or found.group(1) != order_token:
            return found.group(1)
    return None


def find_order(session: Session, text: str) -> tuple[str | None, Order | None]:
    """The order number named in the text (as written) and the order, if one has that name."""
    found = ORDER_NUMBER.search(text)
    if found is None:
        return None, None
    token = found.group(1)
    candidates = list(session.scalars(select(Order).where(Order.name.in_([f"#{token}", token]))))
    # "#1234" is the usual spelling of order names; prefer it over a bare "1234".
    candidates.sort(key=lambda o: o.name != f"#{token}")
    return token, (candidates[0] if candidates else None)


def verify(turn: Turn) -> Customer | Decision:
    """Verify from this message (order + ZIP, or a claimed email then a ZIP), or ask."""
    state, session, text = turn.state, turn.session, turn.text
    email_match = EMAIL.search(text)
    order_token, order = find_order(session, text)
    zip_code = find_zip(text, order_token)
    claimed = state.claimed_customer

    if order_token is not None and zip_code is not None:
        return _verify_order_zip(turn, order_token, order, zip_code)
    if email_match is not None:
        return _claim_email(turn, email_match.group(0))
    if zip_code is not None and claimed is not None:
        return _verify_claim_zip(turn, claimed, zip_code)
    if order_token is not None and state.awaiting is Awaiting.IDENTITY:
        state.claimed_order = order_token
    if zip_code is not None and state.claimed_order:
        return _verify_claimed_order(turn, state.claimed_order, zip_code)
    if claimed is not None:
        return _ask_zip(turn)
    state.awaiting = Awaiting.IDENTITY
    turn.step("ask_identity")
    reply = Reply(
        turn.say(ASK_IDENTITY, "Please send your order email, or order number + ZIP."),
        turn.pending_or(Intent.UNKNOWN),
    )
    return Decision(Action.ASK_IDENTITY, "nothing verifies the customer yet", reply)


def _verify_order_zip(
    turn: Turn, order_token: str, order: Order | None, zip_code: str
) -> Customer | Decision:
    counted = _guess_keys(turn, f"guide-order:{order_token.lower()}")
    if _throttled(turn, counted):
        return _verify_failed(turn)
    claimed = turn.state.claimed_customer
    ok = (
        order is not None
        and zip_matches(zip_code, order.shipping_zip)
        and (claimed is None or claimed == order.customer_id)
    )
    turn.step("verify_order_zip", order=order_token, result=ok)
    if ok and order is not None:
        return _verified(turn, order.customer_id, "order_zip", order)
    return _verify_failed(turn, counted)


def _claim_email(turn: Turn, written: str) -> Decision:
    try:
        email = normalize_email(written, field="email")
    except DomainError:
        email = written.lower()
    found = routing.identify(turn.session, routing.CustomerRef(email=email), "US")
    # Remember the claim (or a sentinel): the next step asks for a ZIP either way, so the
    # reply does not reveal whether the email is known.
    turn.state.claimed_customer = found.key if found else UNKNOWN_CLAIM
    turn.state.awaiting = Awaiting.IDENTITY
    turn.step("claimed_email", known=found is not None)
    return _ask_zip(turn)


def _verify_claim_zip(turn: Turn, claimed: int, zip_code: str) -> Customer | Decision:
    counted = _guess_keys(turn, f"guide-customer:{claimed}" if claimed > 0 else None)
    if _throttled(turn, counted):
        return _verify_failed(turn)
    ok = False
    if claimed > 0:
        zips = turn.session.scalars(select(Order.shipping_zip).where(Order.customer_id == claimed))
        ok = any(zip_matches(zip_code, z) for z in zips)
    turn.step("verify_email_zip", result=ok)
    if ok:
        return _verified(turn, claimed, "email_zip", None)
    return _verify_failed(turn, counted)


def _verify_claimed_order(turn: Turn, order_number: str, zip_code: str) -> Customer | Decision:
    """The order number came in an earlier message, its ZIP in this one: verify them together,
    as if they had been written in one message."""
    turn.state.claimed_order = None
    original, turn.text = turn.text, f"#{order_number} {zip_code}"
    try:
        return verify(turn)
    finally:
        turn.text = original


def _ask_zip(turn: Turn) -> Decision:
    turn.state.awaiting = Awaiting.IDENTITY
    reply = Reply(turn.say(*ASK_ZIP), turn.pending_or(Intent.UNKNOWN))
    return Decision(
        Action.ASK_IDENTITY, "a claimed email needs the ZIP of one of its orders", reply
    )


def _guess_keys(turn: Turn, target: str | None) -> Counted:
    """The counters a ZIP guess is charged to: what is guessed at, and who is guessing."""
    s = turn.settings

    def limit(free: int) -> throttle.Limit:
        return throttle.Limit(
            free, GUESS_BLOCK_SECONDS, GUESS_BLOCK_MAX_SECONDS, GUESS_FORGET_SECONDS
        )

    counted: Counted = []
    if target is not None:
        counted.append((target, limit(s.guide_verify_failures_per_order)))
    if turn.state.client:
        counted.append(
            (f"guide-client:{turn.state.client}", limit(s.guide_verify_failures_per_client))
        )
    return counted


def _throttled(turn: Turn, counted: Counted) -> bool:
    """Whether a guess must be refused unchecked (its order or client made too many)."""
    wait = throttle.wait_seconds(turn.session, [key for key, _ in counted], turn.now)
    if wait:
        turn.step("verify_throttled", retry_after_seconds=int(wait))
    return bool(wait)


def _verified(turn: Turn, customer_key: int, how: str, order: Order | None) -> Customer:
    state = turn.state
    turn.conversation.customer_id = customer_key
    state.verified_by = how
    state.verify_failures = 0
    state.forget_claims()
    state.awaiting = None
    if order is not None:
        state.order_id = order.public_id
    customer = turn.session.get(Customer, customer_key)
    assert customer is not None
    turn.customer = customer
    return customer


def _verify_failed(turn: Turn, counted: Counted | None = None) -> Decision:
    """The same answer for a wrong guess and a refused one; ``counted`` are the counters a
    checked wrong guess is charged to."""
    for key, limit in counted or []:
        throttle.fail(turn.session, key, limit, turn.now)
    state = turn.state
    state.verify_failures += 1
    state.forget_claims()
    intent = turn.pending_or(Intent.UNKNOWN)
    if state.verify_failures >= MAX_VERIFY_FAILURES:
        state.awaiting = None
        return hand_off(turn, intent, "the customer could not be verified")
    state.awaiting = Awaiting.IDENTITY
    reply = Reply(
        turn.say(NOT_VERIFIED, "I couldn't verify that. Check order number + ZIP."), intent
    )
    return Decision(Action.ASK_IDENTITY, "the details did not verify", reply)
