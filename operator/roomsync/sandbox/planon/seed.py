"""Seed data: the demo environment and the JSON shape the admin ``seed`` endpoint takes.

Seed shape (every list optional)::

    {"properties": [{"code": "AMS", "name": "Amsterdam HQ", "timeZone": "Europe/Amsterdam"}],
     "orderGroups": [{"code": "MEET", "name": "Meeting rooms"}],
     "units": [{"code": "AMS-1.01", "name": "...", "property": "AMS", "orderGroup": "MEET", "capacity": 8,
                "maxMinutes": 480, "advanceDays": null, "email": "ams-1.01@example.com",
                "opening": {"days": "MO,TU,WE,TH,FR", "from": "07:00", "to": "20:00"}}],   # "opening": null = always
     "persons": [{"email": "jan@example.com", "firstName": "Jan", "lastName": "Jansen"}],
     "users": [{"account": "roomsync", "timeZone": "Europe/London",
                "accessKeys": [{"key": "...", "expires": "2030-01-01T00:00:00Z"}]}],
     "oidcClients": [{"clientId": "roomsync", "secret": "..."}],
     "reservations": [{"unit": "AMS-1.01", "start": "2025-01-06T09:00:00+01:00", "end": "...",
                       "description": "...", "requestor": "jan@example.com", "state": "UsrReservationConfirmed",
                       "fields": {"FreeString1": "..."}, "check": false}]}
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time
from typing import Any, Final

from roomsync.sandbox.planon.model import STATES, WEEKDAYS, AccessKey, OpeningHours, Reservation, Unit
from roomsync.sandbox.planon.state import SandboxState

DEMO_ACCESS_KEY: Final = "sandbox-access-key"
DEMO_CLIENT_ID: Final = "roomsync"
DEMO_CLIENT_SECRET: Final = "sandbox-client-secret"
DEMO_API_ACCOUNT: Final = "roomsync-api"

#: The demo environment: two properties in different zones, meeting rooms with opening hours, a few people, an API
#: user (access key) whose Planon zone is Europe/London, and an OIDC client whose service account works in UTC.
DEMO: Final[dict[str, Any]] = {
    "properties": [
        {"code": "AMS", "name": "Amsterdam HQ", "timeZone": "Europe/Amsterdam"},
        {"code": "LON", "name": "London office", "timeZone": "Europe/London"},
    ],
    "orderGroups": [{"code": "MEET", "name": "Meeting rooms"}],
    "units": [
        {"code": "AMS-1.01", "name": "Amsterdam 1.01 Rembrandt", "property": "AMS", "capacity": 8},
        {"code": "AMS-1.02", "name": "Amsterdam 1.02 Vermeer", "property": "AMS", "capacity": 4},
        {"code": "AMS-2.01", "name": "Amsterdam 2.01 Boardroom", "property": "AMS", "capacity": 20, "maxMinutes": 240},
        {"code": "LON-3.01", "name": "London 3.01 Thames", "property": "LON", "capacity": 6},
    ],
    "persons": [
        {"email": "anna.devries@example.com", "firstName": "Anna", "lastName": "de Vries"},
        {"email": "ben.smith@example.com", "firstName": "Ben", "lastName": "Smith"},
        {"email": "carla.jansen@example.com", "firstName": "Carla", "lastName": "Jansen"},
    ],
    "users": [
        {"account": DEMO_API_ACCOUNT, "timeZone": "Europe/London", "accessKeys": [{"key": DEMO_ACCESS_KEY}]},
        {"account": f"service-account-{DEMO_CLIENT_ID}", "timeZone": "UTC"},
        {"account": "kiosk", "timeZone": "Europe/Amsterdam"},
    ],
    "oidcClients": [{"clientId": DEMO_CLIENT_ID, "secret": DEMO_CLIENT_SECRET}],
}


def apply_seed(state: SandboxState, seed: Mapping[str, Any]) -> dict[str, int]:
    """Add the seed's records to ``state``; returns how many of each were added. Raises ``ValueError`` on bad data."""
    counts: dict[str, int] = {}
    try:
        for item in seed.get("properties", []):
            state.add_property(item["code"], item.get("name", item["code"]), item["timeZone"])
        for item in seed.get("orderGroups", []):
            state.add_order_group(item["code"], item.get("name", item["code"]))
        for item in seed.get("units", []):
            state.add_unit(_unit(state, item))
        for item in seed.get("persons", []):
            state.add_person(
                item["email"], item.get("firstName", ""), item.get("lastName", ""), item.get("active", True)
            )
        for item in seed.get("users", []):
            keys = [
                AccessKey(k["key"], _instant(k["expires"]) if k.get("expires") else None)
                for k in item.get("accessKeys", [])
            ]
            state.add_user(item["account"], item.get("timeZone", "UTC"), keys)
        for item in seed.get("oidcClients", []):
            state.add_oidc_client(item["clientId"], item["secret"])
        for item in seed.get("reservations", []):
            add_reservation(state, item)
    except KeyError as exc:
        raise ValueError(f"seed item lacks {exc}") from None
    for key in ("properties", "orderGroups", "units", "persons", "users", "oidcClients", "reservations"):
        counts[key] = len(seed.get(key, []))
    return counts


def add_reservation(state: SandboxState, item: Mapping[str, Any]) -> Reservation:
    """A reservation straight into the state (bulk seeding); ``check: true`` applies the availability rules."""
    unit = state.unit_by_code(item["unit"])
    if unit is None:
        raise ValueError(f"unknown reservation unit {item['unit']!r}")
    requestor = state.person_by_email(item["requestor"]) if item.get("requestor") else None
    reservation = Reservation(
        syscode=state.next_syscode(),
        begin=_instant(item["start"]),
        end=_instant(item["end"]),
        description=item.get("description", ""),
        unit_ref=unit.syscode,
        property_ref=unit.property_ref,
        order_group_ref=unit.order_group_ref,
        requestor_ref=requestor.syscode if requestor else None,
        external_requestor=item.get("externalRequestor"),
        state=item.get("state", "UsrReservationConfirmed"),
        free=dict(item.get("fields", {})),
        source=item.get("source", "Seed"),
    )
    if reservation.state not in STATES:
        raise ValueError(f"unknown state {reservation.state!r}")
    if item.get("check"):
        state.check(reservation, ignore=None, answered=frozenset(), now=datetime.now(reservation.begin.tzinfo))
    state.reservations[reservation.syscode] = reservation
    return reservation


def _unit(state: SandboxState, item: Mapping[str, Any]) -> Unit:
    prop = state.property_by_code(item["property"])
    if prop is None:
        raise ValueError(f"unknown property {item['property']!r}")
    group_code = item.get("orderGroup")
    group = state.order_group_by_code(group_code) if group_code else next(iter(state.order_groups.values()), None)
    if group is None:
        group = state.add_order_group("MEET", "Meeting rooms")
    opening: OpeningHours | None = OpeningHours()
    if "opening" in item:
        raw = item["opening"]
        opening = None
        if raw is not None:
            days = frozenset(WEEKDAYS.index(d.strip().upper()) for d in raw.get("days", "MO,TU,WE,TH,FR").split(","))
            opening = OpeningHours(
                days, time.fromisoformat(raw.get("from", "07:00")), time.fromisoformat(raw.get("to", "20:00"))
            )
    return Unit(
        syscode=state.next_syscode(),
        code=item["code"],
        name=item.get("name", item["code"]),
        property_ref=prop.syscode,
        order_group_ref=group.syscode,
        capacity=item.get("capacity", 10),
        max_minutes=item.get("maxMinutes", 480),
        opening=opening,
        advance_days=item.get("advanceDays"),
        email=item.get("email"),
    )


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} needs an offset")
    return value
