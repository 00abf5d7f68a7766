"""The platform's HTTP API as the commands act on it: trigger a discovery run, follow its job.

Synchronous (commands run in RQ work horses), every call bounded by a timeout, redirects never
followed. Paths are the platform's (docs/architecture.md: ``/discovery/trigger``,
``/discovery/status``); nothing from an alert reaches a URL: strategies come from the configuration
and are checked against it before they get here.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from remediator.actuators import NO_REDIRECTS
from remediator.errors import CommandFailed

BODY_LIMIT = 4 << 20


class PlatformApi:
    """JSON calls to the platform's API."""

    def __init__(self, base_url: str, timeout_seconds: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout_seconds

    def call(
        self, method: str, path: str, query: dict[str, Any] | None = None, timeout: float = 0
    ) -> tuple[int, Any]:
        """One call; (HTTP status, decoded JSON or None). CommandFailed when nothing answered."""
        params = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.base_url + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        data = b"" if method != "GET" else None
        # the base URL is validated as http(s) by the configuration
        request = urllib.request.Request(url, method=method, data=data)  # noqa: S310
        try:
            with NO_REDIRECTS.open(request, timeout=timeout or self.timeout) as resp:
                status, raw = resp.status, resp.read(BODY_LIMIT)
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read(BODY_LIMIT)
        except (OSError, ValueError) as exc:
            raise CommandFailed(f"{method} {path}: no answer: {exc}") from None
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    def trigger(self, strategy: str | None = None, limit: int | None = None) -> str:
        """Queue a discovery run; its job id."""
        status, body = self.call(
            "POST", "/discovery/trigger", {"strategy": strategy, "limit": limit}
        )
        if status != 202 or not isinstance(body, dict) or not body.get("job_id"):
            raise CommandFailed(f"POST /discovery/trigger answered {status}: {str(body)[:200]}")
        return str(body["job_id"])

    def job(self, job_id: str) -> dict[str, Any] | None:
        """A discovery job's report (``status``, times, result or error); None when unknown."""
        status, body = self.call("GET", "/discovery/status", {"job_id": job_id})
        if status == 404:
            return None
        if status != 200 or not isinstance(body, dict):
            raise CommandFailed(f"GET /discovery/status answered {status}")
        return body

    def health(self) -> tuple[int, dict[str, Any] | None]:
        """``/health``: its status and body (None when it is not JSON)."""
        status, body = self.call("GET", "/health")
        return status, body if isinstance(body, dict) else None
