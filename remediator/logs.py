"""JSON log lines for the services (one object per line, extra fields included)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class RawJson(str):
    """A value that is already JSON: put in the line as it is, not encoded again."""

    __slots__ = ()


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        """One line of JSON with time, level, logger, message and any extra fields."""
        data: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        raw = []
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if isinstance(value, RawJson):
                raw.append(f", {json.dumps(key)}: {value}")
            else:
                data[key] = value
        if record.exc_info:
            data["exc_info"] = self.formatException(record.exc_info)
        text = json.dumps(data, default=str)
        return text[:-1] + "".join(raw) + "}" if raw else text


def setup(level: str = "INFO") -> None:
    """Send every logger's records to stderr as JSON.

    The lines carry no caller, thread or process fields, so logging is told not to collect
    them (the logging HOWTO's "Optimization" settings): every decision writes an audit line.
    """
    logging._srcfile = None  # no stack walk to find the caller of each record
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
