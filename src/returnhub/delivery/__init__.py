"""Durable delivery: the inbox of inbound events, the outbox of outbound jobs, and the worker."""
