"""Points in time as the platform and RQ write them: epoch seconds or ISO 8601 dates."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def epoch_seconds(value: Any) -> float | None:
    """Epoch seconds from a number, its text or an ISO date; None when absent or unreadable."""
    if value is None or isinstance(value, bool):
        return None
    text = value.decode() if isinstance(value, bytes) else str(value)
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return number if math.isfinite(number) else None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
