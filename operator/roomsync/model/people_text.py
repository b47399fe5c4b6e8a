"""Who a room-organised meeting is for: RoomSync's text for it, the same on every calendar backend.

A meeting made in Planon is organised in the calendar by a room (the room's calendar holds it; the person booked it
in Planon), so the person and the attendees travel beside it in a property of RoomSync's own, the way Outlook shows
"on behalf of". One format everywhere (like the link), so a room that moves from EWS to Graph, or a copy read
through another backend, keeps who it is for::

    {"o": "anna@contoso.com", "n": "Anna de Vries", "r": ["ben@contoso.com"], "p": []}
"""

from __future__ import annotations

import json

from roomsync.model.booking import Booking, Person

People = tuple[Person | None, frozenset[Person], frozenset[Person]]


def encode_people(booking: Booking) -> str:
    """The organizer (with display name), required and optional attendees as compact JSON."""
    data = {
        "o": booking.organizer.email if booking.organizer else None,
        "n": booking.organizer.name if booking.organizer else "",
        "r": sorted(p.email for p in booking.required),
        "p": sorted(p.email for p in booking.optional),
    }
    return json.dumps(data, separators=(",", ":"))


def decode_people(text: str | None) -> People | None:
    """Parse :func:`encode_people` output; ``None`` for empty or unreadable text (never raises on user data)."""
    if not text:
        return None
    try:
        data = json.loads(text)
        organizer = Person(data["o"], data.get("n") or "") if data.get("o") else None
        return (
            organizer,
            frozenset(Person(e) for e in data.get("r", [])),
            frozenset(Person(e) for e in data.get("p", [])),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
