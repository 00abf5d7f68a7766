"""The deployment files: docker-compose.yml checked by Debian's docker-compose (no engine
needed), its Prometheus and Alertmanager files kept equal to the production ones but for the
addresses, the agent's configurations accepted by the programs themselves, the Dockerfile's
image non-root with the project's console scripts, and the systemd units verified by
``systemd-analyze verify``. Each check is shown able to fail on a broken copy."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import config as exporter_config
from remediator import config as remediator_config
from tests.services import script

PROJECT = Path(__file__).resolve().parents[2]
COMPOSE = PROJECT / "docker-compose.yml"
DEPLOY = PROJECT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
# The production files' addresses and paths -> the compose services'.
PROMETHEUS_ADDRESSES = {
    "127.0.0.1:9864": "exporter:9864",
    "127.0.0.1:9865": "remediator:9865",
    "127.0.0.1:3903": "mtail:3903",
    "127.0.0.1:9093": "alertmanager:9093",
    "127.0.0.1:9090": "localhost:9090",
    "rules/*.yml": "/etc/prometheus/rules/*.yml",
}
ALERTMANAGER_CHANGES = {
    "http://127.0.0.1:9865/webhook": "http://remediator:9865/webhook",
    "/etc/amc-agent/remediator.token": "/run/secrets/remediator_token",
    "templates/*.tmpl": "/etc/alertmanager/templates/*.tmpl",
}


def _substituted(node: Any, changes: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _substituted(value, changes) for key, value in node.items()}
    if isinstance(node, list):
        return [_substituted(value, changes) for value in node]
    return changes.get(node, node) if isinstance(node, str) else node


def _compose_config(
    compose: Path, tmp_path: Path, *args: str, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    token = tmp_path / "token"
    token.write_text("x\n")
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose not found: run scripts/setup.sh"
    env = {"PATH": "/usr/bin:/bin", "AMC_REMEDIATOR_TOKEN_FILE": str(token), **(environ or {})}
    return subprocess.run(
        [binary, "-f", str(compose), "--project-directory", str(PROJECT), *args, "config"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


def test_docker_compose_accepts_the_file_with_every_part_of_the_stack(tmp_path: Path) -> None:
    result = _compose_config(COMPOSE, tmp_path, "--profile", "demo")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {
        "redis", "exporter", "remediator", "remediation-worker", "prometheus", "alertmanager",
        "grafana", "mtail", "sandbox-api", "sandbox-worker",
    }  # fmt: skip
    # published ports only on loopback
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_docker_compose_refuses_a_broken_copy(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE.read_text().replace("restart: unless-stopped", "restart: [sometimes]", 1)
    broken.write_text(text)
    result = _compose_config(broken, tmp_path)
    assert result.returncode != 0
    assert "restart" in result.stderr


def test_the_compose_monitoring_files_are_the_production_ones_with_the_services_addresses() -> None:
    prod = yaml.safe_load((PROJECT / "prometheus" / "prometheus.yml").read_text())
    ours = yaml.safe_load((DEPLOY / "compose" / "prometheus.yml").read_text())
    assert ours == _substituted(prod, PROMETHEUS_ADDRESSES)
    prod = yaml.safe_load((PROJECT / "alertmanager" / "alertmanager.yml").read_text())
    ours = yaml.safe_load((DEPLOY / "compose" / "alertmanager.yml").read_text())
    assert ours == _substituted(prod, ALERTMANAGER_CHANGES)


@pytest.mark.parametrize(
    ("argv", "name"),
    [(["promtool", "check", "config"], "prometheus.yml"),
     (["amtool", "check-config"], "alertmanager.yml")],
)  # fmt: skip
def test_the_compose_monitoring_files_pass_their_own_checkers(argv: list[str], name: str) -> None:
    result = subprocess.run(
        [*argv, str(DEPLOY / "compose" / name)], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_agent_configurations_are_accepted_by_the_programs(tmp_path: Path) -> None:
    exporter = subprocess.run(
        [script("amc-exporter"), "--config", str(DEPLOY / "compose" / "exporter.yml"),
         "--check-config"], capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert exporter.returncode == 0, exporter.stderr
    # The remediator's token is the compose secret: point it at a file that exists here.
    config = yaml.safe_load((DEPLOY / "compose" / "remediator.yml").read_text())
    assert config["token"] == {"file": "/run/secrets/remediator_token"}
    token = tmp_path / "token"
    token.write_text("a-token-of-the-test\n")
    config["token"]["file"] = str(token)
    (tmp_path / "remediator.yml").write_text(yaml.safe_dump(config))
    remediator = subprocess.run(
        [script("amc-remediator"), "check-config", "--config", str(tmp_path / "remediator.yml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert remediator.returncode == 0, remediator.stdout + remediator.stderr


def test_the_platform_redis_of_compose_reaches_the_exporter_and_the_remediator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README "Deploying": AMC_PLATFORM_REDIS_URL moves the platform's Redis for every agent
    program, so neither compose configuration may set it in the file (the file wins)."""
    platform = "redis://platform.example:6380/3"
    result = _compose_config(COMPOSE, tmp_path, environ={"AMC_PLATFORM_REDIS_URL": platform})
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in ("exporter", "remediator", "remediation-worker"):
        environment = services[name]["environment"]
        assert environment["AMC_REMEDIATOR_CONFIG"] == "/etc/amc-agent/remediator.yml", name
        monkeypatch.setenv("REDIS_URL", environment["REDIS_URL"])
        exporter = exporter_config.load_config(DEPLOY / "compose" / "exporter.yml", os.environ)
        assert exporter.redis.url == platform, name
        data = yaml.safe_load((DEPLOY / "compose" / "remediator.yml").read_text())
        remediator = remediator_config.parse_config(data)
        assert remediator.platform.redis_url == platform, name
        # the remediator's own state stays on the compose Redis
        assert remediator.redis_url == "redis://redis:6379/1", name


def _dockerfile_stages() -> dict[str, list[str]]:
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in (PROJECT / "Dockerfile").read_text().replace("\\\n", " ").splitlines():
        if match := re.match(r"FROM \S+ AS (\S+)", line):
            current = stages.setdefault(match.group(1), [])
        elif line and not line.startswith("#"):
            current.append(line)
    return stages


def test_the_image_runs_as_a_user_and_carries_the_console_scripts_compose_runs() -> None:
    stages = _dockerfile_stages()
    assert {"build", "agent", "mtail"} <= set(stages)
    for target in ("agent", "mtail"):
        users = [line.split()[1] for line in stages[target] if line.startswith("USER ")]
        assert users, target
        assert not users[-1].startswith(("root", "0")), target
    scripts = set(tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["scripts"])
    compose = yaml.safe_load(COMPOSE.read_text())
    for name, service in compose["services"].items():
        if service.get("build", {}).get("target") != "agent":
            continue
        command = service["command"]
        program = command[0] if command[0] != "sh" else command[2].split()[1]
        assert program in scripts, (name, program)
    # every package the image installs is copied into its build stage
    packages = tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["setuptools"]
    copied = {line.split()[1] for line in stages["build"] if line.startswith("COPY ")}
    assert {p.split(".")[0] for p in packages["packages"]} <= copied


def _verify(units: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *map(str, units)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def _local_units(tmp_path: Path, edit: dict[str, str] | None = None) -> list[Path]:
    """The units with their programs at this checkout's (verify checks they exist)."""
    bin_dir = str(Path(script("amc-exporter")).parent)
    out = []
    for unit in UNITS:
        text = unit.read_text().replace("/opt/amc-agent/bin", bin_dir)
        for old, new in (edit or {}).items():
            text = text.replace(old, new)
        name = unit.name.replace("@.service", "@1.service")
        (tmp_path / name).write_text(text)
        out.append(tmp_path / name)
    return out


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_systemd_units_verify(tmp_path: Path) -> None:
    assert {u.name for u in UNITS} == {
        "amc-exporter.service", "amc-remediator.service", "amc-remediator-worker@.service",
    }  # fmt: skip
    result = _verify(_local_units(tmp_path))
    assert result.returncode == 0, result.stderr
    assert not result.stderr.strip()
    for unit in UNITS:
        text = unit.read_text()
        assert re.search(r"^User=amc-agent$", text, re.M), unit.name
        assert re.search(r"^NoNewPrivileges=yes$", text, re.M), unit.name


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_refuses_a_broken_unit(tmp_path: Path) -> None:
    broken = _local_units(tmp_path, {"Restart=on-failure": "Restart=sometimes"})
    result = _verify(broken)
    assert "restart specifier" in result.stderr
