"""exchangelib ``CalendarItem`` objects flattened into what the connector keeps per mailbox between cycles.

An :class:`Item` is one entry of a room's calendar folder as SyncFolderItems and GetItem report it: a single item or
a series master (with its modified and deleted occurrences). Occurrences seen in a calendar view only lead to their
master. Times are UTC; an all-day item's dates become midnights in the item's own zone (or the server's, when the
item names none), so a booking on 20 March stays on 20 March whichever zone reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from exchangelib import CalendarItem

from roomsync.connectors.ews.props import ALL_DAY_ATTRIBUTE
from roomsync.connectors.exchange import Attendee
from roomsync.model import UnknownTimeZone, to_iana, zone

#: MyResponseType values of a room's copy that still waits for an answer (Planon in the lead decides it).
AWAITING = frozenset({"Unknown", "NoResponseReceived", "Tentative"})
FIELDS = (
    "subject",
    "start",
    "end",
    ALL_DAY_ATTRIBUTE,
    "uid",
    "type",
    "my_response_type",
    "organizer",
    "required_attendees",
    "optional_attendees",
    "resources",
    "is_cancelled",
    "original_start",
    "last_modified_time",
    "recurrence",
    "modified_occurrences",
    "deleted_occurrences",
    "_start_timezone",
)


class ItemError(ValueError):
    """An item we cannot read (no start, no UID ...): reported as skipped, never deleted."""


@dataclass(frozen=True)
class Moved:
    """A modified occurrence of a series: where the rule put it and where it is now (its subject once fetched)."""

    item_id: str
    original_start: datetime
    start: datetime
    end: datetime
    subject: str | None = None


@dataclass(frozen=True)
class Item:
    id: str
    change_key: str
    uid: str
    type: str  # Single | Occurrence | Exception | RecurringMaster
    start: datetime
    end: datetime
    subject: str = ""
    timezone: str = "UTC"
    all_day: bool = False
    organizer: str = ""
    organizer_name: str = ""
    attendees: tuple[Attendee, ...] = ()
    response: str = "Unknown"
    is_cancelled: bool = False
    original_start: datetime | None = None
    link_text: str | None = None
    people_text: str | None = None
    last_modified: datetime | None = None
    recurrence: Any = None
    modified: tuple[Moved, ...] = ()
    deleted: tuple[datetime, ...] = ()

    @property
    def is_organizer(self) -> bool:
        return self.response == "Organizer"

    @property
    def is_master(self) -> bool:
        return self.type == "RecurringMaster"

    @property
    def awaiting(self) -> bool:
        return not self.is_organizer and not self.is_cancelled and self.response in AWAITING

    def with_subjects(self, subjects: dict[str, str]) -> Item:
        """The master with the subjects of its modified occurrences filled in (from a GetItem of them)."""
        return replace(
            self, modified=tuple(replace(m, subject=subjects.get(m.item_id, m.subject)) for m in self.modified)
        )


def utc(value: datetime) -> datetime:
    """A plain UTC datetime (exchangelib's EWSDateTime only converts to its own zone class)."""
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


def _utc(value: Any) -> datetime | None:
    return utc(value) if isinstance(value, datetime) else None


def _zone_name(value: Any, fallback: str) -> str:
    key = getattr(value, "key", None)
    if not key:
        return fallback
    try:
        return to_iana(str(key))
    except UnknownTimeZone:
        return fallback  # times stay exact, only the label is lost


def _when(value: Any, tz: str, what: str) -> datetime:
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, date):  # exchangelib turns all-day start/end into dates in the item's zone
        return datetime.combine(value, time()).replace(tzinfo=zone(tz)).astimezone(UTC)
    raise ItemError(f"item has no {what}")


def _attendees(item: CalendarItem, field_name: str, kind: str) -> list[Attendee]:
    result = []
    for attendee in getattr(item, field_name) or []:
        mailbox = attendee.mailbox
        if mailbox is None or not mailbox.email_address:
            continue
        result.append(
            Attendee(mailbox.email_address.strip().casefold(), mailbox.name or "", kind, attendee.response_type or "")
        )
    return result


def from_calendar_item(item: CalendarItem, link_attr: str, people_attr: str, server_zone: str) -> Item:
    """Translate one exchangelib item; raises :class:`ItemError` for what cannot be read."""
    if not item.id:
        raise ItemError("item without id")
    tz = _zone_name(item._start_timezone, server_zone)
    start = _when(item.start, tz, "start")
    if isinstance(item.end, date) and not isinstance(item.end, datetime):
        # exchangelib turns an all-day end into the last day (inclusive): the item ends at the next midnight
        end = datetime.combine(item.end + timedelta(days=1), time()).replace(tzinfo=zone(tz)).astimezone(UTC)
    else:
        end = _when(item.end, tz, "end")
    if end <= start:
        raise ItemError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    organizer = item.organizer
    attendees = (
        _attendees(item, "required_attendees", "required")
        + _attendees(item, "optional_attendees", "optional")
        + _attendees(item, "resources", "resource")
    )
    modified = tuple(
        Moved(o.id, utc(o.original_start), utc(o.start), utc(o.end))
        for o in item.modified_occurrences or []
        if o.original_start is not None and o.start is not None and o.end is not None
    )
    deleted = tuple(utc(d.start) for d in item.deleted_occurrences or [] if d.start is not None)
    return Item(
        id=item.id,
        change_key=item.changekey or "",
        uid=item.uid or item.id,
        type=item.type or "Single",
        start=start,
        end=end,
        subject=item.subject or "",
        timezone=tz,
        all_day=bool(getattr(item, ALL_DAY_ATTRIBUTE, None) or item.is_all_day),
        organizer=(organizer.email_address or "").strip().casefold() if organizer else "",
        organizer_name=(organizer.name or "") if organizer else "",
        attendees=tuple(attendees),
        response=item.my_response_type or "Unknown",
        is_cancelled=bool(item.is_cancelled),
        original_start=_utc(item.original_start),
        link_text=getattr(item, link_attr, None),
        people_text=getattr(item, people_attr, None),
        last_modified=_utc(item.last_modified_time),
        recurrence=item.recurrence,
        modified=modified,
        deleted=deleted,
    )
