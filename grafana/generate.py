"""Write the dashboards' JSON from their code: ``python -m grafana.generate`` (``--check``
compares instead, exit 1 when a committed file differs)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard

from grafana import amc_agent, amc_automation, amc_platform

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
BUILDERS: dict[str, Callable[[], dashboard.Dashboard]] = {
    amc_platform.UID: amc_platform.dashboard_model,
    amc_automation.UID: amc_automation.dashboard_model,
    amc_agent.UID: amc_agent.dashboard_model,
}


def render(uid: str) -> str:
    """The JSON text of one dashboard, as committed."""
    return json.dumps(BUILDERS[uid](), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def rendered(directory: Path = DASHBOARDS_DIR) -> dict[Path, str]:
    """Every dashboard file in ``directory`` and its text."""
    return {directory / f"{uid}.json": render(uid) for uid in BUILDERS}


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check`` compare) every dashboard file."""
    parser = argparse.ArgumentParser(prog="python -m grafana.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    parser.add_argument("--dir", type=Path, default=DASHBOARDS_DIR, help="the dashboards' folder")
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered(args.dir).items():
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text)
    verb = "differs from the generator" if args.check else "written"
    for path in stale:
        print(f"{path}: {verb}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
