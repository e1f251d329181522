"""Money is integer minor units plus an ISO 4217 code; never floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

# Currencies whose minor unit is not 1/100. Everything else we meet in apparel retail uses cents.
MINOR_UNIT_EXPONENT = {"JPY": 0, "KRW": 0, "CLP": 0, "ISK": 0, "KWD": 3, "BHD": 3, "JOD": 3}
CURRENCY_SYMBOLS = {"USD": "$", "CAD": "CA$", "AUD": "A$", "EUR": "€", "GBP": "£", "JPY": "¥"}


@dataclass(frozen=True, order=True)
class Money:
    amount: int
    currency: str

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        return Money(self.amount * factor, self.currency)

    def format(self) -> str:
        """Human form, e.g. ``$12.50`` (used in notes and replies, never for arithmetic)."""
        return format_amount(self.amount, self.currency)


def format_amount(amount: int, currency: str) -> str:
    """``Money(amount, currency).format()`` without building a Money: Gladly lookups format
    a few dozen amounts per answer."""
    exponent = MINOR_UNIT_EXPONENT.get(currency, 2)
    symbol = CURRENCY_SYMBOLS.get(currency) or currency + " "
    sign = "-" if amount < 0 else ""
    if exponent == 0:
        return f"{sign}{symbol}{abs(amount):,}"
    whole, frac = divmod(abs(amount), 10**exponent)
    return f"{sign}{symbol}{whole:,}.{frac:0{exponent}d}"


def minor_units(amount: str, currency: str, *, round_excess: bool = False) -> int:
    """A decimal amount in major units (``"12.50"``, as APIs send money) → integer minor units
    of ``currency`` (cents, yen, fils). ValueError when it is not a decimal, or (unless
    ``round_excess``, which rounds half to even) when it has more precision than the
    currency's minor unit: rounding would invent or lose money where the source is exact."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise ValueError(f"{amount!r} is not a decimal amount") from None
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not a decimal amount")
    scaled = value.scaleb(MINOR_UNIT_EXPONENT.get(currency.upper(), 2))
    whole = scaled.to_integral_value(rounding=ROUND_HALF_EVEN)
    if scaled != whole and not round_excess:
        raise ValueError(f"{amount!r} has more decimals than {currency} allows")
    return int(whole)
