"""Normalisation, zones, recurrence and fingerprints of the canonical model."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar.prop import vRecur

from roomsync.model import (
    Booking,
    Handle,
    Link,
    OccurrenceOverride,
    Person,
    Recurrence,
    RecurrenceError,
    UnknownTimeZone,
    Window,
    changed_fields,
    fingerprint,
    people,
    to_iana,
    to_windows,
)

AMS = ZoneInfo("Europe/Amsterdam")


def meeting(**changes: object) -> Booking:
    base = Booking(
        id="b1",
        subject="Budget review",
        start=datetime(2026, 3, 2, 9, 0, tzinfo=AMS),
        end=datetime(2026, 3, 2, 10, 0, tzinfo=AMS),
        timezone="Europe/Amsterdam",
        organizer=Person("Alice@Contoso.com", "Alice"),
        required=people(["bob@contoso.com", "carol@contoso.com"]),
        rooms=frozenset({"MR-1"}),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_emails_are_case_folded_and_attendees_compare_as_sets() -> None:
    a = meeting(required=people(["BOB@contoso.com ", "carol@contoso.com"]))
    b = meeting(required=people(["carol@CONTOSO.com", "bob@contoso.com"]))
    assert a.required == b.required
    assert fingerprint(a) == fingerprint(b)
    assert a.organizer == Person("alice@contoso.com", "someone else")


def test_organizer_and_duplicates_are_not_attendees() -> None:
    b = meeting(
        required=people(["alice@contoso.com", "bob@contoso.com"]), optional=people(["bob@contoso.com", "dan@x.org"])
    )
    assert {p.email for p in b.required} == {"bob@contoso.com"}
    assert {p.email for p in b.optional} == {"dan@x.org"}


def test_invalid_email_is_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match="not-an-address"):
        Person("not-an-address")


def test_subjects_are_trimmed_and_white_space_folded() -> None:
    assert meeting(subject="  Budget \n review ").subject == "Budget review"


def test_times_compare_as_utc_instants_whatever_zone_they_were_given_in() -> None:
    utc = meeting(start=datetime(2026, 3, 2, 8, 0, tzinfo=UTC), end=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    assert fingerprint(utc) == fingerprint(meeting())


def test_naive_times_and_inverted_ranges_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        meeting(start=datetime(2026, 3, 2, 9, 0))
    with pytest.raises(ValueError, match="must be after start"):
        meeting(end=datetime(2026, 3, 2, 8, 0, tzinfo=AMS))


def test_windows_and_iana_zone_names_are_both_accepted() -> None:
    assert to_iana("W. Europe Standard Time") == "Europe/Berlin"
    assert to_iana("europe/amsterdam") == "Europe/Amsterdam"
    assert to_iana("Eastern Standard Time") == "America/New_York"
    assert to_windows("Europe/Amsterdam") == "W. Europe Standard Time"
    assert meeting(timezone="Pacific Standard Time").timezone == "America/Los_Angeles"
    with pytest.raises(UnknownTimeZone, match="Mars/Olympus"):
        to_iana("Mars/Olympus")


def test_fingerprint_ignores_what_is_not_synced_and_sees_what_is() -> None:
    base = meeting()
    echo = replace(
        base, id="other", link=Link("x", "y"), handle=Handle({"MR-1": ("AAMk",)}), timezone="Europe/Amsterdam"
    )
    assert fingerprint(echo) == fingerprint(base)
    assert changed_fields(base, replace(base, subject="Other")) == ["subject"]
    assert changed_fields(base, replace(base, rooms=frozenset({"MR-1", "MR-2"}))) == ["rooms"]
    assert changed_fields(base, replace(base, optional=people(["eve@x.org"]))) == ["optional"]


def test_link_round_trips_and_foreign_values_are_ignored() -> None:
    link = Link("AAMkAD;with;semicolons", "0123456789abcdef", 7)
    assert Link.decode(link.encode()) == link
    for foreign in (None, "", "RES-1", "rs1;x;fp;id", "rs2;1;fp;id", "rs1;1;fp;"):
        assert Link.decode(foreign) is None


def test_rrule_subset_round_trips_canonically() -> None:
    rule = Recurrence.parse("RRULE:byday=MO,WE;freq=weekly;interval=2;count=10")
    assert rule.rule() == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=10"
    assert Recurrence.parse("FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20261231T000000Z").by_day == ("-1FR",)
    assert Recurrence.parse("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1").by_set_pos == (-1,)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("FREQ=HOURLY", "not supported"),
        ("FREQ=WEEKLY;BYHOUR=9", "BYHOUR"),
        ("FREQ=WEEKLY;COUNT=2;UNTIL=20260101", "cannot both"),
        ("FREQ=WEEKLY;BYDAY=XX", "BYDAY"),
        ("FREQ=MONTHLY;BYMONTHDAY=32", "out of range"),
        ("FREQ=WEEKLY;INTERVAL=0", "positive"),
        ("BYDAY=MO", "needs FREQ"),
        ("FREQ=WEEKLY;COUNT=abc", "whole number"),
    ],
)
def test_unsupported_or_broken_rules_are_refused_clearly(rule: str, message: str) -> None:
    with pytest.raises(RecurrenceError, match=message):
        Recurrence.parse(rule)


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=DAILY;COUNT=5",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;COUNT=10",
        "FREQ=MONTHLY;BYDAY=-1FR;UNTIL=20261231T000000Z",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "FREQ=MONTHLY;BYMONTHDAY=1,15,-1",
        "FREQ=YEARLY;BYMONTH=2,3;BYDAY=2MO;WKST=SU",
    ],
)
def test_the_rrule_reader_agrees_with_icalendar_on_the_subset(text: str) -> None:
    """The model reads RRULE text itself (the module docstring says why); icalendar's reader is the independent check
    that both see the same parts and values, in the text given and in the canonical text written back."""
    for rule_text in (text, Recurrence.parse(text).rule()):
        ours = Recurrence.parse(rule_text)
        theirs = vRecur.from_ical(rule_text)
        assert ours.freq.value == theirs["FREQ"][0]
        assert ours.interval == theirs.get("INTERVAL", [1])[0]
        assert list(ours.by_day) == theirs.get("BYDAY", [])
        assert list(ours.by_month_day) == theirs.get("BYMONTHDAY", [])
        assert list(ours.by_month) == [int(m) for m in theirs.get("BYMONTH", [])]
        assert list(ours.by_set_pos) == theirs.get("BYSETPOS", [])
        assert ours.count == theirs.get("COUNT", [None])[0]
        assert ours.until == theirs.get("UNTIL", [None])[0]
        assert ours.wkst == theirs.get("WKST", ["MO"])[0]


def test_a_part_icalendar_would_drop_silently_is_refused_by_name() -> None:
    assert "COUNT" not in vRecur.from_ical("FREQ=WEEKLY;COUNT")  # why the model does not read RRULEs with it
    with pytest.raises(RecurrenceError, match="'COUNT' is not KEY=VALUE"):
        Recurrence.parse("FREQ=WEEKLY;COUNT")


def test_weekly_series_keeps_local_time_across_dst() -> None:
    rule = Recurrence.parse("FREQ=WEEKLY;COUNT=4")
    first = datetime(2026, 3, 16, 9, 0, tzinfo=AMS)  # DST starts 29 March 2026 in Europe
    occurrences = rule.occurrences(first, timedelta(hours=1), "Europe/Amsterdam", first, first + timedelta(days=60))
    assert [o.start.astimezone(AMS).hour for o in occurrences] == [9, 9, 9, 9]
    assert [o.start.hour for o in occurrences] == [8, 8, 7, 7]  # in UTC the hour moves


def test_exceptions_cancel_and_move_single_occurrences() -> None:
    first = datetime(2026, 3, 2, 9, 0, tzinfo=AMS)
    second, third = first + timedelta(weeks=1), first + timedelta(weeks=2)
    moved = OccurrenceOverride(third, third + timedelta(hours=2), third + timedelta(hours=3), "Moved")
    rule = Recurrence.parse("FREQ=WEEKLY;COUNT=4").with_exceptions(exdates=[second], overrides=[moved])
    occurrences = rule.occurrences(first, timedelta(hours=1), "Europe/Amsterdam", first, first + timedelta(days=60))
    assert len(occurrences) == 3
    assert occurrences[1].start == third.astimezone(UTC) + timedelta(hours=2) and occurrences[1].subject == "Moved"


def test_open_ended_series_is_expanded_only_within_the_window() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=AMS)
    rule = Recurrence.parse("FREQ=DAILY")
    window = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC))
    assert rule.open_ended
    assert len(rule.occurrences(first, timedelta(hours=1), "Europe/Amsterdam", window.start, window.end)) == 7


def test_fingerprint_of_a_series_only_counts_exceptions_inside_the_window() -> None:
    first = datetime(2026, 1, 5, 9, 0, tzinfo=AMS)
    rule = Recurrence.parse("FREQ=WEEKLY")
    old_exception = rule.with_exceptions(exdates=[first + timedelta(weeks=1)])
    series = meeting(start=first, end=first + timedelta(hours=1), recurrence=rule)
    window = Window(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC))
    assert fingerprint(series, window) == fingerprint(replace(series, recurrence=old_exception), window)
    assert fingerprint(series) != fingerprint(replace(series, recurrence=old_exception))


def test_equivalent_zone_spellings_of_a_series_share_a_fingerprint() -> None:
    first = datetime(2026, 3, 2, 9, 0, tzinfo=AMS)
    series = meeting(start=first, end=first + timedelta(hours=1), recurrence=Recurrence.parse("FREQ=WEEKLY;COUNT=3"))
    assert fingerprint(series) == fingerprint(replace(series, timezone="W. Europe Standard Time"))


def test_all_day_bookings_compare_as_dates_in_their_zone() -> None:
    start = datetime(2026, 3, 2, tzinfo=ZoneInfo("Pacific/Auckland"))
    a = meeting(start=start, end=start + timedelta(days=1), all_day=True, timezone="Pacific/Auckland")
    assert fingerprint(a) == fingerprint(replace(a))
    assert __import__("roomsync.model").model.synced_fields(a)["start"] == "2026-03-02"


def test_fit_cuts_the_subject_of_a_renamed_occurrence_too() -> None:
    from roomsync.model import FieldLimits, OccurrenceOverride, Recurrence, fit

    base = meeting()
    long_name = "A renamed occurrence with a far longer subject than Planon's Description holds"
    moved = OccurrenceOverride(
        base.start + timedelta(days=7), base.start + timedelta(days=7), base.end + timedelta(days=7), long_name
    )
    series = replace(base, recurrence=Recurrence.parse("FREQ=WEEKLY;COUNT=4").with_exceptions((), [moved]))
    fitted = fit(series, FieldLimits(subject=20))
    assert fitted.recurrence is not None
    assert fitted.recurrence.overrides[0].subject == long_name[:19] + "…"
    assert fit(fitted, FieldLimits(subject=20)) == fitted  # fitting is idempotent: a shortened value is no change


def test_the_people_text_round_trips_and_never_raises_on_what_a_person_typed() -> None:
    from roomsync.model.people_text import decode_people, encode_people

    base = replace(meeting(), organizer=Person("Anna@Contoso.com", "Anna de Vries"), optional=people(["e@x.com"]))
    organizer, required, optional = decode_people(encode_people(base)) or (None, frozenset(), frozenset())
    assert organizer == base.organizer and organizer is not None and organizer.name == "Anna de Vries"
    assert (required, optional) == (base.required, base.optional)
    for garbage in (None, "", "not json", "[1, 2]", '{"o": 5}', '{"o": "not an address"}', '{"r": "abc"}'):
        assert decode_people(garbage) is None
