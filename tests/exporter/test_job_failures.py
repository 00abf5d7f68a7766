"""Failed discovery jobs classified by exception class, from real RQ jobs that raise on a real
redis-server, through the exporter's queue probe, to ``amc_discovery_job_failures``."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest
import redis as redis_lib
from prometheus_client import CollectorRegistry
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry
from rq.results import Result

from exporter.config import ExporterConfig
from exporter.failures import EXCEPTION_LABELS, exception_label
from exporter.metrics import ExporterCollector
from exporter.probes import Prober
from exporter.queues import ExceptionCache, read_queue_state

JOBS = "tests.exporter.jobs"


@pytest.mark.parametrize(
    ("exc_string", "label"),
    [
        ("Traceback ...\nsandbox.errors.ProviderRateLimited: polygon 429", "ProviderRateLimited"),
        ("Traceback ...\nrq.timeouts.JobTimeoutException: Task exceeded", "JobTimeoutException"),
        ("Traceback ...\nRuntimeError: boom\n", "RuntimeError"),
        ("Traceback ...\nOperationalError", "OperationalError"),
        ("Traceback ...\nKeyError: 'x'", "other"),  # a class outside the known set
        ("Traceback ...\nmy.module.WeirdError: 1", "other"),
        ("worker amc-1 is gone", "other"),  # RQ's maintenance: no class at all
        ("", "other"),
        (None, "other"),
    ],
)  # fmt: skip
def test_the_exception_label_is_a_known_class_or_other(exc_string: str | None, label: str) -> None:
    assert exception_label(exc_string) == label
    assert label in EXCEPTION_LABELS


def _fail_jobs(redis: redis_lib.Redis, queue_name: str = "amc_discovery") -> None:
    queue = Queue(queue_name, connection=redis)
    for name in ("ProviderRateLimited", "ProviderRateLimited", "ProviderAuthError", "KeyError"):
        queue.enqueue(f"{JOBS}.fail_with", name)
    queue.enqueue(f"{JOBS}.boom")
    queue.enqueue(f"{JOBS}.sleep", 5, job_timeout=1)  # RQ kills it: JobTimeoutException
    queue.enqueue(f"{JOBS}.noop")
    SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)


def test_real_failed_jobs_are_counted_by_class(redis: redis_lib.Redis) -> None:
    before = time.time()
    _fail_jobs(redis)
    state = read_queue_state(redis, ExporterConfig().discovery, time.time())
    assert state.jobs["failed"] == 6
    expected = dict.fromkeys(EXCEPTION_LABELS, 0) | {
        "ProviderRateLimited": 2, "ProviderAuthError": 1, "RuntimeError": 1,
        "JobTimeoutException": 1, "other": 1,
    }  # fmt: skip
    assert state.failures_by_exception(before - 1) == expected
    assert sum(state.failures_by_exception(time.time() + 1).values()) == 0


async def test_the_exporter_renders_them_within_the_cache_ttl(redis: redis_lib.Redis) -> None:
    _fail_jobs(redis)
    _fail_jobs(redis, "elsewhere")  # not the discovery queue: not counted
    now = time.time()
    config = ExporterConfig.model_validate({"thresholds": {"cache_ttl_seconds": 600}})
    clock = [now]
    async with aiohttp.ClientSession() as session:
        prober = Prober(config, session, redis, clock=lambda: clock[0])
        assert await prober.probe_queues()
        registry = CollectorRegistry()
        registry.register(ExporterCollector(prober, clock=lambda: clock[0]))

        def failures() -> dict[str, float | None]:
            return {
                label: registry.get_sample_value("amc_discovery_job_failures", {"exception": label})
                for label in EXCEPTION_LABELS
            }

        assert failures() == dict.fromkeys(EXCEPTION_LABELS, 0.0) | {
            "ProviderRateLimited": 2.0, "ProviderAuthError": 1.0, "RuntimeError": 1.0,
            "JobTimeoutException": 1.0, "other": 1.0,
        }  # fmt: skip
        clock[0] = now + 601  # past the cache TTL: no longer failing now, zeros (not absent)
        assert failures() == dict.fromkeys(EXCEPTION_LABELS, 0.0)


def test_each_failed_jobs_result_is_read_once(
    redis: redis_lib.Redis, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fail_jobs(redis)
    discovery = ExporterConfig().discovery
    known: ExceptionCache = {}
    first = read_queue_state(redis, discovery, time.time(), exceptions=known)
    assert len(known) == 6
    restored: list[str] = []
    restore = Result.restore

    def counted(job_id: str, *args: Any, **kwargs: Any) -> Result:
        restored.append(job_id)
        return restore(job_id, *args, **kwargs)

    monkeypatch.setattr(Result, "restore", counted)
    again = read_queue_state(redis, discovery, time.time(), exceptions=known)
    assert restored == []  # failed results do not change: none read again
    assert again.failed_jobs == first.failed_jobs
    # A new failure is read once; one that left the registry leaves the cache.
    queue = Queue(discovery.queue, connection=redis)
    new = queue.enqueue(f"{JOBS}.boom")
    SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)
    gone = next(iter(known))[0]
    FailedJobRegistry(queue=queue).remove(gone)
    for _ in range(2):
        state = read_queue_state(redis, discovery, time.time(), exceptions=known)
    assert restored == [new.id]
    assert gone not in {job_id for job_id, _ in known}
    assert len(known) == len(state.failed_jobs) == 6
    # An unreadable result is counted as other and warned about once, not on every read.
    monkeypatch.setattr(Result, "restore", lambda *args, **kwargs: 1 / 0)
    queue.enqueue(f"{JOBS}.boom")
    SimpleWorker([queue], connection=redis).work(burst=True, with_scheduler=False)
    with caplog.at_level("WARNING", logger="exporter.queues"):
        for _ in range(2):
            state = read_queue_state(redis, discovery, time.time(), exceptions=known)
    assert [r.message for r in caplog.records].count("unreadable RQ result") == 1
    assert state.failed_jobs[0].exception == "other"
