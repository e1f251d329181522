"""The ``returnhub`` command: serve, migrate, demo, keys, import."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import uvicorn
from rich.console import Console
from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError

from returnhub.delivery import outbox
from returnhub.delivery.supervisor import WorkerProcess, watch_parent, worker_command
from returnhub.domain.errors import DomainError
from returnhub.logs import configure_logging
from returnhub.settings import ConfigurationError, get_settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.types import utcnow

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.progress import Progress

    from returnhub.domain.imported import Batch, Counts
    from returnhub.domain.rules import RuleSet
    from returnhub.services.imports.csv_source import CsvSource


class _Cli(typer.Typer):
    """The command, answering a database it cannot reach with what to check, not a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except OperationalError as exc:
            url = make_url(get_settings().database_url).render_as_string(hide_password=True)
            reason = str(exc.orig or exc).strip().splitlines()[0]
            err.print(
                f"[red]cannot use the database[/red] {url}: {reason}\n"
                "Check RETURNHUB_DATABASE_URL and that the database server is running."
            )
            sys.exit(1)


# Tracebacks never print local variables: they can hold secrets and customers' data.
app = _Cli(
    no_args_is_help=True,
    help="returnhub: the self-hosted returns hub.",
    pretty_exceptions_show_locals=False,
)
keys_app = typer.Typer(no_args_is_help=True, help="Manage API keys.")
app.add_typer(keys_app, name="keys")
outbox_app = typer.Typer(no_args_is_help=True, help="Inspect and replay outbox jobs.")
app.add_typer(outbox_app, name="outbox")
webhooks_app = typer.Typer(no_args_is_help=True, help="Manage webhook subscriptions to our events.")
app.add_typer(webhooks_app, name="webhooks")
connectors_app = typer.Typer(no_args_is_help=True, help="Connected systems: list and check.")
app.add_typer(connectors_app, name="connectors")
rules_app = typer.Typer(no_args_is_help=True, help="Check and show the routing rules.")
app.add_typer(rules_app, name="rules")
warehouse_app = typer.Typer(no_args_is_help=True, help="Warehouse and ERP: RAs, ASNs, receipts.")
app.add_typer(warehouse_app, name="warehouse")
import_app = typer.Typer(no_args_is_help=True, help="Bring a merchant's history into the ledger.")
app.add_typer(import_app, name="import")

# Everything human goes to stderr so stdout stays clean for values scripts capture (keys).
err = Console(stderr=True)


def _database() -> Database:
    settings = get_settings()
    try:
        settings.check_secrets()
    except ConfigurationError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    from returnhub import jobs  # deferred: CLI start-up time (it imports every service)

    db = Database.from_settings(settings)
    # Events recorded by any command enqueue what they would through the app.
    jobs.wire(db, settings)
    return db


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (and seal secrets stored before sealing)."""
    from returnhub.services import subscriptions  # CLI start-up time

    db = _database()
    upgrade(db.engine)
    with db.write() as session:
        sealed = subscriptions.seal_plain_secrets(session, get_settings())
    if sealed:
        err.print(f"sealed the signing secrets of {sealed} webhook subscriptions")
    err.print(f"schema up to date ({db.dialect})")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="API processes")] = 1,
) -> None:
    """Serve the API (migrates an embedded SQLite database first)."""
    settings = get_settings()
    db = _database()
    if db.dialect == "sqlite":
        upgrade(db.engine)
    db.dispose()

    def run() -> None:
        uvicorn.run(
            "returnhub.api.app:served_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
            access_log=settings.access_log,
        )

    if settings.embedded_worker and settings.embedded_worker_mode == "process":
        with WorkerProcess(worker_command(settings.worker_concurrency)).running():
            run()
    else:
        run()


@app.command()
def demo(
    customers: Annotated[int, typer.Option(min=1, help="how many customers")] = 500,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same data")] = 7,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="do nothing (exit 0) when data already exists")
    ] = False,
) -> None:
    """Load a realistic apparel dataset into an empty database."""
    from returnhub.demo import DatabaseNotEmpty, load_demo  # CLI start-up time

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
    from returnhub.services.keys import create_key  # CLI start-up time

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
    from returnhub.services.keys import list_keys  # CLI start-up time

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
    from returnhub.services.keys import revoke_key  # CLI start-up time

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
    parent: Annotated[
        int | None,
        typer.Option(
            "--exit-with-parent",
            hidden=True,  # set by `returnhub serve` for the worker it starts
            help="stop (as on SIGTERM) once this process is no longer our parent",
        ),
    ] = None,
) -> None:
    """Run the outbox worker until SIGTERM/SIGINT (in-flight jobs finish, the rest are released)."""
    import signal

    from returnhub.delivery.worker import Worker  # CLI start-up time

    settings = get_settings()
    db = _database()
    configure_logging(settings)
    upgrade(db.engine)
    # No handlers given: the worker takes every registered one (delivery.worker.registered_jobs).
    runner = Worker(db, settings, concurrency=concurrency)

    def _stop(signum: int, _frame: object) -> None:
        err.print(f"signal {signum}: finishing in-flight jobs")
        runner.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    err.print(f"worker {runner.worker_id} running with concurrency {concurrency}")
    if parent is not None:
        watch_parent(parent, runner.stop)
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


@outbox_app.command("explain")
def outbox_explain(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="jobs per claim")] = 8,
) -> None:
    """PostgreSQL: EXPLAIN ANALYZE (JSON) of the worker's two claim statements, run as the
    worker runs them and rolled back; for looking into a slow claim."""

    db = _database()
    if db.dialect != "postgresql":
        err.print("[red]explain reads PostgreSQL's plans; this database is SQLite[/red]")
        raise typer.Exit(2)
    with db.engine.connect() as connection:
        plans = outbox.claim_plans(connection, utcnow(), limit=limit)
    typer.echo(json.dumps(plans, indent=2))


@webhooks_app.command("add")
def webhooks_add(
    url: str,
    event: Annotated[
        list[str], typer.Option("--event", help="event type (e.g. return.created) or *; repeatable")
    ],
    description: Annotated[str, typer.Option(help="what this subscription is for")] = "",
) -> None:
    """Subscribe URL to events; prints the subscription id and its signing secret (once)."""
    from returnhub.services import subscriptions  # CLI start-up time

    db = _database()
    upgrade(db.engine)
    try:
        target = subscriptions.check(url, event, get_settings())
        with db.write() as session:
            created = subscriptions.create(session, get_settings(), target, description)
            sub_id, secret = created.subscription.public_id, created.secret
    except DomainError as exc:
        for e in exc.errors:
            err.print(f"[red]{e.field}: {e.message}[/red]")
        raise typer.Exit(2) from None
    err.print(f"subscribed {url}; verify deliveries with this Standard Webhooks secret")
    typer.echo(f"{sub_id}\t{secret}")


@webhooks_app.command("list")
def webhooks_list() -> None:
    """List subscriptions (never their secrets)."""
    from returnhub.services import subscriptions  # CLI start-up time

    db = _database()
    with db.read() as session:
        for sub in subscriptions.list_all(session):
            typer.echo(f"{sub.public_id}\t{sub.url}\t{','.join(sub.event_types)}")


@webhooks_app.command("remove")
def webhooks_remove(subscription_id: str) -> None:
    """Delete a subscription; its pending deliveries are dropped as they come up."""
    from returnhub.services import subscriptions  # CLI start-up time

    db = _database()
    try:
        with db.write() as session:
            subscriptions.delete(session, subscription_id)
    except DomainError as exc:
        err.print(f"[red]{exc.errors[0].message}[/red]")
        raise typer.Exit(1) from None
    err.print(f"removed {subscription_id}")


def _rules_summary(path: object, rules: RuleSet) -> list[str]:
    count = len(rules.rules)
    lines = [f"{path}: ok, {count} rule{'s' if count != 1 else ''} and a default"]
    for index, rule in enumerate(rules.rules, start=1):
        then = rule.then
        lines.append(f"  {index}. {rule.name} (line {rule.line}) → {then.queue}, {then.priority}")
    lines.append(f"  default → {rules.default.queue}, {rules.default.priority}")
    return lines


@rules_app.command("check")
def rules_check(file: Annotated[Path, typer.Argument(help="the YAML rules file")]) -> None:
    """Validate a rules file: exit 0 with a summary, or 1 listing every problem (rule, line)."""
    from returnhub.domain.rules import RulesError  # CLI start-up time
    from returnhub.services.routing import load_rules_file  # CLI start-up time

    try:
        rules = load_rules_file(file)
    except OSError as exc:
        typer.echo(f"{file}: cannot read: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    except RulesError as exc:
        count = len(exc.problems)
        typer.echo(f"{file}: {count} problem{'s' if count != 1 else ''}", err=True)
        for problem in exc.problems:
            typer.echo(f"{file}: {problem}", err=True)
        raise typer.Exit(1) from None
    for line in _rules_summary(file, rules):
        typer.echo(line)


@rules_app.command("show")
def rules_show() -> None:
    """Print the path of the active rules file (RETURNHUB_ROUTING_RULES_FILE or the shipped one)."""
    from returnhub.services.routing import load_rules_file, rules_path  # CLI start-up time

    try:
        settings = get_settings()
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    path = rules_path(settings)
    typer.echo(str(path))
    for line in _rules_summary(path, load_rules_file(path)):
        typer.echo(line, err=True)


@connectors_app.command("list")
def connectors_list() -> None:
    """Every connector, whether it is configured, and what it still needs."""
    from returnhub.connectors import registry  # CLI start-up time

    settings = get_settings()
    for key, spec in registry.SPECS.items():
        state = (
            "configured"
            if registry.is_configured(spec, settings)
            else "missing " + ", ".join(registry.missing_settings(spec, settings))
        )
        typer.echo(f"{key}\t{spec.display_name}\t{state}")


@connectors_app.command("check")
def connectors_check(
    timeout: Annotated[float, typer.Option(help="seconds per system")] = 5.0,
) -> None:
    """Call every configured system once (a search that matches nobody) and report each."""
    import httpx

    from returnhub.connectors.base import SearchQuery  # CLI start-up time
    from returnhub.connectors.registry import configured_systems  # CLI start-up time
    from returnhub.services.search import federated_search  # CLI start-up time

    settings = get_settings()
    db = _database()
    probe = SearchQuery(emails=("returnhub-connectivity-check@example.invalid",))
    with httpx.Client(timeout=timeout) as http:
        systems = configured_systems(settings, db, http)
        result = federated_search(systems, probe, system_timeout=timeout, budget=timeout + 1)
    failed = {e.system: e for e in result.errors}
    for key in result.searched:
        if key in failed:
            error = failed[key]
            typer.echo(f"{key}\tFAILED\t{error.error_class}: {error.message}")
        else:
            typer.echo(f"{key}\tok\t{result.seconds.get(key, 0.0):.3f} s")
    if failed:
        raise typer.Exit(1)


@warehouse_app.command("import")
def warehouse_import(
    file: Annotated[Path, typer.Argument(help="a 944 (EDI X12) or a JSON receipt file")],
) -> None:
    """Record the receipts in FILE; the worker then reconciles and applies the decision."""
    import json

    from returnhub.connectors.edi.x12 import X12Error  # CLI start-up time
    from returnhub.services import warehouse as wh  # CLI start-up time

    db = _database()
    settings = get_settings()
    text = file.read_text(encoding="utf-8", errors="replace")
    try:
        with db.write() as session:
            if text.lstrip().startswith("{"):
                receipt = wh.receipt_from_json(json.loads(text), wh.load_criteria(settings))
                results = [wh.record_receipt(session, receipt, utcnow())]
            else:
                results = wh.import_edi(session, text, settings, utcnow())
            lines = [
                f"{r.public_id}\t{r.ra_number}\t{'duplicate' if not created else r.status}"
                + (f"\t{r.error}" if r.error else "")
                for r, created in results
            ]
    except X12Error as exc:
        with db.write() as session:
            wh.refuse_edi(session, text, exc, settings)
        err.print(f"[red]invalid EDI:[/red] {exc.detail}")
        raise typer.Exit(1) from None
    except (ValueError, KeyError, TypeError) as exc:
        err.print(f"[red]invalid receipt:[/red] {exc}")
        raise typer.Exit(1) from None
    for line in lines:
        typer.echo(line)


@warehouse_app.command("transmit")
def warehouse_transmit(
    ra: Annotated[str, typer.Argument(help="the RA id (ra_…) or number")],
) -> None:
    """Send the RA's ASN (EDI 943) now; prints the file written."""
    from returnhub.services.warehouse import transmit_now  # CLI start-up time

    db = _database()
    try:
        sent, path = transmit_now(db, get_settings(), ra, utcnow())
    except DomainError as exc:
        err.print(f"[red]{exc.errors[0].message}[/red]")
        raise typer.Exit(1) from None
    if not sent:
        err.print("nothing to transmit: the RA is closed")
        raise typer.Exit(1)
    typer.echo(str(path) if path else "ASN recorded (RETURNHUB_WAREHOUSE_ADAPTER=builtin)")


@warehouse_app.command("ras")
def warehouse_ras(
    state: Annotated[
        str | None, typer.Option(help="open, transmitted, received, decided, closed")
    ] = None,
) -> None:
    """List RAs, newest first: id, number, state, decision."""
    from returnhub.services import warehouse as wh  # CLI start-up time

    db = _database()
    with db.read() as session:
        rows = wh.list_ras(session, wh.RaState(state) if state else None, 200, None)
        for ra in rows:
            typer.echo(f"{ra.public_id}\t{ra.number}\t{ra.state}\t{ra.decision or '-'}")


# Problems printed on the terminal; --report writes every one.
SHOWN_PROBLEMS = 100


@import_app.command("csv")
def import_csv(
    orders: Annotated[Path, typer.Argument(help="orders CSV: one row per order line")],
    returns: Annotated[
        Path | None, typer.Argument(help="returns CSV: one row per returned line")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="validate and report; change nothing")
    ] = False,
    resume: Annotated[
        str | None, typer.Option("--resume", help="the import (imp_…) to resume")
    ] = None,
    returns_source: Annotated[
        str, typer.Option(help="the system the returns came from (their external ids' scope)")
    ] = "csv",
    report: Annotated[
        Path | None, typer.Option(help="write every problem to this CSV file")
    ] = None,
    chunk: Annotated[int, typer.Option(min=1, max=50_000, help="orders per transaction")] = 2000,
) -> None:
    """Import orders (and returns) from CSV files in the format of the README's Onboarding
    section. Resumable: run the same command again after an interruption. Exit 0 when every
    record was imported, 1 when some were invalid (the rest imported), 2 when nothing could be."""
    import csv
    import re
    import time

    from rich.progress import (  # CLI start-up time
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from returnhub.services.imports import core  # CLI start-up time
    from returnhub.services.imports.csv_file import UnreadableFile  # CLI start-up time
    from returnhub.services.imports.csv_source import CsvSource  # CLI start-up time

    if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", returns_source):
        err.print("[red]--returns-source: lower-case letters, digits and _, e.g. narvar[/red]")
        raise typer.Exit(2)
    try:
        source = CsvSource(orders, returns, utcnow(), returns_source=returns_source, chunk=chunk)
    except UnreadableFile as exc:
        err.print(f"[red]cannot import:[/red] {exc}")
        raise typer.Exit(2) from None
    for part in (source.orders, source.returns):
        if part is not None and part.columns.ignored:
            err.print(f"{part.file.path}: ignoring columns {', '.join(part.columns.ignored)}")
    shown = 0
    problems = 0
    writer = None
    report_file = report.open("w", newline="", encoding="utf-8") if report else None
    if report_file is not None:
        writer = csv.writer(report_file)
        writer.writerow(["file", "row", "column", "severity", "problem"])
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=err,
    )
    task = progress.add_task(
        "checking" if dry_run else "importing", total=source.total(), counts=""
    )
    began = time.monotonic()
    first_read: list[int] = []

    def on_batch(batch: Batch, totals: Counts) -> None:
        nonlocal shown, problems
        for problem in batch.problems:
            problems += 1
            where = source.orders if batch.part != "returns" else source.returns
            name = where.file.path.name if where else ""
            severity = "warning" if problem.warning else "error"
            if writer is not None:
                writer.writerow([name, problem.row, problem.column, severity, problem.message])
            if shown < SHOWN_PROBLEMS:
                shown += 1
                column = f", {problem.column}" if problem.column else ""
                colour = "yellow" if problem.warning else "red"
                progress.console.print(
                    f"[{colour}]{name} row {problem.row}{column}:[/{colour}] {problem.message}"
                )
        if not first_read:
            first_read.append(totals.read - batch.read)
        rate = (totals.read - first_read[0]) / max(time.monotonic() - began, 1e-6)
        counts = (
            f"read {totals.read:,} invalid {totals.invalid:,} · {rate:,.0f}/s"
            if dry_run
            else f"read {totals.read:,} created {totals.created:,} updated {totals.updated:,} "
            f"skipped {totals.skipped:,} invalid {totals.invalid:,} · {rate:,.0f}/s"
        )
        progress.update(task, completed=batch.position, counts=counts)

    try:
        if dry_run:
            with progress:
                totals = core.validate(source, on_batch)
            err.print(
                f"dry run: {totals.read:,} records read, {totals.read - totals.invalid:,} "
                f"valid, {totals.invalid:,} invalid; nothing was changed"
            )
        else:
            db = _database()
            try:
                upgrade(db.engine)
                totals, public_id = _import_into(db, source, resume, progress, on_batch)
            finally:
                db.dispose()
            err.print(
                f"import {public_id}: {totals.read:,} read, {totals.created:,} created, "
                f"{totals.updated:,} updated, {totals.skipped:,} skipped, "
                f"{totals.invalid:,} invalid"
            )
            typer.echo(public_id)
    finally:
        if report_file is not None:
            report_file.close()
    if shown < problems:
        err.print(
            f"… and {problems - shown:,} more problems"
            + (f" (all in {report})" if report else "; --report FILE writes them all")
        )
    if totals.invalid:
        raise typer.Exit(1)


def _import_into(
    db: Database,
    source: CsvSource,
    resume: str | None,
    progress: Progress,
    on_batch: Callable[[Batch, Counts], None],
) -> tuple[Counts, str]:
    """Start or resume the import and run it; SIGTERM interrupts it as Ctrl-C does."""
    import signal

    from returnhub.services.imports import core  # CLI start-up time

    try:
        started = core.start(db, source, resume)
    except core.ImportRefused as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    err.print(f"{'resuming import' if started.resumed else 'import'} {started.public_id}")

    def _terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with progress:
            return core.run(db, source, started, on_batch), started.public_id
    except KeyboardInterrupt:
        err.print(
            f"[yellow]interrupted[/yellow]; run the same command again (or add "
            f"--resume {started.public_id}) to go on from the last stored chunk"
        )
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


@import_app.command("list")
def import_list(limit: Annotated[int, typer.Option(min=1, max=1000)] = 20) -> None:
    """Recent imports, newest first: id, source, status, counts, last error."""
    from returnhub.services.imports import core  # CLI start-up time

    db = _database()
    runs = core.latest(db, limit)
    db.dispose()
    for run in runs:
        typer.echo(
            f"{run.public_id}\t{run.source}\t{run.status}\tread {run.read}\t"
            f"created {run.created}\tupdated {run.updated}\tskipped {run.skipped}\t"
            f"invalid {run.invalid}\t{run.last_error[:120]}"
        )


if __name__ == "__main__":
    app()
