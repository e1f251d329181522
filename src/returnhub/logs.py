"""Structured logs: JSON lines in production (for log shippers), readable lines in demo mode.

Nothing here ever logs settings or request bodies, so secrets and customer data stay out. A
return link's token is a customer's credential and travels in URL paths (``/r/{token}``,
``/api/v1/return-links/{token}``): every log line, uvicorn's access log included, has it
replaced by ``[redacted]`` before it is written.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from returnhub.settings import Settings

REDACTED = "[redacted]"
# The segment after /r/ or /return-links/, up to the next slash, query, quote or space.
_TOKEN_IN_PATH = re.compile(r"(/r/|/return-links/)[^/?#\s\"']+")


def redact(text: str) -> str:
    return _TOKEN_IN_PATH.sub(rf"\1{REDACTED}", text)


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def redact_tokens(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: return-link tokens out of every value (after the traceback is
    rendered to text, so that is covered too)."""
    for key, value in event_dict.items():
        event_dict[key] = _redact_value(value)
    return event_dict


class RedactTokens(logging.Filter):
    """For the standard library's loggers (uvicorn's access and error logs): the access line
    is built from ``record.args`` (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_value(v) for k, v in record.args.items()}
        return True


def _install_filter(name: str) -> None:
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if settings.is_demo
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_tokens,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # stderr: stdout belongs to command output that scripts capture (keys, bench JSON).
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    for name in ("uvicorn.access", "uvicorn.error"):
        _install_filter(name)
