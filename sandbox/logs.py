"""The platform's logs, in the real platform's formats, so that its log programs
(``prometheus/mtail/``) read the sandbox as they read the platform.

- The API logs as uvicorn does: ``INFO:     <message>`` (the level and a colon, padded to
  9 columns), its access lines from ``accesslog.py``, and ``Exception in ASGI application``
  with the traceback when a request fails.
- The worker logs as an RQ worker does under ``logging.basicConfig``: ``<date> <time>,<ms>
  <LEVEL> <message>``, RQ's own job lines (started, ``Job OK``, ``exception raised while
  executing`` with the traceback).
- Both log a failed provider call as ``provider error: <provider> <what happened>``.
"""

from __future__ import annotations

import logging
from typing import Literal

from sandbox.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)

ProviderFailure = Literal["unavailable", "rate_limited", "auth", "timeout"]
PROVIDER_FAILURES: dict[str, tuple[type[ProviderError], str]] = {
    "unavailable": (ProviderUnavailable, "returned 503 Service Unavailable"),
    "rate_limited": (ProviderRateLimited, "returned 429 Too Many Requests"),
    "auth": (ProviderAuthError, "returned 401 Unauthorized: invalid API key"),
    "timeout": (ProviderTimeout, "timed out after 10.0 seconds"),
}
"""How each kind of ``provider_down`` fails: the exception raised and what the log says."""

WORKER_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class UvicornFormatter(logging.Formatter):
    """uvicorn's default format: ``%(levelprefix)s %(message)s``."""

    def __init__(self) -> None:
        super().__init__("%(levelprefix)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.levelprefix = f"{record.levelname}:".ljust(9)
        return super().formatMessage(record)


def configure_api_logging() -> None:
    """Log the API process as uvicorn does, to stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(UvicornFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def configure_worker_logging() -> None:
    """Log the worker process as an RQ worker under ``logging.basicConfig`` does."""
    logging.basicConfig(level=logging.INFO, format=WORKER_FORMAT, force=True)


def provider_failure(provider: str, kind: str) -> ProviderError:
    """The exception of a failed call to ``provider`` (``kind`` of ``PROVIDER_FAILURES``)."""
    error, text = PROVIDER_FAILURES[kind]
    return error(f"{provider} {text}")


def log_provider_failure(log: logging.Logger, level: int, error: ProviderError) -> None:
    """The platform's line for a failed provider call."""
    log.log(level, "provider error: %s", error)
