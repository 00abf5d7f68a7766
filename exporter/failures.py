"""The classes of failed discovery jobs: a bounded set, shared with the mtail programs.

RQ keeps a failed job's traceback (``exc_string``) in its latest result; its last line names
the exception's class (``sandbox.errors.ProviderUnavailable: polygon ...``). The ``exception``
label takes the class when it is one of ``KNOWN_EXCEPTIONS``, else ``other``, so a platform
that raises a thousand kinds of error still makes ten label values (``EXCEPTION_LABELS``).
The same set is written in ``prometheus/mtail/*.mtail`` (tests/mtail checks that they agree).
"""

from __future__ import annotations

import re

KNOWN_EXCEPTIONS: tuple[str, ...] = (
    "ProviderUnavailable",
    "ProviderRateLimited",
    "ProviderAuthError",
    "ProviderTimeout",
    "OperationalError",
    "JobTimeoutException",
    "ConnectionError",
    "TimeoutError",
    "RuntimeError",
)
"""Exception classes reported by name (the platform's provider and database errors, RQ's job
timeout, and the common Python ones); every other class is ``other``."""
OTHER = "other"
EXCEPTION_LABELS: tuple[str, ...] = (*KNOWN_EXCEPTIONS, OTHER)
"""Every value of the ``exception`` label."""

_LAST_LINE = re.compile(r"(?:[A-Za-z_]\w*\.)*(?P<name>[A-Za-z_]\w*)(?::\s.*)?")


def exception_label(exc_string: str | None) -> str:
    """The ``exception`` label of a failed job's traceback: its class if known, else other."""
    lines = (exc_string or "").strip().splitlines()
    match = _LAST_LINE.fullmatch(lines[-1]) if lines else None
    name = match["name"] if match else OTHER
    return name if name in KNOWN_EXCEPTIONS else OTHER
