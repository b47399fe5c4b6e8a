"""What Planon sends RoomSync's trigger endpoint when a reservation changes.

Planon has no stock webhook (planon.md 1.12): an Event Connector app (a business rule on the reservation's save
creates an outbound message) or a scheduled action posts to the endpoint. The contract is RoomSync's own
(docs/planon.md): ``POST`` with ``Authorization: Bearer <token>`` and an optional JSON body naming the reservation
unit(s) that changed::

    {"reservationUnit": "AMS-1.01"}                 # or
    {"reservationUnits": ["AMS-1.01", "AMS-1.02"]}   # an empty body or no unit: every room of the Connection

Nothing else in the body is used: the rooms named are read from Planon as a poll would read them.
"""

from __future__ import annotations

import json

from roomsync.connectors.push import Inbound, Notice, Received, UnreadableNotification


def read_notices(request: Inbound) -> Received:
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    secret = token.strip() if scheme.casefold() == "bearer" else ""
    units: list[str] = []
    if request.body.strip():
        try:
            payload = json.loads(request.body)
        except ValueError as error:
            raise UnreadableNotification(f"the body is not JSON: {error}") from error
        if not isinstance(payload, dict):
            raise UnreadableNotification("expected a JSON object with reservationUnit or reservationUnits")
        one, many = payload.get("reservationUnit"), payload.get("reservationUnits")
        if one is not None:
            if not isinstance(one, str) or not one.strip():
                raise UnreadableNotification("reservationUnit must be a reservation unit code")
            units.append(one.strip())
        if many is not None:
            if not isinstance(many, list) or not all(isinstance(u, str) and u.strip() for u in many):
                raise UnreadableNotification("reservationUnits must be a list of reservation unit codes")
            units += [u.strip() for u in many]
    return Received(notices=(Notice(secret=secret, rooms=tuple(dict.fromkeys(units))),))
