"""The job handlers, one module per feature, and what wires them in.

Each module registers its handlers beside the job kinds they run, and the subscribers that
enqueue its jobs when a domain event is recorded, on ``registry``. Importing this package
imports every job module, so the registry is complete. The app, the worker and the CLI call
``wire`` on the database they build, and give the worker ``default_handlers()``.
"""

from __future__ import annotations

# isort: off
# The order subscribers run in when an event is recorded, and so the order of the jobs they
# add: webhooks first, then the Gladly activity, auto-link, the warehouse.
from returnhub.jobs import webhooks, gladly, linking, warehouse, inbound

# isort: on
from returnhub.delivery.context import BatchHandler, Handler
from returnhub.jobs.registry import registry
from returnhub.services import events
from returnhub.settings import Settings
from returnhub.store.db import Database

__all__ = [
    "default_batch_handlers",
    "default_handlers",
    "gladly",
    "inbound",
    "linking",
    "registry",
    "warehouse",
    "webhooks",
    "wire",
]


def default_handlers() -> dict[str, Handler]:
    """Every job kind and the handler that runs it: what the worker runs by default."""
    return registry.handlers()


def default_batch_handlers() -> dict[str, BatchHandler]:
    """The kinds whose jobs the worker may run several at a time, in one transaction."""
    return registry.batch_handlers()


def wire(db: Database, settings: Settings) -> None:
    """Make every event recorded through ``db`` start the jobs its subscribers want, under
    ``settings``."""
    events.subscribe(db, registry.subscribers(settings))
