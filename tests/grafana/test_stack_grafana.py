"""The local stack serves Grafana, provisioned from ``grafana/``, when a ``grafana-server``
binary is on PATH, and leaves it out when none is."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from sandbox.render import StackSettings
from sandbox.stack import banner, write_stack
from tests.grafana.conftest import PROJECT


def _programs(tmp_path: Path) -> configparser.RawConfigParser:
    conf = configparser.RawConfigParser()
    conf.read(write_stack(StackSettings(run_dir=tmp_path / "stack", grafana_port=3999)))
    return conf


def test_no_grafana_without_its_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no grafana-server on this machine's PATH
    conf = _programs(tmp_path)
    assert "program:prometheus" in conf.sections()
    assert "program:grafana" not in conf.sections()


def test_grafana_with_the_provisioning_when_its_binary_is_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    server = bin_dir / "grafana-server"
    server.write_text("#!/bin/sh\nexit 0\n")
    server.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    command = _programs(tmp_path).get("program:grafana", "command")
    assert f"cfg:default.paths.provisioning={PROJECT / 'grafana' / 'provisioning'}" in command
    assert f"AMC_GRAFANA_DASHBOARDS={PROJECT / 'grafana' / 'dashboards'}" in command
    assert "AMC_PROMETHEUS_URL=http://127.0.0.1:9090" in command
    assert "cfg:default.server.http_port=3999" in command
    assert any("grafana" in line and "3999" in line
               for line in banner(StackSettings(run_dir=tmp_path, grafana_port=3999)))  # fmt: skip
