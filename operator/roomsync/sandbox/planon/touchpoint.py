"""What a person does at a Planon touchpoint (web, kiosk, app): book, edit and cancel reservations.

These go through the same business rules as the REST API and write only what Planon itself writes: the unit,
times, description, requestor (or external requestor) and state. A touchpoint records no attendees and never
touches the free fields, which belong to whoever configured them (RoomSync keeps its bookkeeping there).

- A booking in several units is one reservation per unit, with nothing tying them (reference planon.md §1.10:
  one reservation holds one reservation unit).
- A recurring booking is Planon's "Make recurrent" (§1.10): the first reservation is made, then a scheduled series of
  separate reservations, one per occurrence, expanded here with dateutil in the property's time zone. How Planon's
  REST API shows that the reservations belong together is not public; the emulator's choice is the read-only
  reference field ``RecurrentReservationRef``: the syscode of the reservation the series was made from, on every
  reservation of the series (that one included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from roomsync.sandbox.planon.definitions import business_error, check_length
from roomsync.sandbox.planon.model import CANCELLED, EDITABLE, STATES, TRANSITIONS, Reservation, stamp, touch
from roomsync.sandbox.planon.state import SandboxState

#: "Make recurrent" offers Daily, Weekly and Monthly patterns that end after a number of occurrences or on a date.
RECURRING_FREQUENCIES: Final = frozenset({"DAILY", "WEEKLY", "MONTHLY"})
#: The most reservations one "Make recurrent" makes (the emulator's bound; Planon's is not public).
MAX_RECURRENT: Final = 500


def book(
    state: SandboxState,
    *,
    units: Sequence[str],
    start: datetime,
    end: datetime,
    subject: str,
    requestor: str | None = None,
    external_requestor: str | None = None,
    recurrence: str | None = None,
    state_name: str = "UsrReservationConfirmed",
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
    check_length("Description", subject)
    check_length("ExternalRequestor", external_requestor)
    now = stamp()
    created: list[tuple[Reservation, bool]] = []  # (reservation, made recurrent)
    for unit in resolved:
        zone = ZoneInfo(state.properties[unit.property_ref].time_zone)
        slots = _recurrent_slots(recurrence, start, end, zone) if recurrence else [(start, end)]
        for index, (begin, finish) in enumerate(slots):
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
                inserted=now,
                changed=now,
                source=source,
            )
            state.check(reservation, ignore=None, answered=frozenset({"PN_H00512"}), now=now)
            for other, _ in created:
                if other.unit_ref == reservation.unit_ref and other.overlaps(reservation.begin, reservation.end):
                    raise business_error("PN_R00101", f"{unit.code} is not available: the occurrences overlap")
            created.append((reservation, bool(recurrence) and index == 0))
    first: Reservation | None = None
    for reservation, made_recurrent in created:
        reservation.syscode = state.next_syscode()
        if recurrence:
            first = reservation if made_recurrent else first
            assert first is not None
            reservation.recurrent_ref = first.syscode
        state.reservations[reservation.syscode] = reservation
    return [r for r, _ in created]


def _recurrent_slots(rule: str, start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """The occurrences "Make recurrent" schedules: the pattern's local wall times in the property's zone."""
    text = rule.strip().upper().removeprefix("RRULE:")
    parts = dict(p.partition("=")[::2] for p in text.split(";") if p)
    if parts.get("FREQ") not in RECURRING_FREQUENCIES:
        raise business_error("PN_R00111", "A recurring reservation repeats daily, weekly or monthly")
    if "COUNT" not in parts and "UNTIL" not in parts:
        raise business_error("PN_R00110", "A recurring reservation needs an end date or a number of occurrences")
    local_start = start.astimezone(zone).replace(tzinfo=None)
    try:
        pattern = rrulestr(text, dtstart=local_start, ignoretz=True)
    except ValueError as exc:
        raise business_error("PN_R00111", f"The recurrence pattern is not valid: {exc}") from None
    duration = end - start
    slots: list[tuple[datetime, datetime]] = []
    for local in pattern:
        if len(slots) >= MAX_RECURRENT:
            raise business_error("PN_R00112", f"A recurring reservation has at most {MAX_RECURRENT} occurrences")
        begin = local.replace(tzinfo=zone).astimezone(UTC)
        slots.append((begin, begin + duration))
    if not slots:
        raise business_error("PN_R00111", "The recurrence pattern gives no occurrence")
    return slots


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
        check_length("Description", copy.description)
    if "unit" in changes:
        unit = state.unit_by_code(str(changes["unit"]))
        if unit is None:
            raise business_error("PN_E00201", f"Reservation unit {changes['unit']} does not exist")
        copy.unit_ref, copy.property_ref = unit.syscode, unit.property_ref
    for name, value in dict(changes.get("fields", {})).items():
        check_length(name, value)
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
        state.reservations.refresh(r)
    return reservations


def person_changes(state: SandboxState, change: Mapping[str, Any]) -> list[Reservation]:
    """One person's change: a state change when ``change`` names a ``state``, otherwise an :func:`edit`."""
    syscode = int(change["syscode"])
    if "state" in change:
        return transition(state, [syscode], str(change["state"]))
    return [edit(state, syscode, change)]


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
        "recurrentReservation": r.recurrent_ref,
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
