"""The sandbox as real processes: faults in a process's memory end when it restarts."""

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib

from tests.sandbox_handle import SandboxHandle
from tests.services import descendants_of, script, wait_for

pytestmark = pytest.mark.slow
Factory = Callable[..., SandboxHandle]


def running(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def ready_candidates(sandbox: SandboxHandle) -> list[dict]:
    job_id = sandbox.trigger()
    assert sandbox.wait_job(job_id)["status"] == "finished"
    status, body = sandbox.get("/discovery/contenders")
    assert status == 200
    return list(body["candidates"])


def test_two_runs_with_the_same_seed_give_identical_candidates(
    sandbox_factory: Factory, redis: redis_lib.Redis
) -> None:
    def run(seed: int) -> list[dict]:
        sandbox = sandbox_factory(seed=seed)
        candidates = ready_candidates(sandbox)
        assert sandbox.worker is not None
        sandbox.worker.stop()
        sandbox.api.stop()
        redis.flushall()
        return candidates

    first = run(7)
    assert run(7) == first
    assert run(8) != first


def test_a_wedged_worker_is_cured_by_restarting_it(sandbox_factory: Factory) -> None:
    sandbox = sandbox_factory()
    assert sandbox.worker is not None
    assert sandbox.start_worker is not None
    sandbox.set_fault("worker_wedged")
    wait_for(lambda: any("pid" in h for h in sandbox.faults()["worker_wedged"]["holders"]),
             10, "the worker to take the wedge")  # fmt: skip
    holder = sandbox.faults()["worker_wedged"]["holders"][0]
    assert holder["pid"] == sandbox.worker.pid

    job_id = sandbox.trigger()
    wait_for(lambda: sandbox.get(f"/discovery/status?job_id={job_id}")[1]["status"] == "started",
             10, "the job to start")  # fmt: skip
    # Hung: the heart stops (interval 0.5 s) while the job stays started. The stale heartbeat
    # is the positive sign that the job had time to finish, had it not hung.
    wait_for(lambda: (sandbox.heartbeat_age() or 0.0) > 1.5, 10, "the heartbeat to go stale")
    assert sandbox.get(f"/discovery/status?job_id={job_id}")[1]["status"] == "started"
    _, health = sandbox.get("/discovery/emergency/worker-health")
    assert health["workers"][0]["state"] == "busy"

    worker_pid = sandbox.worker.pid
    horses = descendants_of(worker_pid)
    assert len(horses) == 1  # the work horse that hangs in the job
    sandbox.worker.stop(timeout=5)  # what a process manager's restart does first
    wait_for(lambda: not any(running(pid) for pid in horses), 5, "the work horse to end")
    sandbox.worker = sandbox.start_worker()
    age = sandbox.heartbeat_age()
    assert age is not None
    assert age < 1.5
    wait_for(lambda: not sandbox.faults()["worker_wedged"]["active"], 10, "the wedge to go")
    assert sandbox.wait_job(sandbox.trigger())["status"] == "finished"


def test_an_operator_can_release_a_wedged_worker_by_hand(sandbox_factory: Factory) -> None:
    sandbox = sandbox_factory()
    sandbox.set_fault("worker_wedged")
    wait_for(lambda: any("pid" in h for h in sandbox.faults()["worker_wedged"]["holders"]),
             10, "the worker to take the wedge")  # fmt: skip
    job_id = sandbox.trigger()
    wait_for(lambda: sandbox.get(f"/discovery/status?job_id={job_id}")[1]["status"] == "started",
             10, "the job to start")  # fmt: skip
    sandbox.clear_fault("worker_wedged")
    report = sandbox.wait_job(job_id)
    assert report["status"] == "failed"
    assert "released by an operator" in report["error"][0]
    wait_for(lambda: (sandbox.heartbeat_age() or 99) < 1.5, 10, "the heartbeat to resume")
    assert sandbox.wait_job(sandbox.trigger())["status"] == "finished"


def test_api_faults_are_cured_by_restarting_the_api(sandbox_factory: Factory) -> None:
    sandbox = sandbox_factory(worker=False)
    sandbox.set_fault("api_errors", ratio=1.0)
    sandbox.set_fault("api_latency", seconds=3.0)
    assert sandbox.get("/health")[0] == 500
    assert sandbox.get("/discovery/contenders")[0] == 500
    sandbox.clear_fault("api_errors")
    started = time.monotonic()
    assert sandbox.get("/discovery/contenders")[0] == 202
    assert time.monotonic() - started >= 3.0
    sandbox.set_fault("api_errors", ratio=1.0)
    listed = sandbox.faults()
    assert listed["api_errors"]["active"]
    assert listed["api_latency"]["active"]

    sandbox.api.restart()
    listed = sandbox.faults()
    assert not listed["api_errors"]["active"]
    assert not listed["api_latency"]["active"]
    assert sandbox.get("/health")[0] == 200
    assert sandbox.get("/discovery/contenders", timeout=2.5)[0] == 202  # no 3 s delay


def test_data_faults_survive_a_restart(sandbox_factory: Factory) -> None:
    sandbox = sandbox_factory(worker=False)
    sandbox.set_fault("provider_down", provider="alpaca")
    sandbox.set_fault("mock_data")
    sandbox.api.restart()
    listed = sandbox.faults()
    assert listed["provider_down"]["active"]
    assert listed["mock_data"]["active"]
    assert sandbox.get("/health")[0] == 503


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([script("amc-sandbox"), "fault", *args], capture_output=True, text=True)


def test_fault_cli(sandbox_factory: Factory) -> None:
    sandbox = sandbox_factory(worker=False)
    api = ["--api-url", sandbox.url]
    done = cli("set", "api_errors", "--ratio", "1", *api)
    assert done.returncode == 0, done.stderr
    listing = cli("list", *api).stdout
    active = [line.split()[0] for line in listing.splitlines() if "ACTIVE" in line]
    assert active == ["api_errors"]
    assert cli("clear", "api_errors", *api).returncode == 0
    assert "ACTIVE" not in cli("list", *api).stdout

    bad = cli("set", "api_latency", "--ratio", "1", *api)
    assert (bad.returncode, bad.stderr) == (2, "amc-sandbox: api_latency: ratio: unknown field\n")
    unknown = cli("set", "nope", *api)
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("amc-sandbox: unknown fault 'nope' (known: worker_wedged")
    sandbox.api.stop()
    down = cli("list", *api)
    assert down.returncode == 1
    assert down.stderr.startswith(f"amc-sandbox: cannot reach the sandbox API at {sandbox.url}")
