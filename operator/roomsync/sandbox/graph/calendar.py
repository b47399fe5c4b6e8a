"""Calendar operations on the emulator's mailboxes, shared by the Graph API and the admin ("a person in Outlook")
endpoints: create, update, delete, respond, cancel, per-occurrence changes, with meeting propagation.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

from roomsync.sandbox.graph import recurrence as rec
from roomsync.sandbox.graph.assistant import Assistant
from roomsync.sandbox.graph.model import (
    Attendee,
    ExceptionData,
    Mailbox,
    StoredEvent,
    change_key,
    new_id,
    occurrence_id,
    parse_occurrence_id,
)
from roomsync.sandbox.graph.render import BadRequest, check_property_id, parse_datetime_tz
from roomsync.sandbox.graph.zones import zone

#: What Graph answers when a property combination does not validate (an all-day event not at midnight, a recurrence
#: whose startDate is not the start's date): the generic code Graph uses for it [unconfirmed per property].
INVALID = "ErrorPropertyValidationFailure"


class NotFoundError(LookupError):
    """Becomes 404 ErrorItemNotFound."""


def check_event(event: StoredEvent) -> None:
    """What Graph validates on an event as a whole after a create or PATCH (400, nothing stored)."""
    if event.end <= event.start:
        raise BadRequest("The end time must be after the start time.", "ErrorInvalidRequest")
    local_zone = zone(event.tz)
    if event.all_day:
        for value in (event.start, event.end):
            if value.astimezone(local_zone).time() != datetime.min.time():
                raise BadRequest(
                    "At least one property failed validation: an all-day event starts and ends at midnight.", INVALID
                )
    if event.recurrence:
        rng = event.recurrence["range"]
        series_zone = zone(rng.get("recurrenceTimeZone") or event.tz)
        if str(rng["startDate"]) != event.start.astimezone(series_zone).date().isoformat():
            raise BadRequest(
                "At least one property failed validation: recurrence.range.startDate must be the date of start.",
                INVALID,
            )


def new_uid() -> str:
    """An iCalUId in Exchange's hex GOID style."""
    return "040000008200E00074C5B7101A82E008" + secrets.token_hex(28).upper()


def parse_attendees(value: Any) -> list[Attendee]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest("attendees must be a collection")
    result = []
    for item in value:
        email = (item or {}).get("emailAddress") or {}
        address = str(email.get("address") or "").strip()
        if "@" not in address:
            raise BadRequest(f"attendee address {address!r} is invalid", "ErrorInvalidRecipients")
        kind = str(item.get("type") or "required")
        if kind not in ("required", "optional", "resource"):
            raise BadRequest(f"attendee type {kind!r} is invalid")
        result.append(Attendee(address=address, name=str(email.get("name") or ""), type=kind))
    return result


class Calendars:
    """The mutable calendar state; every change bumps the mailbox clock that delta tokens are measured against."""

    def __init__(self, mailboxes: dict[str, Mailbox], now: Callable[[], datetime]) -> None:
        self.mailboxes = mailboxes
        self.now = now
        self.assistant = Assistant(mailboxes, now)

    # -- directory --------------------------------------------------------------------------------------------------
    def mailbox(self, address: str, *, create_user: bool = False) -> Mailbox:
        key = address.strip().casefold()
        box = self.mailboxes.get(key)
        if box is None:
            if not create_user:
                raise NotFoundError(f"mailbox {address} not found")
            box = Mailbox(address=key, name=key.split("@")[0].replace(".", " ").title(), kind="user")
            self.mailboxes[key] = box
        return box

    def find(self, box: Mailbox, event_id: str) -> tuple[StoredEvent, datetime | None]:
        """An item or one occurrence of a series (``original_start`` set)."""
        if event_id in box.events:
            return box.events[event_id], None
        parsed = parse_occurrence_id(event_id)
        if parsed is not None:
            master = box.events.get(parsed[0])
            if master is not None and master.find_occurrence(parsed[1]):
                return master, parsed[1]
        raise NotFoundError("The specified object was not found in the store.")

    def change_key_of(self, box: Mailbox, event_id: str) -> str:
        """The current changeKey of an item or occurrence (what ``If-Match`` is compared with)."""
        event, original = self.find(box, event_id)
        if original is None:
            return change_key(event.id, event.version)
        instance = event.instance_at(original)
        if instance is None:
            raise NotFoundError("The specified object was not found in the store.")
        return change_key(instance.id, instance.version)

    # -- create -----------------------------------------------------------------------------------------------------
    def create(
        self, box: Mailbox, body: dict[str, Any], *, organizer_name: str | None = None
    ) -> tuple[StoredEvent, bool]:
        """POST /events. Returns (event, created); a repeated transactionId returns the first event."""
        tid = body.get("transactionId")
        if tid and tid in box.transactions and box.transactions[tid] in box.events:
            return box.events[box.transactions[tid]], False
        start, tz = parse_datetime_tz(body.get("start"), "start")
        end, _ = parse_datetime_tz(body.get("end"), "end")
        recurrence = body.get("recurrence")
        if recurrence:
            try:
                rec.validate(recurrence)
            except rec.InvalidRecurrence as exc:
                raise BadRequest(str(exc)) from None
        now = self.now()
        attendees = parse_attendees(body.get("attendees"))
        event = StoredEvent(
            id=new_id(),
            ical_uid=new_uid(),
            mailbox=box.address,
            subject=str(body.get("subject") or ""),
            start=start,
            end=end,
            tz=tz,
            organizer_address=box.address,
            organizer_name=organizer_name or box.name,
            is_organizer=True,
            response="organizer",
            version=box.tick(),
            created=now,
            modified=now,
            body=str((body.get("body") or {}).get("content") or ""),
            all_day=bool(body.get("isAllDay")),
            location=str((body.get("location") or {}).get("displayName") or ""),
            attendees=attendees,
            recurrence=copy.deepcopy(recurrence) if recurrence else None,
            transaction_id=tid,
            ext=self._ext(body),
        )
        check_event(event)
        box.events[event.id] = event
        if tid:
            box.transactions[tid] = event.id
        self.assistant.invite(event, event.attendees)
        return event, True

    @staticmethod
    def _ext(body: dict[str, Any]) -> dict[str, str]:
        props = body.get("singleValueExtendedProperties") or []
        if not isinstance(props, list):
            raise BadRequest("singleValueExtendedProperties must be a collection")
        result = {}
        for prop in props:
            pid = check_property_id(str((prop or {}).get("id") or ""))
            result[pid] = str(prop.get("value") if prop.get("value") is not None else "")
        return result

    # -- update -----------------------------------------------------------------------------------------------------
    def update(self, box: Mailbox, event_id: str, body: dict[str, Any]) -> tuple[StoredEvent, datetime | None]:
        """PATCH: only the given properties change; organizer changes reach the attendees' copies."""
        event, original = self.find(box, event_id)
        if "transactionId" in body and body["transactionId"] != event.transaction_id:
            raise BadRequest("transactionId cannot be changed after the event is created.")
        if original is not None:
            self._update_occurrence(box, event, original, body)
            return event, original
        old_attendees = list(event.attendees)
        draft = copy.deepcopy(event)
        changed = self._patch(draft, body)
        check_event(draft)  # nothing is stored when the result does not validate
        event.__dict__.update(draft.__dict__)
        event.touch(box.tick(), self.now())
        if event.is_organizer and changed:
            self._propagate(event, old_attendees, time_changed=bool({"start", "end", "recurrence"} & changed))
        return event, None

    def _patch(self, event: StoredEvent, body: dict[str, Any]) -> set[str]:
        """Apply a PATCH body to ``event``; returns what changed."""
        changed: set[str] = set()
        if "subject" in body:
            event.subject = str(body["subject"] or "")
            changed.add("subject")
        if "body" in body:
            event.body = str((body["body"] or {}).get("content") or "")
            changed.add("body")
        if "location" in body:
            event.location = str((body["location"] or {}).get("displayName") or "")
            changed.add("location")
        if "isAllDay" in body:
            event.all_day = bool(body["isAllDay"])
            changed.add("all_day")
        if "start" in body:
            event.start, event.tz = parse_datetime_tz(body["start"], "start")
            changed.add("start")
        if "end" in body:
            event.end, _ = parse_datetime_tz(body["end"], "end")
            changed.add("end")
        if "recurrence" in body:
            if body["recurrence"]:
                try:
                    rec.validate(body["recurrence"])
                except rec.InvalidRecurrence as exc:
                    raise BadRequest(str(exc)) from None
            event.recurrence = copy.deepcopy(body["recurrence"]) or None
            changed.add("recurrence")
        if "attendees" in body:
            new = parse_attendees(body["attendees"])
            status = {a.address.casefold(): a for a in event.attendees}
            for attendee in new:
                if attendee.address.casefold() in status:
                    previous = status[attendee.address.casefold()]
                    attendee.response, attendee.time = previous.response, previous.time
            event.attendees = new
            changed.add("attendees")
        if "singleValueExtendedProperties" in body:
            event.ext.update(self._ext(body))
        if {"start", "end", "recurrence"} & changed:
            # Exchange drops the exceptions of a series whose pattern or time changes.
            event.exceptions.clear()
            event.cancelled.clear()
        return changed

    def _propagate(self, event: StoredEvent, old: list[Attendee], *, time_changed: bool) -> None:
        new_keys = {a.address.casefold() for a in event.attendees}
        removed = [a for a in old if a.address.casefold() not in new_keys]
        old_keys = {a.address.casefold() for a in old}
        added = [a for a in event.attendees if a.address.casefold() not in old_keys]
        kept = [a for a in event.attendees if a.address.casefold() in old_keys]
        self.assistant.cancel_for(event, removed)
        self.assistant.invite(event, added)
        self.assistant.invite(event, kept, time_changed=time_changed)

    def _update_occurrence(self, box: Mailbox, event: StoredEvent, original: datetime, body: dict[str, Any]) -> None:
        exc = event.exceptions.get(original)
        duration = event.end - event.start
        start = exc.start if exc else original
        end = exc.end if exc else original + duration
        subject = exc.subject if exc else None
        if "start" in body:
            start, _ = parse_datetime_tz(body["start"], "start")
        if "end" in body:
            end, _ = parse_datetime_tz(body["end"], "end")
        if "subject" in body:
            subject = str(body["subject"] or "")
        if end <= start:
            raise BadRequest("The end time must be after the start time.")
        if event.all_day:
            midnight = datetime.min.time()
            if start.astimezone(zone(event.tz)).time() != midnight or end.astimezone(zone(event.tz)).time() != midnight:
                raise BadRequest(
                    "At least one property failed validation: an all-day occurrence starts and ends at midnight.",
                    INVALID,
                )
        ext = dict(exc.ext) if exc else {}
        if "singleValueExtendedProperties" in body:
            ext.update(self._ext(body))  # on the occurrence, never on the series master
        version = box.tick()
        event.exceptions[original] = ExceptionData(start, end, subject, version, ext)
        event.touch(version, self.now(), series=False)
        if event.is_organizer:
            self.assistant.invite(event, event.attendees, time_changed="start" in body or "end" in body)

    # -- delete / cancel ----------------------------------------------------------------------------------------------
    def delete(self, box: Mailbox, event_id: str, *, cancel_comment: str | None = None) -> None:
        """DELETE (or the organizer's ``cancel``): attendees get a cancellation when the organizer deletes a meeting."""
        event, original = self.find(box, event_id)
        if original is not None:
            event.cancelled[original] = box.tick()
            event.touch(event.cancelled[original], self.now(), series=False)
            if event.is_organizer:
                self.assistant.invite(event, event.attendees, time_changed=False)
            return
        box.remove(event.id)
        if event.is_organizer and event.attendees:
            self.assistant.cancel_for(event, event.attendees, cancel_comment or "")

    def respond(self, box: Mailbox, event_id: str, action: str, body: dict[str, Any]) -> None:
        event, _ = self.find(box, event_id)
        if event.is_organizer:
            raise BadRequest("Your request can't be completed. You can't respond to a meeting you organized.")
        keys = {str(k).lower(): v for k, v in (body or {}).items()}  # Graph matches action parameters case-blind
        send = keys.get("sendresponse", True) is not False
        if keys.get("proposednewtime") and (action == "accept" or not send):
            raise BadRequest("proposedNewTime is not allowed here.")
        response = {"accept": "accepted", "decline": "declined", "tentativelyAccept": "tentativelyAccepted"}[action]
        self.assistant.respond(event, box, response, str(keys.get("comment") or ""), send)

    # -- a person in Outlook -----------------------------------------------------------------------------------------
    def outlook_book(self, organizer: str, body: dict[str, Any], organizer_name: str | None = None) -> StoredEvent:
        box = self.mailbox(organizer, create_user=True)
        if organizer_name:
            box.name = organizer_name
        event, _ = self.create(box, body, organizer_name=box.name)
        return event

    def meeting(self, ical_uid: str) -> tuple[Mailbox, StoredEvent]:
        for box in self.mailboxes.values():
            for event in box.events.values():
                if event.ical_uid == ical_uid and event.is_organizer:
                    return box, event
        raise NotFoundError(f"no organizer item with iCalUId {ical_uid}")

    def outlook_occurrence(self, ical_uid: str, original: datetime, body: dict[str, Any] | None) -> None:
        """The organizer moves/renames one occurrence (``body``) or cancels it (``None``)."""
        box, event = self.meeting(ical_uid)
        if not event.find_occurrence(original):
            raise NotFoundError(f"{ical_uid} has no occurrence at {original.isoformat()}")
        if body is None:
            self.delete(box, occurrence_id(event.id, original))
        else:
            self.update(box, occurrence_id(event.id, original), body)
