"""The local stack: the whole loop on one machine under supervisord.

``amc-sandbox up`` writes the configuration of every program into a run directory, says once
how to reach them (``banner``), then hands over to supervisord in the foreground. Programs
are restarted the way an operator would: ``supervisorctl -c <dir>/supervisord.conf restart
<program>``. supervisord starts them in priority order without waiting for readiness; what
depends on another's readiness copes by itself (Prometheus: ``render.hold_first_evaluation``).
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from remediator.cli import CONFIG_ENV
from sandbox import render
from sandbox.render import StackSettings, binary

REMEDIATOR_CONFIG = "remediator.yml"
TOKEN_FILE = "remediator.token"  # noqa: S105 - a file name, not a secret


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
                  f"--web.listen-address=127.0.0.1:{s.prometheus_port}",
                  f"--rules.alert.resend-delay={render.resend_delay(s)}"]  # fmt: skip
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
        Program("mtail", mtail(s), 75),
        Program("prometheus", prometheus, 80),
        *grafana(s),
    ]


def grafana(s: StackSettings) -> list[Program]:
    """Grafana with the project's provisioning (``grafana/``), when a ``grafana-server``
    binary is on PATH; none otherwise. Its provisioning files read the Prometheus URL and the
    dashboards' folder from the environment, which ``env`` sets."""
    server = shutil.which("grafana-server")
    if server is None:
        return []
    home = Path(server).resolve().parent.parent
    home = home if (home / "public").is_dir() else Path("/usr/share/grafana")
    run = s.run_dir
    argv = [binary("env"), f"AMC_PROMETHEUS_URL={s.url(s.prometheus_port)}",
            f"AMC_GRAFANA_DASHBOARDS={render.project_file('grafana', 'dashboards')}",
            server, f"--homepath={home}",
            f"cfg:default.paths.provisioning={render.project_file('grafana', 'provisioning')}",
            f"cfg:default.paths.data={run}/grafana-data", f"cfg:default.paths.logs={run}/logs",
            "cfg:default.server.http_addr=127.0.0.1",
            f"cfg:default.server.http_port={s.grafana_port}",
            "cfg:default.auth.anonymous.enabled=true",
            "cfg:default.auth.anonymous.org_role=Viewer"]  # fmt: skip
    return [Program("grafana", argv, 90)]


def mtail(s: StackSettings) -> list[str]:
    """mtail with the project's programs (``prometheus/mtail/``) on the platform's logs: the
    API's and the worker's, as supervisord writes them (``logs/<program>.log``)."""
    logs = ",".join(f"{s.run_dir}/logs/{name}.log" for name in ("sandbox-api", "sandbox-worker"))
    return [binary("mtail"), "-progs", str(render.project_file("prometheus", "mtail")),
            "-logs", logs, "-address", "127.0.0.1", "-port", str(s.mtail_port),
            "-logtostderr"]  # fmt: skip


def write_stack(s: StackSettings) -> Path:
    """Write every configuration of the stack into its run directory; return supervisord's."""
    run = s.run_dir
    for sub in ("logs", "redis", "rules", "prometheus-data", "alertmanager-data"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    token = render.write_token(run / TOKEN_FILE)
    render.write_scaled_rules(s, run / "rules")
    files: dict[str, dict[str, Any]] = {
        "sandbox.yml": render.sandbox_config(s),
        "exporter.yml": render.exporter_config(s),
        REMEDIATOR_CONFIG: render.remediator_config(s, token, run),
        "prometheus.yml": render.prometheus_config(s, run / "rules"),
        "alertmanager.yml": render.alertmanager_config(s, token),
    }
    for name, content in files.items():
        (run / name).write_text(yaml.safe_dump(content, sort_keys=False))
    s.conf_path.write_text(supervisord_conf(s, programs(s)))
    return s.conf_path


def banner(s: StackSettings) -> list[str]:
    """What ``amc-sandbox up`` says once, at start: where each program answers, and how to
    reach the stack from a shell."""
    run, home, remediator = s.run_dir, s.sandbox_url, s.url(s.remediator_port)
    token = shlex.quote(str(run / TOKEN_FILE))
    return [
        f"stack configured in {run} (timers {s.time_scale:g}x faster)",
        f"  platform      {home}  (people's inbox: {home}/admin/inbox)",
        f"  exporter      {s.url(s.exporter_port)}/metrics",
        f"  remediator    {remediator}  (token file: {run / TOKEN_FILE})",
        f"  prometheus    {s.url(s.prometheus_port)}",
        f"  alertmanager  {s.url(s.alertmanager_port)}",
        f"  mtail         {s.url(s.mtail_port)}/metrics  (the platform's logs as metrics)",
        *([f"  grafana       {s.url(s.grafana_port)}"] if grafana(s) else []),
        f"  control       {binary('supervisorctl')} -c {shlex.quote(str(s.conf_path))} status",
        "from a shell (amc-remediator run|report|check-config, amc-sandbox fault):",
        f"  export {CONFIG_ENV}={shlex.quote(str(run / REMEDIATOR_CONFIG))}",
        f"  export AMC_PLATFORM_URL={home}",
        f'  curl -H "Authorization: Bearer $(cat {token})" {remediator}/api/v1/audit',
    ]


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
