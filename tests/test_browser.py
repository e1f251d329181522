"""End to end in a real browser: Playwright for Python driving Debian's chromium.

An agent signs in, finds a customer across systems (the ledger and a fake Shopify), links them
and generates a return link; the customer opens it on a phone-sized screen, starts a return and
sees the status page. Screenshots go to test-artifacts/ (and to docs/screenshots/ with
RETURNHUB_UPDATE_SCREENSHOTS=1).

Playwright's own browser download does not work here: the system chromium is used. Without it
the tests skip, unless RETURNHUB_REQUIRE_BROWSER=1 (CI), where a missing browser fails the run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from pytest_httpserver import HTTPServer

from returnhub.api.app import create_app
from returnhub.settings import DEMO_API_KEY, Settings
from returnhub.store.db import Database
from returnhub.store.migrate import upgrade
from returnhub.store.types import utcnow
from tests.test_web_agent import SHOPIFY_PROFILE, shopify_answers

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"


def _browser_missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="module", autouse=True)
def _need_browser() -> None:
    missing = _browser_missing()
    if missing is None:
        return
    if os.environ.get("RETURNHUB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"RETURNHUB_REQUIRE_BROWSER=1 but {missing}")
    pytest.skip(f"browser tests need chromium: {missing}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, HTTPServer]]:
    """The app served by uvicorn on a loopback port, with Shopify connected (a fake server)."""
    shopify = HTTPServer(host="127.0.0.1", port=0)
    shopify.start()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(
        mode="demo",
        database_url=f"sqlite:///{tmp_path / 'browser.db'}",
        embedded_worker=False,
        base_url=base,
        shopify_access_token=SecretStr("shpat_test"),
        shopify_base_url=shopify.url_for(""),
        search_system_timeout_seconds=2.0,
        search_budget_seconds=3.0,
        auto_link_enabled=False,
    )
    db = Database.from_settings(settings)
    upgrade(db.engine)
    app = create_app(settings, db, worker=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield base, shopify
    finally:
        server.should_exit = True
        thread.join(10)
        shopify.clear()
        shopify.stop()
        db.dispose()


def _seed(base: str) -> dict[str, Any]:
    now = utcnow()
    auth = {"Authorization": f"Bearer {DEMO_API_KEY}"}
    with httpx.Client(base_url=base, headers=auth) as api:
        customer = api.post(
            "/api/v1/customers",
            json={"name": "Jordan Lee", "emails": ["jordan.lee@example.com"]},
        ).json()
        order = api.post(
            "/api/v1/orders",
            json={
                "name": "#1086",
                "customer_id": customer["id"],
                "placed_at": (now - timedelta(days=12)).isoformat(),
                "delivered_at": (now - timedelta(days=8)).isoformat(),
                "currency": "USD",
                "lines": [
                    {
                        "sku": "JKT-RAIN-NVY-M",
                        "title": "Rain Jacket",
                        "variant": "Navy / M",
                        "quantity": 1,
                        "unit_price": 12900,
                    },
                    {
                        "sku": "TEE-BASIC-WHT-S",
                        "title": "Basic Tee",
                        "variant": "White / S",
                        "quantity": 2,
                        "unit_price": 2500,
                        "final_sale": True,
                    },
                ],
            },
        )
        assert order.status_code == 201, order.text
    result: dict[str, Any] = order.json()
    return result


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("RETURNHUB_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / name)


def test_agent_links_a_customer_and_the_customer_starts_a_return(
    live: tuple[str, HTTPServer],
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, shopify = live
    order = _seed(base)
    shopify_answers(shopify, [SHOPIFY_PROFILE])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            agent = browser.new_context(viewport={"width": 1280, "height": 900})
            page = agent.new_page()
            page.goto(f"{base}/agent")
            # Keyboard only: the skip link first (with a visible focus ring), then the key field.
            page.keyboard.press("Tab")
            focused = page.evaluate(
                "[document.activeElement.textContent,"
                " getComputedStyle(document.activeElement).outlineStyle]"
            )
            assert focused == ["Skip to content", "solid"]
            page.keyboard.press("Tab")
            expect(page.get_by_label("API key")).to_be_focused()
            page.keyboard.type(DEMO_API_KEY)
            page.keyboard.press("Enter")
            expect(page.get_by_role("heading", name="Find a customer")).to_be_visible()

            # Search every system by email: the ledger and Shopify answer.
            page.get_by_label("Search in").select_option("all")
            page.get_by_label("Email, phone or order number").fill("jordan.lee@example.com")
            page.get_by_role("button", name="Search").click()
            expect(page.get_by_text("gid://shopify/Customer/7")).to_be_visible()
            page.get_by_role("link", name="Open customer").click()

            # On the customer: search the unlinked systems and link the Shopify profile.
            expect(page.get_by_role("heading", name="Jordan Lee")).to_be_visible()
            page.get_by_label("Email, phone or order number").fill("jordan.lee@example.com")
            page.get_by_role("button", name="Search").click()
            page.get_by_role("button", name="Link shopify profile gid://shopify/Customer/7").click()
            expect(page.get_by_role("status")).to_contain_text("Linked shopify profile")
            expect(page.get_by_test_id("links")).to_contain_text("shopify")

            # Generate a return link for the order (htmx swaps it in).
            page.get_by_role("button", name="Generate return link").click()
            link_box = page.get_by_test_id("return-link")
            expect(link_box).to_be_visible()
            url = link_box.input_value()
            assert url.startswith(f"{base}/r/")
            _shot(page, "agent-workspace.png")
            expect(page.locator("#returns")).to_contain_text("No returns yet")

            # The customer opens the link on a phone.
            phone = browser.new_context(
                viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
            )
            cpage = phone.new_page()
            cpage.goto(url)
            heading = cpage.get_by_role("heading", name="Return items from order #1086")
            expect(heading).to_be_visible()
            expect(cpage.get_by_text("the item was sold as final sale")).to_be_visible()
            jacket = order["lines"][0]["id"]
            cpage.locator(f"#qty_{jacket}").fill("1")
            cpage.locator(f"#reason_{jacket}").select_option("too_small")
            cpage.locator(f"#outcome_{jacket}").select_option("exchange")
            cpage.get_by_label("If exchanging: size or colour you want").fill("Navy / L")
            _shot(cpage, "customer-portal.png")
            cpage.get_by_role("button", name="Start my return").click()
            expect(cpage.get_by_test_id("return-state")).to_have_text("requested")
            exchanged = cpage.get_by_text("1 \N{MULTIPLICATION SIGN} Rain Jacket (Navy / L)")
            expect(exchanged).to_be_visible()
            _shot(cpage, "customer-status.png")
            # Nothing overflows sideways on a phone.
            width = cpage.evaluate("document.documentElement.scrollWidth")
            assert width <= 390
            number = cpage.get_by_role("heading", level=1).inner_text().removeprefix("Return ")
            phone.close()

            # The agent's open customer page picks the new return up without a reload (polling).
            expect(page.locator("#returns")).to_contain_text(number, timeout=8000)
            agent.close()
        finally:
            browser.close()
