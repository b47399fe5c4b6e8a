"""Calendar operations of the emulated domain, shared by the Calendar API and the admin ("a person in Google
Calendar") endpoints: insert, import, patch, delete, move, instances, with the room simulation of
:mod:`roomsync.sandbox.google.rooms` run after every change of an organizer's event.

Series are kept as Google keeps them: a master with ``recurrence`` lines, and instance records (``id`` =
``<master>_<stamp>``, ``recurringEventId``, ``originalStartTime``) for modified or cancelled occurrences; every other
occurrence is virtual and expanded on demand.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from roomsync.sandbox.google import times
from roomsync.sandbox.google.model import (
    Calendar,
    Settings,
    busy_response,
    limited_properties,
    new_etag,
    new_id,
    set_times,
    valid_client_id,
)

UTC = UTC
MAIN_FIELDS = ("summary", "description", "location", "start", "end", "recurrence", "transparency")


class ApiError(Exception):
    """An answer in Google's error shape: ``{"error": {"code", "message", "errors": [{domain, reason, ...}]}}``."""

    def __init__(self, status: int, reason: str, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.location = status, reason, message, location

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"domain": "global", "reason": self.reason, "message": self.message}
        if self.reason in ("userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded"):
            error["domain"] = "usageLimits"
        if self.location:
            error["locationType"] = "header" if self.location in ("If-Match", "Authorization") else "parameter"
            error["location"] = self.location
        return {"error": {"errors": [error], "code": self.status, "message": self.message}}


def bad(message: str, location: str | None = None) -> ApiError:
    return ApiError(400, "invalid", message, location=location)


class Calendars:
    """Every calendar of the domain and the operations on their events."""

    def __init__(self, settings: Settings, now: Callable[[], datetime]) -> None:
        self.calendars: dict[str, Calendar] = {}
        self.settings = settings
        self.now = now
        #: Every answer a room gave: {room, iCalUID, eventId, response, comment, by (resource|writer|replaced)}
        self.responses: list[dict[str, Any]] = []
        from roomsync.sandbox.google.rooms import Rooms

        self.rooms = Rooms(self)

    # -- directory ------------------------------------------------------------------------------------------------
    def calendar(self, calendar_id: str) -> Calendar:
        found = self.calendars.get(calendar_id.strip().casefold())
        if found is None:
            raise ApiError(404, "notFound", "Not Found")
        return found

    def add(self, calendar: Calendar) -> Calendar:
        calendar.id = calendar.id.strip().casefold()
        self.calendars[calendar.id] = calendar
        return calendar

    # -- reading ----------------------------------------------------------------------------------------------------
    def find(self, calendar: Calendar, event_id: str) -> dict[str, Any]:
        """A stored event or instance record, or a virtual instance (``<master>_<stamp>``) materialised."""
        event = calendar.events.get(event_id)
        if event is not None:
            return event
        master_id, _, stamp = event_id.rpartition("_")
        master = calendar.events.get(master_id)
        if master is not None and master.get("recurrence") and master["status"] != "cancelled":
            for original in self.original_starts(master):
                if times.instance_stamp(original, master["_allday"], master["_tz"]) == stamp:
                    return self.virtual_instance(master, original)
        raise ApiError(404, "notFound", "Not Found")

    def original_starts(self, master: dict[str, Any], until: datetime | None = None) -> list[datetime]:
        rule = times.Rule.parse(master["recurrence"])
        limit = until or (max(master["_s"], self.now()) + times.HORIZON)
        return rule.starts(master["_s"], master["_allday"], master["_tz"], limit)

    def exceptions(self, calendar: Calendar, master_id: str) -> dict[datetime, dict[str, Any]]:
        return {e["_o"]: e for e in calendar.events.values() if e.get("recurringEventId") == master_id}

    def virtual_instance(self, master: dict[str, Any], original: datetime) -> dict[str, Any]:
        duration = master["_e"] - master["_s"]
        instance = {k: copy.deepcopy(v) for k, v in master.items() if k not in ("recurrence", "_copies")}
        instance["id"] = f"{master['id']}_{times.instance_stamp(original, master['_allday'], master['_tz'])}"
        instance["recurringEventId"] = master["id"]
        instance["originalStartTime"] = times.render_when(original, master["_allday"], master["_tz"])
        instance["start"] = times.render_when(original, master["_allday"], master["_tz"])
        instance["end"] = times.render_when(original + duration, master["_allday"], master["_tz"])
        instance["_s"], instance["_e"], instance["_o"] = original, original + duration, original
        instance["_virtual"] = True
        return instance

    def instances(self, calendar: Calendar, master: dict[str, Any], lo: datetime, hi: datetime) -> list[dict[str, Any]]:
        """Occurrences of a series overlapping ``[lo, hi)``: exceptions replace, cancelled ones included."""
        found = self.exceptions(calendar, master["id"])
        duration = master["_e"] - master["_s"]
        result = []
        for original in self.original_starts(master, hi + duration):
            instance = found.get(original) or self.virtual_instance(master, original)
            if instance["_s"] < hi and instance["_e"] > lo:
                result.append(instance)
        for exception in found.values():  # moved into the range from outside it
            if exception not in result and exception["_s"] < hi and exception["_e"] > lo:
                result.append(exception)
        return sorted(result, key=lambda e: (e["_s"], e["id"]))

    def occupied(
        self, calendar: Calendar, lo: datetime, hi: datetime, ignore_uid: str
    ) -> Iterator[tuple[datetime, datetime]]:
        """Busy spans on a room calendar (what an auto-accepting room checks a request against)."""
        for event in list(calendar.events.values()):
            if event.get("recurringEventId") or event["status"] == "cancelled" or event.get("iCalUID") == ignore_uid:
                continue
            if event.get("transparency") == "transparent" or busy_response(event, calendar.id) == "declined":
                continue
            if not event.get("recurrence"):
                if event["_s"] < hi and event["_e"] > lo:
                    yield event["_s"], event["_e"]
                continue
            for instance in self.instances(calendar, event, lo, hi):
                if instance["status"] != "cancelled" and busy_response(instance, calendar.id) != "declined":
                    yield instance["_s"], instance["_e"]

    # -- writing ----------------------------------------------------------------------------------------------------
    def touch(self, calendar: Calendar, event: dict[str, Any]) -> None:
        event["_seq"] = calendar.tick()
        event["etag"] = new_etag()
        event["updated"] = times.rfc3339(self.now())

    def insert(
        self,
        calendar: Calendar,
        body: dict[str, Any],
        *,
        creator: str,
        organizer: dict[str, Any] | None = None,
        imported: bool = False,
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad("Invalid event.")
        event_id = str(body.get("id") or "")
        if event_id:
            if not valid_client_id(event_id):
                raise bad("Invalid resource id value.", "id")
            if event_id in calendar.events:
                raise ApiError(409, "duplicate", "The requested identifier already exists.")
        else:
            event_id = new_id()
        if imported:
            uid = str(body.get("iCalUID") or "")
            if not uid:
                raise bad("Missing iCalUID.", "iCalUID")
            existing = next(
                (e for e in calendar.events.values() if e.get("iCalUID") == uid and e["status"] != "cancelled"), None
            )
            if existing is not None:
                if self.settings.import_duplicate != "replace":
                    raise ApiError(409, "duplicate", "The requested identifier already exists.")
                event_id = existing["id"]
        elif body.get("iCalUID") and body.get("id"):
            raise bad("Only one of id and iCalUID may be given.")
        now = times.rfc3339(self.now())
        event: dict[str, Any] = {
            "id": event_id,
            "status": str(body.get("status") or "confirmed"),
            "created": now,
            "summary": str(body.get("summary") or ""),
            "iCalUID": str(body.get("iCalUID") or f"{event_id}@google.com"),
            "sequence": 0,
            "creator": {"email": creator},
            "organizer": organizer or {"email": calendar.id, "displayName": calendar.name},
            "eventType": "default",
        }
        for key in ("description", "location", "start", "end", "transparency", "guestsCanModify"):
            if key in body:
                event[key] = copy.deepcopy(body[key])
        if body.get("recurrence"):
            times.Rule.parse(body["recurrence"])
            event["recurrence"] = list(body["recurrence"])
        event["attendees"] = self._attendees(body.get("attendees"), organizer_email=event["organizer"]["email"])
        event["extendedProperties"] = limited_properties({}, body.get("extendedProperties"))
        set_times(event, calendar)
        self.touch(calendar, event)
        calendar.events[event_id] = event
        if not imported:
            self.rooms.propagate(calendar, event)
        return event

    def _attendees(
        self, value: Any, *, organizer_email: str, previous: list[dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        if value is None:
            return copy.deepcopy(previous or [])
        if not isinstance(value, list):
            raise bad("Invalid attendees.")
        before = {a["email"]: a for a in previous or []}
        result = []
        for item in value:
            email = str((item or {}).get("email") or "").strip().casefold()
            if "@" not in email:
                raise bad("Invalid attendee email.", "attendees.email")
            known = before.get(email)
            room = self.calendars.get(email)
            attendee = {
                "email": email,
                # "resource" can only be set when the attendee is added; later changes are ignored
                "resource": bool(known["resource"])
                if known
                else bool(item.get("resource")) or (room is not None and room.kind == "room"),
                "optional": bool(item.get("optional", False)),
                "responseStatus": (known or {}).get("responseStatus")
                or str(item.get("responseStatus") or "needsAction"),
            }
            if email == organizer_email:
                attendee["organizer"] = True
            for key in ("displayName", "comment"):
                if item.get(key) or (known and known.get(key)):
                    attendee[key] = item.get(key) or known[key]  # type: ignore[index]
            result.append(attendee)
        return result

    def patch(
        self,
        calendar: Calendar,
        event_id: str,
        body: dict[str, Any],
        *,
        if_match: str | None = None,
        actor: str = "",
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad("Invalid event.")
        event = self.find(calendar, event_id)
        check_etag(event, if_match)
        if event["status"] == "cancelled" and body.get("status") != "confirmed":
            raise ApiError(404, "notFound", "Not Found")
        if event.get("_origin"):
            return self._patch_copy(calendar, event, body)
        if event.get("_virtual") or event.get("recurringEventId"):
            return self._patch_instance(calendar, event, body)
        master_before = (tuple(event.get("recurrence") or ()), event.get("start"), event.get("end"))
        rule_lines = lambda lines: tuple(line for line in lines or () if line.upper().startswith("RRULE"))  # noqa: E731
        for key in MAIN_FIELDS:
            if key in body:
                if body[key] is None:
                    event.pop(key, None)
                else:
                    event[key] = copy.deepcopy(body[key])
        if body.get("recurrence"):
            times.Rule.parse(body["recurrence"])
        if "status" in body:
            event["status"] = str(body["status"])
        if "attendees" in body:
            event["attendees"] = self._attendees(
                body["attendees"], organizer_email=event["organizer"]["email"], previous=event.get("attendees")
            )
        if "extendedProperties" in body:
            event["extendedProperties"] = limited_properties(
                event.get("extendedProperties") or {}, body["extendedProperties"]
            )
        set_times(event, calendar)
        times_changed = (event.get("start"), event.get("end")) != master_before[1:]
        if times_changed or "recurrence" in body:
            event["sequence"] = int(event.get("sequence", 0)) + 1
            if event.get("recurrence"):
                self._reconcile_exceptions(calendar, event, master_before[0], rule_lines, times_changed)
        self.touch(calendar, event)
        self.rooms.propagate(calendar, event, time_changed=times_changed or "recurrence" in body)
        return event

    def _reconcile_exceptions(
        self, calendar: Calendar, master: dict[str, Any], before: tuple[str, ...], rule_lines: Any, times_changed: bool
    ) -> None:
        found = self.exceptions(calendar, master["id"])
        drop_all = self.settings.drop_exceptions_on_rule_change and (
            times_changed or rule_lines(before) != rule_lines(master.get("recurrence"))
        )
        valid = set(self.original_starts(master))
        for original, exception in found.items():
            if original not in valid:
                del calendar.events[exception["id"]]
            elif drop_all:  # the occurrence is back on the pattern, and a sync reports it so
                self.reset_instance(calendar, master, exception)

    def reset_instance(self, calendar: Calendar, master: dict[str, Any], record: dict[str, Any]) -> None:
        fresh = self.virtual_instance(master, record["_o"])
        fresh.pop("_virtual")
        self.touch(calendar, fresh)
        calendar.events[record["id"]] = fresh

    def _patch_instance(self, calendar: Calendar, instance: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """Editing one occurrence of a series the calendar organizes makes it an exception."""
        for key in ("summary", "description", "location", "start", "end"):
            if key in body and body[key] is not None:
                instance[key] = copy.deepcopy(body[key])
        if "status" in body:
            instance["status"] = str(body["status"])
        if "attendees" in body:
            instance["attendees"] = self._attendees(
                body["attendees"], organizer_email=instance["organizer"]["email"], previous=instance.get("attendees")
            )
        set_times(instance, calendar)
        instance.pop("_virtual", None)
        self.touch(calendar, instance)
        calendar.events[instance["id"]] = instance
        master = calendar.events[instance["recurringEventId"]]
        self.rooms.propagate(calendar, master, time_changed=True)
        return instance

    def _patch_copy(self, calendar: Calendar, event: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """A writer on a room calendar may change the copy's private properties and the room's own answer only."""
        shared_fields = [k for k in (*MAIN_FIELDS, "guestsCanModify", "status") if k in body]
        origin_calendar, origin_id = event["_origin"]
        organizer_event = self.calendars[origin_calendar].events.get(origin_id)
        if shared_fields and organizer_event is not None and organizer_event.get("guestsCanModify"):
            # the organizer lets guests modify the event: a guest's change is a change of the meeting itself
            shared = {k: body[k] for k in (*MAIN_FIELDS,) if k in body}
            self.patch(self.calendars[origin_calendar], origin_id, shared)
            body = {k: v for k, v in body.items() if k not in shared}
            shared_fields = [k for k in ("guestsCanModify", "status") if k in body]
        if shared_fields:
            raise ApiError(
                403, "forbiddenForNonOrganizer", "Shared properties can only be changed by the organizer of the event."
            )
        if "extendedProperties" in body:
            if (body["extendedProperties"] or {}).get("shared"):
                raise ApiError(
                    403,
                    "forbiddenForNonOrganizer",
                    "Shared properties can only be changed by the organizer of the event.",
                )
            event["extendedProperties"] = limited_properties(
                event.get("extendedProperties") or {}, body["extendedProperties"]
            )
        if "attendees" in body:
            if not body.get("attendeesOmitted"):
                raise ApiError(
                    403,
                    "forbiddenForNonOrganizer",
                    "Only the organizer can change the attendee list; send attendeesOmitted to answer.",
                )
            mine = [a for a in body["attendees"] or [] if str(a.get("email") or "").casefold() == calendar.id]
            if len(mine) != len(body["attendees"] or []):
                raise ApiError(
                    403,
                    "forbiddenForNonOrganizer",
                    "With attendeesOmitted only the calendar's own response can change.",
                )
            if mine:
                answer = str(mine[0].get("responseStatus") or "needsAction")
                if answer not in ("needsAction", "declined", "tentative", "accepted"):
                    raise bad("Invalid responseStatus.", "attendees.responseStatus")
                self.rooms.answer(calendar, event, answer, str(mine[0].get("comment") or ""), by="writer")
        self.touch(calendar, event)
        return event

    def delete(self, calendar: Calendar, event_id: str, *, if_match: str | None = None) -> None:
        event = self.find(calendar, event_id)
        if event["status"] == "cancelled":
            raise ApiError(410, "deleted", "Resource has been deleted")
        check_etag(event, if_match)
        if event.get("_origin"):
            self.rooms.answer(calendar, event, "declined", "", by="writer")  # removing a copy = declining it
            return
        if event.get("_virtual") or event.get("recurringEventId"):
            event.pop("_virtual", None)
            event["status"] = "cancelled"
            calendar.events[event["id"]] = event
            self.touch(calendar, event)
            self.rooms.propagate(calendar, calendar.events[event["recurringEventId"]], time_changed=False)
            return
        event["status"] = "cancelled"
        self.touch(calendar, event)
        self.rooms.propagate(calendar, event)

    def move(
        self, calendar: Calendar, event_id: str, destination: Calendar, *, if_match: str | None = None
    ) -> dict[str, Any]:
        """``events.move``: the destination calendar becomes the organizer; the old one keeps a cancelled stub."""
        event = self.find(calendar, event_id)
        check_etag(event, if_match)
        if event.get("_origin") or event.get("recurringEventId") or event["status"] == "cancelled":
            raise ApiError(400, "cannotChangeOrganizer", "Cannot change the organizer of this event.")
        if event_id in destination.events:
            raise ApiError(409, "duplicate", "The requested identifier already exists.")
        moved = copy.deepcopy(event)
        moved["organizer"] = {"email": destination.id, "displayName": destination.name}
        moved["extendedProperties"] = {
            k: v for k, v in (event.get("extendedProperties") or {}).items() if k == "shared"
        }
        moved.pop("_copies", None)
        for exception in list(self.exceptions(calendar, event_id).values()):
            destination.events[exception["id"]] = dict(copy.deepcopy(exception), organizer=moved["organizer"])
            del calendar.events[exception["id"]]
        old_copy = (event.get("_copies") or {}).get(destination.id)
        if old_copy and old_copy in destination.events:  # the destination held a copy: it is the organizer now
            destination.events[old_copy]["status"] = "cancelled"
            self.touch(destination, destination.events[old_copy])
            event["_copies"].pop(destination.id)
        self.touch(destination, moved)
        destination.events[event_id] = moved
        moved["_copies"] = event.pop("_copies", {})
        event["status"] = "cancelled"
        self.touch(calendar, event)
        self.rooms.propagate(destination, moved)
        return moved

    def split(self, calendar: Calendar, master_id: str, original: datetime, changes: dict[str, Any]) -> dict[str, Any]:
        """ "This and following": the series ends before ``original``; a new series starts there with ``changes``."""
        master = self.find(calendar, master_id)
        until = (original - timedelta(seconds=1)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        lines = []
        for line in master["recurrence"]:
            if line.upper().startswith("RRULE:"):
                parts = [p for p in line[6:].split(";") if not p.upper().startswith(("COUNT=", "UNTIL="))]
                count = next((int(p[6:]) for p in line[6:].split(";") if p.upper().startswith("COUNT=")), None)
                new_rule = ";".join(parts)
                if count is not None:
                    new_rule += f";COUNT={count - len([s for s in self.original_starts(master) if s < original])}"
                # a counted series stays counted (the occurrences before the split); others end with UNTIL
                done = len([s for s in self.original_starts(master) if s < original])
                lines.append(
                    "RRULE:" + ";".join(parts) + (f";COUNT={done}" if count is not None else f";UNTIL={until}")
                )
            else:
                lines.append(line)
        body: dict[str, Any] = {
            key: copy.deepcopy(master[key])
            for key in ("summary", "description", "location", "attendees", "transparency")
            if key in master
        }
        duration = master["_e"] - master["_s"]
        body["start"] = times.render_when(original, master["_allday"], master["_tz"])
        body["end"] = times.render_when(original + duration, master["_allday"], master["_tz"])
        body["recurrence"] = [
            ("RRULE:" + new_rule) if line.upper().startswith("RRULE:") else line for line in master["recurrence"]
        ]
        body.update(changes)
        if self.settings.split_keeps_ical_uid:
            body["iCalUID"] = master["iCalUID"]
        self.patch(calendar, master_id, {"recurrence": lines})
        new_event = self.insert(
            calendar,
            {k: v for k, v in body.items() if k != "iCalUID"},
            creator=master["creator"]["email"],
            organizer=master["organizer"],
        )
        if self.settings.split_keeps_ical_uid:
            new_event["iCalUID"] = master["iCalUID"]
            self.touch(calendar, new_event)
            self.rooms.propagate(calendar, new_event)
        return new_event


def check_etag(event: dict[str, Any], if_match: str | None) -> None:
    if if_match and if_match != "*" and if_match != event.get("etag"):
        raise ApiError(412, "conditionNotMet", "Precondition Failed", location="If-Match")
