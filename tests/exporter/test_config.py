"""The exporter's configuration: defaults of the real platform, exact errors, overrides."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from exporter.config import ExporterConfig, load_config, validate_config
from exporter.errors import ConfigError
from tests.services import script

DATA = Path(__file__).parent.parent / "data"
INVALID = sorted(DATA.glob("invalid-exporter-*.yml"))


def expected_message(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# error: "), f"{path.name} must start with '# error: <message>'"
    return first.removeprefix("# error: ").replace("{path}", str(path))


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
    assert missing <= set(config.platform.expected_routes)
    assert config.thresholds.degraded_response_seconds == 5
    assert config.thresholds.critical_response_seconds == 15
    assert config.thresholds.degraded_min_candidates == 5
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
    config = load_config(path).with_overrides(redis_url="redis://flag:6379/1")
    assert config.redis.url == "redis://flag:6379/1"
    assert config.listen == "127.0.0.1:1000"


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_file_is_refused_with_its_exact_message(path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == expected_message(path)


def test_there_are_invalid_examples() -> None:
    assert len(INVALID) >= 10


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.yml: cannot read: No such file"):
        load_config(tmp_path / "absent.yml")


def test_a_bad_override_names_the_field() -> None:
    with pytest.raises(ConfigError, match=r"^command line: listen: must be HOST:PORT"):
        validate_config({}).with_overrides(listen="nowhere")


@pytest.mark.parametrize("path", INVALID[:3], ids=[p.stem for p in INVALID[:3]])
def test_the_cli_exits_non_zero_with_one_line(path: Path) -> None:
    done = subprocess.run(
        [script("amc-exporter"), "--config", str(path), "--check-config"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == f"amc-exporter: {expected_message(path)}\n"


def test_check_config_accepts_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "good.yml"
    path.write_text("thresholds:\n  degraded_min_candidates: 3\n")
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
    assert done.stderr.count("\n") == 1
    assert "redis.url: must be a redis://" in done.stderr


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
