"""The warehouse flow's outbox handlers: thin wrappers around services.warehouse steps, each in
its own transaction, plus the file moves (943/997 out, 944 in) and the Loop calls; and what
starts the flow: a return becoming authorized gets its RA."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import structlog
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from returnhub.connectors.edi.x12 import X12Error
from returnhub.connectors.errors import ConfigurationError, MappingError
from returnhub.connectors.loop.client import LoopClient
from returnhub.delivery import outbox
from returnhub.delivery.context import HandlerContext
from returnhub.delivery.outbox import ClaimedJob
from returnhub.domain.events import EventType
from returnhub.domain.lifecycle import ReturnState
from returnhub.domain.reconciliation import Criteria, CriteriaError
from returnhub.jobs.registry import registry
from returnhub.services import warehouse as wh
from returnhub.settings import Settings
from returnhub.store.tables import DomainEvent

log = structlog.get_logger(__name__)

CREATE_RA_JOB = "warehouse.create_ra"


@registry.on_event
def enqueue_create_ra(session: Session, event: DomainEvent, settings: Settings) -> bool:
    """A return that became authorized (an agent's action, or a return synced in that state)
    gets its RA, once per return; True when the job was added."""
    if not settings.warehouse_enabled:
        return False
    payload = event.payload
    authorized = ReturnState.AUTHORIZED.value
    if event.type == EventType.RETURN_STATE_CHANGED.value:
        if payload.get("to") != authorized:
            return False
    elif event.type != EventType.RETURN_CREATED.value or payload.get("state") != authorized:
        return False
    return outbox.enqueue(
        session,
        CREATE_RA_JOB,
        {"return_id": event.subject_id},
        lock_key=wh.lane(event.subject_id),
        dedupe_key=f"{CREATE_RA_JOB}:{event.subject_id}",
    )


@registry.handler(CREATE_RA_JOB)
def create_ra(ctx: HandlerContext, job: ClaimedJob) -> None:
    with ctx.db.write() as session:
        wh.create_ra(session, str(job.payload["return_id"]), ctx.settings, ctx.clock())


@registry.handler(wh.TRANSMIT_JOB)
def transmit(ctx: HandlerContext, job: ClaimedJob) -> None:
    wh.transmit_now(ctx.db, ctx.settings, str(job.payload["ra_id"]), ctx.clock())


def _criteria(ctx: HandlerContext) -> Criteria:
    try:
        return wh.load_criteria(ctx.settings)
    except (OSError, CriteriaError) as exc:
        raise ConfigurationError(f"warehouse criteria: {exc}") from None


@registry.handler(wh.RECONCILE_JOB)
def reconcile(ctx: HandlerContext, job: ClaimedJob) -> None:
    criteria = _criteria(ctx)
    with ctx.db.write() as session:
        wh.reconcile_ra(session, str(job.payload["ra_id"]), criteria, ctx.clock())


@registry.handler(wh.APPLY_DECISION_JOB)
def apply(ctx: HandlerContext, job: ClaimedJob) -> None:
    with ctx.db.write() as session:
        wh.apply_decision(session, str(job.payload["ra_id"]), ctx.clock())


@registry.handler(wh.CLOSE_JOB)
def close(ctx: HandlerContext, job: ClaimedJob) -> None:
    with ctx.db.write() as session:
        wh.close_ra(session, str(job.payload["ra_id"]), ctx.clock())


@registry.handler(wh.LOOP_ACTION_JOB)
def loop_action(ctx: HandlerContext, job: ClaimedJob) -> None:
    client = LoopClient.from_settings(ctx.settings, ctx.http)
    loop_id = str(job.payload["loop_return_id"])
    action = str(job.payload["action"])
    if action == "process":
        client.process_return(loop_id)
    elif action == "flag":
        client.flag_return(loop_id)
    else:
        raise MappingError(f"unknown Loop warehouse action {action!r}")


@registry.handler(wh.LOOP_NOTE_JOB)
def loop_note(ctx: HandlerContext, job: ClaimedJob) -> None:
    client = LoopClient.from_settings(ctx.settings, ctx.http)
    client.create_note(str(job.payload["loop_return_id"]), str(job.payload["content"]))


@registry.handler(wh.ACK_JOB)
def ack(ctx: HandlerContext, job: ClaimedJob) -> None:
    sender = (ctx.settings.edi_sender_qualifier, ctx.settings.edi_sender_id)
    with ctx.db.write() as session:
        control = wh.next_control_number(session, f"isa:{sender[0]}:{sender[1]}")
        document = wh.build_ack(job.payload, ctx.settings, control, ctx.clock())
        # Numbered and written in one transaction: a crash after the write re-runs with a new
        # number, and a duplicate 997 is harmless to the 3PL (unlike a duplicate ASN).
        wh.write_atomically(
            Path(ctx.settings.warehouse_outbound_dir), f"997_{control:09d}.edi", document
        )


# Folders the scan keeps inside the inbound folder; never read as documents.
PROCESSED, REJECTED = "processed", "rejected"


class Unreadable(Exception):
    """A file the scan will not read (not a regular file, too large); moved to rejected/."""


@registry.handler(wh.SCAN_JOB)
def scan_inbound(ctx: HandlerContext, job: ClaimedJob) -> None:
    """Import every file in the inbound folder, then move it to processed/ or rejected/ (with
    the reason beside it). Each file stands alone: whatever is wrong with one moves it to
    rejected/ and the scan goes on. A file imported but not yet moved when we crash is
    imported again on the next scan and found to be a duplicate."""
    inbound = Path(ctx.settings.warehouse_inbound_dir)
    if inbound.is_dir():
        for folder in (PROCESSED, REJECTED):
            try:
                _folder(inbound, folder)
            except OSError:
                log.exception("edi_folder_failed", folder=folder)
        with os.scandir(inbound) as entries:
            # Links are listed (and rejected unread), directories are not.
            names = sorted(e.name for e in entries if not e.is_dir(follow_symlinks=False))
        for name in names:
            if (
                name in (PROCESSED, REJECTED)
                or name.startswith(".")
                or name.endswith((".tmp", ".part"))
            ):
                continue
            import_file(ctx, inbound / name)
    with ctx.db.write() as session:
        if wh.awaiting_receipts(session):
            wh.schedule_scan(session, ctx.settings, ctx.clock())


def read_document(path: Path, limit: int = wh.MAX_DOCUMENT_BYTES) -> str:
    """A regular file's text, at most ``limit`` bytes. Opened without following a symbolic
    link (a link could lead out of the folder) and without blocking on a FIFO; checked on the
    open descriptor, so a file swapped after the check is not read either."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if path.is_symlink():
            raise Unreadable(
                "a symbolic link: only regular files inside the inbound folder are read"
            ) from None
        raise Unreadable(f"cannot be opened: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable("not a regular file: only regular files are read")
        if info.st_size > limit:
            raise Unreadable(f"{info.st_size} bytes; a receipt may have at most {limit} bytes")
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise Unreadable(f"more than {limit} bytes; a receipt may have at most {limit} bytes")
    return raw.decode("utf-8", errors="replace")


def import_file(ctx: HandlerContext, path: Path) -> None:
    """One inbound file, isolated: a database that cannot be reached stops the scan (the
    job is retried and the file stays); anything else about this file rejects it alone."""
    try:
        text = read_document(path)
        try:
            with ctx.db.write() as session:
                results = wh.import_edi(session, text, ctx.settings, ctx.clock())
        except X12Error as exc:
            with ctx.db.write() as session:
                wh.refuse_edi(session, text, exc, ctx.settings)
            raise
    except (Unreadable, X12Error) as exc:
        reason = exc.detail if isinstance(exc, X12Error) else str(exc)
        log.warning("edi_rejected", file=path.name, error=reason)
        _move(path, REJECTED, reason)
        return
    except DBAPIError:
        raise
    except Exception as exc:
        # Our bug, not the 3PL's: keep the traceback in the log, the file out of the way.
        log.exception("edi_import_failed", file=path.name)
        _move(path, REJECTED, f"could not be imported ({type(exc).__name__}: {exc})")
        return
    log.info("edi_imported", file=path.name, receipts=[r.public_id for r, _ in results])
    _move(path, PROCESSED, None)


def _folder(inbound: Path, name: str) -> Path:
    """processed/ or rejected/, made when missing; anything else in its place (a file, a
    dangling link) is moved into rejected/ so the folder can exist. A link to a folder is kept:
    the scan writes there, it does not read from it."""
    target = inbound / name
    if (target.exists() or target.is_symlink()) and not target.is_dir():
        aside = inbound / f".{name}.{os.getpid()}.aside"
        os.replace(target, aside)
        rejected = _folder(inbound, REJECTED)
        os.replace(aside, rejected / name)
        (rejected / f"{name}.error.txt").write_text(
            f"was in the place of the {name}/ folder the inbound scan keeps; moved here\n",
            encoding="utf-8",
        )
        log.warning("edi_folder_taken", file=name)
    target.mkdir(exist_ok=True)
    return target


def _move(path: Path, folder: str, error: str | None) -> None:
    try:
        target = _folder(path.parent, folder)
        os.replace(path, target / path.name)
        if error is not None:
            (target / f"{path.name}.error.txt").write_text(error + "\n", encoding="utf-8")
    except OSError:
        # The file stays where it is and is tried again on the next scan; the others go on.
        log.exception("edi_move_failed", file=path.name, folder=folder)
