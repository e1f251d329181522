"""returnhub: one ledger of a merchant's customers, orders and returns."""

__version__ = "0.1.0"
