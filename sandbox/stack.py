"""The local stack: the whole loop on one machine under supervisord.

``amc-sandbox up`` writes the configuration of every program into a run directory, then
hands over to supervisord in the foreground. Programs are restarted the way an operator
would: ``supervisorctl -c <dir>/supervisord.conf restart <program>``.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox import render
from sandbox.render import StackSettings, binary


@dataclass(frozen=True)
class Program:
    """One supervisord program."""

    name: str
    argv: list[str]
    priority: int = 100
    stop_wait_seconds: int = 10


def programs(s: StackSettings) -> list[Program]:
    """The stack's programs, in start order."""
    run = str(s.run_dir)
    sandbox, remediator = binary("amc-sandbox"), binary("amc-remediator")
    redis = [binary("redis-server"), "--port", str(s.redis_port), "--bind", "127.0.0.1"]
    redis += ["--save", "", "--appendonly", "no", "--dir", f"{run}/redis"]
    prometheus = [binary("prometheus"), f"--config.file={run}/prometheus.yml",
                  f"--storage.tsdb.path={run}/prometheus-data",
                  f"--web.listen-address=127.0.0.1:{s.prometheus_port}"]  # fmt: skip
    alertmanager = [binary("prometheus-alertmanager"), f"--config.file={run}/alertmanager.yml",
                    f"--storage.path={run}/alertmanager-data", "--cluster.listen-address=",
                    f"--web.listen-address=127.0.0.1:{s.alertmanager_port}"]  # fmt: skip
    return [
        Program("redis", redis, priority=10),
        Program("sandbox-api", [sandbox, "serve", "--config", f"{run}/sandbox.yml"], 20),
        Program("sandbox-worker", [sandbox, "worker", "--config", f"{run}/sandbox.yml"], 30),
        Program("exporter", [binary("amc-exporter"), "--config", f"{run}/exporter.yml"], 40),
        Program("remediator", [remediator, "serve", "--config", f"{run}/remediator.yml"], 50),
        Program(
            "remediator-worker", [remediator, "worker", "--config", f"{run}/remediator.yml"], 60
        ),
        Program("alertmanager", alertmanager, 70),
        Program("prometheus", prometheus, 80),
    ]


def write_stack(s: StackSettings) -> Path:
    """Write every configuration of the stack into its run directory; return supervisord's."""
    run = s.run_dir
    for sub in ("logs", "redis", "rules", "prometheus-data", "alertmanager-data"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    token = render.write_token(run / "remediator.token")
    render.write_scaled_rules(s, run / "rules")
    files: dict[str, dict[str, Any]] = {
        "sandbox.yml": render.sandbox_config(s),
        "exporter.yml": render.exporter_config(s),
        "remediator.yml": render.remediator_config(s, token, run),
        "prometheus.yml": render.prometheus_config(s, run / "rules"),
        "alertmanager.yml": render.alertmanager_config(s, token),
    }
    for name, content in files.items():
        (run / name).write_text(yaml.safe_dump(content, sort_keys=False))
    s.conf_path.write_text(supervisord_conf(s, programs(s)))
    return s.conf_path


def supervisord_conf(s: StackSettings, stack: list[Program]) -> str:
    """supervisord's configuration for ``stack``."""
    run = s.run_dir
    lines = [
        "[unix_http_server]", f"file={run}/supervisor.sock", "",
        "[supervisord]", f"logfile={run}/supervisord.log", f"pidfile={run}/supervisord.pid",
        f"childlogdir={run}/logs", "nodaemon=true", "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[supervisorctl]", f"serverurl=unix://{run}/supervisor.sock", "",
    ]  # fmt: skip
    for program in stack:
        lines += [
            f"[program:{program.name}]",
            "command=" + " ".join(_quote(arg) for arg in program.argv),
            f"priority={program.priority}",
            "autorestart=true",
            "startsecs=1",
            f"stopwaitsecs={program.stop_wait_seconds}",
            "stopasgroup=true",
            "killasgroup=true",
            f"stdout_logfile={run}/logs/{program.name}.log",
            "redirect_stderr=true",
            "",
        ]
    return "\n".join(lines)


def _quote(arg: str) -> str:
    # supervisord splits command lines with shlex (no shell runs); "" must stay an argument.
    return shlex.quote(arg) if arg else '""'
