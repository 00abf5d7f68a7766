"""Redis clients whose pipelines run callbacks once they have executed, never before.

A transaction may be lost to a WATCH conflict or to an unreachable Redis; what must follow
only its success (the audit entry's log line) is attached to the pipeline and run after
``execute()`` returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis


class Pipeline(redis.client.Pipeline):
    """A pipeline with ``after_execute`` callbacks; discarded when it fails or is reset."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after_execute: list[Callable[[], None]] = []

    # redis-py's Pipeline.reset shadows the RESET command of its Redis base the same way
    def reset(self) -> None:  # type: ignore[override]
        """Forget queued commands and callbacks (a WATCH retry starts from nothing)."""
        super().reset()
        self.after_execute = []

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Execute, then run the callbacks: none of them when execution raised."""
        callbacks, self.after_execute = self.after_execute, []
        replies = super().execute(raise_on_error)
        for callback in callbacks:
            callback()
        return replies


class Redis(redis.Redis):
    """A client whose pipelines are ``Pipeline``s."""

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        """A new pipeline (a transaction by default)."""
        return Pipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


def after_execute(pipe: redis.client.Pipeline, callback: Callable[[], None]) -> None:
    """Run ``callback`` once ``pipe`` has executed successfully."""
    if not isinstance(pipe, Pipeline):
        raise TypeError("after_execute needs a pipeline of remediator.pipelines.Redis")
    pipe.after_execute.append(callback)
