"""Job functions for real RQ workers in the exporter's tests (importable by worker processes)."""

from __future__ import annotations

import time

from rq import get_current_job


def noop() -> str:
    """A job that succeeds at once."""
    return "done"


def boom() -> None:
    """A job that fails."""
    raise RuntimeError("boom")


def fail_with(name: str) -> None:
    """A job that fails with the platform's exception ``name`` (sandbox.errors), or KeyError."""
    from sandbox import errors

    error = getattr(errors, name, None)
    if error is None:
        raise KeyError(name)
    raise error(f"{name} raised by a test job")


def sleep(seconds: float) -> None:
    """A job that takes ``seconds`` (beyond its timeout, RQ raises JobTimeoutException)."""
    time.sleep(seconds)


def hold(key: str, limit: float = 60.0) -> str:
    """A job that runs until ``key`` exists in its Redis (or ``limit`` seconds pass)."""
    job = get_current_job()
    assert job is not None
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and not job.connection.exists(key):
        time.sleep(0.05)
    return "released"
