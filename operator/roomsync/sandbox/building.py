"""The demo building, shared by ``roomsync demo``, ``roomsync sandbox`` and the docs.

Amsterdam HQ, eight meeting rooms. On floors 1 and 2 (Exchange Online) the boardroom (AMS-2.01) runs with Planon
*in the lead*: its mailbox leaves meeting requests to RoomSync (AutomateProcessing AutoUpdate), and Planon's
availability rules decide. The other five *follow*: Exchange accepts or declines (AutoAccept) and Planon registers
what it decided.

The fourth floor is still on the on-premise Exchange: its two rooms *follow* too, and RoomSync reaches them through
EWS (a service account impersonating the rooms) while floors 1 and 2 are on Exchange Online (Graph) - a hybrid
estate. The sandbox serves both from one Exchange with two faces.

Its day (:data:`KIOSK_BOOKINGS`, :data:`CALENDAR_MEETINGS`) is what people book on a Monday morning, on both sides:
the demo and the sandbox start from it (:func:`roomsync.sandbox.people.book_the_day`); a calendar side without the
on-premise floor (CalDAV) books :func:`online_day`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from roomsync.sandbox.planon.seed import DEMO

DOMAIN: Final = "contoso.example"
ZONE: Final = "Europe/Amsterdam"
AMSTERDAM: Final = ZoneInfo(ZONE)


def person(name: str) -> str:
    """The building's people have addresses in the demo domain."""
    return f"{name}@{DOMAIN}"


def workday(days_ahead: int = 2, now: datetime | None = None) -> datetime:
    """Midnight (Amsterdam) of the first weekday at least ``days_ahead`` days from now: rooms are open then."""
    day = ((now or datetime.now(UTC)).astimezone(AMSTERDAM) + timedelta(days=days_ahead)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute)


@dataclass(frozen=True)
class Room:
    code: str
    name: str
    floor: int
    capacity: int
    leads: bool = False
    max_minutes: int | None = None
    on_premises: bool = False  # reached through EWS rather than Graph

    @property
    def mailbox(self) -> str:
        return f"{self.code.lower().replace('.', '')}@{DOMAIN}"


@dataclass(frozen=True)
class KioskBooking:
    """A person books at a Planon touchpoint (kiosk, app, web): one reservation per room, no attendees."""

    requestor: str
    rooms: tuple[str, ...]
    subject: str
    start: tuple[int, int]
    end: tuple[int, int]
    story: str


@dataclass(frozen=True)
class CalendarMeeting:
    """A person sends a meeting request from their calendar app to one room."""

    organizer: str
    room: str
    subject: str
    start: tuple[int, int]
    end: tuple[int, int]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    weekly: int = 0  # occurrences of a weekly series; 0 for a single meeting
    story: str = ""


ROOMS: Final = (
    Room("AMS-1.01", "Rembrandt", 1, 8),
    Room("AMS-1.02", "Vermeer", 1, 4),
    Room("AMS-1.03", "Hals", 1, 6),
    Room("AMS-2.01", "Boardroom", 2, 20, leads=True, max_minutes=240),
    Room("AMS-2.02", "Mondriaan", 2, 10),
    Room("AMS-2.03", "Escher", 2, 4),
    Room("AMS-4.01", "Nachtwacht", 4, 12, on_premises=True),
    Room("AMS-4.02", "Zonnebloemen", 4, 6, on_premises=True),
)
ONLINE_ROOMS: Final = tuple(r for r in ROOMS if not r.on_premises)
ON_PREMISES_ROOMS: Final = tuple(r for r in ROOMS if r.on_premises)


KIOSK_BOOKINGS: Final = (
    KioskBooking(
        "anna",
        ("AMS-1.01",),
        "Sprint planning",
        (9, 0),
        (10, 0),
        "Planon kiosk: Anna books AMS-1.01 09:00-10:00 'Sprint planning'",
    ),
    KioskBooking(
        "carla",
        ("AMS-1.02", "AMS-1.03"),
        "Customer workshop",
        (13, 0),
        (14, 0),
        "Planon app: Carla books AMS-1.02 + AMS-1.03 13:00-14:00 'Customer workshop' (a reservation per room)",
    ),
    KioskBooking(
        "anna",
        ("AMS-2.01",),
        "Board meeting",
        (11, 0),
        (12, 0),
        "Planon web: Anna books the Boardroom AMS-2.01 11:00-12:00 'Board meeting'",
    ),
    KioskBooking(
        "dev",
        ("AMS-4.02",),
        "Supplier call",
        (10, 0),
        (11, 0),
        "Planon kiosk: Dev books AMS-4.02 10:00-11:00 'Supplier call' (on-premise Exchange: RoomSync uses EWS)",
    ),
)
CALENDAR_MEETINGS: Final = (
    CalendarMeeting(
        "ben",
        "AMS-2.02",
        "Design review",
        (10, 0),
        (11, 30),
        ("anna",),
        ("dev",),
        story="Ben invites AMS-2.02 to 'Design review' 10:00-11:30 (the room follows: Planon registers it)",
    ),
    CalendarMeeting(
        "dev",
        "AMS-2.03",
        "1:1 Dev / Carla",
        (8, 30),
        (9, 0),
        ("carla",),
        weekly=6,
        story="Dev books AMS-2.03 weekly 08:30-09:00 '1:1 Dev / Carla', 6 times (a series)",
    ),
    CalendarMeeting(
        "carla",
        "AMS-2.01",
        "Quarterly results",
        (14, 0),
        (15, 0),
        ("anna", "ben"),
        story="Carla requests the Boardroom 14:00-15:00 (in the lead: Planon decides)",
    ),
    CalendarMeeting(
        "ben",
        "AMS-2.01",
        "Budget pre-read",
        (11, 30),
        (12, 30),
        ("dev",),
        story="Ben requests the Boardroom 11:30-12:30 - it is taken by the Board meeting",
    ),
    CalendarMeeting(
        "dev",
        "AMS-2.01",
        "Offsite planning day",
        (9, 0),
        (17, 0),
        ("anna",),
        story="Dev requests the Boardroom all day 09:00-17:00 - longer than its 4-hour maximum",
    ),
    CalendarMeeting(
        "carla",
        "AMS-4.01",
        "Floor 4 retrospective",
        (15, 0),
        (16, 0),
        ("ben", "dev"),
        story="Carla invites AMS-4.01 15:00-16:00 'Floor 4 retrospective' (on-premise Exchange: RoomSync uses EWS)",
    ),
)


def online_day() -> tuple[tuple[KioskBooking, ...], tuple[CalendarMeeting, ...]]:
    """The day's bookings in the rooms on floors 1 and 2 only."""
    online = {room.code for room in ONLINE_ROOMS}
    return (
        tuple(b for b in KIOSK_BOOKINGS if set(b.rooms) <= online),
        tuple(m for m in CALENDAR_MEETINGS if m.room in online),
    )


def planon_seed() -> dict[str, Any]:
    """The Planon demo environment with the building's reservation units (opening hours 07:00-20:00 on weekdays)."""
    seed = copy.deepcopy(DEMO)
    seed["units"] = [
        {
            "code": room.code,
            "name": f"Amsterdam {room.code[4:]} {room.name}",
            "property": "AMS",
            "capacity": room.capacity,
            "maxMinutes": room.max_minutes or 600,
            "opening": {"days": "MO,TU,WE,TH,FR", "from": "07:00", "to": "20:00"},
        }
        for room in ROOMS
    ]
    seed["persons"] = [
        *seed.get("persons", []),
        {"email": f"anna@{DOMAIN}", "firstName": "Anna", "lastName": "de Vries"},
        {"email": f"ben@{DOMAIN}", "firstName": "Ben", "lastName": "Smith"},
        {"email": f"carla@{DOMAIN}", "firstName": "Carla", "lastName": "Jansen"},
        {"email": f"dev@{DOMAIN}", "firstName": "Dev", "lastName": "Patel"},
    ]
    return seed


def graph_rooms() -> list[dict[str, Any]]:
    return [
        {
            "address": room.mailbox,
            "name": f"Amsterdam {room.code[4:]} {room.name}",
            "capacity": room.capacity,
            "timeZone": "W. Europe Standard Time",  # the Planon property's zone, as Connect for Calendars requires
            "processing": {
                "AutomateProcessing": "AutoUpdate" if room.leads else "AutoAccept",
                "AddOrganizerToSubject": False,
                "DeleteSubject": False,
                "DeleteComments": False,
                "RemovePrivateProperty": False,
            },
        }
        for room in ROOMS
    ]


def manifests(
    planon_spec: dict[str, Any],
    graph_spec: dict[str, Any],
    secrets: dict[tuple[str, str], str],
    *,
    calendar: tuple[str, dict[str, Any]] | None = None,
    ews_spec: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Connections, Secrets and the RoomSyncs: the boardroom in the lead, the rest of floors 1-2 following, and -
    with ``ews_spec`` - the on-premise fourth floor following through its own Connection.

    ``calendar`` is another calendar Connection (name, spec) instead of the Graph one (``graph_spec`` is then unused).
    """
    calendar_name, calendar_spec = calendar or ("exchange-online", {"graph": graph_spec})
    by_secret: dict[str, dict[str, str]] = {}
    for (name, key), value in secrets.items():
        by_secret.setdefault(name, {})[key] = value
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": "facilities"},
            "stringData": data,
        }
        for name, data in sorted(by_secret.items())
    ]
    docs += [
        _connection("planon", {"planon": planon_spec}),
        _connection(calendar_name, calendar_spec),
        _roomsync("boardroom-in-the-lead", "Planon", [r for r in ONLINE_ROOMS if r.leads], calendar_name),
        _roomsync("amsterdam-follows", "Calendar", [r for r in ONLINE_ROOMS if not r.leads], calendar_name),
    ]
    if ews_spec is not None:
        docs += [
            _connection("exchange-on-premises", {"ews": ews_spec}),
            _roomsync("floor-4-on-premises", "Calendar", list(ON_PREMISES_ROOMS), "exchange-on-premises"),
        ]
    return docs


def _connection(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "roomsync.io/v1alpha1",
        "kind": "Connection",
        "metadata": {"name": name, "namespace": "facilities"},
        "spec": spec,
    }


def _roomsync(name: str, leader: str, rooms: list[Room], calendar: str) -> dict[str, Any]:
    return {
        "apiVersion": "roomsync.io/v1alpha1",
        "kind": "RoomSync",
        "metadata": {"name": name, "namespace": "facilities", "generation": 1},
        "spec": {
            "planon": {"connectionRef": "planon"},
            "calendar": {"connectionRef": calendar},
            "leader": leader,
            "rooms": [{"planon": r.code, "calendar": r.mailbox} for r in rooms],
            "interval": "30s",
            "window": {"past": "1d", "future": "90d"},
        },
    }
