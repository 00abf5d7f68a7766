"""The local stack: the whole loop on one machine under supervisord.

``amc-sandbox up`` writes a supervisord configuration (and the configuration of every
program) into a run directory and hands over to supervisord in the foreground. Processes
are restarted the way an operator would: ``supervisorctl -c <dir>/supervisord.conf restart
<program>``.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sandbox.errors import ConfigError


@dataclass(frozen=True)
class Program:
    """One supervisord program."""

    name: str
    argv: list[str]
    priority: int = 100
    env: dict[str, str] = field(default_factory=dict)
    stop_wait_seconds: int = 10


@dataclass(frozen=True)
class StackSettings:
    """Where the stack runs and on which ports."""

    run_dir: Path
    redis_port: int = 6390
    sandbox_port: int = 8700
    heartbeat_interval_seconds: float = 30.0
    market_tick_seconds: int = 300

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def conf_path(self) -> Path:
        return self.run_dir / "supervisord.conf"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"


def binary(name: str) -> str:
    """A binary from this virtual environment, else from PATH; ConfigError when missing."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ConfigError(f"{name}: not found on PATH (run scripts/setup.sh)")
    return found


def programs(settings: StackSettings) -> list[Program]:
    """The stack's programs, in start order."""
    sandbox_config = str(settings.run_dir / "sandbox.yml")
    sandbox = binary("amc-sandbox")
    redis = [binary("redis-server"), "--port", str(settings.redis_port), "--bind", "127.0.0.1"]
    redis += ["--save", "", "--appendonly", "no", "--dir", str(settings.run_dir / "redis")]
    return [
        Program("redis", redis, priority=10),
        Program("sandbox-api", [sandbox, "serve", "--config", sandbox_config], priority=20),
        Program("sandbox-worker", [sandbox, "worker", "--config", sandbox_config], priority=30),
    ]


def write_stack(settings: StackSettings) -> Path:
    """Write every configuration of the stack into its run directory; return supervisord's."""
    run = settings.run_dir.resolve()
    for sub in ("logs", "redis"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    sandbox = {
        "listen": f"127.0.0.1:{settings.sandbox_port}",
        "redis_url": settings.redis_url,
        "heartbeat_interval_seconds": settings.heartbeat_interval_seconds,
        "market_tick_seconds": settings.market_tick_seconds,
    }
    (run / "sandbox.yml").write_text(yaml.safe_dump(sandbox))
    settings.conf_path.write_text(supervisord_conf(settings, programs(settings)))
    return settings.conf_path


def supervisord_conf(settings: StackSettings, stack: list[Program]) -> str:
    """supervisord's configuration for ``stack``."""
    run = settings.run_dir.resolve()
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
        ]
        if program.env:
            env = ",".join(f"{k}={_quote(v)}" for k, v in sorted(program.env.items()))
            lines.append(f"environment={env}")
        lines.append("")
    return "\n".join(lines)


def _quote(arg: str) -> str:
    # supervisord splits command lines with shlex (no shell runs); "" must stay an argument.
    return shlex.quote(arg) if arg else '""'
