"""Redis clients whose pipelines run callbacks once they have executed, never before.

A transaction may be lost to a WATCH conflict or to an unreachable Redis; what must follow
only its success (the audit entry's log line) is attached to the pipeline and run after
``execute()`` returned, with the reply of its command when it asked for one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis


class Pipeline(redis.client.Pipeline):
    """A pipeline with ``after_execute`` callbacks; discarded when it fails or is reset."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after_execute: list[tuple[int | None, Callable[..., None]]] = []

    # redis-py's Pipeline.reset shadows the RESET command of its Redis base the same way
    def reset(self) -> None:  # type: ignore[override]
        """Forget queued commands and callbacks (a WATCH retry starts from nothing)."""
        super().reset()
        self.after_execute = []

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Execute, then run the callbacks: none of them when execution raised."""
        callbacks, self.after_execute = self.after_execute, []
        replies = super().execute(raise_on_error)
        for index, callback in callbacks:
            if index is None:
                callback()
            else:
                callback(replies[index])
        return replies


class Redis(redis.Redis):
    """A client whose pipelines are ``Pipeline``s."""

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        """A new pipeline (a transaction by default)."""
        return Pipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


def _ours(pipe: redis.client.Pipeline) -> Pipeline:
    if not isinstance(pipe, Pipeline):
        raise TypeError("after_execute needs a pipeline of remediator.pipelines.Redis")
    return pipe


def after_execute(pipe: redis.client.Pipeline, callback: Callable[[], None]) -> None:
    """Run ``callback`` once ``pipe`` has executed successfully."""
    _ours(pipe).after_execute.append((None, callback))


def after_reply(pipe: redis.client.Pipeline, callback: Callable[[Any], None]) -> None:
    """Run ``callback`` with the reply of the command queued last on ``pipe`` (in MULTI),
    once ``pipe`` has executed successfully."""
    ours = _ours(pipe)
    ours.after_execute.append((len(ours.command_stack) - 1, callback))
