"""Graph events (their JSON, as Graph answers) flattened into what the connector keeps per mailbox between cycles.

An :class:`Item` is one entry of a room's calendar as calendarView/delta report it (single instance, occurrence or
exception) or a series master. Only what translation needs is kept, so the cache stays small.

Why JSON and not the SDK's ``Event`` model: the connector sends every request through msgraph-sdk (request
builders, request adapter, its HTTP stack), but reads the answers as JSON. Deserializing one event into the generated
model costs about 1.2 ms of CPU (kiota's backing store and parse nodes), 60 times what :func:`from_json` needs; at
10,000 events that is 12 s per full read or first sync (docs/performance.md). The SDK model still parses what is
rare and intricate: a series' ``recurrence`` pattern (:func:`recurrence_of`).

Two Graph habits shape the reading:

- **Partial delta updates.** A delta entry for an updated item is "its id with at least the properties that have
  been updated" (graph-and-ews.md 1.2): :func:`from_json` with ``base`` merges such an entry into the cached item,
  property by property; a property the entry lacks keeps its cached value, never an empty one. An entry for an item
  that is not cached is no booking by itself: the cache fetches that item whole (:func:`complete` says what a bare
  entry lacks).
- **All-day events float.** Graph returns an all-day event as midnight-to-midnight dates whatever time zone is asked
  for ("by design"), never as the instants Exchange stores. An all-day booking is those whole dates in the room's
  zone (the Planon property's zone, which Connect for Calendars requires the room mailbox to share), so the dates
  are placed at midnight in ``day_zone`` - the mailbox's zone from its mailboxSettings - or, when that is unknown,
  in the event's own zone.

The values every event repeats (its type, zone, response, the people's addresses and names) are interned: a cache of
20,000 events otherwise holds 20,000 copies of each (docs/performance.md, section 6).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time
from sys import intern
from typing import Any, TypeVar

from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.models.patterned_recurrence import PatternedRecurrence

from roomsync.connectors.exchange import Attendee
from roomsync.model import UnknownTimeZone, zone

UTC = UTC
AWAITING = frozenset({"notResponded", "tentativelyAccepted", "none"})
T = TypeVar("T")
#: One event as Graph's JSON (camelCase keys), as calendarView, delta, a GET or a write's answer carry it.
Json = Mapping[str, Any]


class ItemError(ValueError):
    """An event we cannot read (no start, unknown zone ...): reported as skipped, never deleted."""


@dataclass(frozen=True, slots=True)
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
    recurrence: PatternedRecurrence | None = None
    cancelled_occurrences: tuple[str, ...] = ()
    exceptions: tuple[Item, ...] = field(default=())

    @property
    def awaiting(self) -> bool:
        return not self.is_organizer and not self.is_cancelled and self.response in AWAITING

    def with_props(self, link_text: str | None, people_text: str | None) -> Item:
        return replace(self, link_text=link_text, people_text=people_text)


def _zone_name(name: str | None) -> str:
    if not name:
        return "UTC"
    try:
        zone(name)
    except UnknownTimeZone:
        return "UTC"  # "tzone://Microsoft/Custom" and friends: times are still exact, only the label is lost
    return name


def _parse_wall(value: Json, what: str) -> datetime:
    text = value.get("dateTime") if isinstance(value, Mapping) else None
    if not text:
        raise ItemError(f"event has no {what}")
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        raise ItemError(f"{what} {text!r} is not a date-time") from None


def _instant(value: Json, what: str) -> datetime:
    parsed = _parse_wall(value, what)
    if parsed.tzinfo is None:
        try:
            parsed = parsed.replace(tzinfo=zone(value.get("timeZone") or "UTC"))
        except UnknownTimeZone:
            raise ItemError(f"{what} time zone {value.get('timeZone')!r} is unknown") from None
    return parsed.astimezone(UTC)


def _midnight(value: Json, what: str, day_zone: str) -> datetime:
    """A floating all-day boundary: its date, at midnight in ``day_zone`` (the label Graph sends means nothing)."""
    return datetime.combine(_parse_wall(value, what).date(), time(), zone(day_zone)).astimezone(UTC)


def _utc(text: object, what: str) -> datetime | None:
    """A UTC timestamp (``2017-04-15T03:00:50.7579581Z``); None when absent."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(str(text))
    except ValueError:
        raise ItemError(f"{what} {text!r} is not a date-time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _props(data: Json, link_id: str, people_id: str) -> tuple[str | None, str | None] | None:
    """The link and people properties, or None when the event carries no expanded properties at all (delta)."""
    props = data.get("singleValueExtendedProperties")
    if props is None:
        return None
    link = people = None
    for prop in props:
        pid = str(prop.get("id") or "").casefold()
        if pid == link_id.casefold():
            link = prop.get("value")
        elif pid == people_id.casefold():
            people = prop.get("value")
    return link, people


def recurrence_of(data: Json) -> PatternedRecurrence | None:
    """A series' pattern, parsed by the SDK's own model (rare, and the part where Graph's shape is intricate)."""
    raw = data.get("recurrence")
    if not isinstance(raw, Mapping):
        return None
    return JsonParseNode(raw).get_object_value(PatternedRecurrence)


def complete(data: Json) -> bool:
    """Whether a delta entry can stand on its own: an identity, a kind and a time (else it is fetched whole)."""
    return bool(data.get("id") and data.get("iCalUId") and data.get("type") and data.get("start") and data.get("end"))


def carries_properties(data: Json) -> bool:
    """Whether an entry brings its extended properties (a GET with ``$expand`` does; Graph's delta does not, but an
    implementation that does is read as it is)."""
    return data.get("singleValueExtendedProperties") is not None


def organizer_of(data: Json) -> str:
    """The organizer's address as the cache keeps it (casefolded); "" when the entry does not say."""
    organizer = data.get("organizer")
    address = organizer.get("emailAddress") if isinstance(organizer, Mapping) else None
    return str(address.get("address") or "").strip().casefold() if isinstance(address, Mapping) else ""


def etag_of(data: Json) -> str | None:
    """The version writes send as ``If-Match``: the event's ``@odata.etag``, else its ``changeKey``."""
    return data.get("@odata.etag") or data.get("changeKey")


def from_json(
    data: Json,
    link_id: str,
    people_id: str,
    *,
    base: Item | None = None,
    day_zone: str | None = None,
) -> Item:
    """Translate one event, merged into ``base`` (the cached item) when it is a partial delta entry.

    Raises :class:`ItemError` for what cannot be read. ``day_zone`` places all-day dates (see the module docstring).
    """
    event_id = data.get("id")
    if not event_id:
        raise ItemError("event without id")

    def pick(value: T | None, cached: Callable[[Item], T], default: T) -> T:
        if value is not None:
            return value
        return cached(base) if base is not None else default

    if base is None and not complete(data):
        raise ItemError(f"event {event_id} lacks its iCalUId, type, start or end")
    organizer = data.get("organizer")
    organizer_address = organizer.get("emailAddress") if isinstance(organizer, Mapping) else None
    raw_attendees = data.get("attendees")
    attendees = (
        tuple(
            Attendee(
                email=intern(str(a["emailAddress"]["address"]).strip().casefold()),
                name=intern(a["emailAddress"].get("name") or ""),
                type=intern(a.get("type") or "required"),
                response=intern((a.get("status") or {}).get("response") or "none"),
            )
            for a in raw_attendees
            if (a.get("emailAddress") or {}).get("address")
        )
        if raw_attendees is not None
        else None
    )
    raw_recurrence = data.get("recurrence")
    rng = raw_recurrence.get("range") if isinstance(raw_recurrence, Mapping) else None
    zone_label = (rng.get("recurrenceTimeZone") if isinstance(rng, Mapping) else None) or data.get(
        "originalStartTimeZone"
    )
    own_zone = _zone_name(zone_label) if zone_label else (base.timezone if base is not None else "UTC")
    all_day = pick(data.get("isAllDay"), lambda b: b.all_day, False)
    placed_in = intern((day_zone or own_zone) if all_day else own_zone)

    def when(value: Json | None, what: str, cached: Callable[[Item], datetime]) -> datetime:
        if value is None:
            if base is None:
                raise ItemError(f"event has no {what}")
            return cached(base)
        return _midnight(value, what, placed_in) if all_day else _instant(value, what)

    original = _utc(data.get("originalStart"), "originalStart")
    if original is not None and all_day:  # the instant Exchange stores is midnight in the event's zone: keep its date
        local_date = original.astimezone(zone(own_zone)).date()
        original = datetime.combine(local_date, time(), zone(placed_in)).astimezone(UTC)
    props = _props(data, link_id, people_id)
    link, people = props if props is not None else ((base.link_text, base.people_text) if base else (None, None))
    status = data.get("responseStatus")
    return Item(
        id=event_id,
        ical_uid=pick(data.get("iCalUId"), lambda b: b.ical_uid, event_id),
        type=intern(pick(data.get("type") or None, lambda b: b.type, "singleInstance")),
        start=when(data.get("start"), "start", lambda b: b.start),
        end=when(data.get("end"), "end", lambda b: b.end),
        subject=pick(data.get("subject"), lambda b: b.subject, ""),
        timezone=placed_in,
        all_day=all_day,
        organizer=intern(organizer_of(data)) if organizer_address else (base.organizer if base else ""),
        organizer_name=intern(organizer_address.get("name") or "")
        if organizer_address
        else (base.organizer_name if base else ""),
        attendees=pick(attendees, lambda b: b.attendees, ()),
        response=intern(
            pick(status.get("response") if isinstance(status, Mapping) else None, lambda b: b.response, "none")
        ),
        is_organizer=pick(data.get("isOrganizer"), lambda b: b.is_organizer, False),
        is_cancelled=pick(data.get("isCancelled"), lambda b: b.is_cancelled, False),
        series_master_id=pick(data.get("seriesMasterId"), lambda b: b.series_master_id, None),
        original_start=pick(original, lambda b: b.original_start, None),
        link_text=link,
        people_text=people,
        last_modified=pick(
            _utc(data.get("lastModifiedDateTime"), "lastModifiedDateTime"), lambda b: b.last_modified, None
        ),
        change_key=pick(etag_of(data), lambda b: b.change_key, None),
        recurrence=pick(recurrence_of(data), lambda b: b.recurrence, None),
        cancelled_occurrences=tuple(data.get("cancelledOccurrences") or ()),
        exceptions=tuple(
            from_json(e, link_id, people_id, day_zone=day_zone) for e in data.get("exceptionOccurrences") or []
        ),
    )


def is_removed(data: Json) -> bool:
    return "@removed" in data
