"""The exporter's configuration: defaults of the real platform, exact errors, overrides."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from amc_core import config as core
from exporter.config import KNOWN_MISSING_ROUTES, ExporterConfig, load_config
from exporter.errors import ConfigError
from tests.config_files import cases, expected_error, invalid_files
from tests.services import script


def test_defaults_describe_the_real_platform() -> None:
    config = load_config(None)
    assert config.listen == "127.0.0.1:9864"
    assert config.platform.url == "http://127.0.0.1:8700"
    assert config.redis.url == "redis://127.0.0.1:6379/0"
    assert config.discovery.queue == "amc_discovery"
    assert config.discovery.candidates_key == "amc:discovery:candidates:v2"
    assert config.discovery.status_key == "amc:discovery:status:v2"
    assert config.discovery.heartbeat_key == "amc:discovery:worker:heartbeat"
    assert config.discovery.lock_key == "discovery_job_lock"
    assert config.probes.discovery.timeout_seconds > 60
    missing = {
        "/discovery/test",
        "/discovery/strategy-validation",
        "/discovery/calibration/status",
        "/discovery/direct",
        "/squeeze/alerts",
        "/trades/portfolio",
    }
    assert set(KNOWN_MISSING_ROUTES) == missing
    assert missing <= set(config.platform.expected_routes)
    # The platform's timers: heartbeat every 30 s, job timeout 900 s, results cache 600 s.
    assert config.thresholds.heartbeat_interval_seconds == 30
    assert config.thresholds.job_timeout_seconds == 900
    assert config.thresholds.cache_ttl_seconds == 600
    assert config.integrity.mock_symbols == ("DEMO",)


def test_the_example_file_states_the_defaults() -> None:
    example = Path(__file__).parent.parent.parent / "exporter" / "example.yml"
    assert load_config(example) == ExporterConfig()


def test_a_file_overrides_the_defaults_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yml"
    path.write_text("platform:\n  url: http://platform:8000/\nprobes:\n  queues:\n"
                    "    interval_seconds: 1\n    timeout_seconds: 0.5\n")  # fmt: skip
    config = load_config(path)
    assert config.platform.url == "http://platform:8000"
    assert config.probes.queues.interval_seconds == 1
    assert config.probes.health == ExporterConfig().probes.health


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yml"
    path.write_text("redis:\n  url: redis://file:6379/0\nlisten: 127.0.0.1:1000\n")
    config = load_config(path, redis_url="redis://flag:6379/1")
    assert config.redis.url == "redis://flag:6379/1"
    assert config.listen == "127.0.0.1:1000"


@pytest.mark.parametrize("path", cases("exporter"))
def test_invalid_file_is_refused_with_its_exact_message(path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == expected_error(path)


def test_there_are_invalid_examples() -> None:
    assert len(invalid_files("exporter")) >= 10


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.yml: cannot read: No such file"):
        load_config(tmp_path / "absent.yml")


def test_a_bad_override_names_the_flag() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, listen="nowhere")
    assert str(caught.value) == "--listen: must be HOST:PORT with a port 1-65535 (got 'nowhere')"
    with pytest.raises(ConfigError) as caught:
        load_config(None, platform_url="platform:8000")
    assert str(caught.value) == (
        "--platform-url: must be an http:// or https:// URL (got 'platform:8000')"
    )


def test_an_override_validates_only_its_own_field() -> None:
    # Flags are applied by amc_core.config.apply. On a config whose fields skipped validation
    # (the remediator caps probe timeouts with model_copy), a flag must neither re-check nor
    # be blamed for that other field.
    base = ExporterConfig()
    probes = base.probes.model_copy(
        update={"discovery": base.probes.discovery.model_copy(update={"timeout_seconds": 20})}
    )
    capped = base.model_copy(update={"probes": probes})
    flags = {
        "redis.url": ("--redis-url", "redis://flag:6379/1"),
        "listen": ("--listen", "127.0.0.1:1"),
    }
    config = core.apply(capped, flags, error=ConfigError)
    assert config.redis.url == "redis://flag:6379/1"
    assert config.listen == "127.0.0.1:1"
    assert config.probes.discovery.timeout_seconds == 20


def test_a_partial_probe_schedule_keeps_that_probes_defaults(tmp_path: Path) -> None:
    path = tmp_path / "exporter.yml"
    path.write_text(
        "probes:\n  health: {interval_seconds: 5}\n  discovery: {interval_seconds: 30}\n"
    )
    probes = load_config(path).probes
    assert (probes.health.interval_seconds, probes.health.timeout_seconds) == (5, 10)
    assert (probes.discovery.interval_seconds, probes.discovery.timeout_seconds) == (30, 90)
    assert probes.routes == ExporterConfig().probes.routes


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "AMC_PLATFORM_URL")}
    return subprocess.run(
        [script("amc-exporter"), *args, "--check-config"], env={**environ, **(env or {})},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_environment_variables_are_defaults_the_file_and_flags_beat(tmp_path: Path) -> None:
    file_only = tmp_path / "redis-in-file.yml"
    file_only.write_text("redis:\n  url: redis://file:6379/0\n")
    env = {"REDIS_URL": "redis://env:6379/0", "AMC_PLATFORM_URL": "http://env:8000"}
    assert load_config(file_only, env).redis.url == "redis://file:6379/0"  # the file wins
    assert load_config(file_only, env).platform.url == "http://env:8000"  # the file is silent
    assert load_config(None, env).redis.url == "redis://env:6379/0"
    flagged = load_config(file_only, env, redis_url="redis://flag:6379/0")
    assert flagged.redis.url == "redis://flag:6379/0"
    # And the same through the command: a bad REDIS_URL is not even looked at when the file
    # sets the URL, but it is blamed by name when it is the one in use.
    bad = {"REDIS_URL": "localhost"}
    assert run_cli("--config", str(file_only), env=bad).returncode == 0
    done = run_cli(env=bad)
    assert done.returncode == 2
    assert done.stderr == (
        "amc-exporter: REDIS_URL: must be a redis://, rediss:// or unix:// URL (got 'localhost')\n"
    )
    assert run_cli("--redis-url", "redis://flag:6379/0", env=bad).returncode == 0


@pytest.mark.parametrize("path", cases("exporter", first=3))
def test_the_cli_exits_non_zero_with_one_line(path: Path) -> None:
    done = subprocess.run(
        [script("amc-exporter"), "--config", str(path), "--check-config"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == f"amc-exporter: {expected_error(path)}\n"


def test_check_config_accepts_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "good.yml"
    path.write_text("thresholds:\n  heartbeat_interval_seconds: 1\n  cache_ttl_seconds: 20\n")
    done = subprocess.run(
        [script("amc-exporter"), "--config", str(path), "--check-config"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "configuration ok" in done.stdout


def test_a_bad_flag_value_exits_non_zero() -> None:
    done = subprocess.run(
        [script("amc-exporter"), "--redis-url", "localhost", "--check-config"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "amc-exporter: --redis-url: must be a redis://, rediss:// or unix:// URL"
        " (got 'localhost')\n"
    )


def test_a_listen_address_in_use_exits_with_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [script("amc-exporter"), "--listen", f"127.0.0.1:{port}",
             "--platform-url", "http://127.0.0.1:9", "--redis-url", "redis://127.0.0.1:9/0"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"amc-exporter: cannot listen on 127.0.0.1:{port}: "), done.stderr
