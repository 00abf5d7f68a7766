"""The local stack (``amc-sandbox up``) for tests: the whole of it, or the platform and the
remediator alone (no exporter, Prometheus or Alertmanager, so no alert acts behind a test's
back), under the real supervisord, on free ports."""

from __future__ import annotations

import configparser
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import redis as redis_lib

from tests.services import Service, free_port, http_ok, script, wait_for

PORTS = ("redis", "sandbox", "exporter", "remediator", "prometheus", "alertmanager", "mtail")
MONITORING = ("exporter", "alertmanager", "prometheus", "mtail")
FINAL = ("succeeded", "failed", "timed_out", "cancelled", "dry_run")


@dataclass
class Stack:
    """A running stack: its ports, run directory, token and helpers for its APIs."""

    ports: dict[str, int]
    run_dir: Path
    token: str
    service: Service

    @property
    def conf(self) -> Path:
        return self.run_dir / "supervisord.conf"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def redis(self) -> redis_lib.Redis:
        return redis_lib.Redis(port=self.ports["redis"])

    def call(
        self, name: str, method: str, path: str, body: Any = None, token: bool = True
    ) -> tuple[int, Any]:
        """One JSON call to a program of the stack; (status, decoded body)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url(name) + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token and name == "remediator":
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        return status, json.loads(raw) if raw else None

    def supervisorctl(self, *args: str) -> str:
        done = subprocess.run(
            [script("supervisorctl"), "-c", str(self.conf), *args],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return done.stdout

    def set_fault(self, name: str, **options: Any) -> Any:
        status, body = self.call("sandbox", "PUT", f"/admin/faults/{name}", options)
        assert status == 200, body
        return body

    def faults(self) -> dict[str, dict[str, Any]]:
        _, body = self.call("sandbox", "GET", "/admin/faults")
        return {item["name"]: item for item in body["faults"]}

    def run(self, command: str, timeout: float = 120, **params: Any) -> dict[str, Any]:
        """An operator's run through the remediator's API and queue; the final record."""
        status, body = self.call("remediator", "POST", f"/api/v1/commands/{command}",
                                 {"params": params})  # fmt: skip
        assert status == 202, body
        return self.wait_execution(body["execution_id"], timeout)

    def wait_execution(self, execution_id: str, timeout: float = 120) -> dict[str, Any]:
        """Poll an execution until it is final; its record."""
        seen: dict[str, Any] = {}

        def final() -> bool:
            status, record = self.call("remediator", "GET", f"/api/v1/executions/{execution_id}")
            seen.update(record if status == 200 else {})
            return seen.get("status") in FINAL

        wait_for(final, timeout, f"execution {execution_id} to finish", step=0.25)
        return seen

    def heartbeat(self) -> float | None:
        client = self.redis()
        try:
            raw = client.get("amc:discovery:worker:heartbeat")
        finally:
            client.close()
        return None if raw is None else float(raw)


class ServiceGroup:
    """Our processes outside a test's ``services`` fixture (module fixtures, benchmarks):
    started with the same call, all stopped by ``stop``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[Service] = []
        root.mkdir(parents=True, exist_ok=True)

    def __call__(
        self,
        argv: list[str],
        ready_url: str | None = None,
        name: str = "process",
        timeout: float = 20.0,
        env: dict[str, str] | None = None,
    ) -> Service:
        service = Service(argv, self.root / f"{name}-{len(self.started)}.log", ready_url, env)
        self.started.append(service)
        return service.start(timeout)

    def stop(self) -> None:
        """Stop every process, the last started first."""
        for service in reversed(self.started):
            service.stop(timeout=30)


def _drop_programs(conf: Path, names: Iterable[str]) -> None:
    parser = configparser.RawConfigParser()
    parser.read(conf)
    for name in names:
        parser.remove_section(f"program:{name}")
    with conf.open("w") as out:
        parser.write(out)


def start_stack(
    services: Callable[..., Service],
    tmp_path: Path,
    monitoring: bool = True,
    time_scale: float = 30.0,
    extra: Iterable[str] = (),
    tweak: Callable[[Path], None] | None = None,
) -> Stack:
    """Write the stack's configuration with ``amc-sandbox up --write-only``, drop the
    monitoring programs unless ``monitoring``, and run its supervisord until the platform,
    the remediator and (with monitoring) Prometheus answer and the worker heart-beats.
    ``tweak`` may change the written configurations (in the run directory) before the start."""
    ports = {name: free_port() for name in PORTS}
    run_dir = tmp_path / "stack"
    argv = [script("amc-sandbox"), "up", "--dir", str(run_dir), "--time-scale", str(time_scale)]
    for name, port in ports.items():
        argv += [f"--{name}-port", str(port)]
    written = subprocess.run([*argv, *extra, "--write-only"], capture_output=True, text=True)
    assert written.returncode == 0, written.stderr
    conf = run_dir / "supervisord.conf"
    if not monitoring:
        _drop_programs(conf, MONITORING)
    if tweak is not None:
        tweak(run_dir)
    service = services([script("supervisord"), "-n", "-c", str(conf)],
                       ready_url=f"http://127.0.0.1:{ports['sandbox']}/healthz",
                       name="supervisord", timeout=60)  # fmt: skip
    stack = Stack(ports, run_dir, (run_dir / "remediator.token").read_text().strip(), service)
    checks = {"remediator": "/healthz"} | ({"prometheus": "/-/ready"} if monitoring else {})
    for name, path in checks.items():
        wait_for(partial(http_ok, stack.url(name) + path), 60, f"{name} to answer", step=0.2)
    wait_for(lambda: stack.heartbeat() is not None, 30, "the discovery worker's heartbeat")
    return stack
