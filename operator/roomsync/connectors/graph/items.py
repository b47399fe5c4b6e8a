"""SDK ``Event`` objects flattened into what the connector keeps per mailbox between cycles.

An :class:`Item` is one entry of a room's calendar as calendarView/delta report it (single instance, occurrence or
exception) or a series master. Only what translation needs is kept, so the cache stays small.

Two Graph habits shape the reading:

- **Partial delta updates.** A delta entry for an updated item is "its id with at least the properties that have
  been updated" (graph-and-ews.md 1.2): :func:`from_event` with ``base`` merges such an entry into the cached item,
  property by property; a property the entry lacks keeps its cached value, never an empty one. An entry for an item
  that is not cached is no booking by itself: the cache fetches that item whole (:func:`complete` says what a bare
  entry lacks).
- **All-day events float.** Graph returns an all-day event as midnight-to-midnight dates whatever time zone is asked
  for ("by design"), never as the instants Exchange stores. An all-day booking is those whole dates in the room's
  zone (the Planon property's zone, which Connect for Calendars requires the room mailbox to share), so the dates
  are placed at midnight in ``day_zone`` - the mailbox's zone from its mailboxSettings - or, when that is unknown,
  in the event's own zone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time
from typing import Any, TypeVar

from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.event import Event

from roomsync.connectors.exchange import Attendee
from roomsync.model import UnknownTimeZone, zone

UTC = UTC
AWAITING = frozenset({"notResponded", "tentativelyAccepted", "none"})
T = TypeVar("T")


class ItemError(ValueError):
    """An event we cannot read (no start, unknown zone ...): reported as skipped, never deleted."""


@dataclass(frozen=True)
class Item:
    id: str
    ical_uid: str
    type: str  # singleInstance | occurrence | exception | seriesMaster
    start: datetime
    end: datetime
    subject: str = ""
    #: the event's own zone (series expand in it); for an all-day event the zone its dates were placed in
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


def _zone_name(name: str | None) -> str:
    if not name:
        return "UTC"
    try:
        zone(name)
    except UnknownTimeZone:
        return "UTC"  # "tzone://Microsoft/Custom" and friends: times are still exact, only the label is lost
    return name


def _parse_wall(value: DateTimeTimeZone, what: str) -> datetime:
    if not value.date_time:
        raise ItemError(f"event has no {what}")
    try:
        return datetime.fromisoformat(str(value.date_time).replace("Z", "+00:00"))
    except ValueError:
        raise ItemError(f"{what} {value.date_time!r} is not a date-time") from None


def _instant(value: DateTimeTimeZone, what: str) -> datetime:
    parsed = _parse_wall(value, what)
    if parsed.tzinfo is None:
        try:
            parsed = parsed.replace(tzinfo=zone(value.time_zone or "UTC"))
        except UnknownTimeZone:
            raise ItemError(f"{what} time zone {value.time_zone!r} is unknown") from None
    return parsed.astimezone(UTC)


def _midnight(value: DateTimeTimeZone, what: str, day_zone: str) -> datetime:
    """A floating all-day boundary: its date, at midnight in ``day_zone`` (the label Graph sends means nothing)."""
    return datetime.combine(_parse_wall(value, what).date(), time(), zone(day_zone)).astimezone(UTC)


def _props(event: Event, link_id: str, people_id: str) -> tuple[str | None, str | None] | None:
    """The link and people properties, or None when the event carries no expanded properties at all (delta)."""
    if event.single_value_extended_properties is None:
        return None
    link = people = None
    for prop in event.single_value_extended_properties:
        if (prop.id or "").casefold() == link_id.casefold():
            link = prop.value
        elif (prop.id or "").casefold() == people_id.casefold():
            people = prop.value
    return link, people


def complete(event: Event) -> bool:
    """Whether a delta entry can stand on its own: an identity, a kind and a time (else it is fetched whole)."""
    return bool(event.id and event.i_cal_u_id and event.type is not None and event.start and event.end)


def from_event(
    event: Event,
    link_id: str,
    people_id: str,
    *,
    base: Item | None = None,
    day_zone: str | None = None,
) -> Item:
    """Translate one SDK event, merged into ``base`` (the cached item) when it is a partial delta entry.

    Raises :class:`ItemError` for what cannot be read. ``day_zone`` places all-day dates (see the module docstring).
    """
    if not event.id:
        raise ItemError("event without id")

    def pick(value: T | None, cached: Callable[[Item], T], default: T) -> T:
        if value is not None:
            return value
        return cached(base) if base is not None else default

    if base is None and not complete(event):
        raise ItemError(f"event {event.id} lacks its iCalUId, type, start or end")
    organizer_address = event.organizer.email_address if event.organizer else None
    attendees = (
        tuple(
            Attendee(
                email=(a.email_address.address or "").strip().casefold(),
                name=a.email_address.name or "",
                type=_value(a.type) or "required",
                response=_value(a.status.response) if a.status else "none",
            )
            for a in event.attendees
            if a.email_address and a.email_address.address
        )
        if event.attendees is not None
        else None
    )
    recurrence = event.recurrence
    zone_label = (
        recurrence.range.recurrence_time_zone if recurrence is not None and recurrence.range is not None else None
    ) or event.original_start_time_zone
    own_zone = _zone_name(zone_label) if zone_label else (base.timezone if base is not None else "UTC")
    all_day = pick(event.is_all_day, lambda b: b.all_day, False)
    placed_in = (day_zone or own_zone) if all_day else own_zone

    def when(value: DateTimeTimeZone | None, what: str, cached: Callable[[Item], datetime]) -> datetime:
        if value is None:
            if base is None:
                raise ItemError(f"event has no {what}")
            return cached(base)
        return _midnight(value, what, placed_in) if all_day else _instant(value, what)

    original = event.original_start
    if original is not None:
        original = (original if original.tzinfo else original.replace(tzinfo=UTC)).astimezone(UTC)
        if all_day:  # the instant Exchange stores is midnight in the event's zone: keep its date, in ours
            local_date = original.astimezone(zone(own_zone)).date()
            original = datetime.combine(local_date, time(), zone(placed_in)).astimezone(UTC)
    props = _props(event, link_id, people_id)
    link, people = props if props is not None else ((base.link_text, base.people_text) if base else (None, None))
    etag = (event.additional_data or {}).get("@odata.etag") or event.change_key
    return Item(
        id=event.id,
        ical_uid=pick(event.i_cal_u_id, lambda b: b.ical_uid, event.id),
        type=pick(_value(event.type) or None, lambda b: b.type, "singleInstance"),
        start=when(event.start, "start", lambda b: b.start),
        end=when(event.end, "end", lambda b: b.end),
        subject=pick(event.subject, lambda b: b.subject, ""),
        timezone=placed_in,
        all_day=all_day,
        organizer=(
            (organizer_address.address or "").strip().casefold()
            if organizer_address
            else (base.organizer if base else "")
        ),
        organizer_name=(organizer_address.name or "") if organizer_address else (base.organizer_name if base else ""),
        attendees=pick(attendees, lambda b: b.attendees, ()),
        response=pick(
            _value(event.response_status.response) if event.response_status else None, lambda b: b.response, "none"
        ),
        is_organizer=pick(event.is_organizer, lambda b: b.is_organizer, False),
        is_cancelled=pick(event.is_cancelled, lambda b: b.is_cancelled, False),
        series_master_id=pick(event.series_master_id, lambda b: b.series_master_id, None),
        original_start=pick(original, lambda b: b.original_start, None),
        link_text=link,
        people_text=people,
        last_modified=pick(event.last_modified_date_time, lambda b: b.last_modified, None),
        change_key=pick(etag, lambda b: b.change_key, None),
        recurrence=pick(recurrence, lambda b: b.recurrence, None),
        cancelled_occurrences=tuple(event.cancelled_occurrences or ()),
        exceptions=tuple(
            from_event(e, link_id, people_id, day_zone=day_zone) for e in event.exception_occurrences or []
        ),
    )


def is_removed(event: Event) -> bool:
    return "@removed" in (event.additional_data or {})
