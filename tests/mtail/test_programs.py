"""The mtail programs compile with the real mtail (rc50), each alone, and keep their bounded
label sets in step with the exporter's."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from exporter.failures import KNOWN_EXCEPTIONS
from tests.mtail.tools import PROGRAMS, mtail, one_shot

PROGRAM_FILES = sorted(PROGRAMS.glob("*.mtail"))


def test_the_programs_are_there() -> None:
    assert [path.name for path in PROGRAM_FILES] == ["api.mtail", "worker.mtail"]


@pytest.mark.parametrize("program", PROGRAM_FILES, ids=lambda path: path.name)
def test_each_program_compiles_alone(program: Path, tmp_path: Path) -> None:
    shutil.copy(program, tmp_path)
    result = mtail("-compile_only", "-progs", str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Loaded program {program.name}" in result.stderr


def test_compile_only_fails_on_a_broken_program(tmp_path: Path) -> None:
    """The check above can fail: a syntax error is reported with its file and line."""
    (tmp_path / "broken.mtail").write_text("counter x\n/foo/ { x++ \n")
    result = mtail("-compile_only", "-progs", str(tmp_path))
    assert result.returncode != 0
    assert "compile failed for broken.mtail" in result.stderr


@pytest.mark.parametrize("program", PROGRAM_FILES, ids=lambda path: path.name)
def test_known_exceptions_are_the_exporters(program: Path) -> None:
    found = re.search(r"^const KNOWN_EXCEPTION /\^\(\?:([\w|]+)\)\$/$", program.read_text(), re.M)
    assert found, "no KNOWN_EXCEPTION constant"
    assert tuple(found[1].split("|")) == KNOWN_EXCEPTIONS


def test_histogram_buckets_start_at_minus_one() -> None:
    """mtail rc50 puts a value at or below the lowest bound in no bucket (see api.mtail)."""
    text = (PROGRAMS / "api.mtail").read_text()
    (buckets,) = re.findall(r"^histogram \S+ by route buckets (.+)$", text, re.M)
    bounds = [float(b) for b in buckets.split(",")]
    assert bounds[0] == -1
    assert bounds == sorted(bounds)
    assert {20.0, 60.0} <= set(bounds)  # the decision rules' latency thresholds


def test_a_request_of_zero_seconds_is_observed(tmp_path: Path) -> None:
    log = tmp_path / "sandbox-api.log"
    log.write_text(
        'INFO:     127.0.0.1:1 - "GET /health HTTP/1.1" 200 OK 0.000000s\n'
        'INFO:     127.0.0.1:2 - "GET /discovery/contenders?limit=5 HTTP/1.1" 200 OK 0.004s\n'
    )
    metrics = one_shot([log])
    seconds = "amc_platform_http_request_duration_seconds"
    assert metrics.value(f"{seconds}_count", route="health") == 1
    assert metrics.value(f"{seconds}_bucket", route="health", le="0.005") == 1
    assert metrics.value(f"{seconds}_count", route="contenders") == 1  # the query string too
