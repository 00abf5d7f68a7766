"""The configuration of every program of the local stack, rendered from the product's files.

Prometheus loads the production rules with their timers scaled by ``time_scale`` (see
``timescale.py``); Alertmanager the production routing with its intervals scaled and its
receivers pointed at this stack (the remediator, and the sandbox's inbox standing in for
people's pagers); the remediator restarts programs with ``supervisorctl``, as an operator
configures it on a host that runs the platform under supervisord.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.config import SandboxConfig
from sandbox.errors import ConfigError
from sandbox.timescale import scale_route, scale_rules

PROJECT = Path(__file__).resolve().parent.parent
EVALUATION_SECONDS = 5
"""Prometheus' scrape and rule evaluation interval in the stack."""


@dataclass(frozen=True)
class StackSettings:
    """Where the stack runs, on which ports, and how much faster than real time."""

    run_dir: Path
    redis_port: int = 6390
    sandbox_port: int = 8700
    exporter_port: int = 9864
    remediator_port: int = 9865
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    mtail_port: int = 3903
    grafana_port: int = 3000
    time_scale: float = 30.0

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def conf_path(self) -> Path:
        return self.run_dir / "supervisord.conf"

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    def scaled(self, seconds: float, floor: float = 1.0) -> float:
        """A platform or agent timer of ``seconds``, scaled for the demo."""
        return max(floor, round(seconds / self.time_scale, 1))


def project_file(*parts: str) -> Path:
    """A file of the product (rules, routing); ConfigError when the checkout lacks it."""
    path = PROJECT.joinpath(*parts)
    if not path.exists():
        raise ConfigError(f"{path}: not found (the local stack runs from a project checkout)")
    return path


def sandbox_config(s: StackSettings) -> dict[str, Any]:
    """The platform's timers, scaled: cache, heartbeat, lock, job timeout, market ticks and a
    degraded strategy's slower jobs.

    A degraded strategy's slow discovery answers stay real seconds: the rules' 20 s is a fact
    about the platform, not a timer. So the cache lives at least two such answers, else each
    slow answer would find it expired and show no candidates (a discovery failure's symptom)
    instead of the one poor candidate of a strategy gone bad.
    """
    default = {name: field.default for name, field in SandboxConfig.model_fields.items()}

    def timer(name: str, floor: float = 1.0) -> float:
        return s.scaled(default[name], floor)

    slow = float(default["degraded_strategy_delay_seconds"])
    return {
        "listen": f"127.0.0.1:{s.sandbox_port}",
        "redis_url": s.redis_url,
        "cache_ttl_seconds": int(max(timer("cache_ttl_seconds", 10), 2 * slow)),
        "heartbeat_interval_seconds": timer("heartbeat_interval_seconds"),
        "heartbeat_alive_seconds": timer("heartbeat_alive_seconds", 5),
        "lock_ttl_seconds": int(timer("lock_ttl_seconds", 5)),
        "job_timeout_seconds": int(timer("job_timeout_seconds", 10)),
        "market_tick_seconds": int(timer("market_tick_seconds", 5)),
        "degraded_strategy_delay_seconds": slow,
        "degraded_strategy_job_delay_seconds": timer("degraded_strategy_job_delay_seconds"),
    }


def exporter_config(s: StackSettings) -> dict[str, Any]:
    """The exporter on this stack's platform, probing faster (the discovery timeout stays),
    judging the status by the platform's scaled timers."""
    platform = sandbox_config(s)
    return {
        "listen": f"127.0.0.1:{s.exporter_port}",
        "platform": {"url": s.sandbox_url},
        "redis": {"url": s.redis_url},
        "probes": {
            "health": {"interval_seconds": 5, "timeout_seconds": 4},
            "discovery": {"interval_seconds": 5, "timeout_seconds": 90},
            "routes": {"interval_seconds": 30, "timeout_seconds": 4},
            "queues": {"interval_seconds": 5, "timeout_seconds": 4},
        },
        "thresholds": {
            name: platform[name]
            for name in ("heartbeat_interval_seconds", "job_timeout_seconds", "cache_ttl_seconds")
        },
        "integrity": {"frozen_after_seconds": int(s.scaled(3600, 60))},
    }


def prometheus_config(s: StackSettings, rules_dir: Path) -> dict[str, Any]:
    """Prometheus scraping this stack every 5 s and loading the scaled rules."""

    def job(name: str, port: int) -> dict[str, Any]:
        return {"job_name": name, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}

    every = f"{EVALUATION_SECONDS}s"
    return {
        "global": {"scrape_interval": every, "scrape_timeout": "4s", "evaluation_interval": every},
        "rule_files": [str(rules_dir / "*.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{s.alertmanager_port}"]}]}]},
        "scrape_configs": [
            job("amc-exporter", s.exporter_port),
            job("amc-remediator", s.remediator_port),
            job("prometheus", s.prometheus_port),
            job("alertmanager", s.alertmanager_port),
            job("amc-mtail", s.mtail_port),
        ],
    }  # fmt: skip


def write_scaled_rules(s: StackSettings, rules_dir: Path) -> None:
    """The production rule files, every timer scaled by ``time_scale``; no alert fires at
    Prometheus' first evaluation (see ``hold_first_evaluation``)."""
    rules_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(project_file("prometheus", "rules").glob("*.yml")):
        scaled = scale_rules(yaml.safe_load(path.read_text()), s.time_scale)
        held = hold_first_evaluation(scaled)
        (rules_dir / path.name).write_text(yaml.safe_dump(held, sort_keys=False))


def hold_first_evaluation(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a rule file in which every alert without ``for:`` waits one evaluation.

    Prometheus (2.42, Debian's) learns its Alertmanagers from its service discovery, which
    hands over its first targets on a fixed 5 s tick after start, static ones too (upstream
    issue prometheus/prometheus#13064), while its rules first evaluate within one interval
    of start. An alert firing at that first evaluation (the Watchdog) finds no Alertmanager:
    it is dropped (prometheus_notifications_dropped_total) and reaches Alertmanager only at
    the next resend. Held one evaluation, the first send comes after the first tick.
    """
    groups = []
    for group in doc.get("groups", []):
        rules = [
            {**rule, "for": f"{EVALUATION_SECONDS}s"}
            if "alert" in rule and "for" not in rule else rule
            for rule in group.get("rules", [])
        ]  # fmt: skip
        groups.append({**group, "rules": rules})
    return {**doc, "groups": groups}


def resend_delay(s: StackSettings) -> str:
    """Prometheus' ``--rules.alert.resend-delay`` (1m by default), scaled: how soon a firing
    alert that Alertmanager lost (a drop, an Alertmanager restart) is sent again, and how
    long Alertmanager keeps an alert Prometheus stopped sending (4 times the larger of it
    and the evaluation interval)."""
    return f"{round(s.scaled(60) * 1000)}ms"


def alertmanager_config(s: StackSettings, token_file: Path) -> dict[str, Any]:
    """The production routing, scaled, with receivers pointed at this stack."""
    config = yaml.safe_load(project_file("alertmanager", "alertmanager.yml").read_text())
    config["route"] = scale_route(config["route"], s.time_scale)
    config["templates"] = [str(project_file("alertmanager", "templates") / "*.tmpl")]
    inbox = f"{s.sandbox_url}/admin/inbox"
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            if receiver["name"] == "remediator":
                hook["url"] = f"{s.url(s.remediator_port)}/webhook"
                hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
            else:
                hook["url"] = f"{inbox}?receiver={receiver['name']}"
    return dict(config)


def remediator_config(s: StackSettings, token_file: Path, run: Path) -> dict[str, Any]:
    """The remediator acting on this stack: supervisorctl restarts, scaled safety timers."""
    supervisorctl = [binary("supervisorctl"), "-c", str(s.conf_path)]
    return {
        "listen": f"127.0.0.1:{s.remediator_port}",
        "redis_url": s.redis_url,
        "token": {"file": str(token_file)},
        "defaults": {
            "cooldown_seconds": int(s.scaled(600, 10)),
            "circuit": {"max_executions": 3, "window_seconds": int(s.scaled(3600, 60)),
                        "open_seconds": int(s.scaled(3600, 60))},
        },
        "platform": {
            "url": s.sandbox_url,
            "redis_url": s.redis_url,
            "exporter_config": str(run / "exporter.yml"),
            "workers_restart": "restart-discovery-worker",
            "api_restart": "restart-api",
            "configuration": "platform-config",
        },
        "actuators": {
            "restart-discovery-worker": {
                "kind": "command", "argv": [*supervisorctl, "restart", "sandbox-worker"],
            },
            "restart-api": {"kind": "command", "argv": [*supervisorctl, "restart", "sandbox-api"]},
            # The platform's runtime configuration, as a hosting provider's environment API.
            "platform-config": {
                "kind": "http", "method": "PATCH", "url": f"{s.sandbox_url}/admin/config",
                "expect_status": [200],
            },
        },
    }  # fmt: skip


def binary(name: str) -> str:
    """A binary from this virtual environment, else from PATH; ConfigError when missing."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ConfigError(f"{name}: not found on PATH (run scripts/setup.sh)")
    return found


def write_token(path: Path) -> Path:
    """The bearer token Alertmanager and the remediator share (kept across restarts)."""
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32) + "\n")
    path.chmod(0o600)
    return path
