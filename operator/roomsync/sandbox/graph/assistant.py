"""Exchange's meeting machinery, emulated: invitations, updates and cancellations travel from the organizer's item to
a copy (same iCalUId) in every invited mailbox, and each room's resource booking assistant decides per its
Set-CalendarProcessing settings (graph-and-ews.md 1.3 and 1.8).

- AutoAccept: the booking assistant judges every request and every update of it:
  - AllowRecurringMeetings $false declines a series; MaximumDurationInMinutes (default 1440, 0 = no limit) declines a
    meeting, or a series with an occurrence, that is longer;
  - BookingWindowInDays (default 180) declines a request that starts later than that many days from now; with
    EnforceSchedulingHorizon $true (the default) a series that reaches past the window is declined as well. With
    $false Exchange accepts it and "reduces the number of meetings"; the emulator accepts it whole (it does not
    shorten the organizer's series - a simplification, documented here);
  - conflicts (AllowConflicts $false): a single meeting that conflicts is declined; a series is declined when more
    than MaximumConflictInstances of its occurrences in the booking window conflict, or more than
    ConflictPercentageAllowed percent of them; otherwise it is accepted and only the conflicting occurrences are
    declined (they are left out of the room's copy, and the organizer gets a decline for each);
  - the copy's subject/body are rewritten per DeleteSubject, AddOrganizerToSubject and DeleteComments.
  A declined copy leaves the calendar.
- AutoUpdate: only the Calendar Attendant runs: the copy sits tentatively (``notResponded``) until a delegate (Planon
  in the lead, through accept/decline) answers; a time change asks again. No policy is applied.
- None: nothing reaches the calendar; the request waits in the Inbox.

Each copy is versioned with its own mailbox's clock (delta tokens are measured against it): an update that changes
one occurrence changes only that occurrence of the copy.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from roomsync.sandbox.graph.model import MIN_TIME, Attendee, Instance, Mailbox, StoredEvent, new_id

BUSY_RESPONSES = ("organizer", "accepted", "tentativelyAccepted", "notResponded", "none")
#: How far past the booking window a series is expanded to see whether it reaches beyond it.
REACH = timedelta(days=400)


@dataclass(frozen=True)
class Verdict:
    """The booking assistant's decision on one request."""

    refusal: str | None = None  # the decline comment, when the whole request is declined
    declined: tuple[datetime, ...] = ()  # original starts of the occurrences of an accepted series it declines


def _series_state(item: StoredEvent) -> tuple[Any, ...]:
    """What every occurrence of a copy shows: a change here changes every occurrence."""
    return (
        item.subject,
        item.body,
        item.start,
        item.end,
        item.tz,
        item.all_day,
        item.location,
        repr(item.recurrence),
        [(a.address, a.type, a.response) for a in item.attendees],
        item.is_cancelled,
        item.response,
        item.show_as,
    )


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
            verdict = self.judge(box, meeting, ignore=existing)
            if verdict.refusal is not None:
                if existing is not None:
                    box.remove(existing.id)
                self.set_attendee_status(meeting, box.address, "declined")
                self.send("decline", box.address, meeting.organizer_address, meeting, verdict.refusal)
                return
            self.set_attendee_status(meeting, box.address, "accepted")
            self._upsert_copy(meeting, box, existing, response="accepted", declined=verdict.declined)
            self.send("accept", box.address, meeting.organizer_address, meeting)
            for original in verdict.declined:
                comment = f"The occurrence on {original.date().isoformat()} conflicts with an existing booking."
                self.send("decline", box.address, meeting.organizer_address, meeting, comment)
            return
        # AutoUpdate rooms and people: the Calendar Attendant puts the request on the calendar tentatively.
        keep_answer = existing is not None and not time_changed and existing.response != "notResponded"
        if not keep_answer:
            self.set_attendee_status(meeting, box.address, "none")
        self._upsert_copy(meeting, box, existing, response=None if keep_answer else "notResponded")

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

    def _upsert_copy(
        self,
        meeting: StoredEvent,
        box: Mailbox,
        existing: StoredEvent | None,
        *,
        response: str | None,
        declined: Iterable[datetime] = (),
    ) -> StoredEvent:
        now = self.now()
        item = existing
        if item is None:
            item = StoredEvent(
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
            box.events[item.id] = item
        before = _series_state(item) if existing is not None else None
        old_exceptions, old_cancelled = item.exceptions, item.cancelled
        item.subject, item.body = meeting.subject, meeting.body
        item.start, item.end, item.tz = meeting.start, meeting.end, meeting.tz
        item.all_day, item.location = meeting.all_day, meeting.location
        item.recurrence = copy.deepcopy(meeting.recurrence)
        item.attendees = copy.deepcopy(meeting.attendees)
        item.is_cancelled = False
        if box.kind == "room" and response == "accepted":
            p = box.processing
            if p.delete_subject:
                item.subject = ""
            if p.add_organizer_to_subject:
                item.subject = meeting.organizer_name or meeting.organizer_address
            if p.delete_comments:
                item.body = ""
        if response is not None and response != item.response:
            item.response = response
            item.response_time = now.isoformat() if response != "notResponded" else MIN_TIME
        if response is not None:
            item.show_as = "tentative" if response == "notResponded" else "busy"
        # Re-stamp with this mailbox's clock: versions of another mailbox mean nothing to this one's delta tokens.
        version = box.tick()
        item.exceptions = {}
        for original, exc in meeting.exceptions.items():
            old = old_exceptions.get(original)
            keep = old is not None and (old.start, old.end, old.subject) == (exc.start, exc.end, exc.subject)
            item.exceptions[original] = old if keep and old is not None else replace(exc, version=version, ext={})
        item.cancelled = {o: old_cancelled.get(o, version) for o in (*meeting.cancelled, *declined)}
        series = before is None or before != _series_state(item)
        if series or item.exceptions != old_exceptions or item.cancelled != old_cancelled:
            item.touch(version, now, series=series)
        return item

    # -- answers travelling back to the organizer ------------------------------------------------------------------
    def set_attendee_status(self, meeting: StoredEvent, address: str, response: str) -> None:
        organizer_box = self.mailboxes.get(meeting.organizer_address.casefold())
        organizer_item = organizer_box.copy_of(meeting.ical_uid) if organizer_box else None
        for item in filter(None, (meeting, organizer_item)):
            for attendee in item.attendees:
                if attendee.address.casefold() == address.casefold() and attendee.response != response:
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

    # -- the booking assistant's policy ----------------------------------------------------------------------------
    def judge(self, box: Mailbox, meeting: StoredEvent, ignore: StoredEvent | None) -> Verdict:
        """Accept, decline, or accept a series with some occurrences declined (see the module docstring)."""
        p = box.processing
        if meeting.recurrence and not p.allow_recurring_meetings:
            return Verdict("Recurring meetings are not allowed in this room.")
        now = self.now()
        window_end = datetime.combine(
            (now + timedelta(days=p.booking_window_days)).date() + timedelta(days=1), time(), UTC
        )
        reach = meeting.instances(meeting.start, max(window_end, meeting.start) + REACH)
        if not reach:
            return Verdict()
        if reach[0].start >= window_end:
            return Verdict(f"The meeting is later than the room's booking window of {p.booking_window_days} days.")
        limit = timedelta(minutes=p.maximum_duration_minutes)
        if p.maximum_duration_minutes and any(i.end - i.start > limit for i in reach):
            return Verdict(f"The meeting is longer than the room's maximum of {p.maximum_duration_minutes} minutes.")
        if meeting.recurrence and p.enforce_scheduling_horizon and reach[-1].start >= window_end:
            return Verdict(f"The series reaches past the room's booking window of {p.booking_window_days} days.")
        if p.allow_conflicts:
            return Verdict()
        wanted = [i for i in reach if i.start < window_end]
        clashing = self._clashing(box, meeting, wanted, ignore)
        if not clashing:
            return Verdict()
        if not meeting.recurrence:
            return Verdict("The room is not available: it conflicts with an existing booking.")
        if len(clashing) > p.maximum_conflict_instances or 100 * len(clashing) > p.conflict_percentage_allowed * len(
            wanted
        ):
            return Verdict(f"{len(clashing)} of the {len(wanted)} occurrences conflict with existing bookings.")
        return Verdict(declined=tuple(i.original_start for i in clashing if i.original_start is not None))

    @staticmethod
    def _clashing(
        box: Mailbox, meeting: StoredEvent, wanted: list[Instance], ignore: StoredEvent | None
    ) -> list[Instance]:
        if not wanted:
            return []
        lo, hi = min(i.start for i in wanted), max(i.end for i in wanted)
        taken = [
            t
            for other in box.events.values()
            if other is not ignore
            and other.ical_uid != meeting.ical_uid
            and not other.is_cancelled
            and other.response in BUSY_RESPONSES
            for t in other.instances(lo, hi)
        ]
        return [w for w in wanted if any(w.start < t.end and t.start < w.end for t in taken)]
