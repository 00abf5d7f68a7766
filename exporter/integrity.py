"""Data integrity of discovery results: explicit mock/fallback markers and plausibility (pure).

Mock data is recognised by the markers the original platform really emits (symbol ``DEMO``,
``stats.demo``, ``job_id`` ``emergency_demo``/``fallback_<ts>``, an ``engine`` name with
"Demo"/"Fallback", ``error_recovery``) and by data no market produces (identical scores,
out-of-range scores, symbols that are not 1-5 capital letters, results regenerated without a
single change). Free text such as a thesis is never searched: "tested support level" is real.

``not_frozen`` is reported but informational: real data legitimately stands still outside
market hours, and the ``DiscoveryResultsFrozen`` alert already covers it, so it never raises
``mock_suspected`` (which leads to INTEGRATE_REAL_DATA) and is not part of ``ratio``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from exporter.config import IntegrityConfig
from exporter.platform_client import DiscoveryPayload

CHECKS: tuple[str, ...] = (
    "no_mock_markers",
    "well_formed",
    "valid_symbols",
    "scores_in_range",
    "distinct_scores",
    "not_frozen",
)
"""Every check, in order; each is a bounded value of the ``check`` label."""

INFORMATIONAL: frozenset[str] = frozenset({"not_frozen"})
"""Checks that are reported but do not count towards ``mock_suspected`` or ``ratio``."""


class IntegrityReport(BaseModel):
    """The outcome of every check (True = passed) and why any failed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checks: dict[str, bool]
    reasons: tuple[str, ...] = ()

    @property
    def suspect_checks(self) -> dict[str, bool]:
        """The checks that judge mock data (every check but the informational ones)."""
        return {k: v for k, v in self.checks.items() if k not in INFORMATIONAL}

    @property
    def mock_suspected(self) -> bool:
        """True when a check that judges mock data failed."""
        return not all(self.suspect_checks.values())

    @property
    def ratio(self) -> float:
        """The share of mock-data checks that passed (1.0 when there were none)."""
        checks = self.suspect_checks
        if not checks:
            return 1.0
        return sum(checks.values()) / len(checks)


@dataclass
class FrozenTracker:
    """Remembers when the results' content last changed, across probes."""

    fingerprint: str | None = None
    since: float = 0.0
    # Only "more than one run" matters, so at most two ids are kept, whatever the run count.
    job_ids: set[str] = field(default_factory=set)

    def observe(self, payload: DiscoveryPayload, now: float) -> float:
        """Record ``payload``; return for how long regenerated results have been identical."""
        if not payload.candidates:
            self.fingerprint = None
            return 0.0
        fingerprint = _fingerprint(payload)
        if fingerprint != self.fingerprint:
            self.fingerprint, self.since, self.job_ids = fingerprint, now, set()
        if len(self.job_ids) < 2:
            self.job_ids.add(payload.job_id or "")
        # The same result served again from cache is not frozen: only new runs count.
        return now - self.since if len(self.job_ids) > 1 else 0.0


def _fingerprint(payload: DiscoveryPayload) -> str:
    rows = sorted((c.symbol, c.bms_score, c.price) for c in payload.candidates)
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()


def markers(payload: DiscoveryPayload, config: IntegrityConfig) -> list[str]:
    """The explicit mock/fallback markers that ``payload`` carries."""
    found = [f"symbol {c.symbol}" for c in payload.candidates if c.symbol in config.mock_symbols]
    if payload.stats.get("demo") is True:
        found.append("stats.demo")
    job_id = payload.job_id or ""
    if job_id in config.mock_job_ids or job_id.startswith(config.mock_job_id_prefixes):
        found.append(f"job_id {job_id}")
    engine = payload.engine or ""
    found += [f"engine {engine}" for word in config.mock_engine_words if word in engine][:1]
    if payload.error_recovery is True:
        found.append("error_recovery")
    return found


def _share(count: int, total: int) -> float:
    return count / total if total else 0.0


def check(
    payload: DiscoveryPayload,
    config: IntegrityConfig,
    frozen_seconds: float | None = None,
) -> IntegrityReport:
    """Run every check on ``payload``; ``frozen_seconds`` comes from a ``FrozenTracker``."""
    reasons: list[str] = []
    found = markers(payload, config)
    reasons += [f"marker: {m}" for m in found]
    pattern = re.compile(config.symbol_pattern)
    bad_symbols = [c.symbol for c in payload.candidates if not pattern.fullmatch(c.symbol)]
    # Real listings include odd tickers (BRK.B): only a majority of them is implausible.
    implausible = _share(len(bad_symbols), len(payload.candidates)) > config.implausible_share
    if implausible:
        reasons += [f"symbol not plausible: {s!r}" for s in bad_symbols[:3]]
    scores = [c.bms_score for c in payload.candidates]
    out_of_range = [s for s in scores if not config.min_score <= s <= config.max_score]
    reasons += [f"score out of range: {s}" for s in out_of_range[:3]]
    # Two equal scores happen; most of three or more sharing one score does not.
    score, same = Counter(scores).most_common(1)[0] if scores else (0.0, 0)
    identical = len(scores) >= 3 and _share(same, len(scores)) > config.implausible_share
    if identical:
        reasons.append(f"{same} of {len(scores)} scores identical ({score})")
    if payload.malformed:
        reasons.append(f"{payload.malformed} malformed candidates")
    checks = {
        "no_mock_markers": not found,
        "well_formed": payload.malformed == 0,
        "valid_symbols": not implausible,
        "scores_in_range": not out_of_range,
        "distinct_scores": not identical,
    }
    if frozen_seconds is not None:
        frozen = 0 < config.frozen_after_seconds <= frozen_seconds
        checks["not_frozen"] = not frozen
        if frozen:
            reasons.append(f"results unchanged across runs for {frozen_seconds:.0f}s")
    return IntegrityReport(checks=checks, reasons=tuple(reasons))
