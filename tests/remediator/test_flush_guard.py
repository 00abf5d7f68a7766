"""FLUSH_REDIS never deletes the remediator's own keys or RQ's, by config or at run time."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib

from remediator.config import RemediatorConfig
from remediator.errors import ConfigError
from remediator.intake import submit
from remediator.records import Status
from remediator.store import Store
from tests.remediator.conftest import record_of
from tests.services import script

DATA = Path(__file__).parents[1] / "data"


@pytest.mark.parametrize(
    ("pattern", "rejected"),
    [
        ("amc:discovery:candidates:*", False),  # the defaults: the platform's cache
        ("amc:discovery:status:*", False),
        ("amc:*", True),  # the remediator's keys are amc:remediator:...
        ("amc:r*", True),
        ("amc:remediator:audit", True),
        ("amc:rem", False),  # one exact key, shorter than the prefix
        ("amc:[rs]*", True),  # a class containing r
        ("amc:[^r]*", False),  # a class excluding r
        ("amc:[a-z]emediator:*", True),  # a range containing r
        ("amc:[s-z]emediator:*", False),
        ("a?c:*", True),
        ("*:candidates", True),  # a leading star can cover any prefix
        ("rq:*", True),
        ("r\\q:*", True),  # an escaped q is a q
        ("rq", False),
        ("[q-s]q:job:*", True),
        ("queue:*", False),
    ],
)
def test_patterns_that_could_reach_our_keys_are_rejected(
    make_config: Callable[..., RemediatorConfig], pattern: str, rejected: bool
) -> None:
    if rejected:
        with pytest.raises(ConfigError, match=r"platform\.cache_patterns: pattern .* could match"):
            make_config(platform={"cache_patterns": [pattern]})
    else:
        assert make_config(platform={"cache_patterns": [pattern]}).platform.cache_patterns == [
            pattern
        ]


def test_check_config_rejects_a_pattern_over_our_keys() -> None:
    path = DATA / "invalid-remediator-flush-own-keys.yml"
    proc = subprocess.run(
        [script("amc-remediator"), "check-config", "--config", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        f"amc-remediator: {path}: platform.cache_patterns: pattern 'amc:*' could match the "
        "remediator's own keys (amc:remediator:*)\n"
    )


def test_flush_redis_never_unlinks_our_keys_even_if_configured_to(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
    redis: redis_lib.Redis,
) -> None:
    config = make_config()
    # a config that escaped validation (built in code): the run-time guard still holds
    platform = config.platform.model_copy(update={"cache_patterns": ["amc:*", "rq:*"]})
    config = config.model_copy(update={"platform": platform})
    redis.set("amc:discovery:candidates:v2", "demo")
    redis.set("rq:queue:discovery", "platform's queue")
    store = store_factory(config)
    execution_id = submit(store, "FLUSH_REDIS", {}, "manual")
    own_before = set(redis.keys("amc:remediator:*"))
    run_jobs(store)
    record = record_of(store, execution_id)
    assert record.status is Status.SUCCEEDED
    assert record.verified is True
    assert redis.exists("amc:discovery:candidates:v2") == 0
    assert redis.exists("rq:queue:discovery") == 1
    assert own_before <= set(redis.keys("amc:remediator:*"))
    assert record.result is not None
    assert record.result["deleted"] == {"amc:*": 1, "rq:*": 0}
