"""Running the real ``mtail`` binary (Debian's 3.0.0-rc50) over log files, and reading what it
printed."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

PROGRAMS = Path(__file__).resolve().parents[2] / "prometheus" / "mtail"


def mtail(*args: str) -> subprocess.CompletedProcess[str]:
    """Run mtail on an ephemeral port of 127.0.0.1 (it opens its HTTP listener in every mode)."""
    binary = shutil.which("mtail")
    if binary is None:
        raise RuntimeError("mtail not found: run scripts/setup.sh")
    argv = [binary, *args, "-address", "127.0.0.1", "-port", "0", "-logtostderr"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@dataclass(frozen=True)
class Metrics:
    """mtail's one-shot output: every sample by name and labels (``prog`` left out)."""

    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` with ``labels`` (0 when there is none)."""
        wanted = set(labels.items())
        return sum(v for (n, found), v in self.samples.items() if n == name and wanted <= found)

    def by(self, name: str, label: str) -> dict[str, float]:
        """The samples of ``name`` summed by one label (zeros left out)."""
        totals: dict[str, float] = {}
        for (found_name, found), value in self.samples.items():
            if found_name == name and value:
                key = dict(found)[label]
                totals[key] = totals.get(key, 0.0) + value
        return totals


def one_shot(logs: Iterable[Path], programs: Path = PROGRAMS) -> Metrics:
    """Run the programs over ``logs`` from start to end; the metrics they produced."""
    result = mtail("-one_shot", "-one_shot_format", "prometheus", "-progs", str(programs),
                   "-logs", ",".join(str(p) for p in logs))  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(result.stdout):
        for sample in family.samples:
            labels = frozenset((k, v) for k, v in sample.labels.items() if k != "prog")
            key = (sample.name, labels)
            samples[key] = samples.get(key, 0.0) + sample.value
    return Metrics(samples)
