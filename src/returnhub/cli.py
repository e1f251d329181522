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


if __name__ == "__main__":
    app()
