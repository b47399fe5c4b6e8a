"""Google event resources flattened into what the connector keeps per room calendar between cycles.

An :class:`Item` is one entry of a room's calendar as ``events.list`` returns it with ``singleEvents=false``: a
single event, a series master (with ``recurrence`` lines), an instance record of a series (``recurringEventId`` +
``originalStartTime``: a moved/renamed occurrence, or a cancelled one), or a cancelled stub. Identity of an
occurrence is ``(recurringEventId, originalStartTime)``, never its start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from types import MappingProxyType
from typing import Any

from roomsync.model import UnknownTimeZone, to_iana, zone

UTC = UTC
_EMPTY: Mapping[str, str] = MappingProxyType({})


class ItemError(ValueError):
    """An event we cannot read (no start, unknown zone ...): reported as skipped, never deleted."""


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str
    resource: bool
    optional: bool
    response: str


@dataclass(frozen=True)
class Item:
    id: str
    status: str  # confirmed | tentative | cancelled
    etag: str = ""
    ical_uid: str = ""
    start: datetime | None = None
    end: datetime | None = None
    all_day: bool = False
    timezone: str = "UTC"
    summary: str = ""
    organizer: str = ""
    organizer_name: str = ""
    organizer_self: bool = False
    attendees: tuple[Attendee, ...] = ()
    #: the calendar's own answer (its entry with ``self``), None when it organizes the event
    own_response: str | None = None
    recurring_event_id: str | None = None
    original_start: datetime | None = None
    recurrence: tuple[str, ...] = ()
    private: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    updated: datetime | None = None
    #: the organizer lets guests change the meeting (a guest's patch then changes it for everyone)
    guests_can_modify: bool = False

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def declined(self) -> bool:
        """The room said no: its copy stays on its calendar, but the room does not hold the meeting."""
        return self.own_response == "declined"

    @property
    def live(self) -> bool:
        return not self.cancelled and not self.declined

    @property
    def awaiting(self) -> bool:
        return self.live and not self.organizer_self and self.own_response == "needsAction"

    @property
    def stub(self) -> bool:
        return self.start is None

    def merged_into(self, known: Item | None) -> Item:
        """A cancelled stub keeps what the calendar held before (its iCalUID, times and link) so the booking it
        belonged to can be reported as cancelled rather than vanish."""
        if not self.stub or known is None:
            return self
        return replace(known, status="cancelled", etag=self.etag or known.etag)


def _instant(value: Any, calendar_zone: str, what: str) -> tuple[datetime, bool, str]:
    if not isinstance(value, Mapping):
        raise ItemError(f"event has no {what}")
    name = str(value.get("timeZone") or calendar_zone or "UTC")
    try:
        tz_name = to_iana(name)
        local_zone = zone(tz_name)
    except UnknownTimeZone:
        raise ItemError(f"{what} time zone {name!r} is unknown") from None
    if value.get("date"):
        day = date.fromisoformat(str(value["date"]))
        return datetime.combine(day, time(), local_zone).astimezone(UTC), True, tz_name
    text = str(value.get("dateTime") or "")
    if not text:
        raise ItemError(f"event has no {what}")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local_zone)
    return moment.astimezone(UTC), False, tz_name


def from_event(event: Mapping[str, Any], calendar_id: str, calendar_zone: str, link_key: str, people_key: str) -> Item:
    """Translate one event resource as ``calendar_id`` sees it; raises :class:`ItemError`."""
    event_id = str(event.get("id") or "")
    if not event_id:
        raise ItemError("event without id")
    status = str(event.get("status") or "confirmed")
    recurring = event.get("recurringEventId")
    original = None
    if event.get("originalStartTime"):
        original, _, _ = _instant(event["originalStartTime"], calendar_zone, "originalStartTime")
    if status == "cancelled" and not event.get("start"):
        return Item(
            event_id, status, str(event.get("etag") or ""), recurring_event_id=recurring, original_start=original
        )
    try:
        start, all_day, tz_name = _instant(event.get("start"), calendar_zone, "start")
        end, _, _ = _instant(event.get("end"), calendar_zone, "end")
        if all_day:  # whole dates in the room's zone
            tz_name = to_iana(calendar_zone or "UTC")
    except ValueError as exc:
        raise ItemError(str(exc)) from None
    me = calendar_id.casefold()
    attendees = []
    own = None
    for a in event.get("attendees") or []:
        email = str(a.get("email") or "").strip().casefold()
        if not email:
            continue
        attendees.append(
            Attendee(
                email,
                str(a.get("displayName") or ""),
                bool(a.get("resource")),
                bool(a.get("optional")),
                str(a.get("responseStatus") or "needsAction"),
            )
        )
        if email == me:
            own = str(a.get("responseStatus") or "needsAction")
    organizer = event.get("organizer") or {}
    organizer_email = str(organizer.get("email") or "").strip().casefold()
    organizer_self = bool(organizer.get("self")) or organizer_email == me
    if own is None and not organizer_self:
        own = "needsAction"
    private = (event.get("extendedProperties") or {}).get("private") or {}
    kept = {k: str(v) for k, v in private.items() if k in (link_key, people_key) or k.startswith(people_key + ".")}
    updated = event.get("updated")
    return Item(
        id=event_id,
        status=status,
        etag=str(event.get("etag") or ""),
        ical_uid=str(event.get("iCalUID") or event_id),
        start=start,
        end=end,
        all_day=all_day,
        timezone=tz_name,
        summary=str(event.get("summary") or ""),
        organizer=organizer_email,
        organizer_name=str(organizer.get("displayName") or ""),
        organizer_self=organizer_self,
        attendees=tuple(attendees),
        own_response=None if organizer_self else own,
        recurring_event_id=recurring,
        original_start=original,
        recurrence=tuple(str(line) for line in event.get("recurrence") or ()),
        private=MappingProxyType(kept) if kept else _EMPTY,
        updated=datetime.fromisoformat(str(updated).replace("Z", "+00:00")) if updated else None,
        guests_can_modify=bool(event.get("guestsCanModify")),
    )
