"""``amc-remediator``: the configuration file from ``--config``, else ``$AMC_REMEDIATOR_CONFIG``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.remediator.conftest import MakeConfigFile
from tests.services import free_port, script

COMMANDS = ["check-config", "serve", "worker", "run", "approve", "reject", "cancel", "report"]


def remediator(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI with ``$AMC_REMEDIATOR_CONFIG`` set to ``config`` (unset when None)."""
    env = {k: v for k, v in os.environ.items() if k != "AMC_REMEDIATOR_CONFIG"}
    if config is not None:
        env["AMC_REMEDIATOR_CONFIG"] = str(config)
    return subprocess.run(
        [script("amc-remediator"), *args], capture_output=True, text=True, env=env
    )


def test_check_config_reads_the_file_the_environment_names(
    make_config_file: MakeConfigFile,
) -> None:
    path = make_config_file()
    done = remediator("check-config", config=path)
    assert (done.returncode, done.stdout) == (0, f"{path}: ok\n"), done.stderr


def test_the_flag_beats_the_environment(make_config_file: MakeConfigFile, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("nope: 1\n")
    assert remediator("check-config", config=bad).stderr == (
        f"amc-remediator: {bad}: nope: unknown field\n"
    )
    good = make_config_file()
    done = remediator("check-config", "--config", str(good), config=bad)
    assert (done.returncode, done.stdout) == (0, f"{good}: ok\n"), done.stderr


def test_report_uses_the_redis_of_the_file_the_environment_names(tmp_path: Path) -> None:
    port = free_port()  # nobody listens: the error names the Redis the report tried
    path = tmp_path / "remediator.yml"
    path.write_text(f"redis_url: redis://127.0.0.1:{port}/0\n")
    done = remediator("report", config=path)
    assert done.returncode == 1
    assert f"127.0.0.1:{port}" in done.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_help_names_the_variable(command: str) -> None:
    done = remediator(command, "--help")
    assert done.returncode == 0
    assert "AMC_REMEDIATOR_CONFIG" in " ".join(done.stdout.split())
