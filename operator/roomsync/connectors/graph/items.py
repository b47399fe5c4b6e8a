"""SDK ``Event`` objects flattened into what the connector keeps per mailbox between cycles.

An :class:`Item` is one entry of a room's calendar as calendarView/delta report it (single instance, occurrence or
exception) or a series master. Only what translation needs is kept, so the cache stays small.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from msgraph.generated.models.event import Event

from roomsync.model import UnknownTimeZone, zone

UTC = UTC
AWAITING = frozenset({"notResponded", "tentativelyAccepted", "none"})


class ItemError(ValueError):
    """An event we cannot read (no start, unknown zone ...): reported as skipped, never deleted."""


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str
    type: str  # required | optional | resource
    response: str


@dataclass(frozen=True)
class Item:
    id: str
    ical_uid: str
    type: str  # singleInstance | occurrence | exception | seriesMaster
    start: datetime
    end: datetime
    subject: str = ""
    timezone: str = "UTC"
    all_day: bool = False
    organizer: str = ""
    organizer_name: str = ""
    attendees: tuple[Attendee, ...] = ()
    response: str = "none"
    is_organizer: bool = False
    is_cancelled: bool = False
    series_master_id: str | None = None
    original_start: datetime | None = None
    link_text: str | None = None
    people_text: str | None = None
    last_modified: datetime | None = None
    change_key: str | None = None  # the version writes send as If-Match (the event's @odata.etag or changeKey)
    # series masters only
    recurrence: Any = None
    cancelled_occurrences: tuple[str, ...] = ()
    exceptions: tuple[Item, ...] = field(default=())

    @property
    def awaiting(self) -> bool:
        return not self.is_organizer and not self.is_cancelled and self.response in AWAITING

    def with_props(self, link_text: str | None, people_text: str | None) -> Item:
        return replace(self, link_text=link_text, people_text=people_text)


def _value(enum_or_str: object) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str) or "")


def _instant(value: Any, what: str) -> datetime:
    if value is None or not value.date_time:
        raise ItemError(f"event has no {what}")
    try:
        local_zone = zone(value.time_zone or "UTC")
    except UnknownTimeZone:
        raise ItemError(f"{what} time zone {value.time_zone!r} is unknown") from None
    parsed = datetime.fromisoformat(str(value.date_time).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=local_zone)
    return parsed.astimezone(UTC)


def _zone_name(name: str | None) -> str:
    if not name:
        return "UTC"
    try:
        zone(name)
    except UnknownTimeZone:
        return "UTC"  # "tzone://Microsoft/Custom" and friends: times are still exact, only the label is lost
    return name


def _props(event: Event, link_id: str, people_id: str) -> tuple[str | None, str | None]:
    link = people = None
    for prop in event.single_value_extended_properties or []:
        if (prop.id or "").casefold() == link_id.casefold():
            link = prop.value
        elif (prop.id or "").casefold() == people_id.casefold():
            people = prop.value
    return link, people


def from_event(event: Event, link_id: str, people_id: str) -> Item:
    """Translate one SDK event; raises :class:`ItemError` for what cannot be read."""
    if not event.id:
        raise ItemError("event without id")
    organizer = event.organizer.email_address if event.organizer and event.organizer.email_address else None
    attendees = tuple(
        Attendee(
            email=(a.email_address.address or "").strip().casefold(),
            name=a.email_address.name or "",
            type=_value(a.type) or "required",
            response=_value(a.status.response) if a.status else "none",
        )
        for a in event.attendees or []
        if a.email_address and a.email_address.address
    )
    link, people = _props(event, link_id, people_id)
    original = event.original_start
    if original is not None and original.tzinfo is None:
        original = original.replace(tzinfo=UTC)
    return Item(
        id=event.id,
        ical_uid=event.i_cal_u_id or event.id,
        type=_value(event.type) or "singleInstance",
        start=_instant(event.start, "start"),
        end=_instant(event.end, "end"),
        subject=event.subject or "",
        timezone=_zone_name(
            (event.recurrence.range.recurrence_time_zone if event.recurrence and event.recurrence.range else None)
            or event.original_start_time_zone
        ),
        all_day=bool(event.is_all_day),
        organizer=(organizer.address or "").strip().casefold() if organizer else "",
        organizer_name=(organizer.name or "") if organizer else "",
        attendees=attendees,
        response=_value(event.response_status.response) if event.response_status else "none",
        is_organizer=bool(event.is_organizer),
        is_cancelled=bool(event.is_cancelled),
        series_master_id=event.series_master_id,
        original_start=original.astimezone(UTC) if original else None,
        link_text=link,
        people_text=people,
        last_modified=event.last_modified_date_time,
        change_key=(event.additional_data or {}).get("@odata.etag") or event.change_key,
        recurrence=event.recurrence,
        cancelled_occurrences=tuple(event.cancelled_occurrences or ()),
        exceptions=tuple(from_event(e, link_id, people_id) for e in event.exception_occurrences or []),
    )


def is_removed(event: Event) -> bool:
    return "@removed" in (event.additional_data or {})
