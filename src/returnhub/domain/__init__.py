"""Pure logic: no I/O, no database, no HTTP. Everything here is testable with plain values."""
