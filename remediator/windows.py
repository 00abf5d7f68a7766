"""The change window: while it is open, a command with ``approval: in_window`` waits for a
person's yes. By default the US equity market's regular session (09:30-16:00 New York time,
Monday to Friday); holidays and half days come from the configuration. Local times come from
the standard library's zoneinfo, so daylight saving time is the zone's, never an offset."""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import cached_property
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, field_validator, model_validator

from amc_core.config import Model

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")
END_OF_DAY = "24:00"


def seconds_of_day(text: str) -> int:
    """``HH:MM`` or ``HH:MM:SS`` as seconds since midnight; ``24:00`` is the day's end."""
    if text == END_OF_DAY:
        return 86400
    match = _CLOCK.match(text)
    if match is None:
        raise ValueError(f"must be HH:MM or HH:MM:SS (00:00 to 24:00), got {text!r}")
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)


def _clock_time(text: str) -> str:
    seconds_of_day(text)
    return text


ClockTime = Annotated[str, AfterValidator(_clock_time)]


class ChangeWindow(Model):
    """When a person must approve an ``in_window`` command: [start, end) local time on the
    listed weekdays, except holidays; a half day ends early."""

    timezone: str = "America/New_York"
    days: list[Weekday] = ["mon", "tue", "wed", "thu", "fri"]
    start: ClockTime = "09:30"
    end: ClockTime = "16:00"
    holidays: list[date] = []
    half_days: dict[date, ClockTime] = {}  # date -> the session's early end

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _ordered(self) -> ChangeWindow:
        start = seconds_of_day(self.start)
        if seconds_of_day(self.end) <= start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        for day, end in self.half_days.items():
            if seconds_of_day(end) <= start:
                raise ValueError(f"half_days.{day}: end {end} must be after start {self.start}")
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        """The window's time zone."""
        return ZoneInfo(self.timezone)

    def contains(self, now: float) -> bool:
        """Is the window open at the instant ``now`` (seconds since the epoch)?"""
        local = datetime.fromtimestamp(now, self.zone)
        day = local.date()
        if WEEKDAYS[local.weekday()] not in self.days or day in self.holidays:
            return False
        start, end, half_days = self.bounds
        of_day = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
        return start <= of_day < half_days.get(day, end)

    @cached_property
    def bounds(self) -> tuple[int, int, dict[date, int]]:
        """Start, end and the half days' ends as seconds of the day (parsed once: the
        window is read on the webhook's path)."""
        half_days = {day: seconds_of_day(end) for day, end in self.half_days.items()}
        return seconds_of_day(self.start), seconds_of_day(self.end), half_days
