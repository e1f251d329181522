"""Customers: create, update, fetch and search by email, phone or name."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from returnhub.domain.contact import normalize_email, normalize_phone, normalize_tag
from returnhub.domain.errors import Conflict, DomainError, FieldError, InvalidInput
from returnhub.domain.events import EventType
from returnhub.domain.ids import Prefix, new_id
from returnhub.services.commands import CustomerCreate, CustomerUpdate, PhoneIn
from returnhub.services.events import record_event
from returnhub.services.lookup import get_customer, name_contains
from returnhub.store.tables import Customer, CustomerEmail, CustomerPhone
from returnhub.store.types import utcnow

MAX_SEARCH_RESULTS = 100


def _normalized_emails(raw: Sequence[str], prefix: str = "emails") -> list[str]:
    errors: list[FieldError] = []
    emails: list[str] = []
    for i, value in enumerate(raw):
        try:
            email = normalize_email(value, field=f"{prefix}.{i}")
        except DomainError as exc:
            errors.extend(exc.errors)
            continue
        if email not in emails:
            emails.append(email)
    if errors:
        raise InvalidInput("invalid emails", errors)
    return emails


def _normalized_phones(
    raw: Sequence[PhoneIn], region: str, prefix: str = "phones"
) -> list[tuple[str, str]]:
    errors: list[FieldError] = []
    phones: list[tuple[str, str]] = []
    for i, phone in enumerate(raw):
        try:
            number = normalize_phone(phone.number, region, field=f"{prefix}.{i}.number")
        except DomainError as exc:
            errors.extend(exc.errors)
            continue
        if number not in (p[0] for p in phones):
            phones.append((number, phone.type.value))
    if errors:
        raise InvalidInput("invalid phones", errors)
    return phones


def _normalized_contacts(
    emails: Sequence[str], phones: Sequence[PhoneIn], region: str, prefix: str = ""
) -> tuple[list[str], list[tuple[str, str]]]:
    """Both lists normalised, or one InvalidInput naming every bad entry of either."""
    errors: list[FieldError] = []
    good_emails: list[str] = []
    good_phones: list[tuple[str, str]] = []
    try:
        good_emails = _normalized_emails(emails, f"{prefix}emails")
    except InvalidInput as exc:
        errors.extend(exc.errors)
    try:
        good_phones = _normalized_phones(phones, region, f"{prefix}phones")
    except InvalidInput as exc:
        errors.extend(exc.errors)
    if errors:
        raise InvalidInput("invalid contact details", errors)
    return good_emails, good_phones


def _check_emails_free(session: Session, emails: list[str], owner: str | None) -> None:
    if not emails:
        return
    taken = session.execute(
        select(CustomerEmail.email, Customer.public_id)
        .join(Customer)
        .where(CustomerEmail.email.in_(emails))
    ).all()
    clashes = [(email, cid) for email, cid in taken if cid != owner]
    if clashes:
        raise Conflict(
            "email already belongs to another customer",
            [
                FieldError(
                    f"emails.{emails.index(email)}",
                    "email_taken",
                    f"{email} already belongs to customer {cid}; update that customer instead",
                    {"customer_id": cid},
                )
                for email, cid in clashes
            ],
        )


def create_customer(
    session: Session, data: CustomerCreate, phone_region: str = "US", prefix: str = ""
) -> Customer:
    p = f"{prefix}." if prefix else ""
    emails, phones = _normalized_contacts(data.emails, data.phones, phone_region, p)
    _check_emails_free(session, emails, None)
    customer = Customer(
        public_id=new_id(Prefix.CUSTOMER),
        name=data.name,
        name_search=data.name.lower(),
        tags=sorted({normalize_tag(t) for t in data.tags}),
        emails=[CustomerEmail(email=e, position=i) for i, e in enumerate(emails)],
        phones=[CustomerPhone(number=n, type=t, position=i) for i, (n, t) in enumerate(phones)],
    )
    session.add(customer)
    session.flush()
    record_event(session, EventType.CUSTOMER_CREATED, customer.public_id, {"name": customer.name})
    return customer


def find_customer_by_email(session: Session, email: str) -> Customer | None:
    return session.scalar(
        select(Customer).join(CustomerEmail).where(CustomerEmail.email == email.strip().lower())
    )


def update_customer(
    session: Session, public_id: str, data: CustomerUpdate, phone_region: str = "US"
) -> Customer:
    customer = get_customer(session, public_id)
    changed: list[str] = []
    if data.name is not None:
        customer.name = data.name
        customer.name_search = data.name.lower()
        changed.append("name")
    emails, phones = _normalized_contacts(data.emails or [], data.phones or [], phone_region)
    if data.emails is not None:
        _check_emails_free(session, emails, customer.public_id)
        customer.emails.clear()
        session.flush()
        customer.emails.extend(CustomerEmail(email=e, position=i) for i, e in enumerate(emails))
        changed.append("emails")
    if data.phones is not None:
        customer.phones.clear()
        session.flush()
        customer.phones.extend(
            CustomerPhone(number=n, type=t, position=i) for i, (n, t) in enumerate(phones)
        )
        changed.append("phones")
    if data.tags is not None:
        customer.tags = sorted({normalize_tag(t) for t in data.tags})
        changed.append("tags")
    if not changed:
        raise InvalidInput(
            "nothing to update",
            [FieldError("", "empty_update", "give at least one of name, emails, phones, tags")],
        )
    # Contacts live in child tables, so touch the row ourselves: onupdate only sees own columns.
    customer.updated_at = utcnow()
    session.flush()
    record_event(session, EventType.CUSTOMER_UPDATED, customer.public_id, {"changed": changed})
    return customer


def search_customers(
    session: Session,
    *,
    email: str | None = None,
    phone: str | None = None,
    name: str | None = None,
    phone_region: str = "US",
    limit: int = 25,
) -> list[Customer]:
    """Exact email, exact phone (any format, compared in E.164) or name substring; ANDed.

    The REST list's filter, where every term given must hold; searching by any identifier
    (help desks, the ledger as a search system) is customer_lookup.matching_ids."""
    if not (email or phone or name):
        raise InvalidInput(
            "no search term",
            [FieldError("", "missing_query", "give at least one of email, phone or name")],
        )
    query = select(Customer).options(selectinload(Customer.emails), selectinload(Customer.phones))
    if email:
        query = query.where(
            Customer.id.in_(
                select(CustomerEmail.customer_id).where(
                    CustomerEmail.email == email.strip().lower()
                )
            )
        )
    if phone:
        number = normalize_phone(phone, phone_region, field="phone")
        query = query.where(
            Customer.id.in_(select(CustomerPhone.customer_id).where(CustomerPhone.number == number))
        )
    if name:
        query = query.where(name_contains(name))
    query = query.order_by(Customer.id).limit(min(limit, MAX_SEARCH_RESULTS))
    return list(session.scalars(query))
