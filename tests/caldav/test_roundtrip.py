"""iCalendar round trips through the real Radicale: the traps are real, and RoomSync's encodings survive them."""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

import icalendar

from roomsync.connectors.caldav.linkprop import LINK_PROPERTY, decode_link, encode_link
from roomsync.model import Link, Recurrence
from tests.caldav.conftest import R1, WINDOW, Rig, at
from tests.caldav.test_read import raw
from tests.caldav.test_write import instances, planon_booking

#: Everything RFC 5545 TEXT would need escaped, a colon, quotes, non-ASCII and spaces in the peer id.
AWKWARD = Link('G-7, "Zaal 3"; vloer\\2: café', "0123456789abcdef", 12, "aaaabbbbccccddddeeeeffff")


async def test_the_comma_trap_is_real(rig: Rig) -> None:
    """Radicale cuts an unescaped X- value at its first comma (and escapes its semicolons): a link written that way
    would be lost."""
    text = raw("trap", f"DTSTART:20310305T090000Z\nDTEND:20310305T100000Z\n{LINK_PROPERTY}:rs2;3;fp;a,b;PLN-1")
    rig.people.put_text(R1, "trap.ics", text)
    stored = icalendar.Calendar.from_ical(rig.people.get_text(f"{rig.calendars[R1]}trap.ics"))
    assert str(stored.walk("VEVENT")[0][LINK_PROPERTY]) == r"rs2\;3\;fp\;a"


async def test_the_link_encoding_survives_the_round_trip(rig: Rig) -> None:
    encoded = encode_link(AWKWARD)
    assert not set(encoded) & set(',;\\:"\n ')  # nothing a server could escape, split or cut
    store = rig.store()
    made = await store.create(planon_booking(rooms=frozenset({"MR-1"}), link=AWKWARD))
    stored = rig.people.get_text(f"{rig.calendars[R1]}{made.id}.ics")
    value = icalendar.Calendar.from_ical(stored).walk("VEVENT")[0][LINK_PROPERTY]
    assert str(value) == encoded and decode_link(value) == AWKWARD
    [read_back] = (await rig.store().read(WINDOW, full=True)).bookings
    assert read_back.link == AWKWARD


async def test_a_link_some_client_rewrote_as_escaped_text_is_still_read() -> None:
    assert decode_link(r"rs1;3;fp;G-7\, Zaal 3") == Link("G-7, Zaal 3", "fp", 3)
    assert decode_link("something else") is None and decode_link(None) is None


async def test_text_with_commas_semicolons_and_backslashes_round_trips(rig: Rig) -> None:
    subject = 'Budget, Q3; "final" \\ review — café'
    made = await rig.store().create(planon_booking(rooms=frozenset({"MR-1"}), subject=subject))
    [read_back] = (await rig.store().read(WINDOW, full=True)).bookings
    assert read_back.id == made.id and read_back.subject == subject


async def test_radicale_cuts_a_vtimezone_rdate_list_so_each_rdate_gets_its_own_line(rig: Rig) -> None:
    """icalendar writes a VTIMEZONE's onsets as one RDATE list; Radicale keeps only its first value, and then
    expands summer occurrences an hour off. RoomSync writes one RDATE per line, which Radicale keeps."""
    zone = icalendar.Timezone.from_tzinfo(
        ZoneInfo("Europe/Amsterdam"), first_date=at(-400).date(), last_date=at(400).date()
    )
    listed = [str(v) for sub in zone.subcomponents for v in [sub.get("RDATE")] if v is not None]
    assert listed, "icalendar writes the onsets as RDATE lists"
    text = raw(
        "cut",
        "DTSTART;TZID=Europe/Amsterdam:20310304T090000\nDTEND;TZID=Europe/Amsterdam:20310304T100000\n"
        "RRULE:FREQ=WEEKLY;COUNT=6",
        zones=zone.to_ical().decode().replace("\n", "\r\n").replace("\r\r", "\r"),
    )
    rig.people.put_text(R1, "cut.ics", text)
    stored = rig.people.get_text(f"{rig.calendars[R1]}cut.ics")
    assert all("," not in line for line in stored.splitlines() if line.startswith("RDATE")), "the lists were cut"

    series = planon_booking(rooms=frozenset({"MR-2"}), recurrence=Recurrence.parse("FREQ=WEEKLY;COUNT=6"))
    series = replace(series, start=at(1), end=at(1, 1))  # Tuesdays 10:00 Amsterdam, across 30 March
    await rig.store().create(series)
    starts = [start for _, start, _ in instances(rig, "mr-2@contoso.example")]
    assert [s.hour for s in starts] == [9, 9, 9, 9, 8, 8]  # 10:00 local, before and after summer time
