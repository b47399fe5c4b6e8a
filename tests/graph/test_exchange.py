"""The emulator behaves as Exchange Online documents it (graph-and-ews.md), checked on the wire without the connector:
floating all-day dates, partial delta updates, ``@removed`` for series, the request budget, room policies,
recurrence and extended-property validation, occurrence PATCHes and ``If-Match``."""

from __future__ import annotations

from typing import Any

import httpx

from roomsync.sandbox.graph import GraphSandbox

from .conftest import ROOM1, ROOM2, ROOM3, at
from .test_sandbox import raw

ALICE = "alice@contoso.com"
LINK_ID = "String {00020329-0000-0000-C000-000000000046} Name RoomSyncLink"


def window(days: int = 20) -> dict[str, str]:
    return {"startDateTime": at(days=-1).isoformat(), "endDateTime": at(days=days).isoformat()}


async def view(http: httpx.AsyncClient, room: str, **headers: str) -> list[dict[str, Any]]:
    answer = await http.get(f"/users/{room}/calendarView", params={**window(), "$top": "100"}, headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["value"])


async def delta(http: httpx.AsyncClient, link: str | None, room: str = ROOM1) -> tuple[list[dict[str, Any]], str]:
    """One delta round (every page); returns the entries and the deltaLink."""
    answer = await (http.get(link) if link else http.get(f"/users/{room}/calendarView/delta()", params=window()))
    entries: list[dict[str, Any]] = []
    while True:
        body = answer.json()
        entries += body["value"]
        if "@odata.deltaLink" in body:
            return entries, body["@odata.deltaLink"]
        answer = await http.get(body["@odata.nextLink"])


def weekly(start_date: str, count: int) -> dict[str, Any]:
    return {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"], "firstDayOfWeek": "monday"},
        "range": {"type": "numbered", "startDate": start_date, "numberOfOccurrences": count},
    }


async def test_all_day_events_come_back_as_floating_dates_whatever_zone_is_asked(sandbox: GraphSandbox) -> None:
    day = at(days=1).replace(hour=0)  # Tuesday 4 March 2031
    amsterdam = "Europe/Amsterdam"
    await sandbox.admin.book_in_outlook(
        ALICE, [ROOM3], "Offsite", day.isoformat()[:19], at(days=2).replace(hour=0).isoformat()[:19],
        time_zone=amsterdam, all_day=True,
    )  # fmt: skip
    async with await raw(sandbox) as http:
        for zone in ("UTC", "Pacific Standard Time", "Tokyo Standard Time"):
            (event,) = await view(http, ROOM3, Prefer=f'outlook.timezone="{zone}"')
            assert event["isAllDay"]
            assert event["start"] == {"dateTime": "2031-03-04T00:00:00.0000000", "timeZone": zone}
            assert event["end"] == {"dateTime": "2031-03-05T00:00:00.0000000", "timeZone": zone}
        entries, _ = await delta(http, None, ROOM3)
        assert entries[0]["start"]["dateTime"] == "2031-03-04T00:00:00.0000000"
        # an all-day event is whole days at midnight: anything else does not validate
        bad = {
            "subject": "half a day",
            "isAllDay": True,
            "start": {"dateTime": "2031-03-04T09:00:00", "timeZone": amsterdam},
            "end": {"dateTime": "2031-03-05T00:00:00", "timeZone": amsterdam},
        }
        refused = await http.post(f"/users/{ROOM1}/events", json=bad)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "ErrorPropertyValidationFailure"
        settings = await http.get(f"/users/{ROOM1}/mailboxSettings")
        assert settings.json()["timeZone"] == ""  # never set on this room (Set-MailboxRegionalConfiguration)


async def test_delta_sends_only_what_changed_unless_set_to_whole_objects(sandbox: GraphSandbox) -> None:
    uid = await sandbox.admin.book_in_outlook(ALICE, [ROOM3], "Planning", at(hours=1), at(hours=2))
    async with await raw(sandbox) as http:
        (first,), link = await delta(http, None, ROOM3)
        await sandbox.admin.edit(uid, subject="Planning (renamed)")
        (update,), link = await delta(http, link, ROOM3)
        assert update["id"] == first["id"] and update["subject"] == "Planning (renamed)"
        assert set(update) == {"@odata.type", "@odata.etag", "id", "subject", "changeKey", "lastModifiedDateTime"}
        assert update["@odata.etag"] != first["@odata.etag"]
        await sandbox.admin.set_delta_full_objects(True)
        await sandbox.admin.edit(uid, subject="Planning (again)")
        (whole,), _ = await delta(http, link, ROOM3)
        assert whole["iCalUId"] == uid and whole["start"] == first["start"] and whole["subject"] == "Planning (again)"


async def test_a_series_leaving_the_window_is_reported_removed_with_its_master(sandbox: GraphSandbox) -> None:
    start, end = at(days=1, hours=1), at(days=1, hours=2)  # Tuesday 4 March
    uid = await sandbox.admin.book_in_outlook(ALICE, [ROOM3], "Weekly", start, end, recurrence=weekly("2031-03-04", 3))
    async with await raw(sandbox) as http:
        occurrences, link = await delta(http, None, ROOM3)
        assert [e["type"] for e in occurrences] == ["occurrence"] * 3
        master = occurrences[0]["seriesMasterId"]
        later = at(days=64, hours=1)  # Tuesday 6 May: the whole series leaves the window
        await sandbox.admin.edit(uid, start=later, end=later.replace(hour=11), recurrence=weekly("2031-05-06", 3))
        removed, _ = await delta(http, link, ROOM3)
        assert all(e["@removed"] == {"reason": "deleted"} for e in removed)
        assert {e["id"] for e in removed} == {e["id"] for e in occurrences} | {master}


async def test_the_request_budget_per_app_and_mailbox(sandbox: GraphSandbox) -> None:
    await sandbox.admin.set_budget(3, 600)
    async with await raw(sandbox) as http:
        statuses = [(await http.get(f"/users/{ROOM1}/events")).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        throttled = await http.get(f"/users/{ROOM1}/events")
        assert throttled.json()["error"]["code"] == "ApplicationThrottled"
        assert 1 <= int(throttled.headers["Retry-After"]) <= 600
        assert (await http.get(f"/users/{ROOM2}/events")).status_code == 200  # another mailbox has its own budget


async def test_room_policies_of_the_booking_assistant(sandbox: GraphSandbox) -> None:
    admin = sandbox.admin

    async def lands(room: str, uid: str) -> bool:
        return any(e["iCalUId"] == uid for e in await admin.room_events(room))

    async def declined(uid: str) -> str:
        return next(m["comment"] for m in await admin.mail() if m["kind"] == "decline" and m["iCalUId"] == uid)

    # BookingWindowInDays (default 180) counts from the tenant's today (T0 - 1 day)
    far = await admin.book_in_outlook(ALICE, [ROOM1], "Far", at(days=190), at(days=190, hours=1))
    near = await admin.book_in_outlook(ALICE, [ROOM1], "Near", at(days=170), at(days=170, hours=1))
    assert not await lands(ROOM1, far) and "booking window of 180 days" in await declined(far)
    assert await lands(ROOM1, near)
    # MaximumDurationInMinutes (default 1440)
    long = await admin.book_in_outlook(ALICE, [ROOM1], "Long", at(days=3), at(days=4, hours=1))
    assert not await lands(ROOM1, long) and "maximum of 1440 minutes" in await declined(long)
    # EnforceSchedulingHorizon: a series that reaches past the booking window is declined, unless switched off
    endless = {**weekly("2031-03-04", 1), "range": {"type": "noEnd", "startDate": "2031-03-04"}}
    series = await admin.book_in_outlook(
        ALICE, [ROOM2], "Endless", at(days=1, hours=6), at(days=1, hours=7), recurrence=endless
    )
    assert not await lands(ROOM2, series) and "reaches past" in await declined(series)
    await admin.set_processing(ROOM2, enforce_scheduling_horizon=False)
    series = await admin.book_in_outlook(
        ALICE, [ROOM2], "Endless", at(days=1, hours=6), at(days=1, hours=7), recurrence=endless
    )
    assert await lands(ROOM2, series)
    # AllowRecurringMeetings $false
    await admin.set_processing(ROOM2, allow_recurring_meetings=False)
    weekly_uid = await admin.book_in_outlook(
        ALICE, [ROOM2], "Weekly", at(days=1, hours=3), at(days=1, hours=4), recurrence=weekly("2031-03-04", 4)
    )
    assert not await lands(ROOM2, weekly_uid) and "Recurring meetings are not allowed" in await declined(weekly_uid)


async def test_a_series_with_few_conflicts_is_accepted_without_them(sandbox: GraphSandbox) -> None:
    admin = sandbox.admin
    await admin.book_in_outlook("bob@contoso.com", [ROOM1], "Taken", at(days=8, hours=1), at(days=8, hours=2))
    rule = weekly("2031-03-04", 4)  # the second Tuesday conflicts
    refused = await admin.book_in_outlook(
        ALICE, [ROOM1], "Weekly", at(days=1, hours=1), at(days=1, hours=2), recurrence=rule
    )
    assert refused not in {e["iCalUId"] for e in await admin.room_events(ROOM1)}  # defaults: no conflict at all
    await admin.set_processing(ROOM1, maximum_conflict_instances=1, conflict_percentage_allowed=25)
    accepted = await admin.book_in_outlook(
        ALICE, [ROOM1], "Weekly", at(days=1, hours=1), at(days=1, hours=2), recurrence=rule
    )
    copy = next(e for e in await admin.room_events(ROOM1) if e["iCalUId"] == accepted)
    assert copy["response"] == "accepted"
    assert copy["cancelledOccurrences"] == ["2031-03-11T10:00:00.0000000Z"]  # only that occurrence is declined
    comments = [m["comment"] for m in await admin.mail() if m["iCalUId"] == accepted and m["kind"] == "decline"]
    assert comments == ["The occurrence on 2031-03-11 conflicts with an existing booking."]


async def test_recurrence_start_date_and_extended_property_ids_are_validated(sandbox: GraphSandbox) -> None:
    body: dict[str, Any] = {
        "subject": "Weekly",
        "start": {"dateTime": "2031-03-04T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2031-03-04T11:00:00", "timeZone": "UTC"},
        "recurrence": weekly("2031-03-05", 3),  # not the start's date
    }
    async with await raw(sandbox) as http:
        refused = await http.post(f"/users/{ROOM1}/events", json=body)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "ErrorPropertyValidationFailure"
        body["recurrence"] = weekly("2031-03-04", 3)
        body["singleValueExtendedProperties"] = [{"id": "String RoomSyncLink", "value": "x"}]
        refused = await http.post(f"/users/{ROOM1}/events", json=body)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "ErrorInvalidExtendedProperty"
        body["singleValueExtendedProperties"] = [{"id": LINK_ID, "value": "x"}]
        assert (await http.post(f"/users/{ROOM1}/events", json=body)).status_code == 201
        expand = "singleValueExtendedProperties($filter=id eq 'String {00020329} Name RoomSyncLink')"
        bad = await http.get(f"/users/{ROOM1}/calendarView", params={**window(), "$expand": expand})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "ErrorInvalidExtendedProperty"


async def test_patch_on_an_occurrence_changes_that_occurrence_only(sandbox: GraphSandbox) -> None:
    body = {
        "subject": "Weekly",
        "start": {"dateTime": "2031-03-04T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2031-03-04T11:00:00", "timeZone": "UTC"},
        "recurrence": weekly("2031-03-04", 3),
    }
    async with await raw(sandbox) as http:
        master = (await http.post(f"/users/{ROOM1}/events", json=body)).json()
        instances = (await http.get(f"/users/{ROOM1}/events/{master['id']}/instances", params=window())).json()["value"]
        second = instances[1]
        mark = {"subject": "Just this one", "singleValueExtendedProperties": [{"id": LINK_ID, "value": "occurrence"}]}
        patched = await http.patch(f"/users/{ROOM1}/events/{second['id']}", json=mark)
        assert patched.status_code == 200 and patched.json()["type"] == "exception"
        after = (await http.get(f"/users/{ROOM1}/events/{master['id']}/instances", params=window())).json()["value"]
        assert [i["subject"] for i in after] == ["Weekly", "Just this one", "Weekly"]
        expand = {"$expand": f"singleValueExtendedProperties($filter=id eq '{LINK_ID}')"}
        series = (await http.get(f"/users/{ROOM1}/events/{master['id']}", params=expand)).json()
        assert series["subject"] == "Weekly" and "singleValueExtendedProperties" not in series  # master untouched
        exception = (await http.get(f"/users/{ROOM1}/events/{second['id']}", params=expand)).json()
        assert exception["singleValueExtendedProperties"] == [{"id": LINK_ID, "value": "occurrence"}]
        # the siblings' versions did not move: only the series or the occurrence itself changes them
        assert [i["@odata.etag"] for i in (after[0], after[2])] == [
            instances[0]["@odata.etag"],
            instances[2]["@odata.etag"],
        ]


async def test_writes_honour_if_match(sandbox: GraphSandbox) -> None:
    await sandbox.admin.book_in_outlook(ALICE, [ROOM3], "Pending", at(hours=1), at(hours=2))
    async with await raw(sandbox) as http:
        (copy,) = await view(http, ROOM3)
        etag = copy["@odata.etag"]
        assert etag == f'W/"{copy["changeKey"]}"'
        moved = await http.patch(
            f"/users/{ROOM3}/events/{copy['id']}", json={"subject": "Mine"}, headers={"If-Match": etag}
        )
        assert moved.status_code == 200 and moved.json()["@odata.etag"] != etag
        for method, path, body in (
            ("PATCH", "", {"subject": "Stale"}),
            ("POST", "/accept", {"Comment": "ok"}),
            ("POST", "/decline", {"Comment": "no"}),
            ("DELETE", "", None),
        ):
            stale = await http.request(
                method, f"/users/{ROOM3}/events/{copy['id']}{path}", json=body, headers={"If-Match": etag}
            )
            assert stale.status_code == 412, (method, path)
            assert stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
        (now,) = await view(http, ROOM3)
        assert now["subject"] == "Mine" and now["responseStatus"]["response"] == "notResponded"  # nothing written
        accepted = await http.post(
            f"/users/{ROOM3}/events/{copy['id']}/accept", json={"Comment": "ok"}, headers={"If-Match": "*"}
        )
        assert accepted.status_code == 202
