"""``amc-sandbox up --write-only``: what the stack's programs are given, and how a shell
reaches the stack."""

import configparser
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.timescale import seconds
from tests.services import free_port, script


def write_only(run_dir: Path, *args: str) -> str:
    """Write the stack's configuration into ``run_dir``; what ``up`` printed."""
    done = subprocess.run(
        [script("amc-sandbox"), "up", "--dir", str(run_dir), "--write-only", *args],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def said(stdout: str, start: str) -> str:
    """The one line ``up`` printed that starts with ``start`` (after its prefix)."""
    lines = [line.removeprefix("amc-sandbox:").strip() for line in stdout.splitlines()]
    (found,) = [line for line in lines if line.startswith(start)]
    return found


def test_a_shell_reaches_the_stack_with_the_lines_up_prints(tmp_path: Path) -> None:
    run = tmp_path / "my stack"  # a space, so the printed lines must quote
    port = free_port()
    stdout = write_only(run, "--remediator-port", str(port))
    export = said(stdout, "export AMC_REMEDIATOR_CONFIG=")
    # A real shell runs the printed line; the remediator's CLI then needs no --config.
    shell = f"{export}\n{script('amc-remediator')} check-config"
    checked = subprocess.run(["bash", "-c", shell], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == f"{run.resolve() / 'remediator.yml'}: ok\n"
    assert said(stdout, "remediator").endswith(
        f"(token file: {run.resolve() / 'remediator.token'})"
    )
    assert f"http://127.0.0.1:{port}/api/v1/audit" in said(stdout, "curl")
    assert (
        said(stdout, "export AMC_PLATFORM_URL=") == "export AMC_PLATFORM_URL=http://127.0.0.1:8700"
    )


@pytest.mark.parametrize(("scale", "resend"), [(30, "2000ms"), (1, "60000ms")])
def test_prometheus_resends_on_the_scaled_clock_and_fires_nothing_at_its_first_evaluation(
    tmp_path: Path, scale: int, resend: str
) -> None:
    write_only(tmp_path, "--time-scale", str(scale))
    conf = configparser.RawConfigParser()
    conf.read(tmp_path / "supervisord.conf")
    assert f"--rules.alert.resend-delay={resend}" in conf["program:prometheus"]["command"].split()
    # Every alert waits at least one evaluation: the notifier has no Alertmanager at the first.
    alerts = [rule for path in sorted((tmp_path / "rules").glob("*.yml"))
              for group in yaml.safe_load(path.read_text())["groups"]
              for rule in group["rules"] if "alert" in rule]  # fmt: skip
    assert alerts
    assert [r["alert"] for r in alerts if seconds(r.get("for", "0s")) == 0] == []
    watchdog = next(r for r in alerts if r["alert"] == "Watchdog")
    assert watchdog["for"] == "5s"


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        (30, {"degraded_strategy_delay_seconds": 25.0, "degraded_strategy_job_delay_seconds": 1.0,
              "cache_ttl_seconds": 50, "lock_ttl_seconds": 8, "job_timeout_seconds": 30}),
        (1, {"degraded_strategy_delay_seconds": 25.0, "degraded_strategy_job_delay_seconds": 5.0,
             "cache_ttl_seconds": 600, "lock_ttl_seconds": 240, "job_timeout_seconds": 900}),
    ],
)  # fmt: skip
def test_a_degraded_strategy_answers_in_real_seconds_and_the_cache_outlives_two_answers(
    tmp_path: Path, scale: int, expected: dict[str, Any]
) -> None:
    write_only(tmp_path, "--time-scale", str(scale))
    config = yaml.safe_load((tmp_path / "sandbox.yml").read_text())
    assert {key: config[key] for key in expected} == expected
    # The rules' 20 s threshold is not scaled, so neither is the answer that crosses it.
    assert 20 < config["degraded_strategy_delay_seconds"] < 60
    assert config["cache_ttl_seconds"] >= 2 * config["degraded_strategy_delay_seconds"]
    assert config["degraded_strategy_job_delay_seconds"] < config["lock_ttl_seconds"]


def test_mtail_reads_the_platforms_logs_and_prometheus_scrapes_it(tmp_path: Path) -> None:
    port = free_port()
    stdout = write_only(tmp_path, "--mtail-port", str(port))
    assert said(stdout, "mtail").startswith(f"mtail         http://127.0.0.1:{port}/metrics")
    conf = configparser.RawConfigParser()
    conf.read(tmp_path / "supervisord.conf")
    argv = conf["program:mtail"]["command"].split()
    assert argv[argv.index("-progs") + 1].endswith("/prometheus/mtail")
    logs = argv[argv.index("-logs") + 1].split(",")
    assert logs == [str(tmp_path.resolve() / "logs" / f"sandbox-{name}.log")
                    for name in ("api", "worker")]  # fmt: skip
    # The API's and the worker's output: the files supervisord writes for those programs.
    for program, log in zip(("sandbox-api", "sandbox-worker"), logs, strict=True):
        assert conf[f"program:{program}"]["stdout_logfile"] == log
    assert argv[argv.index("-port") + 1] == str(port)
    scrape = yaml.safe_load((tmp_path / "prometheus.yml").read_text())["scrape_configs"]
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in scrape}
    assert targets["amc-mtail"] == [f"127.0.0.1:{port}"]
