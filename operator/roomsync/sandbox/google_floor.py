"""A Google Workspace floor of the demo building: Amsterdam HQ's third floor books its rooms in Google Calendar.

Self-contained, so ``roomsync sandbox --calendar google`` and (when wired in) ``roomsync demo`` can show a Google
Workspace floor beside the Exchange ones: the floor's Planon reservation units (added to the demo Planon seed),
its room resources for the Google sandbox, and the Connections and RoomSyncs that join them. The Turing room runs
with Planon *in the lead* (the resource "automatically adds all invitations"; Planon's rules answer); the other
two *follow* (Google auto-accepts what does not conflict, and replaces a declined room with a similar one). Its day
(:data:`KIOSK_BOOKINGS`, :data:`CALENDAR_MEETINGS`) is the building's story told on this floor.
"""

from __future__ import annotations

from typing import Any, Final

from roomsync.sandbox.building import ZONE, CalendarMeeting, KioskBooking, Room, planon_seed

FLOOR: Final = (
    Room("AMS-3.01", "Hopper", 3, 8),
    Room("AMS-3.02", "Lovelace", 3, 8),
    Room("AMS-3.03", "Turing", 3, 12, leads=True, max_minutes=240),
)
NAMESPACE: Final = "facilities"
CONNECTION: Final = "google-workspace"

KIOSK_BOOKINGS: Final = (
    KioskBooking(
        "anna",
        ("AMS-3.01",),
        "Sprint planning",
        (9, 0),
        (10, 0),
        "Planon kiosk: Anna books Hopper AMS-3.01 09:00-10:00 'Sprint planning'",
    ),
    KioskBooking(
        "carla",
        ("AMS-3.03",),
        "Architecture board",
        (11, 0),
        (12, 0),
        "Planon web: Carla books Turing AMS-3.03 11:00-12:00 'Architecture board'",
    ),
)
CALENDAR_MEETINGS: Final = (
    CalendarMeeting(
        "ben",
        "AMS-3.02",
        "Design review",
        (10, 0),
        (11, 30),
        ("anna",),
        ("dev",),
        story="Ben invites Lovelace AMS-3.02 to 'Design review' 10:00-11:30 (follows: the room accepts)",
    ),
    CalendarMeeting(
        "dev",
        "AMS-3.01",
        "1:1 Dev / Carla",
        (8, 30),
        (9, 0),
        ("carla",),
        weekly=4,
        story="Dev books Hopper AMS-3.01 weekly 08:30-09:00 '1:1 Dev / Carla', 4 times (a series)",
    ),
    CalendarMeeting(
        "carla",
        "AMS-3.03",
        "Quarterly results",
        (14, 0),
        (15, 0),
        ("anna", "ben"),
        story="Carla invites Turing AMS-3.03 14:00-15:00 (in the lead: Planon decides)",
    ),
    CalendarMeeting(
        "ben",
        "AMS-3.03",
        "Budget pre-read",
        (11, 30),
        (12, 30),
        ("dev",),
        story="Ben invites Turing 11:30-12:30 - it is taken by the Architecture board",
    ),
)


def floor_planon_seed() -> dict[str, Any]:
    """The demo Planon seed with the floor's reservation units added (opening hours 07:00-20:00 on weekdays)."""
    seed = planon_seed()
    seed["units"] = [
        *seed["units"],
        *(
            {
                "code": room.code,
                "name": f"Amsterdam {room.code[4:]} {room.name}",
                "property": "AMS",
                "capacity": room.capacity,
                "maxMinutes": room.max_minutes or 600,
                "opening": {"days": "MO,TU,WE,TH,FR", "from": "07:00", "to": "20:00"},
            }
            for room in FLOOR
        ),
    ]
    return seed


def google_rooms() -> list[dict[str, Any]]:
    """The floor's room resources for :class:`~roomsync.sandbox.google.GoogleSandbox`."""
    return [
        {
            "email": room.mailbox,
            "name": f"Amsterdam {room.code[4:]} {room.name}",
            "capacity": room.capacity,
            "building": "AMS",
            "floor": str(room.floor),
            "booking": "addAll" if room.leads else "autoAccept",
            "autoReplace": not room.leads,
            "timeZone": ZONE,
        }
        for room in FLOOR
    ]


def manifests(
    planon_spec: dict[str, Any], google_spec: dict[str, Any], secrets: dict[tuple[str, str], str]
) -> list[dict[str, Any]]:
    """Secrets, the Planon and Google Connections, and the floor's two RoomSyncs (in the lead, following)."""
    by_secret: dict[str, dict[str, str]] = {}
    for (name, key), value in secrets.items():
        by_secret.setdefault(name, {})[key] = value
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": n, "namespace": NAMESPACE}, "stringData": d}
        for n, d in sorted(by_secret.items())
    ]
    for name, spec in (("planon", {"planon": planon_spec}), (CONNECTION, {"google": google_spec})):
        docs.append(
            {
                "apiVersion": "roomsync.io/v1alpha1",
                "kind": "Connection",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "spec": spec,
            }
        )
    for name, leader, rooms in (
        ("floor-3-in-the-lead", "Planon", [r for r in FLOOR if r.leads]),
        ("floor-3-follows", "Calendar", [r for r in FLOOR if not r.leads]),
    ):
        docs.append(
            {
                "apiVersion": "roomsync.io/v1alpha1",
                "kind": "RoomSync",
                "metadata": {"name": name, "namespace": NAMESPACE, "generation": 1},
                "spec": {
                    "planon": {"connectionRef": "planon"},
                    "calendar": {"connectionRef": CONNECTION},
                    "leader": leader,
                    "rooms": [{"planon": r.code, "calendar": r.mailbox} for r in rooms],
                    "interval": "30s",
                    "window": {"past": "1d", "future": "90d"},
                },
            }
        )
    return docs
