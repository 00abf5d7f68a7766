"""The remediator's JSON log lines: the programs' one schema and handler (``amc_core.logs``).

Its audit entries go in as they are (``RawJson``); ``serve`` buffers its lines
(``setup(buffered=True)`` and ``flush_every``).
"""

from __future__ import annotations

from amc_core.logs import JsonFormatter, JsonLines, RawJson, flush, flush_every, setup

__all__ = ["JsonFormatter", "JsonLines", "RawJson", "flush", "flush_every", "setup"]
