"""The JSON log lines (``amc_core.logs``, every program's): one object per line of one schema
(docs/architecture.md, "Logs"); the remediator server's buffered stream."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from amc_core import logs
from amc_core.logs import JsonFormatter, JsonLines, RawJson
from exporter import cli as exporter_cli
from remediator import cli as remediator_cli
from remediator import server as remediator_server


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("amc.test.logs")
    log.propagate = False
    log.setLevel(logging.INFO)
    yield log
    log.handlers.clear()


class Sink(io.StringIO):
    """A stream that tells what was flushed from what was only written."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed = ""

    def flush(self) -> None:
        self.flushed = self.getvalue()


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_every_line_has_the_one_schema(logger: logging.Logger) -> None:
    sink = Sink()
    handler = JsonLines(sink, buffered=False)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.info("starting", extra={"listen": "127.0.0.1:9864", "_private": 1})
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    first, second = lines(sink.flushed)
    assert list(first) == ["ts", "level", "logger", "message", "listen"]
    assert isinstance(first["ts"], float)
    assert (first["level"], first["logger"], first["message"]) == (
        "info",
        "amc.test.logs",
        "starting",
    )
    assert second["level"] == "error"
    assert "ValueError: boom" in str(second["exc_info"])


def test_the_programs_log_with_the_one_formatter() -> None:
    assert exporter_cli.logs is logs
    assert remediator_cli.logs is logs
    assert remediator_server.logs is logs


def test_buffered_lines_wait_for_a_flush_and_warnings_do_not(logger: logging.Logger) -> None:
    sink = Sink()
    handler = JsonLines(sink, buffered=True)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.info("audit %s", "decision", extra={"audit": RawJson('{"reason": "dry_run"}')})
    assert sink.flushed == ""
    assert lines(sink.getvalue())[0]["audit"] == {"reason": "dry_run"}
    logger.warning("503: Redis unreachable")
    assert [e["level"] for e in lines(sink.flushed)] == ["info", "warning"]
    logger.info("later")
    handler.flush()
    assert [e["message"] for e in lines(sink.flushed)][-1] == "later"


def test_unbuffered_lines_are_flushed_one_by_one(logger: logging.Logger) -> None:
    sink = Sink()
    handler = JsonLines(sink, buffered=False)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.info("one", extra={"command": "FLUSH_REDIS"})
    (entry,) = lines(sink.flushed)
    assert (entry["message"], entry["command"], entry["level"]) == ("one", "FLUSH_REDIS", "info")


class Full(Sink):
    """A stream whose writes cannot go out now (a full pipe)."""

    def flush(self) -> None:
        raise BlockingIOError(11, "Resource temporarily unavailable")


def test_a_failed_flush_keeps_the_lines_and_the_flusher_going(logger: logging.Logger) -> None:
    root = logging.getLogger()
    saved = root.handlers[:]
    full = JsonLines(Full(), buffered=True)
    full.setFormatter(JsonFormatter())
    root.handlers[:] = [full]
    try:
        logger.addHandler(full)
        logger.info("kept")
        logs.flush()  # raises nothing
    finally:
        root.handlers[:] = saved
    assert lines(full.stream.getvalue())[0]["message"] == "kept"


@pytest.fixture
def root_sink() -> Iterator[tuple[Sink, JsonLines]]:
    """The root logger as the server sets it up: one buffered JsonLines."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    sink = Sink()
    handler = JsonLines(sink, buffered=True)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    yield sink, handler
    root.handlers[:] = saved
    root.setLevel(level)


@pytest.mark.parametrize("buffered", [True, False])
def test_the_fast_info_line_is_the_logging_line(
    root_sink: tuple[Sink, JsonLines], buffered: bool
) -> None:
    """``logs.info`` writes the server's audit lines without a LogRecord: the same line as
    logging's (but the time), buffered like them; unbuffered it goes through logging."""
    sink, handler = root_sink
    handler.buffered = buffered
    log = logging.getLogger("amc.test.fast")
    entry = RawJson('{"event": "decision", "reason": "dry_run"}')
    logs.info(log, "audit decision", audit=entry, n=3)
    log.info("audit decision", extra={"audit": entry, "n": 3})
    handler.flush()
    fast, slow = lines(sink.flushed)
    assert abs(float(str(fast.pop("ts"))) - float(str(slow.pop("ts")))) < 1
    assert list(fast.items()) == list(slow.items())
    assert fast["audit"] == {"event": "decision", "reason": "dry_run"}
    log.setLevel(logging.WARNING)
    try:
        logs.info(log, "not written")
    finally:
        log.setLevel(logging.NOTSET)
    handler.flush()
    assert len(lines(sink.flushed)) == 2
