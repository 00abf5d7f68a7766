"""The programs' JSON log lines: one schema (docs/architecture.md, "Logs"), one object a line.

``{"ts": <Unix seconds, float>, "level": "debug|info|warning|error|critical", "logger": <name>,
"message": <text>, <extra fields>..., "exc_info": <traceback, when there is one>}``. The time
is the audit entries' own (``ts``, seconds since the epoch): a log line and the stream entry
it repeats agree. An extra field whose value is ``RawJson`` goes in as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from typing import TextIO

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class RawJson(str):
    """A value that is already JSON: put in the line as it is, not encoded again."""

    __slots__ = ()


def _head(ts: float, level: str, logger: str, message: str) -> str:
    return (
        f'{{"ts": {round(ts, 6)!r}, "level": "{level}", '
        f'"logger": {json.dumps(logger)}, "message": {json.dumps(message)}'
    )


def _field(key: str, value: object) -> str:
    text = value if isinstance(value, RawJson) else json.dumps(value, default=str)
    return f", {json.dumps(key)}: {text}"


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object of the schema above."""

    def format(self, record: logging.LogRecord) -> str:
        """One line of JSON with time, level, logger, message and any extra fields."""
        parts = [_head(record.created, record.levelname.lower(), record.name, record.getMessage())]
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            parts.append(_field(key, value))
        if record.exc_info:
            parts.append(f', "exc_info": {json.dumps(self.formatException(record.exc_info))}')
        parts.append("}")
        return "".join(parts)


def info(logger: logging.Logger, message: str, **fields: object) -> None:
    """``logger.info(message, extra=fields)``, the same line; when the root's only handler is
    a buffered ``JsonLines``, written without building a LogRecord (for a program that logs
    on its hot path)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    handlers = logging.getLogger().handlers
    handler = handlers[0] if len(handlers) == 1 else None
    if not isinstance(handler, JsonLines) or not handler.buffered or not logger.propagate:
        logger.info(message, extra=fields)
        return
    line = "".join([_head(time.time(), "info", logger.name, message),
                    *(_field(k, v) for k, v in fields.items()), "}\n"])  # fmt: skip
    with handler.lock:  # type: ignore[union-attr]  # Handler.createLock made it
        try:
            handler.stream.write(line)
        except Exception:  # as logging does: say so on stderr, never fail the caller
            handler.handleError(logging.makeLogRecord({"msg": message}))


class JsonLines(logging.StreamHandler):
    """Writes each record as a line. Buffered, it leaves lines in its stream's buffer and
    writes them in blocks (``flush_every``; WARNING and above at once; the rest at exit),
    instead of one write per line: the server logs every decision."""

    def __init__(self, stream: TextIO, buffered: bool) -> None:
        super().__init__(stream)
        self.buffered = buffered

    def emit(self, record: logging.LogRecord) -> None:
        """Write the line; flush it now unless buffered (WARNING and above always)."""
        if not self.buffered or record.levelno >= logging.WARNING:
            super().emit(record)
            return
        try:
            self.stream.write(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)


def setup(level: str = "INFO", buffered: bool = False) -> None:
    """Send every logger's records to stderr as JSON lines.

    The lines carry no caller, thread or process fields, so logging is told not to collect
    them (the logging HOWTO's "Optimization" settings). ``buffered`` writes stderr in 64 KiB
    blocks; its owner runs ``flush_every`` (a line waits at most that long) and logging's
    exit handler writes the rest.
    """
    logging._srcfile = None  # no stack walk to find the caller of each record
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    stream: TextIO = sys.stderr
    if buffered:
        stream = open(  # noqa: SIM115 (logging.shutdown closes it at exit)
            os.dup(sys.stderr.fileno()), "w", buffering=1 << 16, encoding="utf-8"
        )
    handler = JsonLines(stream, buffered)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def flush() -> None:
    """Write what the handlers hold. A stream that cannot take it now (a full pipe, a closed
    stderr) keeps its lines for the next flush: the server goes on."""
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(OSError, ValueError):
            handler.flush()


async def flush_every(seconds: float) -> None:
    """Write the buffered lines every ``seconds`` (run as a task beside a server)."""
    while True:
        await asyncio.sleep(seconds)
        flush()
