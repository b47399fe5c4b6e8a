"""The emulator's mailbox contents: events as Exchange keeps them (series masters with exceptions and cancelled
occurrences, one copy of a meeting per mailbox sharing the iCalUId), and their expansion into instances.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from roomsync.sandbox.graph import recurrence as rec

UTC = UTC
MIN_TIME = "0001-01-01T00:00:00Z"


def new_id(prefix: str = "AAMkAG") -> str:
    """An opaque, case-sensitive id without ``/`` (real ids are base64; url-safe keeps paths simple)."""
    return prefix + secrets.token_urlsafe(24)


def occurrence_id(master_id: str, original_start: datetime) -> str:
    raw = f"occ|{master_id}|{original_start.astimezone(UTC).strftime('%Y%m%dT%H%M%S')}"
    return "AAMkOC" + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def parse_occurrence_id(value: str) -> tuple[str, datetime] | None:
    if not value.startswith("AAMkOC"):
        return None
    body = value[6:]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        kind, master_id, stamp = raw.split("|")
        if kind != "occ":
            return None
        return master_id, datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass
class Attendee:
    address: str
    name: str = ""
    type: str = "required"  # required | optional | resource
    response: str = "none"
    time: str = MIN_TIME

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "status": {"response": self.response, "time": self.time},
            "emailAddress": {"name": self.name or self.address, "address": self.address},
        }


@dataclass
class ExceptionData:
    """A modified occurrence of a series (what Graph calls an ``exception``)."""

    start: datetime
    end: datetime
    subject: str | None
    version: int
    #: extended properties written on the occurrence itself (an exception is an item of its own in Exchange)
    ext: dict[str, str] = field(default_factory=dict)


@dataclass
class StoredEvent:
    """One item in one mailbox's calendar: a single instance or a series master."""

    id: str
    ical_uid: str
    mailbox: str
    subject: str
    start: datetime
    end: datetime
    tz: str
    organizer_address: str
    organizer_name: str
    is_organizer: bool
    response: str
    version: int
    created: datetime
    modified: datetime
    body: str = ""
    all_day: bool = False
    location: str = ""
    attendees: list[Attendee] = field(default_factory=list)
    show_as: str = "busy"
    is_cancelled: bool = False
    recurrence: dict[str, Any] | None = None
    transaction_id: str | None = None
    ext: dict[str, str] = field(default_factory=dict)
    exceptions: dict[datetime, ExceptionData] = field(default_factory=dict)
    cancelled: dict[datetime, int] = field(default_factory=dict)
    response_time: str = MIN_TIME
    #: The clock value of the last change to the series as a whole (every occurrence changes with it); ``version``
    #: also moves when only one occurrence is moved or cancelled.
    series_version: int = 0

    def __post_init__(self) -> None:
        self.series_version = self.series_version or self.version

    @property
    def type(self) -> str:
        return "seriesMaster" if self.recurrence else "singleInstance"

    def touch(self, version: int, now: datetime, *, series: bool = True) -> None:
        """Record a change; ``series=False`` when it concerned one occurrence only (its siblings stay as they were)."""
        self.version = version
        self.modified = now
        if series:
            self.series_version = version

    def instances(self, start: datetime, end: datetime) -> list[Instance]:
        """Instances overlapping ``[start, end)``; a series expands to occurrences and exceptions."""
        if not self.recurrence:
            if self.start < end and self.end > start:
                return [Instance(self.id, self, None, self.start, self.end, self.subject, self.version)]
            return []
        duration = self.end - self.start
        result = []
        for original in rec.original_starts(self.recurrence, self.start, self.tz, end + duration):
            if original in self.cancelled:
                continue
            exc = self.exceptions.get(original)
            if exc is not None:
                inst = Instance(
                    occurrence_id(self.id, original),
                    self,
                    original,
                    exc.start,
                    exc.end,
                    exc.subject if exc.subject is not None else self.subject,
                    max(self.series_version, exc.version),
                    exception=True,
                )
            else:
                inst = Instance(
                    occurrence_id(self.id, original),
                    self,
                    original,
                    original,
                    original + duration,
                    self.subject,
                    self.series_version,
                )
            if inst.start < end and inst.end > start:
                result.append(inst)
        return result

    def instance_at(self, original: datetime) -> Instance | None:
        """The occurrence (or exception) whose original start is ``original``; None when cancelled or absent."""
        if not self.find_occurrence(original):
            return None
        exc = self.exceptions.get(original)
        lo = min(original, exc.start) if exc else original
        hi = max(original + (self.end - self.start), exc.end) if exc else original + (self.end - self.start)
        return next((i for i in self.instances(lo, hi) if i.original_start == original), None)

    def find_occurrence(self, original: datetime) -> bool:
        if not self.recurrence or original in self.cancelled:
            return False
        duration = self.end - self.start
        return original in rec.original_starts(self.recurrence, self.start, self.tz, original + duration)


@dataclass(frozen=True)
class Instance:
    """A single event, an occurrence or an exception as calendarView and delta return them."""

    id: str
    event: StoredEvent
    original_start: datetime | None
    start: datetime
    end: datetime
    subject: str
    version: int
    exception: bool = False

    @property
    def type(self) -> str:
        if self.original_start is None:
            return "singleInstance"
        return "exception" if self.exception else "occurrence"


def change_key(item_id: str, version: int) -> str:
    """The changeKey of an item or occurrence at a version: it changes with every change, as Exchange's does.

    An occurrence's changeKey moves when the series or that occurrence changes, not when a sibling is moved or
    cancelled (the emulator's choice where Graph documents nothing; the connector tolerates either).
    """
    return base64.urlsafe_b64encode(f"{item_id[-12:]}:{version}".encode()).decode().rstrip("=")


#: Set-CalendarProcessing parameters the emulated assistant honours -> the attribute each sets.
PARAMETERS: dict[str, str] = {
    "AutomateProcessing": "automate",
    "AllowConflicts": "allow_conflicts",
    "AddOrganizerToSubject": "add_organizer_to_subject",
    "DeleteSubject": "delete_subject",
    "DeleteComments": "delete_comments",
    "RemoveCanceledMeetings": "remove_canceled_meetings",
    "BookingWindowInDays": "booking_window_days",
    "EnforceSchedulingHorizon": "enforce_scheduling_horizon",
    "MaximumDurationInMinutes": "maximum_duration_minutes",
    "AllowRecurringMeetings": "allow_recurring_meetings",
    "ConflictPercentageAllowed": "conflict_percentage_allowed",
    "MaximumConflictInstances": "maximum_conflict_instances",
    "RemovePrivateProperty": "remove_private_property",
}
_FOLDED = {name.casefold(): attr for name, attr in PARAMETERS.items()}


@dataclass
class Processing:
    """The Set-CalendarProcessing settings the emulated resource booking assistant honours, with Exchange Online's
    defaults (graph-and-ews.md 1.8)."""

    automate: str = "AutoAccept"  # AutoAccept | AutoUpdate | None
    allow_conflicts: bool = False
    add_organizer_to_subject: bool = True
    delete_subject: bool = True
    delete_comments: bool = True
    remove_canceled_meetings: bool = False
    #: requests that start later than this many days from now are declined (0 = today only)
    booking_window_days: int = 180
    #: a series reaching past the booking window is declined ($false: accepted, see assistant.py)
    enforce_scheduling_horizon: bool = True
    #: longer meetings (each occurrence of a series) are declined; 0 = no limit
    maximum_duration_minutes: int = 1440
    allow_recurring_meetings: bool = True
    #: a series may conflict in at most this percentage of its occurrences, and at most this many occurrences
    conflict_percentage_allowed: int = 0
    maximum_conflict_instances: int = 0
    #: accepted as Exchange does; the emulated items carry no private flag for it to remove
    remove_private_property: bool = True

    @classmethod
    def from_json(cls, data: dict[str, Any], base: Processing | None = None) -> Processing:
        """Apply Set-CalendarProcessing parameters (names matched case-insensitively, as PowerShell does)."""
        result = replace(base or cls())
        for key, value in data.items():
            attr = _FOLDED.get(key.casefold())
            if attr is None:
                raise ValueError(f"{key} is not a Set-CalendarProcessing parameter the sandbox knows")
            kind = type(getattr(result, attr))
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"{key} must be $true or $false")
            if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{key} must be a whole number of at least 0")
            setattr(result, attr, str(value) if kind is str else value)
        if result.automate not in ("AutoAccept", "AutoUpdate", "None"):
            raise ValueError(f"AutomateProcessing {result.automate!r} is not AutoAccept, AutoUpdate or None")
        if result.booking_window_days > 1080:
            raise ValueError("BookingWindowInDays must be from 0 to 1080")
        if result.conflict_percentage_allowed > 100:
            raise ValueError("ConflictPercentageAllowed must be from 0 to 100")
        return result

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, attr) for name, attr in PARAMETERS.items()}


@dataclass
class Mailbox:
    """A room or a person. Rooms run the booking assistant; people only receive copies."""

    address: str
    name: str
    kind: str = "room"  # room | user
    processing: Processing = field(default_factory=Processing)
    capacity: int | None = None
    building: str | None = None
    #: Set-MailboxRegionalConfiguration -TimeZone, what mailboxSettings reports ("" when never set)
    time_zone: str = ""
    events: dict[str, StoredEvent] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)
    transactions: dict[str, str] = field(default_factory=dict)
    inbox: list[dict[str, Any]] = field(default_factory=list)
    clock: int = 0

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def copy_of(self, ical_uid: str) -> StoredEvent | None:
        for event in self.events.values():
            if event.ical_uid == ical_uid:
                return event
        return None

    def remove(self, event_id: str) -> StoredEvent | None:
        event = self.events.pop(event_id, None)
        if event is not None:
            self.tombstones[event_id] = self.tick()
        return event

    def instances(self, start: datetime, end: datetime) -> list[Instance]:
        result = [i for event in self.events.values() for i in event.instances(start, end)]
        return sorted(result, key=lambda i: (i.start, i.id))
