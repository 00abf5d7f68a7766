"""promtool: the rule files and the scrape configuration are valid, and the unit tests pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules.tools import (
    PROMETHEUS_DIR,
    RULES_DIR,
    output,
    rule_test_files,
    rules,
    run,
)

# Every rule file has unit tests; the glob must never quietly find nothing.
EXPECTED_TEST_FILES = {
    "algorithm_quality_degraded.yml",
    "anomaly.yml",
    "classification.yml",
    "data_integrity_compromised.yml",
    "discovery_system_failure.yml",
    "high_error_rate.yml",
    "meta.yml",
    "platform.yml",
    "recording.yml",
}


def test_rule_files_pass_promtool_check() -> None:
    files = sorted(RULES_DIR.glob("*.yml"))
    result = run("promtool", "check", "rules", "--lint=all", "--lint-fatal", *map(str, files))
    assert result.returncode == 0, output(result)
    for path in files:
        count = sum(1 for rule in rules() if rule.file == path.name)
        assert f"Checking {path}\n  SUCCESS: {count} rules found" in result.stdout, output(result)


def test_every_rule_test_file_is_run() -> None:
    assert {path.name for path in rule_test_files()} == EXPECTED_TEST_FILES


@pytest.mark.parametrize("path", rule_test_files(), ids=lambda path: path.stem)
def test_promtool_unit_tests_pass(path: Path) -> None:
    result = run("promtool", "test", "rules", str(path))
    assert result.returncode == 0, output(result)
    assert "SUCCESS" in result.stdout, output(result)


def test_prometheus_config_is_valid_and_loads_every_rule_file() -> None:
    result = run("promtool", "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, output(result)
    count = len(list(RULES_DIR.glob("*.yml")))
    assert f"SUCCESS: {count} rule files found" in result.stdout, output(result)


def test_promtool_rejects_a_broken_rule_file(tmp_path: Path) -> None:
    """The check above can fail: an unknown function is reported with its file."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: no_such_fn(up)\n"
    )
    result = run("promtool", "check", "rules", str(broken))
    assert result.returncode != 0
    assert 'unknown function with name "no_such_fn"' in result.stdout + result.stderr
