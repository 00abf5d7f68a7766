"""The peer the benchmarks run beside ours, in the same run: prometheus-am-executor.

Its binary is ``$AMC_PEER_AM_EXECUTOR``, else ``../shared/peers/am-executor`` beside the
checkout (a build of imgix/prometheus-am-executor, which runs a command per webhook and
answers once it has ended). Without it a benchmark prints our figures only and says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tests.services import Service, free_port

PROJECT = Path(__file__).resolve().parent.parent


def am_executor() -> Path | None:
    """The peer's binary, if this machine has it."""
    given = os.environ.get("AMC_PEER_AM_EXECUTOR")
    path = Path(given) if given else PROJECT.parent / "shared" / "peers" / "am-executor"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def start_am_executor(
    services: Callable[..., Service], binary: Path, tmp: Path, argv: list[str]
) -> tuple[str, Service]:
    """The peer on a free 127.0.0.1 port running ``argv`` per webhook, started by ``services``
    (a ``ServiceGroup``) once it answers; (its URL, service)."""
    port = free_port()
    config = tmp / f"am-executor-{port}.yml"
    quoted = ", ".join(f'"{arg}"' for arg in argv[1:])
    config.write_text(
        f'listen_address: "127.0.0.1:{port}"\nverbose: false\ncommands:\n'
        f"  - cmd: {argv[0]}\n    args: [{quoted}]\n"
    )
    url = f"http://127.0.0.1:{port}/"
    service = services([str(binary), "-f", str(config)], ready_url=url, name=f"am-executor-{port}")
    return url, service
