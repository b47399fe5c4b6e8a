"""What a person does at a Planon touchpoint (web, kiosk, app): book, edit and cancel reservations.

These go through the same business rules as the REST API. A multi-room booking becomes one reservation per unit
tied by a meeting id, and a recurring booking one reservation per occurrence, with the series written to the free
fields in the format RoomSync documents (:mod:`roomsync.connectors.planon.texts`) - emulating the tenant-side
configuration docs/planon.md asks a Planon administrator to make for series and multi-room reservations.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from roomsync.connectors.planon.texts import SeriesText, format_attendees, format_occurrence
from roomsync.model import Recurrence, people
from roomsync.sandbox.planon.definitions import business_error
from roomsync.sandbox.planon.model import CANCELLED, EDITABLE, STATES, TRANSITIONS, Reservation, touch
from roomsync.sandbox.planon.state import SandboxState


@dataclass(frozen=True)
class FreeFields:
    """Where series, occurrence, meeting and attendee data live (the connector's documented defaults)."""

    meeting: str = "FreeString1"
    occurrence: str = "FreeString2"
    link: str = "FreeText1"
    attendees: str = "FreeText2"
    series: str = "FreeText3"


_meeting_ids = itertools.count(1)


def book(
    state: SandboxState,
    *,
    units: Sequence[str],
    start: datetime,
    end: datetime,
    subject: str,
    requestor: str | None = None,
    external_requestor: str | None = None,
    required: Sequence[str] = (),
    optional: Sequence[str] = (),
    recurrence: str | None = None,
    time_zone: str | None = None,
    state_name: str = "UsrReservationConfirmed",
    fields: FreeFields = FreeFields(),
    source: str = "Kiosk",
) -> list[Reservation]:
    """All reservations of one booking, created together or not at all (422 ``ApiError`` when refused)."""
    if not units:
        raise business_error("PN_E00001", "Choose at least one reservation unit")
    resolved = []
    for code in units:
        unit = state.unit_by_code(code)
        if unit is None:
            raise business_error("PN_E00201", f"Reservation unit {code} does not exist")
        resolved.append(unit)
    person = state.person_by_email(requestor) if requestor else None
    if requestor and person is None and external_requestor is None:
        external_requestor = requestor
    zone_name = time_zone or state.properties[resolved[0].property_ref].time_zone
    free: dict[str, str | None] = {}
    slots: list[tuple[datetime | None, datetime, datetime]] = [(None, start, end)]
    if recurrence:
        rule = Recurrence.parse(recurrence)
        if rule.open_ended:
            raise business_error("PN_R00110", "A recurring reservation needs an end date or a number of occurrences")
        slots = [
            (o.original_start, o.start, o.end)
            for o in rule.occurrences(
                start, end - start, zone_name, start - timedelta(days=1), start + timedelta(days=3660)
            )
        ]
        free[fields.series] = SeriesText(zone_name, start, end - start, rule).format()
    if len(units) > 1 or recurrence:
        free[fields.meeting] = f"PLN-{next(_meeting_ids)}"
    if required or optional:
        free[fields.attendees] = format_attendees(people(required), people(optional))
    now = datetime.now(UTC)
    created: list[Reservation] = []
    for unit in resolved:
        for original, begin, finish in slots:
            reservation = Reservation(
                syscode=0,
                begin=begin,
                end=finish,
                description=subject,
                unit_ref=unit.syscode,
                property_ref=unit.property_ref,
                order_group_ref=unit.order_group_ref,
                requestor_ref=person.syscode if person else None,
                external_requestor=external_requestor,
                state=state_name,
                free=dict(free) | ({fields.occurrence: format_occurrence(original)} if original else {}),
                inserted=now,
                changed=now,
                source=source,
            )
            state.check(reservation, ignore=None, answered=frozenset({"PN_H00512"}), now=now)
            for other in created:
                if other.unit_ref == reservation.unit_ref and other.overlaps(reservation.begin, reservation.end):
                    raise business_error("PN_R00101", f"{unit.code} is not available: the occurrences overlap")
            created.append(reservation)
    for reservation in created:
        reservation.syscode = state.next_syscode()
        state.reservations[reservation.syscode] = reservation
    return created


def edit(state: SandboxState, syscode: int, changes: Mapping[str, Any]) -> Reservation:
    """Change start, end, subject or unit of one reservation, as a person editing it in Planon would."""
    current = _get(state, syscode)
    if current.state not in EDITABLE:
        raise business_error("PN_E00310", f"Reservation {syscode} cannot be changed in its state")
    copy = Reservation(**{**current.__dict__, "free": dict(current.free), "corrupt": dict(current.corrupt)})
    if "start" in changes:
        copy.begin = _instant(changes["start"])
    if "end" in changes:
        copy.end = _instant(changes["end"])
    if "subject" in changes:
        copy.description = str(changes["subject"])
    if "unit" in changes:
        unit = state.unit_by_code(str(changes["unit"]))
        if unit is None:
            raise business_error("PN_E00201", f"Reservation unit {changes['unit']} does not exist")
        copy.unit_ref, copy.property_ref = unit.syscode, unit.property_ref
    for name, value in dict(changes.get("fields", {})).items():
        copy.free[name] = value
    state.check(copy, ignore={syscode}, answered=frozenset({"PN_H00512"}), now=datetime.now(UTC))
    touch(copy)
    state.reservations[syscode] = copy
    return copy


def transition(state: SandboxState, syscodes: Sequence[int], target: str = CANCELLED) -> list[Reservation]:
    reservations = [_get(state, s) for s in syscodes]
    if target not in STATES:
        raise business_error("PN_E00405", f"State {target} does not exist")
    for r in reservations:
        if target not in TRANSITIONS[r.state]:
            raise business_error("PN_E00301", f"Reservation {r.syscode} cannot go from {r.state} to {target}")
    for r in reservations:
        r.state = target
        touch(r)
    return reservations


def view(state: SandboxState, r: Reservation) -> dict[str, Any]:
    """A reservation for admin answers: UTC ISO times and codes instead of syscodes."""
    unit = state.units.get(r.unit_ref)
    person = state.persons.get(r.requestor_ref) if r.requestor_ref else None
    return {
        "syscode": r.syscode,
        "unit": unit.code if unit else None,
        "start": r.begin.astimezone(UTC).isoformat(),
        "end": r.end.astimezone(UTC).isoformat(),
        "description": r.description,
        "state": r.state,
        "requestor": person.email if person else None,
        "externalRequestor": r.external_requestor,
        "fields": {k: v for k, v in r.free.items() if v is not None},
        "source": r.source,
        "changed": r.changed.isoformat(),
    }


def _get(state: SandboxState, syscode: int) -> Reservation:
    found = state.reservations.get(int(syscode))
    if found is None:
        raise business_error("PN_E00404", f"Reservation {syscode} does not exist")
    return found


def _instant(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise business_error("PN_E00012", f"{value!r} needs an offset")
    return moment.astimezone(UTC)
