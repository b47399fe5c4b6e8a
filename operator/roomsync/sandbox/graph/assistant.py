"""Exchange's meeting machinery, emulated: invitations, updates and cancellations travel from the organizer's item to
a copy (same iCalUId) in every invited mailbox, and each room's resource booking assistant decides per its
Set-CalendarProcessing settings.

- AutoAccept: accept when free (or AllowConflicts), decline on conflict (the copy leaves the calendar); the copy's
  subject/body are rewritten per DeleteSubject, AddOrganizerToSubject and DeleteComments.
- AutoUpdate: only the Calendar Attendant runs: the copy sits tentatively (``notResponded``) until a delegate (Planon
  in the lead, through accept/decline) answers; a time change asks again.
- None: nothing reaches the calendar; the request waits in the Inbox.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

from roomsync.sandbox.graph import recurrence as rec
from roomsync.sandbox.graph.model import Attendee, Mailbox, StoredEvent, new_id

MEETING_FIELDS = ("subject", "start", "end", "tz", "all_day", "location", "body", "recurrence", "attendees")
BUSY_RESPONSES = ("organizer", "accepted", "tentativelyAccepted", "notResponded", "none")


class Assistant:
    """Delivers meeting messages between mailboxes; ``mailboxes`` is the sandbox's directory."""

    def __init__(self, mailboxes: dict[str, Mailbox], now: Callable[[], datetime]) -> None:
        self.mailboxes = mailboxes
        self.now = now
        #: Every message Exchange would have sent: (kind, from, to, iCalUId, subject).
        self.mail: list[dict[str, Any]] = []

    # -- messages --------------------------------------------------------------------------------------------------
    def send(self, kind: str, sender: str, to: str, meeting: StoredEvent, comment: str = "") -> None:
        self.mail.append(
            {
                "kind": kind,
                "from": sender,
                "to": to,
                "iCalUId": meeting.ical_uid,
                "subject": meeting.subject,
                "comment": comment,
                "at": self.now().isoformat(),
            }
        )

    def invite(self, meeting: StoredEvent, attendees: list[Attendee], *, time_changed: bool = True) -> None:
        for attendee in attendees:
            self.send("invitation" if time_changed else "update", meeting.mailbox, attendee.address, meeting)
            target = self.mailboxes.get(attendee.address.casefold())
            if target is not None and target.address != meeting.mailbox:
                self.deliver(meeting, target, time_changed=time_changed)

    def cancel_for(self, meeting: StoredEvent, attendees: list[Attendee], comment: str = "") -> None:
        for attendee in attendees:
            self.send("cancellation", meeting.mailbox, attendee.address, meeting, comment)
            target = self.mailboxes.get(attendee.address.casefold())
            if target is not None and target.address != meeting.mailbox:
                self.withdraw(meeting, target)

    # -- a copy arriving in an attendee's mailbox ---------------------------------------------------------------------
    def deliver(self, meeting: StoredEvent, box: Mailbox, *, time_changed: bool) -> None:
        existing = box.copy_of(meeting.ical_uid)
        if box.kind == "room" and box.processing.automate == "None":
            box.inbox.append({"kind": "meetingRequest", "iCalUId": meeting.ical_uid, "subject": meeting.subject})
            return
        if box.kind == "room" and box.processing.automate == "AutoAccept":
            if not box.processing.allow_conflicts and self.conflicts(box, meeting, ignore=existing):
                if existing is not None:
                    box.remove(existing.id)
                self.set_attendee_status(meeting, box.address, "declined")
                self.send("decline", box.address, meeting.organizer_address, meeting, "The room is not available.")
                return
            item = self._upsert_copy(meeting, box, existing)
            item.response, item.show_as = "accepted", "busy"
            item.response_time = self.now().isoformat()
            p = box.processing
            if p.delete_subject:
                item.subject = ""
            if p.add_organizer_to_subject:
                item.subject = meeting.organizer_name or meeting.organizer_address
            if p.delete_comments:
                item.body = ""
            self.set_attendee_status(meeting, box.address, "accepted")
            self.send("accept", box.address, meeting.organizer_address, meeting)
            return
        # AutoUpdate rooms and people: the Calendar Attendant puts the request on the calendar tentatively.
        keep_answer = existing is not None and not time_changed and existing.response != "notResponded"
        item = self._upsert_copy(meeting, box, existing)
        if not keep_answer:
            item.response, item.show_as, item.response_time = "notResponded", "tentative", "0001-01-01T00:00:00Z"
            self.set_attendee_status(meeting, box.address, "none")

    def withdraw(self, meeting: StoredEvent, box: Mailbox) -> None:
        existing = box.copy_of(meeting.ical_uid)
        if existing is None:
            return
        if box.kind == "room" and box.processing.remove_canceled_meetings:
            box.remove(existing.id)
            return
        existing.is_cancelled = True
        existing.show_as = "free"
        if not existing.subject.startswith("Canceled: "):
            existing.subject = f"Canceled: {existing.subject}"
        existing.touch(box.tick(), self.now())

    def _upsert_copy(self, meeting: StoredEvent, box: Mailbox, existing: StoredEvent | None) -> StoredEvent:
        now = self.now()
        if existing is None:
            existing = StoredEvent(
                id=new_id(),
                ical_uid=meeting.ical_uid,
                mailbox=box.address,
                subject=meeting.subject,
                start=meeting.start,
                end=meeting.end,
                tz=meeting.tz,
                organizer_address=meeting.organizer_address,
                organizer_name=meeting.organizer_name,
                is_organizer=False,
                response="notResponded",
                version=0,
                created=now,
                modified=now,
            )
            box.events[existing.id] = existing
        existing.subject = meeting.subject
        existing.body = meeting.body
        existing.start, existing.end, existing.tz = meeting.start, meeting.end, meeting.tz
        existing.all_day, existing.location = meeting.all_day, meeting.location
        existing.recurrence = copy.deepcopy(meeting.recurrence)
        existing.attendees = copy.deepcopy(meeting.attendees)
        existing.exceptions = copy.deepcopy(meeting.exceptions)
        existing.cancelled = dict(meeting.cancelled)
        existing.is_cancelled = False
        existing.touch(box.tick(), now)
        return existing

    # -- answers travelling back to the organizer ------------------------------------------------------------------
    def set_attendee_status(self, meeting: StoredEvent, address: str, response: str) -> None:
        organizer_box = self.mailboxes.get(meeting.organizer_address.casefold())
        organizer_item = organizer_box.copy_of(meeting.ical_uid) if organizer_box else None
        for item in filter(None, (meeting, organizer_item)):
            for attendee in item.attendees:
                if attendee.address.casefold() == address.casefold():
                    attendee.response = response
                    attendee.time = self.now().isoformat()

    def respond(self, item: StoredEvent, box: Mailbox, response: str, comment: str, send: bool) -> None:
        """A delegate (or the app) answers the room's copy: accept / tentativelyAccept / decline."""
        organizer_box = self.mailboxes.get(item.organizer_address.casefold())
        meeting = organizer_box.copy_of(item.ical_uid) if organizer_box else None
        if meeting is not None:
            self.set_attendee_status(meeting, box.address, response)
            if send:
                self.send(response, box.address, item.organizer_address, meeting, comment)
        elif send:
            self.send(response, box.address, item.organizer_address, item, comment)
        if response == "declined":
            box.remove(item.id)
            return
        item.response = response
        item.show_as = "busy" if response == "accepted" else "tentative"
        item.response_time = self.now().isoformat()
        item.touch(box.tick(), self.now())

    # -- conflicts -------------------------------------------------------------------------------------------------
    def conflicts(self, box: Mailbox, meeting: StoredEvent, ignore: StoredEvent | None) -> bool:
        limit = rec.horizon(meeting.start)
        wanted = meeting.instances(meeting.start, limit)
        if not wanted:
            return False
        lo, hi = min(i.start for i in wanted), max(i.end for i in wanted)
        for other in box.events.values():
            if other is ignore or other.ical_uid == meeting.ical_uid or other.is_cancelled:
                continue
            if other.response not in BUSY_RESPONSES:
                continue
            for taken in other.instances(lo, hi):
                if any(w.start < taken.end and taken.start < w.end for w in wanted):
                    return True
        return False
