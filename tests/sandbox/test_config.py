"""Sandbox configuration: defaults of the real platform, and one clear line for bad files."""

import subprocess
from pathlib import Path

import pytest

from sandbox.config import SandboxConfig, load_config
from sandbox.errors import ConfigError
from tests.config_files import cases, expected_error, invalid_files
from tests.services import script

DATA = Path(__file__).parent.parent / "data"


def test_there_are_invalid_examples() -> None:
    assert len(invalid_files("sandbox")) >= 8


@pytest.mark.parametrize("path", cases("sandbox"))
def test_invalid_config_names_the_field_and_value(path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == expected_error(path)


def test_defaults_match_the_real_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    config = SandboxConfig()
    assert (config.host, config.port) == ("127.0.0.1", 8700)
    assert config.redis_url == "redis://127.0.0.1:6379/0"
    assert (config.cache_ttl_seconds, config.lock_ttl_seconds) == (600, 240)
    assert (config.job_timeout_seconds, config.heartbeat_interval_seconds) == (900, 30.0)
    # low_quality: slower than AlgorithmQualityDegraded's 20 s, short of the 60 s of
    # DiscoverySystemFailure; a run with the degraded strategy a few seconds longer.
    assert config.degraded_strategy_delay_seconds == 25.0
    assert config.degraded_strategy_job_delay_seconds == 5.0


def test_redis_url_defaults_to_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://10.1.2.3:6380/2")
    assert load_config(None).redis_url == "redis://10.1.2.3:6380/2"
    path = tmp_path / "sandbox.yml"
    path.write_text("redis_url: redis://file:6379/0\n")
    assert load_config(path).redis_url == "redis://file:6379/0"  # the file wins
    assert load_config(path, {"redis_url": "redis://flag:6379/0"}).redis_url == (
        "redis://flag:6379/0"
    )
    monkeypatch.setenv("REDIS_URL", "localhost")
    with pytest.raises(ConfigError) as caught:
        load_config(None)
    assert str(caught.value) == (
        "REDIS_URL: must be a redis://, rediss:// or unix:// URL (got 'localhost')"
    )


def test_a_flag_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.yml"
    path.write_text("seed: 1\nscoring_strategy: legacy_v0\n")
    config = load_config(path, {"seed": 9, "listen": None})
    assert (config.seed, config.scoring_strategy, config.listen) == (
        9,
        "legacy_v0",
        "127.0.0.1:8700",
    )


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_cli_exits_non_zero_with_one_line(command: str) -> None:
    path = DATA / "invalid-sandbox-strategy.yml"
    done = subprocess.run(
        [script("amc-sandbox"), command, "--config", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr == f"amc-sandbox: {expected_error(path)}\n"


def test_cli_rejects_a_bad_flag_value() -> None:
    done = subprocess.run(
        [script("amc-sandbox"), "serve", "--listen", "nowhere"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "--listen: must be HOST:PORT" in done.stderr


def test_the_degraded_strategy_delay_is_a_flag_too() -> None:
    done = subprocess.run(
        [script("amc-sandbox"), "serve", "--degraded-strategy-delay-seconds", "-1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "amc-sandbox: --degraded-strategy-delay-seconds: "
        "Input should be greater than or equal to 0 (got -1.0)\n"
    )


def test_a_bad_flag_is_blamed_on_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "ok.yml"
    path.write_text("seed: 1\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {"listen": "nowhere"})
    assert str(caught.value) == "--listen: must be HOST:PORT with a port 1-65535 (got 'nowhere')"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--redis-port", "1"], "amc-sandbox: --redis-port: expected a port 1024-65535 (got 1)\n"),
        (["--redis-port", "9090"], "amc-sandbox: ports must differ (got "),
    ],
)
def test_up_refuses_bad_ports(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        [script("amc-sandbox"), "up", "--dir", str(tmp_path), "--write-only", *args],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(message)
    assert not (tmp_path / "supervisord.conf").exists()
