"""Reading room calendars: full reads, sync-collection increments, an invalid token, series, zones, all-day."""

from __future__ import annotations

from datetime import timedelta

from roomsync.model import OccurrenceOverride, Response, Side, Status
from tests.caldav.conftest import ANNA, BEN, CARLA, R1, R2, R3, ROOMS, T0, WINDOW, Rig, at, counts
from tests.caldav.radicale import unique

EVENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//A client//EN\r
{zones}BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20300101T000000Z\r
{body}\r
END:VEVENT\r
{extra}END:VCALENDAR\r
"""


def raw(uid: str, body: str, *, zones: str = "", extra: str = "") -> str:
    return EVENT.format(uid=uid, body=body.strip().replace("\n", "\r\n"), zones=zones, extra=extra)


async def test_full_read_groups_the_rooms_copies_of_a_meeting_into_one_booking(rig: Rig) -> None:
    uid = rig.people.book(
        BEN, [R1, R2], "Design review", at(1), at(1, 1.5), required=[ANNA], optional=[CARLA], organizer_name="Ben"
    )
    store = rig.store()
    snapshot = await store.read(WINDOW, full=True)
    [booking] = snapshot.bookings
    assert (booking.id, booking.subject, booking.start, booking.end) == (uid, "Design review", at(1), at(1, 1.5))
    assert booking.timezone == "Europe/Amsterdam"
    assert booking.organizer is not None and (booking.organizer.email, booking.organizer.name) == (BEN, "Ben")
    assert {p.email for p in booking.required} == {ANNA} and {p.email for p in booking.optional} == {CARLA}
    assert booking.rooms == {"MR-1", "MR-2"}  # the rooms are not people
    assert booking.awaiting_response and booking.status is Status.TENTATIVE  # Planon in the lead decides
    handle = booking.handle
    assert handle is not None and set(handle.items) == {"MR-1", "MR-2"}
    for key in ("MR-1", "MR-2"):
        [href] = handle.ids(key)
        assert href.endswith(f"{uid}.ics") and handle.version(href), "every copy carries its ETag as version"
    assert snapshot.complete and snapshot.full

    following = await rig.store(leader=Side.CALENDAR).read(WINDOW, full=True)
    [booked] = following.bookings
    assert not booked.awaiting_response and booked.status is Status.CONFIRMED  # nothing answers; it is booked


async def test_a_no_change_cycle_is_one_sync_collection_report_per_room(rig: Rig) -> None:
    rig.people.book(BEN, [R1], "Weekly", at(1), at(1, 1), rrule="FREQ=WEEKLY;COUNT=5")
    client = rig.client()
    store = rig.store(client)
    await store.read(WINDOW, full=True)
    assert counts(client, R1) == {"PROPFIND 207": 1, "REPORT calendar-query 207": 1}  # the token, then the window
    client.requests.by_room.clear()
    for _ in range(3):
        snapshot = await store.read(WINDOW, full=False)
        assert len(snapshot.bookings) == 1
    for room in (R1, R2, R3):
        assert counts(client, room) == {"REPORT sync-collection 207": 3}


async def test_an_incremental_read_fetches_only_what_changed_in_one_multiget(rig: Rig) -> None:
    kept = rig.people.book(BEN, [R1], "Kept", at(1), at(1, 1))
    moved = rig.people.book(BEN, [R1], "Moved", at(2), at(2, 1))
    gone = rig.people.book(BEN, [R1], "Cancelled", at(3), at(3, 1))
    client = rig.client()
    store = rig.store(client)
    await store.read(WINDOW, full=True)
    rig.people.edit(moved, start=at(2, 3), end=at(2, 4))
    rig.people.cancel(gone)
    added = rig.people.book(CARLA, [R1], "New", at(4), at(4, 1))
    client.requests.by_room.clear()

    snapshot = await store.read(WINDOW, full=False)
    assert {b.id: b.start for b in snapshot.bookings} == {kept: at(1), moved: at(2, 3), added: at(4)}
    assert counts(client, R1) == {"REPORT sync-collection 207": 1, "REPORT calendar-multiget 207": 1}


async def test_roomsyncs_own_writes_come_back_through_sync_at_no_cost(rig: Rig) -> None:
    rig.people.book(BEN, [R1], "Request", at(1), at(1, 1))
    client = rig.client()
    store = rig.store(client)
    [request] = (await store.read(WINDOW, full=True)).bookings
    await store.respond(request, Response.ACCEPT, "Reserved in Planon.")
    client.requests.by_room.clear()
    [accepted] = (await store.read(WINDOW, full=False)).bookings
    assert not accepted.awaiting_response and accepted.status is Status.CONFIRMED
    assert counts(client, R1) == {"REPORT sync-collection 207": 1}  # its ETag is known: nothing fetched again


async def test_an_invalid_sync_token_is_a_full_read_that_deletes_nothing_by_itself(rig: Rig) -> None:
    first = rig.people.book(BEN, [R1], "First", at(1), at(1, 1))
    second = rig.people.book(BEN, [R1], "Second", at(2), at(2, 1))
    client = rig.client()
    store = rig.store(client)
    await store.read(WINDOW, full=True)
    state = await client.state(R1)
    state.sync_token = "http://radicale.org/ns/sync/" + "0" * 64  # expired or unknown: the server refuses it
    client.requests.by_room.clear()

    snapshot = await store.read(WINDOW, full=False)
    assert {b.id for b in snapshot.bookings} == {first, second}
    assert counts(client, R1) == {
        "REPORT sync-collection 403": 1,  # RFC 6578 valid-sync-token
        "PROPFIND 207": 1,  # a new token
        "REPORT calendar-query 207": 1,  # the window again
    }
    assert not any(op.startswith(("PUT", "DELETE")) for op in counts(client))
    assert state.sync_token is not None and state.sync_token.startswith("http://radicale.org/ns/sync/")
    client.requests.by_room.clear()
    await store.read(WINDOW, full=False)
    assert counts(client, R1) == {"REPORT sync-collection 207": 1}  # back to increments


async def test_a_series_with_overrides_and_exdates_in_one_resource(rig: Rig) -> None:
    """Moved, cancelled, declined-by-the-room and answer-only overrides, and an EXDATE, all in one resource."""
    body = """
DTSTART;TZID=Europe/Amsterdam:20310304T100000
DTEND;TZID=Europe/Amsterdam:20310304T110000
RRULE:FREQ=WEEKLY;COUNT=6
EXDATE;TZID=Europe/Amsterdam:20310311T100000
SUMMARY:Weekly review
ORGANIZER:mailto:ben@contoso.example
ATTENDEE;CUTYPE=ROOM;PARTSTAT=ACCEPTED:mailto:mr-1@contoso.example
ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:anna@contoso.example"""
    overrides = (
        "BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20300101T000000Z\r\n"
        "RECURRENCE-ID;TZID=Europe/Amsterdam:20310318T100000\r\n"
        "DTSTART;TZID=Europe/Amsterdam:20310318T150000\r\nDTEND;TZID=Europe/Amsterdam:20310318T160000\r\n"
        "SUMMARY:Weekly review (moved)\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20300101T000000Z\r\n"
        "RECURRENCE-ID;TZID=Europe/Amsterdam:20310325T100000\r\nSTATUS:CANCELLED\r\n"
        "DTSTART;TZID=Europe/Amsterdam:20310325T100000\r\nDTEND;TZID=Europe/Amsterdam:20310325T110000\r\n"
        "SUMMARY:Weekly review\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20300101T000000Z\r\n"
        "RECURRENCE-ID;TZID=Europe/Amsterdam:20310401T100000\r\n"
        "DTSTART;TZID=Europe/Amsterdam:20310401T100000\r\nDTEND;TZID=Europe/Amsterdam:20310401T110000\r\n"
        "SUMMARY:Weekly review\r\nATTENDEE;CUTYPE=ROOM;PARTSTAT=DECLINED:mailto:mr-1@contoso.example\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20300101T000000Z\r\n"
        "RECURRENCE-ID;TZID=Europe/Amsterdam:20310408T100000\r\n"
        "DTSTART;TZID=Europe/Amsterdam:20310408T100000\r\nDTEND;TZID=Europe/Amsterdam:20310408T110000\r\n"
        "SUMMARY:Weekly review\r\nATTENDEE;PARTSTAT=DECLINED:mailto:anna@contoso.example\r\nEND:VEVENT\r\n"
    )
    rig.people.put_text(R1, "series-1.ics", raw("series-1", body, extra=overrides))
    [series] = (await rig.store().read(WINDOW, full=True)).bookings
    assert series.recurrence is not None and series.recurrence.rule() == "FREQ=WEEKLY;COUNT=6"
    # 10:00 in Amsterdam: 09:00 UTC in winter, 08:00 UTC after 30 March
    assert series.recurrence.exdates == {
        at(8),
        at(22),
        at(29, -1),
    }  # EXDATE, the cancelled override, the room's declined occurrence
    moved = OccurrenceOverride(at(15), at(15, 5), at(15, 6), "Weekly review (moved)")
    assert series.recurrence.overrides == (moved,)  # an override that only carries an answer is no exception
    assert series.timezone == "Europe/Amsterdam" and series.start == at(1)  # 10:00 CET


async def test_time_zones_are_read_by_their_names_not_by_what_the_server_rewrote(rig: Rig) -> None:
    """Radicale rewrites VTIMEZONEs (docs/caldav.md); an IANA TZID is read through zoneinfo, a Windows one is mapped,
    a custom one keeps its exact instants; UTC is UTC and a floating time is in the room's zone."""
    new_york = "DTSTART;TZID=America/New_York:20310318T050000\nDTEND;TZID=America/New_York:20310318T060000"
    windows = "DTSTART;TZID=W. Europe Standard Time:20310304T100000\nDTEND;TZID=W. Europe Standard Time:20310304T110000"
    custom_zone = (
        "BEGIN:VTIMEZONE\r\nTZID:Office time\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n"
        "TZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
    )
    custom = "DTSTART;TZID=Office time:20310305T120000\nDTEND;TZID=Office time:20310305T130000"
    cases = {
        "ny": (raw("ny", new_york), "America/New_York", at(15)),  # 05:00 EDT = 09:00 UTC
        "win": (raw("win", windows), "Europe/Berlin", at(1)),  # the CLDR zone of the Windows name
        "custom": (raw("custom", custom, zones=custom_zone), "Europe/Amsterdam", at(2)),  # 12:00 +03:00
        "utc": (raw("utc", "DTSTART:20310306T090000Z\nDTEND:20310306T100000Z"), "UTC", at(3)),
        "floating": (raw("floating", "DTSTART:20310307T100000\nDTEND:20310307T110000"), "Europe/Amsterdam", at(4)),
    }
    for uid, (text, _, _) in cases.items():
        rig.people.put_text(R1, f"{uid}.ics", text)
    bookings = {b.id: b for b in (await rig.store().read(WINDOW, full=True)).bookings}
    for uid, (_, zone_name, start) in cases.items():
        assert (bookings[uid].timezone, bookings[uid].start) == (zone_name, start), uid


async def test_all_day_events_are_whole_dates_in_the_room_zone(rig: Rig) -> None:
    rig.people.put_text(R1, "day.ics", raw("day", "DTSTART;VALUE=DATE:20310320\nDTEND;VALUE=DATE:20310321"))
    rig.people.put_text(R1, "dst.ics", raw("dst", "DTSTART;VALUE=DATE:20310329\nDTEND;VALUE=DATE:20310331"))
    rig.people.put_text(R1, "one.ics", raw("one", "DTSTART;VALUE=DATE:20310401"))  # no DTEND: one day
    bookings = {b.id: b for b in (await rig.store().read(WINDOW, full=True)).bookings}
    day = bookings["day"]
    assert day.all_day and day.timezone == "Europe/Amsterdam"  # the calendar's calendar-timezone
    assert (day.start, day.end) == (T0.replace(day=19, hour=23), T0.replace(day=20, hour=23))
    assert bookings["dst"].duration == timedelta(hours=47)  # the summer-time night is one hour short
    assert bookings["one"].duration == timedelta(days=1)

    # a calendar without calendar-timezone: the Connection's timeZone says where its dates are
    elsewhere = rig.server.make_calendar(unique("no-zone"), time_zone=None)
    rig.people.calendars[R3] = elsewhere
    rig.people.put_text(R3, "day.ics", raw("day", "DTSTART;VALUE=DATE:20310320\nDTEND;VALUE=DATE:20310321"))
    client = rig.client(calendars=[{"room": R3, "url": elsewhere}], timeZone="America/New_York")
    [in_new_york] = (await rig.store(client, rooms=[ROOMS[2]]).read(WINDOW, full=True)).bookings
    assert in_new_york.timezone == "America/New_York" and in_new_york.start == T0.replace(day=20, hour=4)


async def test_an_item_that_cannot_be_translated_is_skipped_not_deleted(rig: Rig) -> None:
    rig.people.book(BEN, [R1], "Fine", at(1), at(1, 1))
    rdate = "DTSTART:20310305T090000Z\nDTEND:20310305T100000Z\nRRULE:FREQ=DAILY;COUNT=2\nRDATE:20310310T090000Z"
    rig.people.put_text(R1, "rdate.ics", raw("rdate", rdate))
    snapshot = await rig.store().read(WINDOW, full=True)
    assert [b.subject for b in snapshot.bookings] == ["Fine"]
    [skipped] = snapshot.skipped
    assert (skipped.room, skipped.native_id.rsplit("/", 1)[-1]) == ("MR-1", "rdate.ics")
    assert "RDATE" in skipped.reason and not snapshot.complete  # so nothing in MR-1 counts as deleted


async def test_lookup_finds_a_meeting_outside_the_window_and_a_cancelled_copy(rig: Rig) -> None:
    far = rig.people.book(BEN, [R2], "Far away", at(200), at(200, 1))
    body = "DTSTART:20310305T090000Z\nDTEND:20310305T100000Z\nSTATUS:CANCELLED\nSUMMARY:Called off"
    rig.people.put_text(R1, "off.ics", raw("off", body))
    store = rig.store()
    snapshot = await store.read(WINDOW, full=True)
    [cancelled] = snapshot.bookings
    assert cancelled.id == "off" and cancelled.status is Status.CANCELLED
    found = await store.lookup([far, "no-such-uid"])
    assert set(found) == {far} and found[far].start == at(200) and found[far].rooms == {"MR-2"}


async def test_rooms_narrow_what_is_fetched_the_others_come_from_memory(rig: Rig) -> None:
    rig.people.book(BEN, [R1], "One", at(1), at(1, 1))
    rig.people.book(BEN, [R2], "Two", at(1), at(1, 1))
    client = rig.client()
    store = rig.store(client)
    await store.read(WINDOW, full=True)
    client.requests.by_room.clear()
    snapshot = await store.read(WINDOW, full=False, rooms={"MR-2"})
    assert sorted(b.subject for b in snapshot.bookings) == ["One", "Two"]
    assert set(counts(client)) == {"REPORT sync-collection 207"} and counts(client, R1) == {}


async def test_copies_that_disagree_are_marked_for_rewriting(rig: Rig) -> None:
    uid = rig.people.book(BEN, [R1, R2], "Planning", at(1), at(1, 1))
    [copy, _] = rig.people.copies(uid)
    copy.master.pop("SUMMARY")
    copy.master.add("SUMMARY", "Planning (only in one room)")
    rig.people.put(copy.url, copy.calendar, login="delegate", etag=copy.etag)
    snapshot = await rig.store().read(WINDOW, full=True)
    assert snapshot.needs_rewrite == {uid}  # the engine rewrites the meeting from Planon in every room
