"""Attempts that ended without recording their end, and pending marks left behind.

A work horse killed by its worker (``horse_died``), a worker killed with its horse (RQ's
abandoned-job cleanup calls ``job_failed``), a job deleted or lost: the record must not stay
``running`` for ever, the lock and the pending mark must go, and the audit must say so.
``reconcile`` runs in the worker's maintenance and catches whatever the others missed.
"""

from __future__ import annotations

import logging
from types import TracebackType

import redis
from rq.exceptions import AbandonedJobError, NoSuchJobError
from rq.job import Job, JobStatus

from remediator import approvals, keys
from remediator.commands.catalog import CATALOG
from remediator.records import Execution, Status
from remediator.runner import Runtime, finish, installed, runtime_or_none

log = logging.getLogger(__name__)

# RQ states in which a job will never run again.
OVER = frozenset({JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})
# How many of the newest records the maintenance looks at.
RECONCILE_RECORDS = 1000


def lost_attempt(
    runtime: Runtime, record: Execution, status: Status, will_retry: bool, detail: str
) -> None:
    """End an attempt that could not record its own end; release what it held."""
    now = runtime.clock()
    record.error = detail
    for step in record.steps:
        if step.status == "running":
            step.status = "timed_out" if status is Status.TIMED_OUT else "failed"
            step.ended_at = now
    if runtime.store.release_lock_of(record.id):
        log.warning("released the disruptive-command lock held by lost %s", record.id)
    if will_retry:
        record.status = Status.RETRYING
        runtime.store.save_if_open(record, "execution_retrying", failed_as=status.value)
        return
    finish(runtime, record, status)


def horse_died(execution_id: str, timed_out: bool, will_retry: bool, detail: str) -> None:
    """Record an attempt whose work horse died without recording its own end.

    Called by the worker when it killed the horse (it outlived its timeout and ignored the
    alarm) or the horse crashed; without it the record would stay ``running`` for ever.
    """
    runtime = installed()
    record = runtime.store.get_execution(execution_id)
    if record is None or record.final or record.status is Status.RETRYING:
        return
    status = Status.TIMED_OUT if timed_out else Status.FAILED
    lost_attempt(runtime, record, status, will_retry, f"work horse died: {detail}")


def job_failed(
    job: Job,
    connection: redis.Redis,
    exc_type: type[BaseException] | None,
    exc_value: BaseException | None,
    traceback: TracebackType | None,
) -> None:
    """RQ's failure callback of every remediation job.

    A failed attempt has recorded itself already, so this acts only on an attempt that
    could not: above all one whose worker died with it, which RQ's maintenance finds in the
    started registry once its heartbeat expired and fails as abandoned.
    """
    runtime = runtime_or_none()
    if runtime is None:  # RQ's cleanup in a process of someone else's: reconcile catches it
        log.warning("job %s failed outside a remediation worker; left to reconcile", job.id)
        return
    record = runtime.store.get_execution(job.id)
    if record is None or record.final or record.status is Status.RETRYING:
        return
    if isinstance(exc_value, AbandonedJobError):
        detail = "abandoned: its worker died during the attempt (found by RQ's maintenance)"
    else:
        detail = f"failed without recording why: {exc_type.__name__ if exc_type else '?'}"
    lost_attempt(runtime, record, Status.FAILED, bool(job.retries_left), detail)


def reconcile(runtime: Runtime, lock_seconds: int) -> None:
    """Expire the approvals past their deadline, end records whose RQ job is gone or over,
    clear pending marks without a job, and look at the circuits (one closed by its timeout
    is audited).

    One worker at a time does it (a lock of ``lock_seconds``).
    """
    conn = runtime.store.conn
    if not conn.set(keys.MAINTENANCE, "reconcile", nx=True, ex=lock_seconds):
        return
    approvals.expire_overdue(runtime.store, runtime.clock())
    for record in runtime.store.unfinished(RECONCILE_RECORDS):
        if record.status is Status.AWAITING_APPROVAL:  # no job until a person approves it
            continue
        over = _job_over(conn, record.id)
        if over is not None:
            detail = f"lost: its RQ job is {over} but the record was never ended"
            lost_attempt(runtime, record, Status.FAILED, False, detail)
    _stale_pending(runtime)
    runtime.store.circuits(runtime.clock())  # audits the circuits closed by their timeout


def _stale_pending(runtime: Runtime) -> None:
    """Clear each command's pending mark whose job no longer exists or will never run."""
    conn = runtime.store.conn
    names = list(CATALOG)
    marks: list[bytes | None] = conn.mget([keys.pending(name) for name in names])  # type: ignore[assignment]
    for name, mark in zip(names, marks, strict=True):
        if mark is None:
            continue
        execution_id = mark.decode()
        over = _job_over(conn, execution_id)
        if over is not None and runtime.store.clear_pending_mark(name, execution_id):
            fields = {"command": name, "execution_id": execution_id, "job": over}
            runtime.store.audit_event("pending_cleared", fields)


def _job_over(conn: redis.Redis, job_id: str) -> str | None:
    """Why the job ``job_id`` will never run again (``gone``, ``failed``...), else None."""
    try:
        job = Job.fetch(job_id, connection=conn)
    except NoSuchJobError:
        return "gone"
    status = job.get_status(refresh=False)
    return status.value if status in OVER else None
