"""Job functions that tests enqueue on the remediation queues, run by real workers.

RQ runs a job by its import path, so these live in an importable module (the worker is
started with the repository on its PYTHONPATH), as RQ's own tests keep theirs.
"""

from __future__ import annotations

import signal
import time

from rq import Retry

from remediator import runner
from remediator.commands import registry
from remediator.commands.base import Command, Context, Verification


def _deaf(ctx: Context) -> None:
    def step() -> None:
        # the job's timeout is a SIGALRM: blocked, it stays pending and never interrupts
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(3600)

    ctx.step("ignore the alarm", step)


def deaf_to_the_alarm(execution_id: str) -> str | Retry:
    """Run an execution through the real runner with a first step that blocks SIGALRM.

    Such a step (C code that never returns to the interpreter, masked signals) outlives
    the job's timeout: only the worker's kill of the work horse ends it. The body is
    swapped in this work horse alone (a fork), never in the worker.
    """
    registry._REGISTRY["FLUSH_REDIS"] = Command(
        run=_deaf, verify=lambda ctx: Verification(False, "never reached")
    )
    return runner.run_job(execution_id)
