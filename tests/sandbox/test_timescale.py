"""The demo's scaled copies of the production rules and routing stay valid and consistent."""

import subprocess
from pathlib import Path

import pytest
import yaml

from exporter.config import ExporterConfig, validate_config
from sandbox.render import (
    StackSettings,
    alertmanager_config,
    exporter_config,
    sandbox_config,
    write_scaled_rules,
)
from sandbox.timescale import scale_duration, scale_expr, scale_route, scale_rules, seconds


@pytest.mark.parametrize(
    ("duration", "factor", "scaled"),
    [("30m", 30, "60s"), ("1h", 30, "120s"), ("1h30m", 90, "60s"), ("15s", 30, "1s"),
     ("500ms", 1, "1s"), ("2d", 86400, "2s")],
)  # fmt: skip
def test_scale_duration(duration: str, factor: float, scaled: str) -> None:
    assert scale_duration(duration, factor) == scaled


@pytest.mark.parametrize("bad", ["", "15", "m", "1x", "5m ", "-5m"])
def test_malformed_durations_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        seconds(bad)


@pytest.mark.parametrize(
    ("expr", "scaled"),
    [
        ("rate(x[10m])", "rate(x[20s])"),
        ("max_over_time(x[15m:1m])", "max_over_time(x[30s:2s])"),
        ("avg_over_time(x[1h] offset 20m) and x offset 80m",
         "avg_over_time(x[120s] offset 40s) and x offset 160s"),
        ("predict_linear(x[1h], 3600) <= 0", "predict_linear(x[120s], 120) <= 0"),
        ("vector(1800)", "vector(1800)"),  # only in the timer groups
        ("amc_discovery_response_seconds > 60", "amc_discovery_response_seconds > 60"),
    ],
)  # fmt: skip
def test_scale_expr(expr: str, scaled: str) -> None:
    assert scale_expr(expr, 30) == scaled


def test_timer_groups_scale_their_restated_for() -> None:
    assert scale_expr("vector(2700)", 30, timers=True) == "vector(90)"


@pytest.mark.parametrize(
    ("expr", "scaled"),
    [
        ("amc_discovery_worker_heartbeat_age_seconds > 180",
         "amc_discovery_worker_heartbeat_age_seconds > 6"),
        ('x_seconds{job="a"} >= bool 900 and y_seconds<45.5',
         'x_seconds{job="a"} >= bool 30 and y_seconds<2'),
        ("x_seconds > 10", "x_seconds > 1"),  # at least 1
        ("amc_component_up == 0", "amc_component_up == 0"),  # not a time
        ("amc_discovery_jobs > 900", "amc_discovery_jobs > 900"),  # a count, not seconds
    ],
)  # fmt: skip
def test_platform_timer_groups_scale_thresholds_on_seconds(expr: str, scaled: str) -> None:
    assert scale_expr(expr, 30, platform_timers=True) == scaled
    assert scale_expr(expr, 30) == expr  # elsewhere a number of seconds is a fact


def test_only_the_platform_group_scales_its_thresholds() -> None:
    doc = {"groups": [
        {"name": "amc-platform", "rules": [{"alert": "A", "expr": "a_seconds > 900"}]},
        {"name": "amc-decision", "rules": [{"alert": "B", "expr": "a_seconds > 900"}]},
    ]}  # fmt: skip
    scaled = scale_rules(doc, 30)
    assert [g["rules"][0]["expr"] for g in scaled["groups"]] == [
        "a_seconds > 30",
        "a_seconds > 900",
    ]


def test_scale_route_scales_every_level() -> None:
    inner = {"group_interval": "1m", "routes": [{"repeat_interval": "1h"}]}
    route = {"group_wait": "30s", "repeat_interval": "4h", "routes": [inner]}
    assert scale_route(route, 30) == {
        "group_wait": "1s", "repeat_interval": "480s",
        "routes": [{"group_interval": "2s", "routes": [{"repeat_interval": "120s"}]}],
    }  # fmt: skip


def test_scaled_rules_pass_promtool_and_keep_for_and_timers_equal(tmp_path: Path) -> None:
    write_scaled_rules(StackSettings(run_dir=tmp_path, time_scale=30), tmp_path)
    files = sorted(tmp_path.glob("*.yml"))
    assert files
    done = subprocess.run(["promtool", "check", "rules", *map(str, files)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    decision = yaml.safe_load((tmp_path / "decision.yml").read_text())
    fors = {r["alert"]: seconds(r["for"]) for g in decision["groups"] for r in g["rules"]}
    assert fors == {"DiscoverySystemFailure": 60, "DataIntegrityCompromised": 120,
                    "AlgorithmQualityDegraded": 90, "HighErrorRate": 30}  # fmt: skip
    recording = yaml.safe_load((tmp_path / "recording.yml").read_text())
    timers = {r["labels"]["alertname"]: r["expr"] for g in recording["groups"]
              if g["name"] == "amc-decision-timers" for r in g["rules"]
              if r["record"] == "amc:decision_rule_for:seconds"}  # fmt: skip
    assert timers == {name: f"vector({int(value)})" for name, value in fors.items()}


def test_rendered_alertmanager_config_passes_amtool(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("secret\n")
    settings = StackSettings(run_dir=tmp_path, remediator_port=19865, sandbox_port=18700)
    config = alertmanager_config(settings, token)
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(["amtool", "check-config", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    hooks = {r["name"]: r.get("webhook_configs", []) for r in config["receivers"]}
    assert hooks["remediator"][0]["url"] == "http://127.0.0.1:19865/webhook"
    credentials = hooks["remediator"][0]["http_config"]["authorization"]["credentials_file"]
    assert credentials == str(token)
    assert (
        hooks["people-page"][0]["url"] == "http://127.0.0.1:18700/admin/inbox?receiver=people-page"
    )


def _alerts(path: Path) -> dict[str, str]:
    doc = yaml.safe_load(path.read_text())
    return {r["alert"]: r["expr"] for g in doc["groups"] for r in g["rules"] if "alert" in r}


def test_scaled_platform_rules_match_the_stacks_platform(tmp_path: Path) -> None:
    settings = StackSettings(run_dir=tmp_path, time_scale=30)
    write_scaled_rules(settings, tmp_path)
    platform = sandbox_config(settings)
    rules = _alerts(tmp_path / "platform.yml")
    alive = int(platform["heartbeat_alive_seconds"])
    assert rules["DiscoveryWorkerHeartbeatStale"] == (
        f"amc_discovery_worker_heartbeat_age_seconds > {alive}"
    )
    timeout = int(platform["job_timeout_seconds"])
    assert (
        rules["DiscoveryQueueStuck"] == f"amc_discovery_oldest_queued_job_age_seconds > {timeout}"
    )
    assert rules["PlatformComponentDown"] == "amc_component_up == 0"
    # Facts about responses are not the platform's timers: the decision rules keep them.
    decision = _alerts(tmp_path / "decision.yml")
    assert "(amc_discovery_response_seconds > bool 60)" in decision["DiscoverySystemFailure"]
    assert "(amc_discovery_response_seconds > bool 20)" in decision["AlgorithmQualityDegraded"]


@pytest.mark.parametrize("scale", [1, 30, 120])
def test_the_stacks_exporter_judges_by_the_stacks_platform_timers(
    tmp_path: Path, scale: float
) -> None:
    settings = StackSettings(run_dir=tmp_path, time_scale=scale)
    platform = sandbox_config(settings)
    thresholds = exporter_config(settings)["thresholds"]
    assert thresholds == {
        "heartbeat_interval_seconds": platform["heartbeat_interval_seconds"],
        "job_timeout_seconds": platform["job_timeout_seconds"],
        "cache_ttl_seconds": platform["cache_ttl_seconds"],
    }
    if scale == 1:  # unscaled, they are the real platform's: the exporter's own defaults
        assert thresholds == {k: getattr(ExporterConfig().thresholds, k) for k in thresholds}
    # And the exporter takes them as its configuration.
    config = validate_config(exporter_config(settings))
    assert config.thresholds.job_timeout_seconds == platform["job_timeout_seconds"]
