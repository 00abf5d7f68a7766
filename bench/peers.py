"""The peer the benchmarks run beside ours, in the same run: prometheus-am-executor.

Its binary is ``$AMC_PEER_AM_EXECUTOR``, else ``../shared/peers/am-executor`` beside the
checkout (a build of imgix/prometheus-am-executor, which runs a command per webhook and
answers once it has ended). Without it a benchmark prints our figures only and says so.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.services import Service, free_port, http_ok, wait_for

PROJECT = Path(__file__).resolve().parent.parent


def am_executor() -> Path | None:
    """The peer's binary, if this machine has it."""
    given = os.environ.get("AMC_PEER_AM_EXECUTOR")
    path = Path(given) if given else PROJECT.parent / "shared" / "peers" / "am-executor"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def start_am_executor(binary: Path, tmp: Path, argv: list[str]) -> tuple[str, Service]:
    """The peer on a free 127.0.0.1 port running ``argv`` per webhook; (its URL, service)."""
    port = free_port()
    config = tmp / f"am-executor-{port}.yml"
    quoted = ", ".join(f'"{arg}"' for arg in argv[1:])
    config.write_text(
        f'listen_address: "127.0.0.1:{port}"\nverbose: false\ncommands:\n'
        f"  - cmd: {argv[0]}\n    args: [{quoted}]\n"
    )
    service = Service([str(binary), "-f", str(config)], tmp / f"am-executor-{port}.log")
    service.start()
    url = f"http://127.0.0.1:{port}/"
    wait_for(lambda: http_ok(url), 10, "am-executor to listen", step=0.1)
    return url, service
