"""``amc-sandbox up``: the loop under supervisord, restarted the way an operator would."""

import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib

from tests.services import Service, free_port, script, wait_for

pytestmark = pytest.mark.slow


def supervisorctl(conf: Path, *args: str) -> str:
    done = subprocess.run([script("supervisorctl"), "-c", str(conf), *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    return done.stdout


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_stack_runs_and_a_supervisorctl_restart_cures_a_wedged_worker(
    services: Callable[..., Service], tmp_path: Path
) -> None:
    redis_port, api_port = free_port(), free_port()
    run_dir = tmp_path / "stack"
    argv = [script("amc-sandbox"), "up", "--dir", str(run_dir), "--redis-port", str(redis_port),
            "--sandbox-port", str(api_port), "--heartbeat-interval-seconds", "0.5"]  # fmt: skip
    stack = services(argv, ready_url=f"http://127.0.0.1:{api_port}/healthz", name="stack")
    conf = run_dir / "supervisord.conf"
    status = supervisorctl(conf, "status")
    for program in ("redis", "sandbox-api", "sandbox-worker"):
        assert f"{program} " in status
    client = redis_lib.Redis(port=redis_port)
    wait_for(lambda: client.get("amc:discovery:worker:heartbeat") is not None, 20, "heartbeat")

    fault = subprocess.run(
        [script("amc-sandbox"), "fault", "set", "worker_wedged",
         "--api-url", f"http://127.0.0.1:{api_port}"], capture_output=True, text=True,
    )  # fmt: skip
    assert fault.returncode == 0, fault.stderr
    wait_for(lambda: bool(list(client.scan_iter("amc:sandbox:faults:worker_wedged:holder:*"))),
             10, "the worker to wedge")  # fmt: skip
    beat = client.get("amc:discovery:worker:heartbeat")

    assert "sandbox-worker: started" in supervisorctl(conf, "restart", "sandbox-worker")
    wait_for(lambda: client.get("amc:discovery:worker:heartbeat") != beat, 20, "a fresh heartbeat")
    wait_for(lambda: not list(client.scan_iter("amc:sandbox:faults:worker_wedged:holder:*")),
             10, "the wedge to end with its process")  # fmt: skip
    client.close()

    stack.stop(timeout=30)
    assert not port_open(redis_port)
    assert not port_open(api_port)
