"""Configuration: defaults, merging, every field exercised, every invalid file's exact message."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from remediator.commands.catalog import CATALOG, Priority
from remediator.config import RemediatorConfig, load_config, parse_config
from remediator.errors import ConfigError
from tests.config_files import cases, expected_error
from tests.services import free_port, script

EXAMPLE = Path(__file__).parents[2] / "remediator" / "example-config.yml"


@pytest.mark.parametrize("path", cases("remediator"))
def test_invalid_config_names_the_field_and_value(path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == expected_error(path)


@pytest.mark.parametrize("path", cases("remediator", first=3))
def test_check_config_exits_non_zero_with_one_line(path: Path) -> None:
    proc = subprocess.run(
        [script("amc-remediator"), "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr == f"amc-remediator: {expected_error(path)}\n"


def test_check_config_accepts_the_example(tmp_path: Path) -> None:
    env = {"AMC_REMEDIATOR_TOKEN": "t", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [script("amc-remediator"), "check-config", "--config", str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{EXAMPLE}: ok\n"


def test_check_config_reports_an_unreadable_token(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(f"token: {{file: {tmp_path / 'missing'}}}\n")
    proc = subprocess.run(
        [script("amc-remediator"), "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("amc-remediator: token: secret file ")


def _fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    out = set()
    for name, info in model.model_fields.items():
        out.add(prefix + name)
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            out |= _fields(kind, f"{prefix}{name}.")
    return out


def _keys(data: Any, prefix: str = "") -> set[str]:
    out = set()
    if isinstance(data, dict):
        for key, value in data.items():
            out.add(prefix + str(key))
            out |= _keys(value, f"{prefix}{key}.")
    return out


def test_the_example_sets_every_field() -> None:
    example = _keys(yaml.safe_load(EXAMPLE.read_text()))
    # token takes one source: the example shows env, test_secret_from_env_and_file the file
    missing = _fields(RemediatorConfig) - example - {"token.file"}
    assert not missing


def test_defaults_follow_the_design() -> None:
    config = parse_config({})
    for name, spec in CATALOG.items():
        policy = config.effective(name)
        assert policy.timeout_seconds == spec.timeout_seconds
        assert policy.priority is spec.priority
        assert policy.cooldown_seconds == 600
        assert policy.circuit.max_executions == 3
        assert policy.circuit.window_seconds == 3600
        assert policy.circuit.open_seconds == 3600
    assert config.listen == "127.0.0.1:9865"
    assert config.alerts["HighErrorRate"] == "EMERGENCY_RESTART"


def test_catalog_priorities_and_timeouts_are_the_seeds() -> None:
    table = {
        "RESTART_DISCOVERY_SYSTEM": ("critical", 300),
        "INTEGRATE_REAL_DATA": ("high", 180),
        "VALIDATE_ALGORITHMS": ("medium", 120),
        "CLEAR_JOB_QUEUE": ("high", 60),
        "RESTART_RQ_WORKERS": ("critical", 90),
        "HEALTH_CHECK": ("medium", 60),
        "FLUSH_REDIS": ("high", 30),
        "VALIDATE_ENDPOINTS": ("low", 45),
        "EMERGENCY_RESTART": ("critical", 600),
        "UPDATE_CONFIGURATION": ("medium", 30),
    }
    assert {n: (s.priority.value, s.timeout_seconds) for n, s in CATALOG.items()} == table


def test_overrides_win_over_defaults_and_catalog() -> None:
    config = parse_config(
        {
            "dry_run": False,
            "defaults": {"cooldown_seconds": 60, "retries": 1},
            "commands": {
                "FLUSH_REDIS": {"timeout_seconds": 5, "priority": "low", "retries": 3},
                "HEALTH_CHECK": {"dry_run": True},
            },
        }
    )
    flush = config.effective("FLUSH_REDIS")
    assert (flush.timeout_seconds, flush.priority, flush.retries) == (5, Priority.LOW, 3)
    assert flush.cooldown_seconds == 60
    assert config.effective("HEALTH_CHECK").dry_run
    assert not config.effective("FLUSH_REDIS").dry_run
    assert config.effective("VALIDATE_ENDPOINTS").retries == 1


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("redis_url: redis://10.0.0.1:6379/0\nlisten: 127.0.0.1:1000\n")
    config = load_config(
        path, {"redis_url": "redis://127.0.0.1:1/0", "listen": None, "platform_url": "http://x:1"}
    )
    assert config.redis_url == "redis://127.0.0.1:1/0"
    assert config.listen == "127.0.0.1:1000"
    assert config.platform.url == "http://x:1"


def test_redis_url_defaults_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/2")
    monkeypatch.setenv("AMC_PLATFORM_URL", "http://127.0.0.1:8799")
    config = parse_config({})
    assert config.redis_url == "redis://127.0.0.1:6390/2"
    assert config.platform.url == "http://127.0.0.1:8799"


def test_a_bad_variable_or_flag_is_blamed_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "localhost")
    with pytest.raises(ConfigError) as caught:
        parse_config({})
    assert str(caught.value) == (
        "REDIS_URL: must be a redis://, rediss:// or unix:// URL (got 'localhost')"
    )
    # Where the file sets both Redis URLs, the variable is not looked at.
    both = {"redis_url": "redis://f:6379/0", "platform": {"redis_url": "redis://f:6379/1"}}
    assert parse_config(both).platform.redis_url == "redis://f:6379/1"
    monkeypatch.delenv("REDIS_URL")
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"listen": "nowhere"})
    assert str(caught.value) == "--listen: must be HOST:PORT with a port 1-65535 (got 'nowhere')"


def test_backoff_grows_and_is_capped() -> None:
    config = parse_config({"defaults": {"backoff": {"initial_seconds": 2, "max_seconds": 10}}})
    assert config.defaults.backoff.intervals(4) == [2, 4, 8, 10]


def test_secret_from_env_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN_X", " abc \n")
    assert parse_config({"token": {"env": "TOKEN_X"}}).token.read() == "abc"
    (tmp_path / "t").write_text("def\n")
    assert parse_config({"token": {"file": str(tmp_path / "t")}}).token.read() == "def"
    monkeypatch.setenv("TOKEN_X", "")
    with pytest.raises(ConfigError, match="TOKEN_X is empty"):
        parse_config({"token": {"env": "TOKEN_X"}}).token.read()


def test_a_flag_beats_the_file_which_beats_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_url, file_url, flag_url = (f"redis://127.0.0.1:{free_port()}/0" for _ in range(3))
    monkeypatch.setenv("REDIS_URL", env_url)
    path = tmp_path / "c.yml"
    path.write_text(f"redis_url: {file_url}\n")
    assert load_config(path).redis_url == file_url
    assert load_config(path, {"redis_url": flag_url}).redis_url == flag_url
    assert load_config(None).redis_url == env_url
    proc = subprocess.run(
        [script("amc-remediator"), "report", "--config", str(path)],
        capture_output=True, text=True, check=False,
        env={"REDIS_URL": env_url, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.returncode == 1
    assert file_url.split("/")[2] in proc.stderr  # the file's Redis, not the environment's
