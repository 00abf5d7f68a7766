"""Actuators run for real: an argv without a shell, an HTTP call, a signal to a pidfile."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from remediator import actuators
from remediator.actuators import actuate, for_role
from remediator.config import RemediatorConfig, parse_config
from remediator.errors import ActuatorFailed, RemediatorError
from tests.services import wait_for

WRITE_ENV = "import json, os, sys; open(sys.argv[1], 'w').write(json.dumps(dict(os.environ)))"


def config(**actuators: Any) -> RemediatorConfig:
    platform = {"workers_restart": "w"} if "w" in actuators else {}
    return parse_config({"actuators": actuators, "platform": platform})


def test_actuator_failures_are_remediator_errors_of_errors_py() -> None:
    assert actuators.ActuatorFailed is ActuatorFailed
    assert issubclass(ActuatorFailed, RemediatorError)


def test_command_runs_the_argv_with_an_explicit_environment(tmp_path: Path) -> None:
    out = tmp_path / "env.json"
    argv = [sys.executable, "-c", WRITE_ENV, str(out)]
    cfg = config(w={"kind": "command", "argv": argv, "env": {"SUPERVISOR_SERVER_URL": "x"}})
    outcome = for_role(cfg, "workers_restart")
    assert outcome.detail["returncode"] == 0
    env = json.loads(out.read_text())
    assert env["SUPERVISOR_SERVER_URL"] == "x"
    assert "PATH" in env
    assert "HOME" not in env


def test_command_failures_are_reported(tmp_path: Path) -> None:
    failing = [sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"]
    cfg = config(
        bad={"kind": "command", "argv": failing},
        slow={"kind": "command", "argv": ["sleep", "30"], "timeout_seconds": 0.3},
        missing={"kind": "command", "argv": [str(tmp_path / "nope")]},
    )
    with pytest.raises(ActuatorFailed, match="exited 3: boom"):
        actuate(cfg, "bad")
    with pytest.raises(ActuatorFailed, match=r"killed after 0\.3s"):
        actuate(cfg, "slow")
    with pytest.raises(ActuatorFailed, match="No such file"):
        actuate(cfg, "missing")
    with pytest.raises(ActuatorFailed, match="no actuator named 'other'"):
        actuate(cfg, "other")
    with pytest.raises(ActuatorFailed, match=r"no actuator configured for platform\.api_restart"):
        for_role(cfg, "api_restart")


@pytest.fixture
def http_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server recording what it is sent; /fail answers 500."""
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append({"path": self.path, "headers": dict(self.headers)})
            if self.path == "/moved":
                self.send_response(302)
                self.send_header("Location", "/elsewhere")
                self.end_headers()
                return
            self.send_response(500 if self.path == "/fail" else 202)
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()
    thread.join()


def test_http_calls_with_headers_from_the_environment(
    http_server: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = http_server
    monkeypatch.setenv("RESTART_AUTH", "Bearer s3cret")
    headers = {"Authorization": {"env": "RESTART_AUTH"}}
    cfg = config(
        api={"kind": "http", "url": f"{url}/restart", "headers": headers},
        broken={"kind": "http", "url": f"{url}/fail"},
    )
    outcome = actuate(cfg, "api")
    assert outcome.detail == {"status": 202, "body": "ok"}
    assert seen[0]["path"] == "/restart"
    assert seen[0]["headers"]["Authorization"] == "Bearer s3cret"
    with pytest.raises(ActuatorFailed, match="answered 500"):
        actuate(cfg, "broken")


def test_http_never_follows_a_redirect_with_its_secrets(
    http_server: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = http_server
    monkeypatch.setenv("RESTART_AUTH", "Bearer s3cret")
    headers = {"Authorization": {"env": "RESTART_AUTH"}}
    cfg = config(api={"kind": "http", "url": f"{url}/moved", "headers": headers})
    with pytest.raises(ActuatorFailed, match="answered 302"):
        actuate(cfg, "api")
    assert [s["path"] for s in seen] == ["/moved"]  # /elsewhere was never asked


@pytest.mark.parametrize("pid", ["0", "-1", "1"])
def test_signal_refuses_pids_that_reach_more_than_one_process(tmp_path: Path, pid: str) -> None:
    pidfile = tmp_path / "api.pid"
    pidfile.write_text(f"{pid}\n")
    cfg = config(api={"kind": "signal", "pidfile": str(pidfile), "signal": "SIGTERM"})
    with pytest.raises(ActuatorFailed, match=f"refusing to signal pid {pid}"):
        actuate(cfg, "api")


def test_a_timed_out_command_ends_with_everything_it_started(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys; "
        "p = subprocess.Popen(['sleep', '60']); "
        f"open({str(marker)!r}, 'w').write(str(p.pid)); sys.stdout.flush(); p.wait()"
    )
    cfg = config(slow={"kind": "command", "argv": [sys.executable, "-c", script],
                       "timeout_seconds": 1.0})  # fmt: skip
    with pytest.raises(ActuatorFailed, match="killed after"):
        actuate(cfg, "slow")
    stat = Path(f"/proc/{int(marker.read_text())}/stat")

    def ended() -> bool:
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            return True

    wait_for(ended, 5, "the command's own child to end with it")


def test_signal_reaches_the_process_in_the_pidfile(tmp_path: Path) -> None:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        pidfile = tmp_path / "api.pid"
        pidfile.write_text(f"{proc.pid}\n")
        cfg = config(api={"kind": "signal", "pidfile": str(pidfile), "signal": "SIGTERM"})
        outcome = actuate(cfg, "api")
        assert outcome.detail == {"pid": proc.pid, "signal": "SIGTERM"}
        assert proc.wait(timeout=10) == -signal.SIGTERM
        with pytest.raises(ActuatorFailed, match="no process"):
            actuate(cfg, "api")
    finally:
        proc.kill()
        proc.wait()
