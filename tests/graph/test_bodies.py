"""The JSON bodies of creates and updates: exactly Graph's documented ``event`` shape (api/user-post-events.md).

They are plain JSON, not msgraph-sdk ``Event`` models (docs/performance.md, 4), so what the generated models used to
guarantee is pinned here: the extended properties as ``{id, value}``, attendees as ``{emailAddress, type}``, the
``patternedRecurrence``, wall times in the booking's zone, all-day dates, and no people invited under ``None``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from roomsync.connectors.base import Invitations
from roomsync.connectors.exchange import Attendee
from roomsync.connectors.graph import GraphClient, mapping
from roomsync.connectors.graph import recurrence as rec
from roomsync.connectors.graph.store import GraphStore, transaction_id
from roomsync.model import Booking, Link, Person, Recurrence, people
from roomsync.model.people_text import encode_people
from roomsync.sandbox.graph import GraphSandbox

from .conftest import ROOM1, ROOM2, ClientFactory, at, store_of

LINK_ID = "String {00020329-0000-0000-C000-000000000046} Name roomsync.link"
PEOPLE_ID = "String {00020329-0000-0000-C000-000000000046} Name roomsync.people"
#: 2026-03-10 08:00 UTC is 09:00 in Amsterdam (a Tuesday, before the DST change).
START = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def booking(**overrides: Any) -> Booking:
    values: dict[str, Any] = {
        "id": "RES-1",
        "subject": "Planning",
        "start": START,
        "end": START.replace(hour=9),
        "timezone": "Europe/Amsterdam",
        "organizer": Person("Alice@Example.com", "Alice A"),
        "required": people(["bob@example.com"]) | {Person("carol@example.com", "Carol")},
        "optional": frozenset({Person("dave@example.com")}),
        "rooms": frozenset({"MR-1", "MR-2"}),
    }
    values.update(overrides)
    return Booking(**values)


def resource(address: str, name: str = "") -> dict[str, Any]:
    email = {"address": address, "name": name} if name else {"address": address}
    return {"emailAddress": email, "type": "resource"}


def test_create_body_is_the_documented_event() -> None:
    attendees = mapping.attendees_for(booking(), Invitations.ALL, ["mr-2@contoso.com"])
    body = mapping.new_event(booking(), attendees, {LINK_ID: "rs2;1;fp;d;RES-1", PEOPLE_ID: "people"}, "tx-1")
    assert body == {
        "subject": "Planning",
        "start": {"dateTime": "2026-03-10T09:00:00", "timeZone": "Europe/Amsterdam"},
        "end": {"dateTime": "2026-03-10T10:00:00", "timeZone": "Europe/Amsterdam"},
        "isAllDay": False,
        "attendees": [
            resource("mr-2@contoso.com"),
            {"emailAddress": {"address": "alice@example.com", "name": "Alice A"}, "type": "required"},
            {"emailAddress": {"address": "bob@example.com"}, "type": "required"},
            {"emailAddress": {"address": "carol@example.com", "name": "Carol"}, "type": "required"},
            {"emailAddress": {"address": "dave@example.com"}, "type": "optional"},
        ],
        "singleValueExtendedProperties": [
            {"id": LINK_ID, "value": "rs2;1;fp;d;RES-1"},
            {"id": PEOPLE_ID, "value": "people"},
        ],
        "transactionId": "tx-1",
        "responseRequested": True,
    }
    assert "@odata.type" not in body and "recurrence" not in body


@pytest.mark.parametrize(
    ("policy", "people_invited"),
    [(Invitations.NONE, []), (Invitations.ORGANIZER_ONLY, ["alice@example.com"])],
)
def test_invitations_policy_decides_which_people_are_attendees(policy: Invitations, people_invited: list[str]) -> None:
    kept = [
        Attendee("projector@contoso.com", "Projector", "resource", "none"),
        Attendee("mr-2@contoso.com", "", "resource", "none"),
    ]
    attendees = mapping.attendees_for(booking(), policy, ["mr-2@contoso.com", "mr-3@contoso.com"], kept)
    rooms = [resource("mr-2@contoso.com"), resource("mr-3@contoso.com")]
    invited = [{"emailAddress": {"address": "alice@example.com", "name": "Alice A"}, "type": "required"}]
    # the rooms first, then the people the policy invites, then resources we do not manage (a room only once)
    assert attendees == [*rooms, *invited[: len(people_invited)], resource("projector@contoso.com", "Projector")]


def test_all_day_is_midnight_to_midnight_in_the_booking_zone() -> None:
    # midnight in Amsterdam is 23:00 UTC the day before
    day = booking(all_day=True, start=datetime(2026, 3, 9, 23, tzinfo=UTC), end=datetime(2026, 3, 10, 23, tzinfo=UTC))
    body = mapping.new_event(day, [], {}, "tx-2")
    assert (body["start"], body["end"], body["isAllDay"]) == (
        {"dateTime": "2026-03-10T00:00:00", "timeZone": "Europe/Amsterdam"},
        {"dateTime": "2026-03-11T00:00:00", "timeZone": "Europe/Amsterdam"},
        True,
    )


@pytest.mark.parametrize(
    ("rule", "pattern", "rng"),
    [
        ("FREQ=DAILY;COUNT=5", {"type": "daily", "interval": 1}, {"type": "numbered", "numberOfOccurrences": 5}),
        (
            "FREQ=WEEKLY;BYDAY=TU,TH;INTERVAL=2;WKST=SU;COUNT=4",
            {"type": "weekly", "interval": 2, "daysOfWeek": ["tuesday", "thursday"], "firstDayOfWeek": "sunday"},
            {"type": "numbered", "numberOfOccurrences": 4},
        ),
        (
            "FREQ=WEEKLY;UNTIL=20260601T080000Z",
            {"type": "weekly", "interval": 1, "daysOfWeek": ["tuesday"], "firstDayOfWeek": "monday"},
            {"type": "endDate", "endDate": "2026-06-01"},
        ),
        ("FREQ=MONTHLY", {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 10}, {"type": "noEnd"}),
        (
            "FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=-1",
            {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday", "tuesday"], "index": "last"},
            {"type": "noEnd"},
        ),
        (
            "FREQ=YEARLY;BYMONTH=3;BYDAY=-1FR",
            {"type": "relativeYearly", "interval": 1, "month": 3, "daysOfWeek": ["friday"], "index": "last"},
            {"type": "noEnd"},
        ),
        ("FREQ=YEARLY", {"type": "absoluteYearly", "interval": 1, "month": 3, "dayOfMonth": 10}, {"type": "noEnd"}),
    ],
)
def test_recurrence_is_the_documented_patterned_recurrence(
    rule: str, pattern: dict[str, Any], rng: dict[str, Any]
) -> None:
    recurrence = Recurrence.parse(rule)
    series = booking(recurrence=recurrence)
    body = mapping.new_event(series, [], {}, "tx-3")
    # startDate is the start's date in the series' zone (Graph checks it), the zone travels with the range
    assert body["recurrence"] == {
        "pattern": pattern,
        "range": {**rng, "startDate": "2026-03-10", "recurrenceTimeZone": "Europe/Amsterdam"},
    }
    assert rec.to_graph(recurrence, series.start, series.timezone) == body["recurrence"]


def test_content_patch_holds_only_the_changed_fields(store: GraphStore) -> None:
    single = booking(subject="Moved")
    patch, content = store._content_patch(single, {"subject"}, pattern=False)
    assert (patch, content) == ({"subject": "Moved"}, True)
    # a series that becomes a single meeting: its times, and the pattern removed with an explicit null
    patch, content = store._content_patch(single, {"start", "recurrence"}, pattern=True)
    assert patch == {
        "start": {"dateTime": "2026-03-10T09:00:00", "timeZone": "Europe/Amsterdam"},
        "end": {"dateTime": "2026-03-10T10:00:00", "timeZone": "Europe/Amsterdam"},
        "isAllDay": False,
        "recurrence": None,
    }


@pytest.mark.parametrize("batch_size", [1, 20])
async def test_sandbox_stores_what_the_body_says(
    sandbox: GraphSandbox, make_client: ClientFactory, batch_size: int
) -> None:
    # a weekly all-day series in two rooms, nobody invited: the body travels alone or in a $batch, and Exchange
    # (the sandbox, which validates it as Graph documents) keeps exactly that
    client: GraphClient = make_client(batchSize=batch_size)
    quiet = store_of(client, invitations="None")
    day = datetime.combine(at(days=1).date(), datetime.min.time(), UTC)
    weekly = Recurrence.parse("FREQ=WEEKLY;COUNT=3")
    series = booking(
        start=day,
        end=day + timedelta(days=1),
        timezone="UTC",
        all_day=True,
        recurrence=weekly,
        link=Link("RES-1", "fp1"),
    )
    await quiet.create(series)
    (stored,) = await sandbox.admin.room_events(ROOM1)
    assert stored["type"] == "seriesMaster" and stored["timeZone"] == "UTC"
    assert stored["recurrence"] == rec.to_graph(weekly, series.start, "UTC")
    assert [(a["address"], a["type"]) for a in stored["attendees"]] == [(ROOM2, "resource")]
    assert stored["transactionId"] == transaction_id("default/rooms", "RES-1", 1)
    assert stored["extendedProperties"] == {
        client.settings.link_property_id: Link("RES-1", "fp1").encode(),
        client.settings.people_property_id: encode_people(series),
    }
    log = [e for e in await sandbox.admin.log(ROOM1) if e["method"] == "POST"]
    assert [e["keys"] for e in log] == [
        [
            "attendees",
            "end",
            "isAllDay",
            "recurrence",
            "responseRequested",
            "singleValueExtendedProperties",
            "start",
            "subject",
            "transactionId",
        ]
    ]
