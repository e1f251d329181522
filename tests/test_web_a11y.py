"""Accessibility basics of the stylesheet: text contrast and a visible keyboard focus."""

from __future__ import annotations

import re

import pytest

from returnhub.web.common import STATIC_DIR

CSS = (STATIC_DIR / "app.css").read_text()
VARS = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{3,6})", CSS))


def _hex(color: str) -> tuple[float, float, float]:
    color = VARS.get(color.removeprefix("var(--").removesuffix(")"), color).lstrip("#")
    if len(color) == 3:
        color = "".join(c * 2 for c in color)
    r, g, b = (int(color[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return r, g, b


def _luminance(color: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _hex(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: str, bg: str) -> float:
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


# Every text colour on every background the pages use it on.
PAIRS = [
    ("fg", "bg"),
    ("fg", "card"),
    ("muted", "card"),
    ("muted", "bg"),
    ("muted", "#e4e7eb"),
    ("muted", "#f1f2f4"),
    ("accent", "card"),
    ("accent-fg", "accent"),
    ("danger", "card"),
    ("danger", "#fdecec"),
    ("danger", "#f1f2f4"),
    ("ok", "#e9f6ee"),
    ("#fff", "ok"),
    ("#fff", "#12263f"),
    ("fg", "#e4e7eb"),
]


@pytest.mark.parametrize(("fg", "bg"), PAIRS)
def test_text_contrast_is_at_least_aa(fg: str, bg: str) -> None:
    assert contrast(fg, bg) >= 4.5


def test_keyboard_focus_is_visible() -> None:
    assert re.search(r":focus-visible\s*\{[^}]*outline:\s*3px solid", CSS)
    assert "outline: none" not in CSS and "outline:0" not in CSS.replace(" ", "")
