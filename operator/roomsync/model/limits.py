"""What a side can hold, and a booking shortened to fit it.

Planon keeps a subject in a Description field of limited length and attendees in a free text field; a 300-person
town hall does not fit. Refusing such a booking would leave the room unreserved in Planon although it is booked in
the calendar, so the narrower side keeps a shortened value instead. The shortening is a pure function of the booking
and the limits, so both sides compare what the narrower one can hold: a shortened value read back is not a change,
and the next cycle never pushes the short text back to the calendar.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from roomsync.model.booking import Booking, Person

#: Ends a subject that was cut to fit; a person reading Planon sees that there is more.
ELLIPSIS = "…"


@dataclass(frozen=True)
class FieldLimits:
    """Lengths a side can store; ``None`` = unlimited.

    ``attendees`` counts the characters of the addresses, required first, each sorted, as ``len(email) + 2`` (an
    address and its separator): the connector that stores them reserves room for its own labels and marker.
    """

    subject: int | None = None
    attendees: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.subject is None and self.attendees is None

    def narrowest(self, other: FieldLimits) -> FieldLimits:
        return FieldLimits(_least(self.subject, other.subject), _least(self.attendees, other.attendees))


NO_LIMITS = FieldLimits()


def fit(booking: Booking, limits: FieldLimits) -> Booking:
    """``booking`` as a side with ``limits`` holds it: subject cut with :data:`ELLIPSIS`, the attendees that fit."""
    if limits.unlimited:
        return booking
    subject = fit_subject(booking.subject, limits.subject)
    required, optional = fit_attendees(booking.required, booking.optional, limits.attendees)
    recurrence = booking.recurrence
    if recurrence is not None and limits.subject is not None:
        overrides = tuple(
            replace(o, subject=fit_subject(o.subject, limits.subject)) if o.subject else o for o in recurrence.overrides
        )
        if overrides != recurrence.overrides:
            recurrence = replace(recurrence, overrides=overrides)
    unchanged = required is booking.required and optional is booking.optional and recurrence is booking.recurrence
    if subject == booking.subject and unchanged:
        return booking
    return replace(booking, subject=subject, required=required, optional=optional, recurrence=recurrence)


def fit_subject(subject: str, limit: int | None) -> str:
    if limit is None or len(subject) <= limit:
        return subject
    if limit < 1:
        return ""
    return subject[: limit - 1].rstrip() + ELLIPSIS


def fit_attendees(
    required: frozenset[Person], optional: frozenset[Person], limit: int | None
) -> tuple[frozenset[Person], frozenset[Person]]:
    """The attendees that fit in ``limit`` characters, required before optional, each in address order."""
    if limit is None or sum(len(p.email) + 2 for group in (required, optional) for p in group) <= limit:
        return required, optional
    budget = limit
    kept: list[list[Person]] = [[], []]
    for index, group in enumerate((required, optional)):
        for person in sorted(group, key=lambda p: p.email):
            cost = len(person.email) + 2
            if cost > budget:
                budget = -1  # keep the order strict: once one does not fit, no later (shorter) one is kept
                break
            budget -= cost
            kept[index].append(person)
    fitted_required = required if len(kept[0]) == len(required) else frozenset(kept[0])
    fitted_optional = optional if len(kept[1]) == len(optional) else frozenset(kept[1])
    return fitted_required, fitted_optional


def shortened(booking: Booking, limits: FieldLimits) -> list[str]:
    """What :func:`fit` drops, in words for a status note (empty when the booking fits)."""
    fitted = fit(booking, limits)
    notes = []
    if fitted.subject != booking.subject or fitted.recurrence != booking.recurrence:
        notes.append(f"subject cut to {limits.subject} characters")
    dropped = len(booking.required) + len(booking.optional) - len(fitted.required) - len(fitted.optional)
    if dropped:
        notes.append(f"{dropped} attendee(s) left out")
    return notes


def _least(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
