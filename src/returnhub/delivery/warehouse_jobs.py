"""The warehouse flow's outbox handlers: thin wrappers around services.warehouse steps, each in
its own transaction, plus the file moves (943/997 out, 944 in) and the Loop calls."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import structlog

from returnhub.connectors.edi.x12 import X12Error
from returnhub.connectors.loop.client import LoopClient
from returnhub.delivery.context import Handler, HandlerContext
from returnhub.delivery.errors import ConfigurationError, MappingError
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
    text = str(job.payload["document"])
    sender = (ctx.settings.edi_sender_qualifier, ctx.settings.edi_sender_id)
    with ctx.db.write() as session:
        control = wh.next_control_number(session, f"isa:{sender[0]}:{sender[1]}")
        document = wh.build_ack(
            text, ctx.settings, control, ctx.clock(), bool(job.payload["accepted"])
        )
        # Numbered and written in one transaction: a crash after the write re-runs with a new
        # number, and a duplicate 997 is harmless to the 3PL (unlike a duplicate ASN).
        wh.write_atomically(
            Path(ctx.settings.warehouse_outbound_dir), f"997_{control:09d}.edi", document
        )


def scan_inbound(ctx: HandlerContext, job: ClaimedJob) -> None:
    """Import every file in the inbound folder, then move it to processed/ or rejected/ (with
    the reason beside it). A file imported but not yet moved when we crash is imported again
    on the next scan and found to be a duplicate."""
    inbound = Path(ctx.settings.warehouse_inbound_dir)
    if inbound.is_dir():
        for path in sorted(p for p in inbound.iterdir() if p.is_file()):
            if path.name.startswith(".") or path.suffix in (".tmp", ".part"):
                continue
            import_file(ctx, path)
    with ctx.db.write() as session:
        if wh.awaiting_receipts(session):
            wh.schedule_scan(session, ctx.settings, ctx.clock())


def import_file(ctx: HandlerContext, path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        with ctx.db.write() as session:
            results = wh.import_edi(session, text, ctx.settings, ctx.clock())
    except X12Error as exc:
        log.warning("edi_rejected", file=path.name, error=exc.detail)
        _move(path, "rejected", exc.detail)
        return
    log.info("edi_imported", file=path.name, receipts=[r.public_id for r, _ in results])
    _move(path, "processed", None)


def _move(path: Path, folder: str, error: str | None) -> None:
    target = path.parent / folder
    target.mkdir(exist_ok=True)
    shutil.move(str(path), str(target / path.name))
    if error is not None:
        (target / f"{path.name}.error.txt").write_text(error + "\n", encoding="utf-8")


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
