"""A meeting bigger than Planon's fields is reserved with shortened text, never refused as a whole.

Planon's Description and free fields have a length (``spec.planon.fieldLengths``); the sandbox refuses a longer
value as Planon does. The connector writes exactly ``fit(booking, capabilities.limits)`` with a visible marker, so
what it reads back is what the engine expects the narrower side to hold.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from roomsync.connectors.base import BookingRefused
from roomsync.connectors.planon import PlanonClient, PlanonStore
from roomsync.connectors.planon.texts import format_attendees
from roomsync.connectors.registry import StoreOptions
from roomsync.model import Booking, FieldLimits, Person, Window, fingerprint, fit, people
from roomsync.sandbox.planon import PlanonSandbox
from tests.planon.conftest import ROOMS, ClientFactory, monday

CROWD = people(f"colleague.{n:03d}@example.com" for n in range(300))
GUESTS = people(f"guest.{n:02d}@partner.example" for n in range(40))
SUBJECT = "All-hands: results of the year, plans for the next, the office move, and questions from every site"


def town_hall(**changes: object) -> Booking:
    start = monday(hour=15)
    booking = Booking(
        id="cal-th",
        subject=SUBJECT + " (long)",
        start=start,
        end=start + timedelta(hours=1),
        timezone="Europe/Amsterdam",
        organizer=Person("ben.smith@example.com"),
        required=CROWD,
        optional=GUESTS,
        rooms=frozenset({"AMS-2.01"}),
    )
    return replace(booking, **changes)  # type: ignore[arg-type]


async def test_a_town_hall_is_reserved_with_the_text_that_fits_and_a_marker(
    store: PlanonStore, client: PlanonClient, sandbox: PlanonSandbox
) -> None:
    desired = town_hall()
    await store.create(desired)
    (stored,) = await sandbox.admin.reservations("AMS-2.01")
    limits = client.capabilities.limits
    fitted = fit(desired, limits)
    assert stored["description"] == fitted.subject and len(fitted.subject) <= 100 and fitted.subject.endswith("…")
    text = stored["fields"]["FreeText2"]
    assert len(text) <= 2000 and text.startswith("Required: colleague.000@example.com, ")
    left_out = len(CROWD) + len(GUESTS) - len(fitted.required) - len(fitted.optional)
    assert fitted.optional == frozenset() and text.splitlines()[-1] == f"… and {left_out} more"
    window = Window(desired.start - timedelta(days=1), desired.end + timedelta(days=1))
    (read,) = (await store.read(window, full=True)).bookings
    assert (read.subject, read.required, read.optional) == (fitted.subject, fitted.required, fitted.optional)
    assert fingerprint(fit(read, limits), window) == fingerprint(fit(desired, limits), window)


async def test_field_lengths_are_the_tenants(make_client: ClientFactory, sandbox: PlanonSandbox) -> None:
    client = make_client(fieldLengths={"description": 40, "attendees": 500})
    assert client.capabilities.limits.subject == 40 and client.capabilities.limits.attendees is not None
    store = client.store(ROOMS, StoreOptions("default/rs"))
    await store.create(town_hall())
    (stored,) = await sandbox.admin.reservations("AMS-2.01")
    assert len(stored["description"]) <= 40 and len(stored["fields"]["FreeText2"]) <= 500


async def test_planon_refuses_what_is_longer_than_its_field_naming_it(
    make_client: ClientFactory, sandbox: PlanonSandbox
) -> None:
    """A tenant whose Description is shorter than ``fieldLengths`` says: Planon's 422 names the field."""
    store = make_client(fieldLengths={"description": 200}).store(ROOMS, StoreOptions("default/rs"))
    with pytest.raises(BookingRefused, match="Description holds at most 100 characters") as refused:
        await store.create(town_hall(required=frozenset(), optional=frozenset()))
    assert refused.value.code == "PN_E00014"
    assert await sandbox.admin.reservations() == []


@pytest.mark.parametrize("count", [1, 7, 60, 400, 5000])
@pytest.mark.parametrize("field_length", [100, 2000])
def test_the_attendee_text_never_exceeds_its_field(count: int, field_length: int) -> None:
    from roomsync.connectors.planon.texts import field_limits

    limits = field_limits(100, field_length)
    required = people(f"r{n}.someone@example.com" for n in range(count))
    optional = people(f"o{n}@ex.io" for n in range(count // 2 + 1))
    booking = Booking("x", "s", monday(), monday() + timedelta(hours=1), required=required, optional=optional)
    fitted = fit(booking, limits)
    left_out = len(required) + len(optional) - len(fitted.required) - len(fitted.optional)
    assert len(format_attendees(fitted.required, fitted.optional, left_out)) <= field_length
    assert isinstance(limits, FieldLimits) and limits.attendees is not None and limits.attendees < field_length
