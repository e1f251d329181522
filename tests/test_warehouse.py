"""The warehouse flow end to end, on both engines: authorize → RA → 943 → 944 → reconcile →
process or flag (ledger; Loop through a strict fake) → RA closed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from returnhub.api.app import create_app
from returnhub.delivery.context import Handler, HandlerContext
from returnhub.delivery.outbox import ClaimedJob
from returnhub.delivery.worker import Worker
from returnhub.domain import reconciliation as rec
from returnhub.jobs import default_handlers
from returnhub.services import warehouse as wh
from returnhub.services.keys import create_key
from returnhub.settings import Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.tables import WarehouseReceipt
from tests.conftest import AUTH, Clock
from tests.factories import create_order, create_return
from tests.x12_validator import x12_problems

FIXTURES = Path(__file__).parent / "fixtures" / "edi"
EDI = {"Content-Type": "application/edi-x12"}
LOOP_KEY = "loop-test-key"


@dataclass
class Hub:
    client: TestClient
    worker: Worker
    db: Database
    settings: Settings
    clock: Clock
    outbound: Path
    inbound: Path

    def authorized_return(self, **overrides: Any) -> dict[str, Any]:
        order = create_order(self.client, self.clock.now)
        if overrides:
            body = {
                "order_id": order["id"],
                "items": [
                    {"order_line_id": order["lines"][0]["id"], "quantity": 2, "outcome": "refund"}
                ],
                **overrides,
            }
            response = self.client.post("/api/v1/returns", json=body)
            assert response.status_code == 201, response.text
            ret: dict[str, Any] = response.json()
        else:
            ret = create_return(self.client, order, quantity=2)
        response = self.client.post(f"/api/v1/returns/{ret['id']}/authorize")
        assert response.status_code == 200, response.text
        return ret

    def ra_of(self, ret: dict[str, Any]) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/warehouse/ras/{ret['number']}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def state(self, ret: dict[str, Any]) -> str:
        return str(self.client.get(f"/api/v1/returns/{ret['id']}").json()["state"])

    def receipts(self) -> int:
        with self.db.read() as session:
            return session.scalar(select(func.count()).select_from(WarehouseReceipt)) or 0


def make_hub(
    settings: Settings,
    db: Database,
    clock: Clock,
    tmp_path: Path,
    httpserver: HTTPServer,
    *,
    handlers: dict[str, Handler] | None = None,
    **overrides: Any,
) -> Iterator[Hub]:
    outbound, inbound = tmp_path / "out", tmp_path / "in"
    app_settings = settings.model_copy(
        update={
            "warehouse_enabled": True,
            "warehouse_adapter": "edi",
            "warehouse_outbound_dir": str(outbound),
            "warehouse_inbound_dir": str(inbound),
            "loop_base_url": httpserver.url_for("/api/v1"),
            "loop_api_key": SecretStr(LOOP_KEY),
            # Linking would search the fake Loop too; these tests are about the warehouse only.
            "auto_link_enabled": False,
            **overrides,
        }
    )
    # A database of its own, wired with these settings when the app is built (create_app).
    hub_db = Database(db.engine, app_settings)
    worker = Worker(hub_db, app_settings, clock=clock, handlers=handlers, concurrency=1)
    app = create_app(app_settings, hub_db, clock)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield Hub(client, worker, hub_db, app_settings, clock, outbound, inbound)
    worker.close()


@pytest.fixture
def hub(
    settings: Settings, db: Database, clock: Clock, tmp_path: Path, httpserver: HTTPServer
) -> Iterator[Hub]:
    yield from make_hub(settings, db, clock, tmp_path, httpserver)


def receipt_944(
    ra_number: str,
    *,
    jackets: int = 2,
    damaged: int = 0,
    control: int = 17,
    reporting: str = "F",
    extra: str = "",
    w13: Sequence[str] = (),
) -> str:
    """A 944 for jackets; ``w13`` are the W13 exceptions of its W07."""
    exceptions = [f"W13*{damaged}*EA*01**CC"] if damaged else []
    exceptions += w13
    body = [
        f"W17*{reporting}*20300116*WR-{control}*{ra_number}~\n",
        "N1*WH*Returns DC~\n",
        f"W07*{jackets}*EA**SK*JKT-RAIN-NVY-M~\n",
        *(f"{segment}~\n" for segment in exceptions),
        extra,
        f"W14*{jackets + (1 if extra else 0)}~\n",
    ]
    segments = sum(1 for part in body if part) + 2
    return (
        "ISA*00*          *00*          *ZZ*WAREHOUSE3PL   *ZZ*RETURNHUB      *300116*0930*U*"
        f"00401*{control:09d}*0*P*>~\n"
        f"GS*RE*WAREHOUSE3PL*RETURNHUB*20300116*0930*{control}*X*004010~\n"
        "ST*944*0001~\n" + "".join(body) + f"SE*{segments}*0001~\n"
        f"GE*1*{control}~\n"
        f"IEA*1*{control:09d}~\n"
    )


def test_authorize_transmit_receive_process_close(hub: Hub) -> None:
    # Given an authorized return, the worker creates its RA and writes the 943.
    ret = hub.authorized_return()
    hub.worker.drain()
    ra = hub.ra_of(ret)
    assert ra["state"] == "transmitted"
    assert ra["lines"] == [
        {
            "sku": "JKT-RAIN-NVY-M",
            "title": "Rain Jacket",
            "quantity": 2,
            "expected_condition": "",
            "unit_price": 12900,
        }
    ]
    asn = hub.outbound / f"943_{ret['number']}_000000001.edi"
    assert asn.read_text() == ra["asn_text"]
    assert f"W06*N*{ret['number']}*" in ra["asn_text"]
    assert "W04*2*EA**SK*JKT-RAIN-NVY-M~" in ra["asn_text"]
    listed = hub.client.get("/api/v1/warehouse/ras", params={"state": "transmitted"}).json()
    assert [r["number"] for r in listed["data"]] == [ret["number"]]

    # When the 3PL's 944 arrives through the API
    response = hub.client.post(
        "/api/v1/warehouse/receipts", content=receipt_944(ret["number"]), headers=EDI
    )
    assert response.status_code == 202, response.text
    [receipt] = response.json()["receipts"]
    assert (receipt["status"], receipt["duplicate"]) == ("recorded", False)
    hub.worker.drain()

    # Then the return is received and processed, the RA closed, and a 997 acknowledges.
    assert hub.state(ret) == "processed"
    ra = hub.ra_of(ret)
    assert (ra["state"], ra["decision"], ra["return_state"]) == ("closed", "process", "processed")
    assert ra["decision_detail"]["discrepancies"] == []
    assert ra["notes"] == [
        f"RA {ret['number']}: processed: every expected item arrived in an accepted condition."
    ]
    assert [r["id"] for r in ra["receipts"]] == [receipt["id"]]
    ack = (hub.outbound / "997_000000002.edi").read_text()
    assert "AK1*RE*17~" in ack and "AK5*A~" in ack


def test_damaged_item_flags_with_a_note_and_the_same_944_twice_is_one_receipt(hub: Hub) -> None:
    ret = hub.authorized_return()
    hub.worker.drain()
    document = receipt_944(ret["number"], damaged=1)
    first = hub.client.post("/api/v1/warehouse/receipts", content=document, headers=EDI)
    again = hub.client.post("/api/v1/warehouse/receipts", content=document, headers=EDI)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["receipts"][0]["id"] == first.json()["receipts"][0]["id"]
    assert again.json()["receipts"][0]["duplicate"] is True
    hub.worker.drain()
    assert hub.receipts() == 1
    assert hub.state(ret) == "flagged"
    ra = hub.ra_of(ret)
    assert (ra["state"], ra["decision"]) == ("closed", "flag")
    assert ra["notes"] == [
        f"RA {ret['number']}: flagged: JKT-RAIN-NVY-M: 1 damaged (damage reason CC: case "
        "crushing), condition not accepted. Value at risk: 129.00 USD."
    ]
    [discrepancy] = ra["decision_detail"]["discrepancies"]
    assert (discrepancy["kind"], discrepancy["units"]) == ("condition_not_accepted", 1)
    lines = ra["receipts"][0]["lines"]
    assert [(x["quantity"], x["condition"], x["condition_code"]) for x in lines] == [
        (1, "good", ""),
        (1, "damaged", "01"),
    ]


def test_unknown_ra_is_parked_then_reconciled_when_the_ra_appears(hub: Hub) -> None:
    response = hub.client.post(
        "/api/v1/warehouse/receipts",
        json={"ra_number": "RMA-NOPE", "lines": [{"sku": "JKT-RAIN-NVY-M", "quantity": 2}]},
    )
    assert response.status_code == 202
    [receipt] = response.json()["receipts"]
    assert receipt["status"] == "parked"
    assert receipt["error"].startswith("no RA is numbered 'RMA-NOPE'")
    parked = hub.client.get("/api/v1/warehouse/receipts").json()["receipts"]
    assert [p["id"] for p in parked] == [receipt["id"]]


def test_invalid_944_is_refused_with_the_position_and_nothing_applied(hub: Hub) -> None:
    ret = hub.authorized_return()
    hub.worker.drain()
    bad = receipt_944(ret["number"]).replace("N1*WH*Returns DC", "XX9*oops")
    response = hub.client.post("/api/v1/warehouse/receipts", content=bad, headers=EDI)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["code"], error["segment_position"], error["segment"]) == (
        "invalid_edi",
        5,
        "XX9",
    )
    assert error["message"] == "segment 5 (XX9): unknown segment XX9 in a 944"
    assert hub.receipts() == 0
    assert hub.state(ret) == "authorized"


def test_json_receipt_and_content_type_errors(hub: Hub) -> None:
    ret = hub.authorized_return()
    hub.worker.drain()
    wrong = hub.client.post(
        "/api/v1/warehouse/receipts", content="x", headers={"Content-Type": "image/png"}
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["code"] == "unsupported_media_type"
    invalid = hub.client.post("/api/v1/warehouse/receipts", json={"ra_number": "X", "lines": []})
    assert invalid.status_code == 422
    response = hub.client.post(
        "/api/v1/warehouse/receipts",
        json={
            "ra_number": ret["number"],
            "receipt_number": "R-1",
            "lines": [{"sku": "JKT-RAIN-NVY-M", "quantity": 1, "condition": "good"}],
        },
    )
    assert response.status_code == 202
    hub.worker.drain()
    assert hub.state(ret) == "flagged"
    assert "JKT-RAIN-NVY-M: short by 1, expected 2, got 1" in hub.ra_of(ret)["notes"][0]


def test_a_partial_receipt_waits_for_the_rest_then_flags(hub: Hub) -> None:
    ret = hub.authorized_return()
    hub.worker.drain()
    response = hub.client.post(
        "/api/v1/warehouse/receipts",
        content=receipt_944(ret["number"], jackets=1, reporting="P"),
        headers=EDI,
    )
    assert response.status_code == 202
    hub.worker.drain()
    assert (hub.ra_of(ret)["state"], hub.state(ret)) == ("received", "authorized")
    hub.clock.advance(days=3)
    hub.worker.drain()
    assert hub.state(ret) == "flagged"
    assert "partial receipt, the rest did not arrive within 3 days" in hub.ra_of(ret)["notes"][0]


def test_the_rest_of_a_partial_receipt_lets_it_process(hub: Hub) -> None:
    ret = hub.authorized_return()
    hub.worker.drain()
    for control in (21, 22):
        document = receipt_944(ret["number"], jackets=1, reporting="P", control=control)
        assert hub.client.post("/api/v1/warehouse/receipts", content=document, headers=EDI)
        hub.worker.drain()
    assert hub.state(ret) == "processed"
    assert len(hub.ra_of(ret)["receipts"]) == 2


def test_manual_transmit(
    settings: Settings, db: Database, clock: Clock, tmp_path: Path, httpserver: HTTPServer
) -> None:
    for hub in make_hub(settings, db, clock, tmp_path, httpserver, warehouse_auto_transmit=False):
        ret = hub.authorized_return()
        hub.worker.drain()
        ra = hub.ra_of(ret)
        assert (ra["state"], ra["asn_file"]) == ("open", "")
        response = hub.client.post(f"/api/v1/warehouse/ras/{ra['id']}/transmit")
        assert response.status_code == 202
        hub.worker.drain()
        ra = hub.ra_of(ret)
        assert ra["state"] == "transmitted"
        assert (hub.outbound / ra["asn_file"]).read_text() == ra["asn_text"]


def test_files_dropped_in_the_inbound_folder_are_imported(hub: Hub) -> None:
    ret = hub.authorized_return()
    hub.worker.drain()
    hub.inbound.mkdir(parents=True, exist_ok=True)
    (hub.inbound / "bad.edi").write_text("GS*nonsense~")
    (hub.inbound / "receipt.edi").write_text(receipt_944(ret["number"]).replace("\n", "\r\n"))
    hub.clock.advance(seconds=hub.settings.warehouse_scan_seconds + 1)
    hub.worker.drain()
    assert hub.state(ret) == "processed"
    assert sorted(p.name for p in (hub.inbound / "processed").iterdir()) == ["receipt.edi"]
    rejected = hub.inbound / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == ["bad.edi", "bad.edi.error.txt"]
    assert (rejected / "bad.edi.error.txt").read_text().startswith("segment 1 (ISA)")


def test_a_crash_between_steps_resumes_without_duplicate_effects(
    settings: Settings, db: Database, clock: Clock, tmp_path: Path, httpserver: HTTPServer
) -> None:
    crashes = {"left": 1}
    real = default_handlers()[wh.APPLY_DECISION_JOB]

    def apply_then_crash(ctx: HandlerContext, job: ClaimedJob) -> None:
        # The step's transaction commits, then the process dies before recording success.
        real(ctx, job)
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("worker killed")

    handlers = {**default_handlers(), wh.APPLY_DECISION_JOB: apply_then_crash}
    for hub in make_hub(settings, db, clock, tmp_path, httpserver, handlers=handlers):
        ret = hub.authorized_return()
        hub.worker.drain()
        hub.client.post(
            "/api/v1/warehouse/receipts", content=receipt_944(ret["number"]), headers=EDI
        )
        hub.worker.drain()
        assert crashes["left"] == 0
        hub.clock.advance(minutes=5)  # past the retry delay
        hub.worker.drain()
        assert hub.state(ret) == "processed"
        detail = hub.client.get(f"/api/v1/returns/{ret['id']}").json()
        kinds = [t["kind"] for t in detail["timeline"]]
        assert kinds.count("state.process") == 1
        assert kinds.count("warehouse.ra_closed") == 1
        assert len(detail["notes"]) == 1


def test_a_loop_return_is_flagged_in_loop_with_a_note(hub: Hub, httpserver: HTTPServer) -> None:
    ret = hub.authorized_return(source_system="loop", external_id="91823")
    hub.worker.drain()
    headers = {"X-Authorization": LOOP_KEY}
    httpserver.expect_ordered_request(
        "/api/v1/warehouse/return/91823/flag", method="POST", headers=headers
    ).respond_with_data("true")
    note = (
        f"RA {ret['number']}: flagged: JKT-RAIN-NVY-M: missing, expected 2, none received; "
        "HAT-1: not on the RA, 1 received. Value at risk: 258.00 USD."
    )
    httpserver.expect_ordered_request(
        "/api/v1/warehouse/return/91823/note",
        method="POST",
        headers=headers,
        json={"content": note},
    ).respond_with_json({"id": 1})
    response = hub.client.post(
        "/api/v1/warehouse/receipts",
        json={"ra_number": ret["number"], "lines": [{"sku": "HAT-1", "quantity": 1}]},
    )
    assert response.status_code == 202
    hub.worker.drain()
    httpserver.check_assertions()
    assert httpserver.ordered_handlers == []
    assert hub.state(ret) == "flagged"
    assert hub.ra_of(ret)["state"] == "closed"


def test_scopes(hub: Hub) -> None:
    with hub.db.write() as session:
        _, helpdesk = create_key(session, ["helpdesk"])
    bearer = {"Authorization": f"Bearer {helpdesk}"}
    assert hub.client.get("/api/v1/warehouse/ras", headers=bearer).status_code == 200
    refused = hub.client.post(
        "/api/v1/warehouse/receipts", json={"ra_number": "X", "lines": []}, headers=bearer
    )
    assert refused.status_code == 403


def test_cli_transmit_and_import(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETURNHUB_")}
    env |= {
        "RETURNHUB_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db",
        "RETURNHUB_WAREHOUSE_ENABLED": "true",
        "RETURNHUB_WAREHOUSE_AUTO_TRANSMIT": "false",
        "RETURNHUB_WAREHOUSE_OUTBOUND_DIR": str(tmp_path / "out"),
    }
    settings = Settings(database_url=env["RETURNHUB_DATABASE_URL"], warehouse_enabled=True)
    db = Database.from_settings(settings)
    upgrade(db.engine)
    from returnhub.store.types import utcnow

    app = create_app(settings.model_copy(update={"embedded_worker": False}), db)
    with TestClient(app, headers=AUTH) as client:
        hub = Hub(client, Worker(db, settings), db, settings, Clock(utcnow()), tmp_path, tmp_path)
        ret = hub.authorized_return()
        with db.write() as session:
            wh.create_ra(
                session,
                ret["id"],
                settings.model_copy(update={"warehouse_auto_transmit": False}),
                utcnow(),
            )
        hub.worker.close()
    db.dispose()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "returnhub.cli", "warehouse", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    sent = run("transmit", ret["number"])
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == str(tmp_path / "out" / f"943_{ret['number']}_000000001.edi")
    (tmp_path / "r.edi").write_text(receipt_944(ret["number"]))
    imported = run("import", str(tmp_path / "r.edi"))
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split("\t")[1:] == [ret["number"], "recorded\n"]
    again = run("import", str(tmp_path / "r.edi"))
    assert again.stdout.split("\t")[2] == "duplicate\n"
    (tmp_path / "bad.edi").write_text(json.dumps({"ra_number": 1}))
    bad = run("import", str(tmp_path / "bad.edi"))
    assert bad.returncode == 1


# --- X12 to the letter (issue 15) ------------------------------------------------------------


def shipped_criteria() -> rec.Criteria:
    return rec.Criteria.from_mapping(yaml.safe_load(wh.DEFAULT_CRITERIA.read_text()))


def decide(document: str, expected: int = 2) -> rec.Decision:
    """The decision the shipped criteria take on ``document`` for an RA of ``expected``
    jackets at 129.00."""
    criteria = shipped_criteria()
    [receipt], _ = wh.receipts_from_edi(document, criteria)
    return rec.reconcile(
        [rec.ExpectedLine("JKT-RAIN-NVY-M", expected, 12900)],
        [rec.ReceivedLine(x.sku, x.quantity, x.condition) for x in receipt.lines],
        criteria,
        complete=True,
        first_received_at=datetime(2030, 1, 16, tzinfo=UTC),
        now=datetime(2030, 1, 16, tzinfo=UTC),
        currency="USD",
    )


@pytest.mark.parametrize(
    ("jackets", "w13", "outcome", "messages", "at_risk"),
    [
        # 02 and 03 restate the W07 quantity's difference: counted once, never a condition.
        (1, "W13*1*EA*02", "flag", ["JKT-RAIN-NVY-M: short by 1, expected 2, got 1"], 12900),
        (3, "W13*1*EA*03", "flag", ["JKT-RAIN-NVY-M: over by 1, expected 2, got 3"], 0),
        # Conditions, through the criteria and X12's defaults.
        (2, "W13*2*EA*07", "process", [], 0),
        (2, "W13*1*EA*06", "process", [], 0),
        (
            2,
            "W13*1*EA*04",
            "flag",
            ["JKT-RAIN-NVY-M: 1 quality_problem, condition not accepted"],
            12900,
        ),
        (
            2,
            "W13*1*EA*05",
            "flag",
            ["JKT-RAIN-NVY-M: 1 incorrect_product, condition not accepted"],
            12900,
        ),
        (
            2,
            "W13*1*EA*99",
            "flag",
            ["JKT-RAIN-NVY-M: 1 receiving condition 99, condition not accepted"],
            12900,
        ),
    ],
)
def test_w13_is_read_per_element_412(
    jackets: int, w13: str, outcome: str, messages: list[str], at_risk: int
) -> None:
    decision = decide(receipt_944("RMA-1", jackets=jackets, w13=[w13]))
    assert decision.outcome.value == outcome
    assert [d.describe() for d in decision.discrepancies] == messages
    assert decision.value_at_risk == at_risk


def test_a_w13_short_flags_once_end_to_end(hub: Hub) -> None:
    ret = hub.authorized_return()
    hub.worker.drain()
    document = receipt_944(ret["number"], jackets=1, w13=["W13*1*EA*02"])
    response = hub.client.post("/api/v1/warehouse/receipts", content=document, headers=EDI)
    assert response.status_code == 202, response.text
    hub.worker.drain()
    ra = hub.ra_of(ret)
    assert ra["notes"] == [
        f"RA {ret['number']}: flagged: JKT-RAIN-NVY-M: short by 1, expected 2, got 1. "
        "Value at risk: 129.00 USD."
    ]
    assert ra["decision_detail"]["value_at_risk"] == 12900
    assert [(x["quantity"], x["condition"]) for x in ra["receipts"][0]["lines"]] == [(1, "good")]


def written(hub: Hub, prefix: str) -> list[str]:
    """The files we wrote to the outbound folder, each valid 4010 to an independent reader."""
    texts = [p.read_text() for p in sorted(hub.outbound.glob(f"{prefix}_*.edi"))]
    for text in texts:
        assert x12_problems(text) == []
    return texts


def test_a_refused_944_gets_a_997_rejecting_it_over_the_api(hub: Hub) -> None:
    ret = hub.authorized_return()
    hub.worker.drain()
    bad = receipt_944(ret["number"]).replace("SE*6*0001", "SE*9*0001")
    response = hub.client.post("/api/v1/warehouse/receipts", content=bad, headers=EDI)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert (error["segment"], error["segment_position"]) == ("SE", 8)
    hub.worker.drain()
    assert len(written(hub, "943")) == 1
    [ack] = written(hub, "997")
    assert "AK1*RE*17~\nAK2*944*0001~\nAK5*R*4~\nAK9*R*1*1*0~" in ack
    assert "*ZZ*WAREHOUSE3PL   *" in ack.split("~")[0]
    assert hub.receipts() == 0


def test_junk_quantities_are_422_naming_the_element(hub: Hub) -> None:
    ret = hub.authorized_return()
    hub.worker.drain()
    for junk in ("1e30", "inf", "nan", "-1", "abc", "1.5", "99999999", ""):
        document = receipt_944(ret["number"]).replace("W07*2*EA", f"W07*{junk}*EA")
        response = hub.client.post("/api/v1/warehouse/receipts", content=document, headers=EDI)
        assert response.status_code == 422, (junk, response.text)
        [error] = response.json()["errors"]
        assert (error["segment"], error["segment_position"], error["element_position"]) == (
            "W07",
            6,
            1,
        )
    big = hub.client.post(
        "/api/v1/warehouse/receipts",
        json={"ra_number": ret["number"], "lines": [{"sku": "A", "quantity": 1e30}]},
    )
    assert big.status_code == 422
    assert hub.receipts() == 0


def test_a_different_944_reusing_control_numbers_is_refused(hub: Hub) -> None:
    ret = hub.authorized_return()
    hub.worker.drain()
    first = hub.client.post(
        "/api/v1/warehouse/receipts", content=receipt_944(ret["number"]), headers=EDI
    )
    assert first.status_code == 202
    receipt_id = first.json()["receipts"][0]["id"]
    # The same control numbers (ISA13 17, GS06 17, ST02 0001) on another receipt.
    other = receipt_944(ret["number"], jackets=1)
    refused = hub.client.post("/api/v1/warehouse/receipts", content=other, headers=EDI)
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert error["message"].startswith(
        "segment 3 (ST): the control numbers ISA13 000000017, GS06 17, ST02 0001 from "
        f"WAREHOUSE3PL were already used by a different 944 (receipt {receipt_id}, recorded "
    )
    # An identical resend, even with other line endings, is the same receipt.
    again = hub.client.post(
        "/api/v1/warehouse/receipts",
        content=receipt_944(ret["number"]).replace("~\n", "~\r\n"),
        headers=EDI,
    )
    assert again.status_code == 200
    assert again.json()["receipts"][0] == {**first.json()["receipts"][0], "duplicate": True}
    hub.worker.drain()
    assert hub.receipts() == 1
    acks = written(hub, "997")
    assert ["AK5*A~" in a for a in acks].count(True) >= 1
    [rejection] = [a for a in acks if "AK5*R" in a]
    assert "AK2*944*0001~\nAK5*R*7~\nAK9*R*1*1*0~" in rejection


def test_a_json_receipt_number_reused_for_other_lines_is_409(hub: Hub) -> None:
    ret = hub.authorized_return()
    hub.worker.drain()
    body = {"ra_number": ret["number"], "receipt_number": "R-1", "complete": False}
    one = {"sku": "JKT-RAIN-NVY-M", "quantity": 1}
    first = hub.client.post("/api/v1/warehouse/receipts", json={**body, "lines": [one]})
    assert first.status_code == 202
    same = hub.client.post("/api/v1/warehouse/receipts", json={**body, "lines": [one]})
    assert (same.status_code, same.json()["receipts"][0]["duplicate"]) == (200, True)
    two = {**one, "quantity": 2}
    other = hub.client.post("/api/v1/warehouse/receipts", json={**body, "lines": [two]})
    assert other.status_code == 409
    [error] = other.json()["errors"]
    assert (error["field"], error["code"], error["receipt_id"]) == (
        "receipt_number",
        "receipt_number_reused",
        first.json()["receipts"][0]["id"],
    )


def test_a_json_condition_name_longer_than_a_code_is_kept(hub: Hub) -> None:
    ret = hub.authorized_return()
    hub.worker.drain()
    response = hub.client.post(
        "/api/v1/warehouse/receipts",
        json={
            "ra_number": ret["number"],
            "lines": [{"sku": "JKT-RAIN-NVY-M", "quantity": 2, "condition": "like-new-with-tags"}],
        },
    )
    assert response.status_code == 202, response.text
    [line] = response.json()["receipts"][0]["lines"]
    assert (line["condition"], line["condition_code"]) == ("like-new-with-tags", "")


def test_the_inbound_folder_isolates_every_file(hub: Hub, tmp_path: Path) -> None:
    ret = hub.authorized_return()
    hub.worker.drain()
    inbound = hub.inbound
    inbound.mkdir(parents=True, exist_ok=True)
    good = receipt_944(ret["number"], control=30)
    (inbound / "a_overflow.edi").write_text(good.replace("W07*2*EA", "W07*inf*EA"))
    (inbound / "b_wrong_count.edi").write_text(good.replace("SE*6*", "SE*7*"))
    with (inbound / "c_huge.edi").open("wb") as huge:
        huge.truncate(wh.MAX_DOCUMENT_BYTES + 1)  # sparse: the scan must refuse it unread
    outside = tmp_path / "secret.edi"
    outside.write_text(good)
    (inbound / "d_link.edi").symlink_to(outside)
    os.mkfifo(inbound / "e_fifo.edi")
    (inbound / "rejected").write_text("a plain file where the scan keeps its folder")
    (inbound / "z_receipt.edi").write_text(good)
    hub.clock.advance(seconds=hub.settings.warehouse_scan_seconds + 1)
    hub.worker.drain()

    assert hub.state(ret) == "processed"
    assert sorted(p.name for p in (inbound / "processed").iterdir()) == ["z_receipt.edi"]
    rejected = inbound / "rejected"
    reasons = {
        p.name.removesuffix(".error.txt"): p.read_text().strip()
        for p in rejected.glob("*.error.txt")
    }
    assert reasons["a_overflow.edi"].startswith("segment 6 (W07): W0701 'inf' is not a quantity")
    assert reasons["b_wrong_count.edi"].startswith("segment 8 (SE): SE01 says 7 segments")
    assert reasons["c_huge.edi"].endswith(f"at most {wh.MAX_DOCUMENT_BYTES} bytes")
    assert reasons["d_link.edi"].startswith("a symbolic link")
    assert reasons["e_fifo.edi"].startswith("not a regular file")
    assert reasons["rejected"].startswith("was in the place of the rejected/ folder")
    assert (rejected / "d_link.edi").is_symlink() and outside.read_text() == good
    # The two 944s with a readable envelope were answered with a 997 rejecting them.
    acks = written(hub, "997")
    assert sorted(a.count("AK5*R") for a in acks) == [0, 1, 1]
    assert sum("AK5*R*4~" in a for a in acks) == 1
