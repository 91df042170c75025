"""Structured JSON logs. Audit events carry ids and outcomes only: never a token, secret or password.

Records are one JSON object per line on stderr. An ``extra={"audit": {...}}`` mapping becomes
top-level fields; the record's message is the event's human name.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        audit = getattr(record, "audit", None)
        if isinstance(audit, dict):
            out.update(audit)
        if record.exc_info and record.exc_info[0] is not None:
            # The exception's type and where it happened; its message may quote input, so it is left out.
            out["exc_type"] = record.exc_info[0].__name__
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                out["exc_at"] = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        return json.dumps(out, default=str)


def configure(level: str = "INFO") -> None:
    """JSON to stderr for the ``tokenturn`` loggers; idempotent."""
    logger = logging.getLogger("tokenturn")
    logger.setLevel(level)
    if not any(getattr(h, "_tokenturn", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._tokenturn = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logging.Formatter.converter = time.gmtime
    # The JSON lines carry none of these; skip the getpid()/thread lookups on every record.
    logging.logProcesses = False
    logging.logThreads = False
    logging.logMultiprocessing = False
