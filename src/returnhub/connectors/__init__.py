"""One package per external system: clients, payload mapping, webhook verification."""
