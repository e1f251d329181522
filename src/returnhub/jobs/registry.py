"""The registry every job module records its handlers and event subscribers in.

Shaped like procrastinate's ``@app.task``: a handler is registered with a decorator beside the
job kind it runs, so finding a kind finds its handler. ``returnhub.jobs`` imports every job
module, which fills the one ``registry`` below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from returnhub.delivery.context import BatchHandler, Handler
from returnhub.services.events import EventSubscriber
from returnhub.settings import Settings
from returnhub.store.tables import DomainEvent

SettingsSubscriber = Callable[[Session, DomainEvent, Settings], object]
"""Decides, inside the transaction that records a domain event, whether the event starts a
job; given the settings the app or worker was built with."""

H = TypeVar("H", bound=Handler)
B = TypeVar("B", bound=BatchHandler)
S = TypeVar("S", bound=SettingsSubscriber)
F = TypeVar("F")
G = TypeVar("G")


class JobRegistry:
    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._batch_handlers: dict[str, BatchHandler] = {}
        self._subscribers: list[SettingsSubscriber] = []

    def handler(self, kind: str) -> Callable[[H], H]:
        """Register the function that runs one job of ``kind``."""
        return _registering(self._handlers, kind, "a handler")

    def batch_handler(self, kind: str) -> Callable[[B], B]:
        """Register the function that may run several jobs of ``kind`` in one transaction."""
        return _registering(self._batch_handlers, kind, "a batch handler")

    def on_event(self, subscriber: S) -> S:
        """Register a subscriber to every recorded domain event; they run in the order they
        were registered (the order the job modules are imported in ``returnhub.jobs``)."""
        self._subscribers.append(subscriber)
        return subscriber

    def handlers(self) -> dict[str, Handler]:
        return dict(self._handlers)

    def batch_handlers(self) -> dict[str, BatchHandler]:
        return dict(self._batch_handlers)

    def subscribers(self, settings: Settings) -> list[EventSubscriber]:
        """The subscribers, each bound to ``settings``."""
        return [_bound(subscriber, settings) for subscriber in self._subscribers]


def _registering(table: dict[str, F], kind: str, what: str) -> Callable[[G], G]:
    def register(function: G) -> G:
        if kind in table:
            raise ValueError(f"job kind {kind!r} has {what} already")
        table[kind] = function  # type: ignore[assignment]  # G is a narrower F
        return function

    return register


def _bound(subscriber: SettingsSubscriber, settings: Settings) -> EventSubscriber:
    def on_event(session: Session, event: DomainEvent) -> object:
        return subscriber(session, event, settings)

    return on_event


registry = JobRegistry()
