"""Normalising customer contact details: emails lower-cased and validated, phones to E.164."""

from __future__ import annotations

from enum import StrEnum

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from returnhub.domain.errors import FieldError, InvalidInput


class PhoneType(StrEnum):
    MOBILE = "MOBILE"
    HOME = "HOME"
    OFFICE = "OFFICE"


def normalize_email(raw: str, field: str = "email") -> str:
    """Trimmed, lower-cased and syntactically valid. Deliverability is not checked (no DNS)."""
    candidate = raw.strip()
    try:
        result = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidInput(
            f"{raw!r} is not a valid email address",
            [FieldError(field, "invalid_email", f"not a valid email address: {exc}")],
        ) from None
    return result.normalized.lower()


def normalize_phone(raw: str, default_region: str = "US", field: str = "phone") -> str:
    """E.164 (``+14155550123``). National numbers are read in ``default_region``."""
    try:
        parsed = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(
            f"{raw!r} is not a valid phone number",
            [
                FieldError(
                    field,
                    "invalid_phone",
                    f"{raw!r} is not a valid phone number; use international format such as "
                    f"+14155550123 (national numbers are read as region {default_region})",
                )
            ],
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_tag(raw: str) -> str:
    return raw.strip().lower()
