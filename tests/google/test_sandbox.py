"""The emulator's own behaviour where Google's is [unconfirmed]: each documented setting, both readings, driven
through the real client library (the connector's built service and transport)."""

from __future__ import annotations

from typing import Any

import pytest

from roomsync.connectors.base import BookingRefused
from roomsync.connectors.google import GoogleClient
from roomsync.connectors.google.errors import Duplicate
from roomsync.sandbox.google import GoogleSandbox

from .conftest import CAROL, DAVE, ROOM1, ROOM2, at


async def call(client: GoogleClient, calendar: str, request: Any) -> Any:
    return await client.caller.call(calendar, calendar, "test", request, f"test ({calendar})")


def body(summary: str, hours: float = 0, **extra: Any) -> dict[str, Any]:
    return {
        "summary": summary,
        "start": {"dateTime": at(1, hours).isoformat(), "timeZone": "UTC"},
        "end": {"dateTime": at(1, hours + 1).isoformat(), "timeZone": "UTC"},
        **extra,
    }


async def test_extended_properties_lose_long_keys_and_cut_long_values_silently(client: GoogleClient) -> None:
    events = client.calendar_service.events()
    props = {"private": {"k" * 45: "dropped", "short": "v" * 1100}}
    made = await call(client, ROOM1, events.insert(calendarId=ROOM1, body=body("Props", extendedProperties=props)))
    private = made["extendedProperties"]["private"]
    assert list(private) == ["short"] and len(private["short"]) == 1024
    many = {"private": {f"p{i}": "x" * 100 for i in range(301)}}
    with pytest.raises(BookingRefused, match="too large"):
        await call(client, ROOM1, events.insert(calendarId=ROOM1, body=body("Many", extendedProperties=many)))


@pytest.mark.parametrize(("mode", "expected"), [("and", ["Both"]), ("or", ["Both", "One"])])
async def test_repeated_extended_property_filters_and_or_or(
    sandbox: GoogleSandbox, client: GoogleClient, mode: str, expected: list[str]
) -> None:
    await sandbox.admin.settings(extendedPropertyFilter=mode)
    events = client.calendar_service.events()
    both = {"private": {"a": "1", "b": "2"}}
    await call(client, ROOM1, events.insert(calendarId=ROOM1, body=body("Both", extendedProperties=both)))
    await call(
        client, ROOM1, events.insert(calendarId=ROOM1, body=body("One", 2, extendedProperties={"private": {"a": "1"}}))
    )
    found = await call(client, ROOM1, events.list(calendarId=ROOM1, privateExtendedProperty=["a=1", "b=2"]))
    assert sorted(e["summary"] for e in found["items"]) == expected


@pytest.mark.parametrize("mode", ["replace", "conflict"])
async def test_import_of_a_known_ical_uid_replaces_or_conflicts(
    sandbox: GoogleSandbox, client: GoogleClient, mode: str
) -> None:
    await sandbox.admin.settings(importDuplicate=mode)
    events = client.calendar_service.events()
    first = body("Imported", iCalUID="ext-1@example.com")
    await call(client, ROOM1, events.import_(calendarId=ROOM1, body=first))
    again = events.import_(calendarId=ROOM1, body=body("Imported again", iCalUID="ext-1@example.com"))
    if mode == "conflict":
        with pytest.raises(Duplicate, match="409 duplicate"):
            await call(client, ROOM1, again)
    else:
        await call(client, ROOM1, again)
    items = (await call(client, ROOM1, events.list(calendarId=ROOM1, iCalUID="ext-1@example.com")))["items"]
    assert [e["summary"] for e in items] == (["Imported"] if mode == "conflict" else ["Imported again"])


@pytest.mark.parametrize(("above", "fraction", "declined"), [(5, 1 / 3, False), (2, None, True)])
async def test_series_conflict_rule_is_configurable(
    sandbox: GoogleSandbox, above: int, fraction: float | None, declined: bool
) -> None:
    """Help page: decline the whole series above 5 conflicts or a third of it; another copy: three or more."""
    await sandbox.admin.settings(seriesDeclineAbove=above, seriesDeclineFraction=fraction)
    for week in range(3):
        await sandbox.admin.book(DAVE, [ROOM2], f"Taken {week}", at(1 + 7 * week), at(1 + 7 * week, 1))
    uid = await sandbox.admin.book(CAROL, [ROOM2], "Weekly", at(1), at(1, 1), recurrence=["RRULE:FREQ=WEEKLY;COUNT=10"])
    answers = [r for r in await sandbox.admin.responses() if r["iCalUID"] == uid]
    assert answers[-1]["response"] == ("declined" if declined else "accepted")
    copy = [e for e in await sandbox.admin.events(ROOM2) if e["iCalUID"] == uid and e.get("recurringEventId")]
    assert len(copy) == (0 if declined else 3)  # accepted: the three taken dates are declined one by one
