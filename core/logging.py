"""Structured JSON logs (structlog) with the request id, and a last-line
defence that masks anything shaped like an identity number or a mobile phone
number before it is written (database errors that quote a value included: the
exception text is scrubbed like every other field)."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

from core.context import client_addr_var, request_id_var

ID_NUMBER_RE = re.compile(r"(?<![0-9])([1-9][0-9]{5})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9])")
# A mainland mobile number (11 digits from 13x-19x), optionally +86 and separators.
PHONE_RE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?(1[3-9][0-9])[- ]?[0-9]{4}[- ]?([0-9]{4})"
                      r"(?![0-9])")


def would_mask(text: str) -> bool:
    """Whether `scrub` would change `text` (`core.ids` keeps its ids clear of it)."""
    return bool(ID_NUMBER_RE.search(text) or PHONE_RE.search(text))


def scrub(value: Any) -> Any:
    if isinstance(value, str):
        value = ID_NUMBER_RE.sub(lambda m: m.group(1) + "********" + m.group(2)[-4:], value)
        return PHONE_RE.sub(lambda m: m.group(1) + "****" + m.group(2), value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(scrub(v) for v in value)
    return value


def _add_request_id(_logger: Any, _name: str, event: dict) -> dict:
    rid = request_id_var.get()
    if rid and "request_id" not in event:
        event["request_id"] = rid
    addr = client_addr_var.get()
    if addr and "client_addr" not in event:
        event["client_addr"] = addr
    return event


def _scrub_event(_logger: Any, _name: str, event: dict) -> dict:
    return {k: scrub(v) for k, v in event.items()}




def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    stream = stream or sys.stdout
    shared: list = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, _scrub_event,
                    structlog.processors.JSONRenderer(ensure_ascii=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Route the standard library (uvicorn, SQLAlchemy warnings) through the same
    # JSON renderer and scrubber.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, _scrub_event,
                    structlog.processors.JSONRenderer(ensure_ascii=False)],
    )
    root = logging.getLogger()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root.handlers = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True  # our access log has the route template


def get_logger(name: str = "huimin") -> Any:
    return structlog.get_logger(name)
