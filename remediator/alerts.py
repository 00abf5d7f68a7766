"""Alertmanager webhook payloads (version 4), parsed once into typed objects."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from remediator.errors import PayloadError

# Alertmanager fingerprints are 16 hex digits; anything else is refused rather than
# ever used in a Redis key or a job id.
FINGERPRINT_PATTERN = r"^[0-9A-Za-z]{1,64}$"


def _utc_when_naive(value: datetime) -> datetime:
    """Alertmanager writes RFC 3339 times with a zone; a time without one is read as UTC, so
    that one sender's sloppy clock cannot make two times of an alert incomparable."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


Timestamp = Annotated[datetime, AfterValidator(_utc_when_naive)]


class Payload(BaseModel):
    """Alertmanager's shapes: fields it adds in later versions are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Alert(Payload):
    """One alert of a notification."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: Timestamp = Field(alias="startsAt")
    ends_at: Timestamp | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = Field(pattern=FINGERPRINT_PATTERN)

    @property
    def alertname(self) -> str:
        """The alert's name label ('' when it has none)."""
        return self.labels.get("alertname", "")

    @cached_property
    def dedup_key(self) -> str:
        """The firing episode: fingerprint + startsAt, as a short stable digest."""
        raw = f"{self.fingerprint}|{self.starts_at.timestamp():.3f}"
        return hashlib.sha256(raw.encode()).hexdigest()[:24]

    def resolution_seconds(self) -> float | None:
        """How long the episode fired (resolved alerts only)."""
        if self.status != "resolved" or self.ends_at is None:
            return None
        return max(0.0, (self.ends_at - self.starts_at).total_seconds())


class Message(Payload):
    """A webhook notification: one group of alerts."""

    version: str = "4"
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts")
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[Alert]


def parse_message(body: bytes) -> Message:
    """Parse a webhook body; PayloadError names the field that is wrong.

    pydantic reads the JSON itself (in one pass, in Rust): invalid JSON and a body that is
    not an object are errors at the root, reported as the field ``body``.
    """
    try:
        return Message.model_validate_json(body)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        raise PayloadError(field, error["msg"]) from None
