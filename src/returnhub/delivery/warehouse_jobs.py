"""The warehouse flow's outbox handlers: thin wrappers around services.warehouse steps, each in
its own transaction, plus the file moves (943/997 out, 944 in) and the Loop calls."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path

import structlog
from sqlalchemy.exc import DBAPIError

from returnhub.connectors.edi.x12 import X12Error
from returnhub.connectors.errors import ConfigurationError, MappingError
from returnhub.connectors.loop.client import LoopClient
from returnhub.delivery.context import Handler, HandlerContext
from returnhub.delivery.outbox import ClaimedJob
from returnhub.domain.reconciliation import Criteria, CriteriaError
from returnhub.services import warehouse as wh
from returnhub.settings import Settings
from returnhub.store.db import Database

log = structlog.get_logger(__name__)


def create_ra(ctx: HandlerContext, job: ClaimedJob) -> None:
    with ctx.db.write() as session:
        wh.create_ra(session, str(job.payload["return_id"]), ctx.settings, ctx.clock())


def transmit(ctx: HandlerContext, job: ClaimedJob) -> None:
    transmit_now(ctx.db, ctx.settings, str(job.payload["ra_id"]), ctx.clock())


def transmit_now(
    db: Database, settings: Settings, ra_id: str, now: datetime
) -> tuple[bool, Path | None]:
    """Number and store the 943 (once), write it to the outbound folder (edi adapter), mark
    the RA transmitted. Each phase is safe to repeat. False when the RA is closed; the path
    written, if any."""
    with db.write() as session:
        ra_id = wh.find_ra(session, ra_id).public_id  # the CLI user may give the RA number
        if not wh.prepare_asn(session, ra_id, settings, now):
            return False, None
    with db.read() as session:
        ra = wh.find_ra(session, ra_id)
        ra_public_id, name, text = ra.public_id, ra.asn_file, ra.asn_text
    path = None
    if settings.warehouse_adapter == "edi":
        path = wh.write_atomically(Path(settings.warehouse_outbound_dir), name, text)
    with db.write() as session:
        wh.mark_transmitted(session, ra_public_id, settings, now)
    return True, path


def _criteria(ctx: HandlerContext) -> Criteria:
    try:
        return wh.load_criteria(ctx.settings)
    except (OSError, CriteriaError) as exc:
        raise ConfigurationError(f"warehouse criteria: {exc}") from None


def reconcile(ctx: HandlerContext, job: ClaimedJob) -> None:
    criteria = _criteria(ctx)
    with ctx.db.write() as session:
        wh.reconcile_ra(session, str(job.payload["ra_id"]), criteria, ctx.clock())


def apply(ctx: HandlerContext, job: ClaimedJob) -> None:
    with ctx.db.write() as session:
        wh.apply_decision(session, str(job.payload["ra_id"]), ctx.clock())


def close(ctx: HandlerContext, job: ClaimedJob) -> None:
    with ctx.db.write() as session:
        wh.close_ra(session, str(job.payload["ra_id"]), ctx.clock())


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


def loop_note(ctx: HandlerContext, job: ClaimedJob) -> None:
    client = LoopClient.from_settings(ctx.settings, ctx.http)
    client.create_note(str(job.payload["loop_return_id"]), str(job.payload["content"]))


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


def handlers() -> dict[str, Handler]:
    return {
        wh.CREATE_RA_JOB: create_ra,
        wh.TRANSMIT_JOB: transmit,
        wh.RECONCILE_JOB: reconcile,
        wh.APPLY_JOB: apply,
        wh.CLOSE_JOB: close,
        wh.LOOP_ACTION_JOB: loop_action,
        wh.LOOP_NOTE_JOB: loop_note,
        wh.ACK_JOB: ack,
        wh.SCAN_JOB: scan_inbound,
    }
