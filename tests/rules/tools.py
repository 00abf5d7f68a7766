"""The rule and routing files under test, read as data, and the real promtool and amtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
ALERTMANAGER_DIR = ROOT / "alertmanager"
ALERTMANAGER_CONFIG = ALERTMANAGER_DIR / "alertmanager.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
ALERTING_DOC = ROOT / "docs" / "alerting.md"

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def binary(name: str) -> str:
    """The path of a Debian-packaged tool, or a clear error naming the fix."""
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found on PATH: run scripts/setup.sh")
    return path


def run(name: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run a tool with an argv list; the caller asserts on its exit code and output."""
    return subprocess.run(
        [binary(name), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    """Everything a tool said, for assertion messages."""
    said = f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    return f"exit {result.returncode}\n{said}"


def seconds(duration: str) -> float:
    """A Prometheus duration (``1h30m``, ``15m``) in seconds; ValueError when it is not one."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in parts)


def load_yaml(path: Path) -> Any:
    """One YAML file, parsed safely."""
    with path.open() as handle:
        return yaml.safe_load(handle)


@dataclass(frozen=True)
class Rule:
    """One alerting or recording rule of prometheus/rules, with where it lives."""

    file: str
    group: str
    name: str
    kind: str  # "alert" or "record"
    expr: str
    duration: str  # the `for:` of an alert, "0s" when it has none
    labels: dict[str, str]
    annotations: dict[str, str]


def rules(directory: Path = RULES_DIR) -> list[Rule]:
    """Every rule of every file in ``directory``, in file order."""
    found: list[Rule] = []
    for path in sorted(directory.glob("*.yml")):
        for group in load_yaml(path)["groups"]:
            for raw in group["rules"]:
                kind = "alert" if "alert" in raw else "record"
                found.append(
                    Rule(
                        file=path.name,
                        group=group["name"],
                        name=raw[kind],
                        kind=kind,
                        expr=raw["expr"],
                        duration=raw.get("for", "0s"),
                        labels=dict(raw.get("labels") or {}),
                        annotations=dict(raw.get("annotations") or {}),
                    )
                )
    return found


def alerts() -> list[Rule]:
    """The alerting rules."""
    return [rule for rule in rules() if rule.kind == "alert"]


def alert(name: str) -> Rule:
    """The alerting rule called ``name``."""
    matches = [rule for rule in alerts() if rule.name == name]
    if len(matches) != 1:
        raise LookupError(f"expected one alert {name}, found {len(matches)}")
    return matches[0]


def render_prometheus(
    tmp_path: Path, targets: dict[str, str], alertmanager: str | None = None
) -> Path:
    """Our prometheus.yml rendered the way a deployment renders it (target addresses, rule
    path), with one-second scrape and evaluation intervals. ``targets``: job name -> host:port;
    the jobs not named, and Alertmanager unless given, get a port where nobody listens."""
    config = load_yaml(PROMETHEUS_DIR / "prometheus.yml")
    config["global"] |= {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["global"]["scrape_timeout"] = "1s"
    config["rule_files"] = [str(RULES_DIR / "*.yml")]
    nobody = f"127.0.0.1:{free_port()}"
    notified = alertmanager or nobody
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [notified]}]
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets.get(job["job_name"], nobody)]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def rule_test_files() -> list[Path]:
    """The promtool unit test files."""
    return sorted(RULE_TESTS_DIR.glob("*.yml"))


def route_test(config: Path, labels: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``amtool config routes test``: the receivers an alert with ``labels`` reaches."""
    argv = [f"{key}={value}" for key, value in sorted(labels.items())]
    return run("amtool", "config", "routes", "test", f"--config.file={config}", *argv)
