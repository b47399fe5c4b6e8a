"""How Google's room resources answer invitations, emulated.

Inviting a room (an attendee whose address is a room calendar) puts a copy of the event on the room's calendar:
same ``iCalUID``, its own ``id`` (the emulator's choice; RoomSync never assumes the ids match), the organizer's
content, and the room's answer in its own ``attendees`` entry, mirrored into the organizer's event:

- ``autoAccept`` ("Auto-accept invitations that do not conflict"): accepted when free, declined on a conflict. A
  series is accepted with its conflicting occurrences declined one by one, unless more than
  ``series_decline_above`` occurrences (or more than ``series_decline_fraction`` of them) conflict: then the whole
  series is declined. A declined room is replaced by a similar one (same building, same or larger capacity, the
  same features, at most 70 seats) when the room has auto-replacement on.
- ``addAll`` ("Automatically add all invitations to this calendar"): the copy waits with ``needsAction`` until the
  room's manager (or RoomSync, when Planon leads) answers on the copy with ``attendeesOmitted``.

Organizer changes reach the copies; an organizer's time change makes an auto-accepting room decide again; a room
taken off the attendee list, or a deleted meeting, leaves a cancelled copy.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from roomsync.sandbox.google import times
from roomsync.sandbox.google.model import Calendar, new_id

if TYPE_CHECKING:
    from roomsync.sandbox.google.calendars import Calendars

SHARED_FIELDS = (
    "status",
    "summary",
    "description",
    "location",
    "start",
    "end",
    "recurrence",
    "iCalUID",
    "organizer",
    "creator",
    "sequence",
    "transparency",
    "guestsCanModify",
    "created",
    "eventType",
    "_s",
    "_e",
    "_allday",
    "_tz",
)
MAX_REPLACEMENT_CAPACITY = 70


class Rooms:
    def __init__(self, calendars: Calendars) -> None:
        self.calendars = calendars

    # -- the organizer's event reaching the rooms ---------------------------------------------------------------
    def propagate(
        self, organizer: Calendar, event: dict[str, Any], *, time_changed: bool = True, replacing: bool = True
    ) -> None:
        if event.get("_origin") or event.get("recurringEventId"):
            return
        copies: dict[str, str] = event.setdefault("_copies", {})
        wanted = {
            a["email"]
            for a in event.get("attendees") or []
            if a["email"] != organizer.id and (room := self.calendars.calendars.get(a["email"])) and room.kind == "room"
        }
        if event["status"] == "cancelled":
            wanted = set()
        for room_id in sorted(set(copies) - wanted):
            room = self.calendars.calendars[room_id]
            stale = room.events.get(copies.pop(room_id))
            if stale is not None and stale["status"] != "cancelled":
                stale["status"] = "cancelled"
                self.calendars.touch(room, stale)
        declined: list[Calendar] = []
        for room_id in sorted(wanted):
            room = self.calendars.calendars[room_id]
            answer = self._deliver(organizer, event, room, time_changed=time_changed)
            if answer == "declined" and room.auto_replace and not event.get("recurrence") and replacing:
                declined.append(room)
        for room in declined:
            self._replace(organizer, event, room)

    def _deliver(self, organizer: Calendar, event: dict[str, Any], room: Calendar, *, time_changed: bool) -> str:
        copies = event["_copies"]
        existing = room.events.get(copies.get(room.id, ""))
        fresh = existing is None or (existing["status"] == "cancelled" and event["status"] != "cancelled")
        if existing is None:
            existing = {"id": new_id(), "_origin": (organizer.id, event["id"]), "extendedProperties": {}}
            copies[room.id] = existing["id"]
            room.events[existing["id"]] = existing
        own = _own(existing, room.id)
        for key in SHARED_FIELDS:
            if key in event:
                existing[key] = copy.deepcopy(event[key])
            else:
                existing.pop(key, None)
        existing["attendees"] = copy.deepcopy(event.get("attendees") or [])
        shared = (event.get("extendedProperties") or {}).get("shared")
        private = (existing.get("extendedProperties") or {}).get("private")
        existing["extendedProperties"] = {k: v for k, v in (("private", private), ("shared", shared)) if v}
        if fresh or time_changed:  # the room decides again, occurrence by occurrence too
            for record in list(self.calendars.exceptions(room, existing["id"]).values()):
                if record.get("_roomdecline"):
                    del room.events[record["id"]]
        self._copy_exceptions(organizer, event, room, existing)
        if fresh or time_changed:
            answer, comment, declined_instances = self._decide(room, existing, own if not fresh else None)
        else:
            answer, comment, declined_instances = (
                (own or {}).get("responseStatus", "needsAction"),
                (own or {}).get("comment", ""),
                [],
            )
        previous = None if fresh else (own or {}).get("responseStatus")
        self._set_own(existing, room.id, answer, comment)
        for instance in declined_instances:
            record = self.calendars.virtual_instance(existing, instance)
            record.pop("_virtual")
            record["_roomdecline"] = True
            self._set_own(record, room.id, "declined", "")
            self.calendars.touch(room, record)
            room.events[record["id"]] = record
        self.calendars.touch(room, existing)
        if answer != previous:
            self._mirror(organizer, event, room.id, answer, comment)
            self._log(room, existing, answer, comment, "resource")
        return answer

    def _copy_exceptions(
        self, organizer: Calendar, event: dict[str, Any], room: Calendar, copy_event: dict[str, Any]
    ) -> None:
        theirs = self.calendars.exceptions(organizer, event["id"])
        mine = self.calendars.exceptions(room, copy_event["id"])
        for original, record in mine.items():
            if original not in theirs and not record.get("_roomdecline"):
                del room.events[record["id"]]  # no longer an occurrence of the series
        for original, record in theirs.items():
            stamp = times.instance_stamp(original, event["_allday"], event["_tz"])
            target_id = f"{copy_event['id']}_{stamp}"
            target = copy.deepcopy(record)
            target["id"], target["recurringEventId"] = target_id, copy_event["id"]
            target["_origin"] = (organizer.id, record["id"])
            target.pop("_copies", None)
            old = room.events.get(target_id)
            if old is not None and {k: old.get(k) for k in ("status", "_s", "_e", "summary")} == {
                k: target.get(k) for k in ("status", "_s", "_e", "summary")
            }:
                continue
            self.calendars.touch(room, target)
            room.events[target_id] = target

    def _decide(self, room: Calendar, event: dict[str, Any], own: dict[str, Any] | None) -> tuple[str, str, list[Any]]:
        """(answer, comment, occurrences declined one by one) for a copy that is new or moved."""
        if room.booking != "autoAccept":
            return (own or {}).get("responseStatus", "needsAction"), (own or {}).get("comment", ""), []
        settings = self.calendars.settings
        if not event.get("recurrence"):
            if any(True for _ in self.calendars.occupied(room, event["_s"], event["_e"], event["iCalUID"])):
                return "declined", "", []
            return "accepted", "", []
        wanted = [
            i
            for i in self.calendars.instances(room, event, event["_s"], event["_s"] + times.HORIZON)
            if i["status"] != "cancelled"
        ]
        if not wanted:
            return "accepted", "", []
        lo, hi = min(i["_s"] for i in wanted), max(i["_e"] for i in wanted)
        busy = list(self.calendars.occupied(room, lo, hi, event["iCalUID"]))
        clashes = [i["_o"] for i in wanted if any(s < i["_e"] and i["_s"] < e for s, e in busy)]
        fraction = settings.series_decline_fraction
        if len(clashes) > settings.series_decline_above or (
            fraction is not None and clashes and len(clashes) > fraction * len(wanted)
        ):
            return "declined", "", []
        return "accepted", "", clashes

    def _replace(self, organizer: Calendar, event: dict[str, Any], declined: Calendar) -> None:
        if (declined.capacity or 0) > MAX_REPLACEMENT_CAPACITY or declined.category != "CONFERENCE_ROOM":
            return
        taken = {a["email"] for a in event.get("attendees") or []}
        candidates = sorted(
            (
                c
                for c in self.calendars.calendars.values()
                if c.kind == "room"
                and c.id not in taken
                and c.building == declined.building
                and c.category == "CONFERENCE_ROOM"
                and (c.capacity or 0) >= (declined.capacity or 0)
                and set(declined.features) <= set(c.features)
                and not any(True for _ in self.calendars.occupied(c, event["_s"], event["_e"], event["iCalUID"]))
            ),
            key=lambda c: (c.capacity or 0, c.id),
        )
        if not candidates:
            return
        replacement = candidates[0]
        event["attendees"] = [
            {"email": replacement.id, "resource": True, "optional": False, "responseStatus": "needsAction"}
            if a["email"] == declined.id
            else a
            for a in event["attendees"]
        ]
        self.calendars.touch(organizer, event)
        self._log(declined, event, "replaced", replacement.id, "replaced")
        self.propagate(organizer, event, time_changed=False, replacing=False)

    # -- a room's answer written on its copy ------------------------------------------------------------------
    def answer(self, room: Calendar, copy_event: dict[str, Any], response: str, comment: str, *, by: str) -> None:
        target = copy_event
        if copy_event.get("_virtual"):  # an answer for one occurrence becomes an exception of the copy
            copy_event.pop("_virtual")
            room.events[copy_event["id"]] = copy_event
        self._set_own(target, room.id, response, comment)
        self.calendars.touch(room, target)
        self._log(room, target, response, comment, by)
        if by != "writer" or self.calendars.settings.response_propagates:
            origin_calendar, origin_id = target["_origin"]
            organizer = self.calendars.calendars[origin_calendar]
            event = organizer.events.get(origin_id)
            if event is not None:
                self._mirror(organizer, event, room.id, response, comment)

    def _mirror(self, organizer: Calendar, event: dict[str, Any], room_id: str, response: str, comment: str) -> None:
        for attendee in event.get("attendees") or []:
            if attendee["email"] == room_id and (attendee.get("responseStatus"), attendee.get("comment", "")) != (
                response,
                comment,
            ):
                self._set_own(event, room_id, response, comment)
                self.calendars.touch(organizer, event)
                return

    @staticmethod
    def _set_own(event: dict[str, Any], room_id: str, response: str, comment: str) -> None:
        for attendee in event.get("attendees") or []:
            if attendee["email"] == room_id:
                attendee["responseStatus"] = response
                if comment:
                    attendee["comment"] = comment
                else:
                    attendee.pop("comment", None)
                return
        event.setdefault("attendees", []).append({"email": room_id, "resource": True, "responseStatus": response})

    def _log(self, room: Calendar, event: dict[str, Any], response: str, comment: str, by: str) -> None:
        self.calendars.responses.append(
            {
                "room": room.id,
                "iCalUID": event.get("iCalUID"),
                "eventId": event["id"],
                "response": response,
                "comment": comment,
                "by": by,
                "at": times.rfc3339(self.calendars.now()),
            }
        )


def _own(event: dict[str, Any], room_id: str) -> dict[str, Any] | None:
    return next((dict(a) for a in event.get("attendees") or [] if a["email"] == room_id), None)
