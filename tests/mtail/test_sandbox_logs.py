"""The real mtail over the logs the sandbox really wrote under each fault: exact counts.

Each test starts the sandbox (its API and discovery worker processes, on a real Redis), injects
faults one after another and drives traffic; the lines each phase added to the API's and the
worker's logs are cut out and read by ``mtail --one_shot`` with the programs of
``prometheus/mtail/``. Every line the sandbox wrote is recognized (``matched="true"``);
unknown and malformed lines are counted as ``matched="false"``.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.mtail.tools import Metrics, one_shot
from tests.sandbox_handle import SandboxHandle
from tests.services import wait_for

Sandbox = Callable[..., SandboxHandle]
REQUESTS = "amc_platform_http_requests_total"
LINES = "amc_platform_log_lines_total"
DURATION = "amc_platform_http_request_duration_seconds"


class Phase:
    """The lines the sandbox adds to its logs from now on, read by mtail when asked."""

    def __init__(self, sandbox: SandboxHandle, tmp_path: Path, name: str) -> None:
        assert sandbox.worker is not None
        self.sources = {"api": sandbox.api.log_path, "worker": sandbox.worker.log_path}
        # The API logs a request just after answering it: once a marker request is logged,
        # every earlier one is, and the phase starts after it.
        marker = f"/healthz?phase={name}"
        assert sandbox.get(marker)[0] == 200
        wait_for(lambda: f"GET {marker} " in self.sources["api"].read_text(), 20,
                 f"{marker} in the API's log", step=0.05)  # fmt: skip
        self.start = {log: path.stat().st_size for log, path in self.sources.items()}
        # mtail's programs choose a log by its file name: "api" or "worker" in it, not both.
        (tmp_path / name).mkdir()
        self.files = {log: tmp_path / name / f"{log}.log" for log in self.sources}

    def text(self, log: str) -> str:
        with self.sources[log].open("rb") as f:
            f.seek(self.start[log])
            return f.read().decode()

    def wait(self, log: str, needle: str, count: int = 1) -> None:
        wait_for(lambda: self.text(log).count(needle) >= count, 20,
                 f"{count} x {needle!r} in the {log} log", step=0.05)  # fmt: skip

    def read(self, access_lines: int) -> Metrics:
        """Once the API logged ``access_lines`` requests: the phase's metrics."""
        self.wait("api", ' HTTP/1.1" ', access_lines)
        for log, path in self.files.items():
            path.write_text(self.text(log))
        metrics = one_shot(self.files.values())
        for log, path in self.files.items():  # every line the sandbox wrote is recognized
            lines = len(path.read_text().splitlines())
            assert metrics.value(LINES, log=log, matched="true") == lines, log
            assert metrics.value(LINES, log=log, matched="false") == 0, log
        return metrics


def _requests(metrics: Metrics) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["route"], dict(labels)["status_class"]): value
        for (name, labels), value in metrics.samples.items()
        if name == REQUESTS and value
    }


@pytest.fixture
def sandbox(sandbox_factory: Sandbox) -> SandboxHandle:
    handle = sandbox_factory(job_timeout_seconds=2, degraded_strategy_delay_seconds=0.6)
    job_id = handle.trigger()  # results in the cache, so that discovery answers 200
    assert handle.wait_job(job_id)["status"] == "finished"
    return handle


@pytest.mark.parametrize(
    ("provider", "kind", "label", "exception"),
    [
        ("polygon", "unavailable", "other", "ProviderUnavailable"),
        ("polygon", "rate_limited", "rate_limited", "ProviderRateLimited"),
        ("alpaca", "auth", "auth", "ProviderAuthError"),
        ("alpaca", "timeout", "timeout", "ProviderTimeout"),
    ],
)
def test_a_provider_failure_in_both_logs(
    sandbox: SandboxHandle, tmp_path: Path, provider: str, kind: str, label: str,
    exception: str,
) -> None:  # fmt: skip
    phase = Phase(sandbox, tmp_path, kind)
    sandbox.set_fault("provider_down", provider=provider, kind=kind)
    for _ in range(2):
        assert sandbox.get("/health")[0] == 503
    sandbox.trigger()
    phase.wait("worker", f"sandbox.errors.{exception}: ")
    sandbox.clear_fault("provider_down")
    metrics = phase.read(access_lines=5)

    assert _requests(metrics) == {("health", "5xx"): 2, ("trigger", "2xx"): 1, ("other", "2xx"): 2}
    # Two /health checks in the API's log, one discovery job in the worker's.
    assert metrics.by("amc_platform_provider_errors_total", "kind") == {label: 3}
    assert metrics.by("amc_platform_provider_errors_total", "provider") == {provider: 3}
    assert metrics.by("amc_platform_jobs_total", "outcome") == {"started": 1, "failed": 1}
    failures = "amc_platform_job_failures_total"
    assert metrics.value(failures, queue="amc_discovery", exception=exception) == 1
    assert metrics.value(failures) == 1
    assert metrics.by("amc_platform_exceptions_total", "exception") == {exception: 1}


def test_api_errors_database_down_latency_and_a_degraded_strategy(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    phase = Phase(sandbox, tmp_path, "api_errors")
    sandbox.set_fault("api_errors", ratio=1)
    for path in ("/discovery/contenders", "/api/discovery/candidates", "/health"):
        assert sandbox.get(path)[0] == 500
    sandbox.clear_fault("api_errors")
    metrics = phase.read(access_lines=5)
    assert _requests(metrics) == {("contenders", "5xx"): 2, ("health", "5xx"): 1,
                                  ("other", "2xx"): 2}  # fmt: skip
    # Each failed request: "Exception in ASGI application" and its traceback.
    assert metrics.by("amc_platform_exceptions_total", "exception") == {"RuntimeError": 3}

    phase = Phase(sandbox, tmp_path, "database_down")
    sandbox.set_fault("database_down")
    for _ in range(2):
        assert sandbox.get("/health")[0] == 503
    sandbox.clear_fault("database_down")
    metrics = phase.read(access_lines=4)
    assert _requests(metrics) == {("health", "5xx"): 2, ("other", "2xx"): 2}
    assert metrics.by("amc_platform_exceptions_total", "exception") == {"OperationalError": 2}
    assert metrics.value("amc_platform_provider_errors_total") == 0

    phase = Phase(sandbox, tmp_path, "api_latency")
    sandbox.set_fault("api_latency", seconds=0.3)
    for _ in range(2):
        assert sandbox.get("/discovery/contenders")[0] == 200
    sandbox.clear_fault("api_latency")
    metrics = phase.read(access_lines=4)
    assert _requests(metrics) == {("contenders", "2xx"): 2, ("other", "2xx"): 2}
    assert metrics.value(f"{DURATION}_count", route="contenders") == 2
    assert metrics.value(f"{DURATION}_bucket", route="contenders", le="0.25") == 0
    assert metrics.value(f"{DURATION}_bucket", route="contenders", le="0.5") == 2
    assert metrics.value("amc_platform_exceptions_total") == 0

    phase = Phase(sandbox, tmp_path, "low_quality")
    sandbox.set_fault("low_quality")
    assert sandbox.get("/discovery/contenders")[0] == 200
    sandbox.clear_fault("low_quality")
    metrics = phase.read(access_lines=3)
    assert metrics.value(f"{DURATION}_bucket", route="contenders", le="0.5") == 0
    assert metrics.value(f"{DURATION}_bucket", route="contenders", le="1") == 1


def test_a_wedged_worker_times_jobs_out_and_restarts_are_counted(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    phase = Phase(sandbox, tmp_path, "worker_wedged")
    sandbox.set_fault("worker_wedged")
    phase.wait("worker", " wedged: ")
    sandbox.trigger()
    phase.wait("worker", "rq.timeouts.JobTimeoutException: ")  # RQ kills it after 2 s
    sandbox.clear_fault("worker_wedged")
    metrics = phase.read(access_lines=3)
    assert metrics.by("amc_platform_jobs_total", "outcome") == {"started": 1, "failed": 1}
    failures = "amc_platform_job_failures_total"
    assert metrics.value(failures, queue="amc_discovery", exception="JobTimeoutException") == 1
    assert metrics.by("amc_platform_exceptions_total", "exception") == {"JobTimeoutException": 1}

    # A worker restarted three times (each start writes a log of its own here): four starts.
    assert sandbox.start_worker is not None
    assert sandbox.worker is not None
    logs = [sandbox.worker.log_path]
    for _ in range(3):
        sandbox.worker.stop()
        sandbox.worker = sandbox.start_worker()
        logs.append(sandbox.worker.log_path)
    metrics = one_shot(logs)
    assert metrics.value("amc_platform_worker_starts_total") == 4
    assert metrics.value(LINES, log="worker", matched="false") == 0


def test_unknown_and_malformed_lines_are_counted(sandbox: SandboxHandle, tmp_path: Path) -> None:
    phase = Phase(sandbox, tmp_path, "routes")
    job_id = sandbox.trigger()
    phase.wait("worker", " result is kept for ")  # RQ's last line of a finished job
    for path in ("/health", "/healthz", "/discovery/contenders?limit=3",
                 "/api/discovery/contenders/last", f"/discovery/status?job_id={job_id}",
                 "/api/discovery/health"):  # fmt: skip
        assert sandbox.get(path)[0] == 200
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(f"{sandbox.url}/squeeze/alerts", timeout=10)
    assert sandbox.request("POST", "/discovery/emergency/clear-queue")[0] == 200
    metrics = phase.read(access_lines=9)
    assert _requests(metrics) == {
        ("trigger", "2xx"): 1, ("health", "2xx"): 2, ("contenders", "2xx"): 1,
        ("contenders_last", "2xx"): 1, ("status", "2xx"): 1, ("discovery_health", "2xx"): 1,
        ("other", "4xx"): 1, ("emergency", "2xx"): 1,
    }  # fmt: skip
    assert metrics.value(f"{DURATION}_count") == 9

    api, worker = phase.files["api"], phase.files["worker"]
    real = {log: len(path.read_text().splitlines()) for log, path in phase.files.items()}
    with api.open("a") as f:  # a plain uvicorn line (no duration), then three of no known shape
        f.write('INFO:     127.0.0.1:9 - "GET /health HTTP/1.1" 200 OK\n'
                '127.0.0.1 - - [01/Dec/2026:10:00:00 +0000] "GET /health HTTP/1.1" 200 2\n'
                '{"level": "info", "msg": "a JSON line"}\n'
                "\x00\x01 truncated garb\n")  # fmt: skip
    with worker.open("a") as f:  # RQ's own default format, and a shell's message
        f.write("10:33:12 amc_discovery: Job OK (discovery_1)\nworker died: signal 9\n")
    metrics = one_shot([api, worker])
    assert metrics.value(LINES, log="api", matched="true") == real["api"] + 1
    assert metrics.value(LINES, log="api", matched="false") == 3
    assert metrics.value(LINES, log="worker", matched="true") == real["worker"]
    assert metrics.value(LINES, log="worker", matched="false") == 2
    assert metrics.value(REQUESTS, route="health") == 3  # counted, without a duration
    assert metrics.value(f"{DURATION}_count", route="health") == 2
    assert metrics.by("amc_platform_jobs_total", "outcome") == {"started": 1, "finished": 1}
