"""`returnhub rules check` and `returnhub rules show`, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from returnhub.services.routing import DEFAULT_RULES_FILE, rules_path
from returnhub.settings import Settings

RETURNHUB = [sys.executable, "-m", "returnhub.cli"]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RETURNHUB_")}
    return subprocess.run(
        [*RETURNHUB, "rules", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_accepts_the_shipped_rules() -> None:
    result = run("check", str(DEFAULT_RULES_FILE))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{DEFAULT_RULES_FILE}: ok, 5 rules and a default",
        "  1. refund-pending (line 13) → returns-senior, high",
        "  2. vip-open-return (line 27) → returns, high",
        "  3. open-return (line 41) → returns, normal",
        "  4. vip (line 52) → general, high",
        "  5. recent-delivery (line 62) → general, normal",
        "  default → general, normal",
    ]


def test_check_lists_every_error_with_rule_and_line(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(
        "rules:\n"
        "  - name: refund-pending\n"
        "    when: {attr: refund.pending_days, op: matches, value: '[7-9]'}\n"
        "    then: {queue: returns-senior, priority: high}\n"
        "  - name: angry\n"
        "    when: {attr: contact.text, op: matches, value: '(refund'}\n"
        "    then: {queue: returns}\n"
    )
    result = run("check", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}: 3 problems",
        f"{path}: rule 'refund-pending' (line 3): operator matches does not fit number "
        "attribute refund.pending_days (number attributes take eq, ne, gt, gte, lt, lte, in, "
        "not_in, exists)",
        f"{path}: rule 'angry' (line 6): bad regular expression '(refund' for contact.text: "
        "missing ), unterminated subpattern at position 0",
        f"{path}: line 1: missing default: every file ends with a default route "
        "(e.g. default: {queue: general}) for contacts no rule matches",
    ]


def test_check_a_missing_file(tmp_path: Path) -> None:
    result = run("check", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "cannot read" in result.stderr


def test_show_prints_the_active_file(tmp_path: Path) -> None:
    # Without RETURNHUB_ROUTING_RULES_FILE the shipped file is active (rules_path's unit case).
    assert rules_path(Settings()) == DEFAULT_RULES_FILE
    own = tmp_path / "routing.yaml"
    own.write_text("rules: []\ndefault: {queue: everyone}\n")

    result = run("show", RETURNHUB_ROUTING_RULES_FILE=str(own))

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{own}\n"
    assert "0 rules and a default" in result.stderr
