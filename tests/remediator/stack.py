"""Our real processes for integration tests: ``amc-remediator serve`` and ``worker``.

Their config files come from the ``make_config_file`` fixture (conftest).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis as redis_lib
from rq import Worker

from tests.remediator.conftest import TOKEN
from tests.services import Service, free_port, script, wait_for


def start_serve(services: Callable[..., Service], config: Path, redis_url: str) -> str:
    """Start ``amc-remediator serve``; returns its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [script("amc-remediator"), "serve", "--config", str(config)]
    argv += ["--listen", f"127.0.0.1:{port}", "--redis-url", redis_url]
    services(argv, ready_url=f"{url}/healthz", name=f"serve-{port}")
    return url


def start_worker(
    services: Callable[..., Service],
    config: Path,
    redis_url: str,
    env: dict[str, str] | None = None,
) -> Service:
    """Start ``amc-remediator worker`` and wait until it is registered in Redis."""
    argv = [script("amc-remediator"), "worker", "--config", str(config), "--redis-url", redis_url]
    conn = redis_lib.Redis.from_url(redis_url)
    before = {w.name for w in Worker.all(connection=conn)}
    service = services(argv, name="worker", env=env)
    try:
        wait_for(
            lambda: bool({w.name for w in Worker.all(connection=conn)} - before),
            20,
            "the remediation worker to register",
        )
    except TimeoutError:
        raise TimeoutError(service.log_tail()) from None
    finally:
        conn.close()
    return service


def call(
    method: str, url: str, data: Any = None, token: str | None = TOKEN, raw: bytes | None = None
) -> tuple[int, Any]:
    """One HTTP request; returns (status, decoded JSON or text)."""
    payload = raw if raw is not None else (None if data is None else json.dumps(data).encode())
    request = urllib.request.Request(url, data=payload, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def deliver(
    base: str, note: dict[str, Any], deadline: float, refused: list[int] | None = None
) -> list[dict[str, Any]]:
    """Send one notification until it is answered 200, as Alertmanager retries (a 503 or a
    refused connection again, anything else is a failure); its decisions. The statuses of the
    refused tries (0: no connection) are appended to ``refused`` when given."""
    while True:
        try:
            status, body = call("POST", f"{base}/webhook", note)
        except OSError:  # refused or reset while serve restarts
            status, body = 0, None
        if status == 200:
            return list(body["decisions"])
        assert status in (0, 503), (status, body)
        if refused is not None:
            refused.append(status)
        assert time.monotonic() < deadline, "a notification was never accepted"
        time.sleep(0.1)


def wait_final(base: str, execution_id: str, timeout: float = 30) -> dict[str, Any]:
    """Poll an execution until it reaches a final status."""
    final = {"succeeded", "failed", "timed_out", "cancelled"}
    seen: dict[str, Any] = {}

    def done() -> bool:
        status, record = call("GET", f"{base}/api/v1/executions/{execution_id}")
        seen.update(record if status == 200 else {})
        return status == 200 and record["status"] in final

    wait_for(done, timeout, f"execution {execution_id} to finish", step=0.1)
    return seen


@dataclass
class Served:
    """A real ``amc-remediator serve`` (no worker) of a module's tests, on its own Redis."""

    base: str
    redis: redis_lib.Redis
    log_dir: Path

    def log_lines(self) -> list[str]:
        """Every line serve has written so far."""
        return [line for path in sorted(self.log_dir.glob("serve-*.log"))
                for line in path.read_text().splitlines()]  # fmt: skip


def send_raw(
    base: str,
    method: str,
    path: str,
    body: bytes | Iterable[bytes] | None,
    headers: dict[str, str],
) -> tuple[int, bytes]:
    """One request as given (no encoding of the path; a body of chunks is sent chunked when
    the headers say so); the status and the body."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        chunked = headers.get("Transfer-Encoding") == "chunked"
        conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()
