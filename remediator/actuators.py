"""Actuators: the allow-listed ways to act on the platform (argv command, HTTP call, signal).

Configured in ``actuators:`` and named by the platform's roles (workers_restart, api_restart,
configuration); the restart and configuration commands call them. Nothing from an alert ever
reaches them: argv, URL and headers come from the configuration alone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from remediator.actuator_config import CommandActuator, HttpActuator, SignalActuator
from remediator.config import RemediatorConfig
from remediator.errors import ActuatorFailed

log = logging.getLogger(__name__)

OUTPUT_LIMIT = 2000
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Outcome:
    """What an actuator did, for the step's result."""

    actuator: str
    kind: str
    duration_seconds: float
    detail: dict[str, Any]


def run_command(spec: CommandActuator, stdin: bytes | None = None) -> dict[str, Any]:
    """Run the argv with a timeout and an explicit environment; never a shell.

    It runs in a session of its own, so a timeout ends everything it started, not only the
    direct child. ``stdin`` (settings as JSON) is its standard input, never an argument.
    """
    env = {"PATH": os.environ.get("PATH", DEFAULT_PATH), **spec.env}
    try:
        proc = subprocess.Popen(
            spec.argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        raise ActuatorFailed(f"{spec.argv[0]}: {exc.strerror}") from None
    try:
        out, err = proc.communicate(stdin, timeout=spec.timeout_seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise ActuatorFailed(f"{spec.argv[0]} killed after {spec.timeout_seconds}s") from None
    stderr = err.decode(errors="replace")[-OUTPUT_LIMIT:]
    if proc.returncode != 0:
        raise ActuatorFailed(f"{spec.argv[0]} exited {proc.returncode}: {stderr[-200:]}")
    stdout = out.decode(errors="replace")[-OUTPUT_LIMIT:]
    return {"returncode": proc.returncode, "stdout": stdout, "stderr": stderr}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: it would carry secret headers elsewhere and turn a POST into
    a GET; a 3xx is an answer, judged against ``expect_status`` like any other."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


NO_REDIRECTS = urllib.request.build_opener(_NoRedirect)
"""An opener that never follows redirects (every HTTP call of the remediator uses it)."""


def call_http(
    spec: HttpActuator, body: bytes | None = None, method: str | None = None
) -> dict[str, Any]:
    """Call the URL with headers read from files or the environment (values never logged);
    ``body`` is sent as JSON."""
    method = method or spec.method
    data = None if method == "GET" else (body or b"")
    # the URL is validated as http(s) by the configuration (never file: or custom schemes)
    request = urllib.request.Request(spec.url, method=method, data=data)  # noqa: S310
    if body is not None and method != "GET":
        request.add_header("Content-Type", "application/json")
    for name, secret in spec.headers.items():
        request.add_header(name, secret.read())
    try:
        with NO_REDIRECTS.open(request, timeout=spec.timeout_seconds) as resp:
            status, body = resp.status, resp.read(OUTPUT_LIMIT)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(OUTPUT_LIMIT)
    except (OSError, ValueError) as exc:
        raise ActuatorFailed(f"{method} {spec.url}: {exc}") from None
    if status not in spec.expect_status:
        raise ActuatorFailed(f"{method} {spec.url} answered {status}")
    return {"status": status, "body": body.decode(errors="replace")}


def send_signal(spec: SignalActuator) -> dict[str, Any]:
    """Signal the process whose id is in the pidfile."""
    try:
        pid = int(spec.pidfile.read_text().strip())
    except (OSError, ValueError) as exc:
        raise ActuatorFailed(f"pidfile {spec.pidfile}: {exc}") from None
    if pid <= 1:  # 0 and -1 would signal a whole process group or every process we may
        raise ActuatorFailed(f"pidfile {spec.pidfile}: refusing to signal pid {pid}")
    try:
        os.kill(pid, signal.Signals[spec.signal])
    except ProcessLookupError:
        raise ActuatorFailed(f"no process {pid} (pidfile {spec.pidfile})") from None
    except PermissionError:
        raise ActuatorFailed(f"not allowed to signal process {pid}") from None
    return {"pid": pid, "signal": spec.signal}


def actuate(config: RemediatorConfig, name: str, body: dict[str, Any] | None = None) -> Outcome:
    """Run the configured actuator ``name``; ``body`` (settings) goes as JSON to an HTTP call's
    body or a command's standard input, and a signal cannot carry it."""
    spec = config.actuators.get(name)
    if spec is None:
        raise ActuatorFailed(f"no actuator named {name!r}")
    data = None if body is None else json.dumps(body).encode()
    started = time.monotonic()
    if isinstance(spec, CommandActuator):
        detail = run_command(spec, data)
    elif isinstance(spec, HttpActuator):
        detail = call_http(spec, data)
    elif data is not None:
        raise ActuatorFailed(f"actuator {name!r} sends a signal: it cannot carry settings")
    else:
        detail = send_signal(spec)
    outcome = Outcome(name, spec.kind, round(time.monotonic() - started, 6), detail)
    log.info("actuator %s (%s) done", name, spec.kind, extra={"actuator": name})
    return outcome


def for_role(config: RemediatorConfig, role: str, body: dict[str, Any] | None = None) -> Outcome:
    """Run the actuator configured for a platform role (workers_restart, api_restart...)."""
    name = getattr(config.platform, role, None)
    if name is None:
        raise ActuatorFailed(f"no actuator configured for platform.{role}")
    return actuate(config, name, body)


def read_back(config: RemediatorConfig, name: str) -> dict[str, Any] | None:
    """GET the URL of HTTP actuator ``name`` (a settings resource reads back what it holds);
    None for the other kinds."""
    spec = config.actuators.get(name)
    if not isinstance(spec, HttpActuator):
        return None
    return call_http(spec, method="GET")
