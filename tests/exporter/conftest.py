"""Fixtures of the exporter's tests: a running ``amc-exporter`` and a way to read its metrics."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.services import Service, free_port, script, wait_for

FAST_PROBES: dict[str, Any] = {
    "health": {"interval_seconds": 0.2, "timeout_seconds": 2},
    "discovery": {"interval_seconds": 0.3, "timeout_seconds": 61},
    "routes": {"interval_seconds": 0.5, "timeout_seconds": 2},
    "queues": {"interval_seconds": 0.2, "timeout_seconds": 2},
}

Labels = tuple[tuple[str, str], ...]


def promtool_check(text: str) -> None:
    """``promtool check metrics`` finds nothing to say about an exposition."""
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool is installed by scripts/setup.sh"
    done = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""


def parse(text: str) -> dict[tuple[str, Labels], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    samples: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@dataclass
class ExporterHandle:
    """A running exporter process and helpers to read its metrics."""

    url: str
    service: Service
    config_path: Path

    def scrape(self, timeout: float = 5.0) -> str:
        """The text of one ``/metrics`` scrape."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=timeout) as response:
            return str(response.read().decode())

    def value(self, name: str, **labels: str) -> float | None:
        """One sample's value, or None when it is absent."""
        return parse(self.scrape()).get((name, tuple(sorted(labels.items()))))

    def wait(
        self, name: str, until: Callable[[float | None], bool], timeout: float = 20, **labels: str
    ) -> float | None:
        """Wait until the sample satisfies ``until``; return its value."""
        seen: list[float | None] = [None]

        def holds() -> bool:
            seen[0] = self.value(name, **labels)
            return until(seen[0])

        try:
            wait_for(holds, timeout, f"{name}{labels}", step=0.1)
        except TimeoutError as exc:
            raise AssertionError(
                f"{exc}; last value {seen[0]}\n{self.service.log_tail()}"
            ) from None
        return seen[0]


def start_exporter(
    start: Callable[..., Service], directory: Path, platform_url: str, redis_url: str,
    **config: Any,
) -> ExporterHandle:  # fmt: skip
    """Start ``amc-exporter`` against a platform and Redis, with fast probes by default, with
    ``start`` (the ``services`` fixture, or a ``ServiceGroup`` of a module fixture)."""
    port = free_port()
    settings = {"probes": FAST_PROBES, "thresholds": {"health_score_window": 5}, **config}
    path = directory / f"exporter-{port}.yml"
    path.write_text(yaml.safe_dump(settings))
    url = f"http://127.0.0.1:{port}"
    argv = [script("amc-exporter"), "--config", str(path), "--listen", f"127.0.0.1:{port}",
            "--platform-url", platform_url, "--redis-url", redis_url]  # fmt: skip
    service = start(argv, ready_url=url + "/healthz", name="exporter")
    return ExporterHandle(url, service, path)


@pytest.fixture
def exporter_factory(
    services: Callable[..., Service], tmp_path: Path
) -> Callable[..., ExporterHandle]:
    """Start ``amc-exporter`` against a platform and Redis, with fast probes by default."""

    def start(platform_url: str, redis_url: str, **config: Any) -> ExporterHandle:
        return start_exporter(services, tmp_path, platform_url, redis_url, **config)

    return start
