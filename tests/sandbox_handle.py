"""A running sandbox (API and discovery worker processes) for tests and benchmarks."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import yaml

from tests.services import Service, free_port, script, wait_for

TEST_DEFAULTS: dict[str, Any] = {"heartbeat_interval_seconds": 0.5, "market_tick_seconds": 0}


@dataclass
class SandboxHandle:
    """The sandbox's URLs and processes, with helpers for its HTTP API."""

    url: str
    redis_url: str
    config_path: Path
    api: Service
    worker: Service | None = None
    start_worker: Callable[[], Service] | None = field(default=None, repr=False)

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 30
    ) -> tuple[int, Any]:
        """Call the API; returns the status and the decoded JSON body."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw else None

    def get(self, path: str, timeout: float = 30) -> tuple[int, Any]:
        return self.request("GET", path, timeout=timeout)

    def set_fault(self, name: str, **options: Any) -> Any:
        status, body = self.request("PUT", f"/admin/faults/{name}", options)
        assert status == 200, body
        return body

    def clear_fault(self, name: str) -> Any:
        status, body = self.request("DELETE", f"/admin/faults/{name}")
        assert status == 200, body
        return body

    def faults(self) -> dict[str, dict[str, Any]]:
        _, body = self.get("/admin/faults")
        return {item["name"]: item for item in body["faults"]}

    def trigger(self, **params: Any) -> str:
        """Queue a manual discovery run; returns its job id."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        status, body = self.request("POST", f"/discovery/trigger?{query}")
        assert status == 202, body
        return str(body["job_id"])

    def wait_job(self, job_id: str, timeout: float = 20) -> dict[str, Any]:
        """Wait until a job has ended; returns its status report."""
        report: dict[str, Any] = {}

        def ended() -> bool:
            nonlocal report
            _, report = self.get(f"/discovery/status?job_id={job_id}")
            return report.get("status") in ("finished", "failed")

        wait_for(ended, timeout, f"job {job_id} to end", step=0.1)
        return report

    def heartbeat_age(self) -> float | None:
        client = redis.Redis.from_url(self.redis_url)
        try:
            raw = client.get("amc:discovery:worker:heartbeat")
        finally:
            client.close()
        return None if raw is None else time.time() - float(raw)


def start_sandbox(
    start: Callable[..., Service], tmp_path: Path, redis_url: str, worker: bool = True,
    **config: Any,
) -> SandboxHandle:  # fmt: skip
    """Start ``amc-sandbox serve`` (and ``worker``) with a config file of the test's."""
    port = free_port()
    settings = {**TEST_DEFAULTS, **config, "redis_url": redis_url, "listen": f"127.0.0.1:{port}"}
    config_path = tmp_path / f"sandbox-{port}.yml"
    config_path.write_text(yaml.safe_dump(settings))
    url = f"http://127.0.0.1:{port}"
    api = start([script("amc-sandbox"), "serve", "--config", str(config_path)],
                ready_url=f"{url}/healthz", name="sandbox-api")  # fmt: skip

    def start_worker() -> Service:
        client = redis.Redis.from_url(redis_url)
        before = client.get("amc:discovery:worker:heartbeat")
        service = start([script("amc-sandbox"), "worker", "--config", str(config_path)],
                        name="sandbox-worker")  # fmt: skip
        try:
            wait_for(lambda: client.get("amc:discovery:worker:heartbeat") not in (None, before),
                     20, "the discovery worker's first heartbeat")  # fmt: skip
        finally:
            client.close()
        return service

    handle = SandboxHandle(url, redis_url, config_path, api, start_worker=start_worker)
    if worker:
        handle.worker = start_worker()
    return handle
