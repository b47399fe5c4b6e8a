"""What the emulated Workspace domain holds: calendars (people's and rooms'), their events, and the knobs where the
vendor's behaviour is [unconfirmed] (google-calendar.md), each a documented setting so both readings can be tested.

Events are kept as the JSON resources Google serves (``summary``, ``start``, ``attendees`` ...) plus a few internal
keys starting with ``_``: ``_seq`` (the calendar's change counter when the event last changed, what sync tokens are
measured against), ``_origin`` (on a room's copy: the organizer's calendar and event id), ``_copies`` (on an
organizer's event: room calendar -> copy id) and the parsed times ``_s``/``_e`` (UTC), ``_allday``, ``_tz``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from roomsync.sandbox.google import times

#: Extended property limits (Google's extended-properties guide): longer keys are dropped and longer values cut,
#: silently; more properties or more bytes are refused.
MAX_KEY, MAX_VALUE, MAX_PROPERTIES, MAX_BYTES = 44, 1024, 300, 32 * 1024


@dataclass
class Settings:
    """Behaviours the reference marks [unconfirmed]; the defaults are the emulator's documented choice."""

    #: A room's answer written on its copy with ``attendeesOmitted`` reaches the organizer's copy (and the other
    #: rooms' copies). False: only the room's own copy changes.
    response_propagates: bool = True
    #: "This and following" keeps the series' iCalUID for the new series (False: the new series gets its own).
    split_keeps_ical_uid: bool = False
    #: ``events.import`` of an iCalUID already in the calendar: ``replace`` it or answer 409 ``duplicate``.
    import_duplicate: str = "replace"
    #: Repeated ``privateExtendedProperty`` constraints: ``and`` (discovery text) or ``or`` (the guide).
    extended_property_filter: str = "and"
    #: Auto-accept of a series: decline it whole when more than this many instances conflict ... (help page: 5;
    #: a university copy: "three or more", i.e. 2)
    series_decline_above: int = 5
    #: ... or more than this fraction of them (help page: 1/3; None: no fraction rule).
    series_decline_fraction: float | None = 1 / 3
    #: Changing a series' RRULE or times drops its exceptions (the occurrences come back to the pattern).
    drop_exceptions_on_rule_change: bool = True

    @classmethod
    def fields(cls) -> dict[str, str]:
        return {
            "responsePropagates": "response_propagates",
            "splitKeepsICalUID": "split_keeps_ical_uid",
            "importDuplicate": "import_duplicate",
            "extendedPropertyFilter": "extended_property_filter",
            "seriesDeclineAbove": "series_decline_above",
            "seriesDeclineFraction": "series_decline_fraction",
            "dropExceptionsOnRuleChange": "drop_exceptions_on_rule_change",
        }

    def update(self, data: dict[str, Any]) -> None:
        for key, value in data.items():
            name = self.fields().get(key)
            if name is None:
                raise ValueError(f"unknown setting {key!r}; known: {', '.join(self.fields())}")
            setattr(self, name, value)

    def to_json(self) -> dict[str, Any]:
        return {key: getattr(self, name) for key, name in self.fields().items()}


@dataclass
class Calendar:
    """A user's primary calendar or a room resource's calendar (calendarId = the resource e-mail)."""

    id: str
    kind: str  # "user" | "room"
    name: str
    time_zone: str = "UTC"
    # Directory data of a room
    resource_id: str = ""
    capacity: int | None = None
    building: str = ""
    floor: str = ""
    features: tuple[str, ...] = ()
    category: str = "CONFERENCE_ROOM"
    #: ``autoAccept`` (auto-accept invitations that do not conflict) or ``addAll`` (automatically add all
    #: invitations; the room's answer waits for its manager, or RoomSync when Planon leads)
    booking: str = "autoAccept"
    auto_replace: bool = False
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: int = 0
    epoch: int = 0

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def directory_json(self, customer: str) -> dict[str, Any]:
        return {
            "kind": "admin#directory#resources#calendars#CalendarResource",
            "etags": f'"{secrets.token_hex(8)}"',
            "resourceId": self.resource_id,
            "resourceName": self.name,
            "generatedResourceName": f"{self.building}-{self.floor}-{self.name} ({self.capacity or 0})",
            "resourceType": "Meeting room",
            "resourceEmail": self.id,
            "resourceCategory": self.category,
            "capacity": self.capacity,
            "buildingId": self.building,
            "floorName": self.floor,
            "featureInstances": [{"feature": {"name": f}} for f in self.features],
        }


def new_id() -> str:
    """A server-assigned event id: base32hex (a-v, 0-9), 26 characters."""
    alphabet = "0123456789abcdefghijklmnopqrstuv"
    return "".join(secrets.choice(alphabet) for _ in range(26))


def valid_client_id(value: str) -> bool:
    return 5 <= len(value) <= 1024 and all(c in "0123456789abcdefghijklmnopqrstuv" for c in value)


def new_etag() -> str:
    return f'"{secrets.randbelow(10**16):016d}"'


def set_times(event: dict[str, Any], calendar: Calendar) -> None:
    """Parse ``start``/``end`` into the internal ``_s``/``_e``/``_allday``/``_tz`` keys; raise BadTime."""
    start, all_day, zone = times.parse_when(event.get("start"), calendar.time_zone, "start")
    end, end_all_day, _ = times.parse_when(event.get("end"), calendar.time_zone, "end")
    if all_day != end_all_day:
        raise times.BadTime("Start and end times must either both be date or both be dateTime.")
    if end <= start:
        raise times.BadTime("The specified time range is empty.")
    if event.get("recurrence") and not all_day and not (event.get("start") or {}).get("timeZone"):
        raise times.BadTime("Missing time zone definition for start time.")
    event["_s"], event["_e"], event["_allday"], event["_tz"] = start, end, all_day, zone


def limited_properties(current: dict[str, Any], patch: Any) -> dict[str, Any]:
    """``extendedProperties`` after a PATCH merge, with Google's silent limits and its refusals."""
    if patch is None:
        return current
    if not isinstance(patch, dict):
        raise times.BadTime("Invalid extendedProperties.")
    result = {kind: dict(current.get(kind) or {}) for kind in ("private", "shared")}
    for kind in ("private", "shared"):
        values = patch.get(kind)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise times.BadTime(f"Invalid extendedProperties.{kind}.")
        for key, value in values.items():
            if len(str(key)) > MAX_KEY:
                continue  # silently dropped
            if value is None:
                result[kind].pop(str(key), None)
            else:
                result[kind][str(key)] = str(value)[:MAX_VALUE]  # silently truncated
    count = sum(len(v) for v in result.values())
    size = sum(len(k) + len(v) for values in result.values() for k, v in values.items())
    if count > MAX_PROPERTIES or size > MAX_BYTES:
        raise times.BadTime("The extended properties of the event are too large.")
    return {k: v for k, v in result.items() if v}


def busy_response(event: dict[str, Any], calendar_id: str) -> str | None:
    """The calendar's own answer to an event on it (None when it organizes the event itself)."""
    if (event.get("organizer") or {}).get("email") == calendar_id:
        return None
    for attendee in event.get("attendees") or []:
        if attendee.get("email") == calendar_id:
            return str(attendee.get("responseStatus") or "needsAction")
    return "needsAction"


def original_key(event: dict[str, Any]) -> datetime:
    """The original start (UTC) of an instance record."""
    original = event["originalStartTime"]
    instant, _, _ = times.parse_when(original, "UTC", "originalStartTime")
    return instant
