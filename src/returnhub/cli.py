"""The ``returnhub`` command: serve, migrate, demo, keys."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from returnhub.domain.errors import DomainError
from returnhub.settings import ConfigurationError, get_settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade

app = typer.Typer(no_args_is_help=True, help="returnhub: the self-hosted returns hub.")
keys_app = typer.Typer(no_args_is_help=True, help="Manage API keys.")
app.add_typer(keys_app, name="keys")
outbox_app = typer.Typer(no_args_is_help=True, help="Inspect and replay outbox jobs.")
app.add_typer(outbox_app, name="outbox")
webhooks_app = typer.Typer(no_args_is_help=True, help="Manage webhook subscriptions to our events.")
app.add_typer(webhooks_app, name="webhooks")

# Everything human goes to stderr so stdout stays clean for values scripts capture (keys).
err = Console(stderr=True)


def _database() -> Database:
    settings = get_settings()
    try:
        settings.check_secrets()
    except ConfigurationError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    return Database.from_settings(settings)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    db = _database()
    upgrade(db.engine)
    err.print(f"schema up to date ({db.dialect})")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="API processes")] = 1,
) -> None:
    """Serve the API (migrates an embedded SQLite database first)."""
    db = _database()
    if db.dialect == "sqlite":
        upgrade(db.engine)
    db.dispose()
    uvicorn.run(
        "returnhub.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=get_settings().log_level.lower(),
    )


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=1, help="how many customers")] = 500,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same data")] = 7,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="do nothing (exit 0) when data already exists")
    ] = False,
) -> None:
    """Load a realistic apparel dataset into an empty database."""
    from returnhub.demo import DatabaseNotEmpty, load_demo

    db = _database()
    upgrade(db.engine)
    try:
        summary = load_demo(db, customers=customers, seed=seed, console=err)
    except DatabaseNotEmpty as exc:
        if if_empty:
            err.print(f"demo data skipped: {exc}")
            return
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    err.print(summary.describe())


@keys_app.command("create")
def keys_create(
    scope: Annotated[
        list[str], typer.Option("--scope", help="admin, agent, helpdesk or warehouse; repeatable")
    ],
    name: Annotated[str, typer.Option(help="who or what uses the key")] = "",
) -> None:
    """Create an API key and print it alone on stdout (it is shown only this once)."""
    from returnhub.services.keys import create_key

    db = _database()
    upgrade(db.engine)
    try:
        with db.write() as session:
            key, raw = create_key(session, scope, name)
            key_id = key.public_id
    except DomainError as exc:
        err.print(f"[red]{exc.errors[0].message}[/red]")
        raise typer.Exit(2) from None
    err.print(
        f"created {key_id} with scopes {', '.join(scope)}; store it now, it is not shown again"
    )
    sys.stdout.write(raw + "\n")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids, names, scopes; never the secrets)."""
    from returnhub.services.keys import list_keys

    db = _database()
    with db.read() as session:
        for key in list_keys(session):
            state = "revoked" if key.revoked_at else "active"
            typer.echo(
                f"{key.public_id}\t{key.prefix}…\t{','.join(key.scopes)}\t{state}\t{key.name}"
            )


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id (key_…)."""
    from returnhub.services.keys import revoke_key

    db = _database()
    try:
        with db.write() as session:
            revoke_key(session, key_id)
    except DomainError as exc:
        err.print(f"[red]{exc.errors[0].message}[/red]")
        raise typer.Exit(1) from None
    err.print(f"revoked {key_id}")


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="jobs run in parallel")] = 4,
) -> None:
    """Run the outbox worker until SIGTERM/SIGINT (in-flight jobs finish, the rest are released)."""
    import signal

    from returnhub.delivery.worker import Worker
    from returnhub.logs import configure_logging

    settings = get_settings()
    db = _database()
    configure_logging(settings)
    upgrade(db.engine)
    runner = Worker(db, settings, concurrency=concurrency)

    def _stop(signum: int, _frame: object) -> None:
        err.print(f"signal {signum}: finishing in-flight jobs")
        runner.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    err.print(f"worker {runner.worker_id} running with concurrency {concurrency}")
    runner.run()
    runner.close()


@outbox_app.command("list")
def outbox_list(
    status: Annotated[
        str | None, typer.Option(help="pending, in_flight, succeeded or dead")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List jobs, newest first: id, kind, status, attempts, error."""
    from returnhub.delivery import outbox

    try:
        wanted = outbox.JobStatus(status) if status else None
    except ValueError:
        err.print(f"[red]unknown status {status!r}; use {', '.join(outbox.JobStatus)}[/red]")
        raise typer.Exit(2) from None
    db = _database()
    with db.read() as session:
        for job in outbox.list_jobs(session, status=wanted, limit=limit):
            error = f"{job.error_class}: {job.last_error}" if job.last_error else ""
            typer.echo(f"{job.public_id}\t{job.kind}\t{job.status}\t{job.attempts}\t{error[:120]}")


@outbox_app.command("replay")
def outbox_replay(
    job_id: Annotated[str | None, typer.Argument(help="the dead job to replay")] = None,
    all_dead: Annotated[bool, typer.Option("--all-dead", help="replay every dead job")] = False,
) -> None:
    """Send dead jobs around again with a fresh attempt budget."""
    from returnhub.delivery import outbox
    from returnhub.store.types import utcnow

    if (job_id is None) == (not all_dead):
        err.print("[red]give a job id or --all-dead (not both)[/red]")
        raise typer.Exit(2)
    db = _database()
    with db.write() as session:
        replayed = outbox.replay(session, None if all_dead else [str(job_id)], utcnow())
    if job_id is not None and not replayed:
        err.print(f"[red]{job_id} is not a dead job[/red]")
        raise typer.Exit(1)
    err.print(f"replayed {len(replayed)} job(s)")
    for public_id in replayed:
        typer.echo(public_id)


@webhooks_app.command("add")
def webhooks_add(
    url: str,
    event: Annotated[
        list[str], typer.Option("--event", help="event type (e.g. return.created) or *; repeatable")
    ],
    description: Annotated[str, typer.Option(help="what this subscription is for")] = "",
) -> None:
    """Subscribe URL to events; prints the subscription id and its signing secret (once)."""
    from returnhub.services import subscriptions

    db = _database()
    upgrade(db.engine)
    try:
        with db.write() as session:
            created = subscriptions.create(session, url, event, description)
            sub_id, secret = created.public_id, created.secret
    except DomainError as exc:
        for e in exc.errors:
            err.print(f"[red]{e.field}: {e.message}[/red]")
        raise typer.Exit(2) from None
    err.print(f"subscribed {url}; verify deliveries with this Standard Webhooks secret")
    typer.echo(f"{sub_id}\t{secret}")


@webhooks_app.command("list")
def webhooks_list() -> None:
    """List subscriptions (never their secrets)."""
    from returnhub.services import subscriptions

    db = _database()
    with db.read() as session:
        for sub in subscriptions.list_all(session):
            typer.echo(f"{sub.public_id}\t{sub.url}\t{','.join(sub.event_types)}")


@webhooks_app.command("remove")
def webhooks_remove(subscription_id: str) -> None:
    """Delete a subscription; its pending deliveries are dropped as they come up."""
    from returnhub.services import subscriptions

    db = _database()
    try:
        with db.write() as session:
            subscriptions.delete(session, subscription_id)
    except DomainError as exc:
        err.print(f"[red]{exc.errors[0].message}[/red]")
        raise typer.Exit(1) from None
    err.print(f"removed {subscription_id}")


if __name__ == "__main__":
    app()
