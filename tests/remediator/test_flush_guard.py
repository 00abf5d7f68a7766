"""FLUSH_REDIS never deletes the remediator's own keys or RQ's, by config or at run time."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
import redis as redis_lib

from remediator.config import RemediatorConfig
from remediator.errors import ConfigError
from remediator.intake import submit
from remediator.records import Status
from remediator.store import Store
from tests.config_files import DATA, expected_error
from tests.remediator.conftest import record_of, run
from tests.services import script


@pytest.mark.parametrize(
    ("prefix", "rejected"),
    [
        ("amc:discovery:candidates:", False),  # the defaults: the platform's cache
        ("amc:discovery:status:", False),
        ("amc:", True),  # the remediator's keys are amc:remediator:...
        ("amc:r", True),
        ("amc:remediator:", True),
        ("amc:remediator:audit", True),
        ("amc:rem", True),  # shorter than our prefix: it takes our keys too
        ("a", True),
        ("", True),  # every key
        ("amc:s", False),
        ("amc:remediatorx", False),  # only a key starting amc:remediatorx: not ours
        ("rq:", True),
        ("rq:queue:", True),
        ("r", True),
        ("rq", True),
        ("rqx", False),
        ("queue:", False),
        ("*", False),  # no glob: the keys that begin with a star
        ("amc:[r]", False),
    ],
)
def test_prefixes_that_reach_our_keys_are_rejected(
    make_config: Callable[..., RemediatorConfig], prefix: str, rejected: bool
) -> None:
    if rejected:
        reach = r"platform\.cache_prefixes\.0: (would reach|must not be empty)"
        with pytest.raises(ConfigError, match=reach):
            make_config(platform={"cache_prefixes": [prefix]})
    else:
        config = make_config(platform={"cache_prefixes": [prefix]})
        assert config.platform.cache_prefixes == [prefix]


def test_a_prefix_is_literal_in_the_scan(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
    redis: redis_lib.Redis,
) -> None:
    # Glob characters in a prefix are the keys' own: "c[a]che:*" takes neither "cache:x"
    # nor "c[a]che-x".
    config = make_config(platform={"cache_prefixes": ["c[a]che:*"]})
    redis.mset({"c[a]che:*1": "1", "cache:x": "2", "c[a]che:x": "3", "c[a]che-x": "4"})
    record = run(store_factory(config), "FLUSH_REDIS", run_jobs)
    assert record["status"] == Status.SUCCEEDED
    assert record["result"] == {"deleted": {"c[a]che:*": 1}, "total": 1}
    assert redis.exists("cache:x", "c[a]che:x", "c[a]che-x") == 3


def test_check_config_rejects_a_prefix_over_our_keys() -> None:
    path = DATA / "invalid-remediator-flush-own-keys.yml"
    proc = subprocess.run(
        [script("amc-remediator"), "check-config", "--config", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == f"amc-remediator: {expected_error(path)}\n"


def test_flush_redis_never_unlinks_our_keys_even_if_configured_to(
    make_config: Callable[..., RemediatorConfig],
    store_factory: Callable[[RemediatorConfig], Store],
    run_jobs: Callable[..., bool],
    redis: redis_lib.Redis,
) -> None:
    config = make_config()
    # a config that escaped validation (built in code): the run-time guard still holds
    platform = config.platform.model_copy(update={"cache_prefixes": ["amc:", "rq:"]})
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
    assert record.result["deleted"] == {"amc:": 1, "rq:": 0}
