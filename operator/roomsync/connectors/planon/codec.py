"""Translation between Planon reservation records and canonical bookings.

Planon keeps one reservation per reservation unit and, for a series, one per occurrence (reference §1.10, §2.7).
RoomSync ties the reservations of one meeting with a meeting id in a free field and maps the group to ONE canonical
booking: several rooms, and for a series the rule (kept as text, see :mod:`.texts`) with exceptions computed against
it - an occurrence the rule gives that has no live reservation is an exdate, a reservation whose times or subject
differ from the rule's is an override. A cancelled reservation is history: it never gives a series its shape, its
subject or its attendees. Reservations without a meeting id are single meetings with the id ``R<syscode>``, or,
when ``reservationFields.nativeSeries`` names the field Planon ties a native series with, one meeting ``N<value>``
per native series (its recurrence is inferred by :mod:`.native` until RoomSync has written its own bookkeeping).

All date-times cross the API as ``{date, time}`` wall-clock values in the API user's Planon time zone
(``spec.planon.timeZone``); offsets are never sent (reference §1.9).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from roomsync.connectors.base import BookingRefused
from roomsync.connectors.planon.settings import PlanonSettings
from roomsync.connectors.planon.texts import (
    SeriesText,
    field_limits,
    format_occurrence,
    parse_attendees,
    parse_occurrence,
)
from roomsync.model import Booking, Handle, Link, OccurrenceOverride, Person, Status, Window, normalise_email, zone
from roomsync.model.limits import fit_subject

BACKEND: Final = "planon"
#: How far ahead a series is expanded when it is written (it must be bounded: COUNT or UNTIL).
SERIES_HORIZON: Final = timedelta(days=366 * 10)


class RowError(ValueError):
    """A reservation record RoomSync cannot read; it is reported as skipped, never deleted."""


@dataclass(frozen=True, slots=True)
class Row:
    """One reservation as the connector understands it."""

    syscode: int
    room: str
    begin: datetime
    end: datetime
    description: str
    state: str
    status: Status
    requestor: int | None
    external_requestor: str
    meeting_id: str
    occurrence: datetime | None
    link_text: str
    link: Link | None
    attendees_text: str
    series_text: str
    series: SeriesText | None
    changed: datetime | None
    #: the change time exactly as Planon sent it (JSON), sent back as a write's precondition; ``None`` without one
    version: str | None
    #: ``N<value>`` of the native series the reservation belongs to (``reservationFields.nativeSeries``), or ``""``
    native: str
    #: the booking the reservation belongs to: its meeting id, else its native series, else ``R<syscode>``
    group: str

    @property
    def booking_id(self) -> str:
        return self.group

    @property
    def live(self) -> bool:
        return self.status is not Status.CANCELLED


@dataclass(frozen=True)
class Planned:
    """One reservation a booking needs: a room and, for a series, one occurrence."""

    room: str
    original: datetime | None
    begin: datetime
    end: datetime
    description: str


def handle_of(syscodes: Mapping[str, Sequence[int]], versions: Mapping[int, str | None]) -> Handle:
    """The reservations of a meeting per room, with their change times as versions (when the tenant exposes one)."""
    return Handle(
        {room: tuple(str(s) for s in sorted(set(codes))) for room, codes in syscodes.items()},
        {str(s): version for s, version in versions.items() if version is not None},
    )


def native_key(value: object) -> str:
    """The booking id of a native series from its field's value: ``N1001`` (a reference) or ``N:abc`` (a text)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"N{value}"
    if isinstance(value, str) and value.strip():
        return f"N:{value.strip()}"
    return ""


def native_value(booking_id: str) -> int | str | None:
    """The field value a :func:`native_key` came from, as Planon takes it in a filter; ``None`` for other ids."""
    if booking_id.startswith("N:") and len(booking_id) > 2:
        return booking_id[2:]
    if booking_id.startswith("N") and booking_id[1:].isdigit():
        return int(booking_id[1:])
    return None


class Codec:
    def __init__(self, settings: PlanonSettings) -> None:
        self.settings = settings
        self.f = settings.reservation_fields
        self.user_zone = zone(settings.time_zone)
        self.limits = field_limits(settings.field_lengths.description, settings.field_lengths.attendees)

    # -- wall clock ------------------------------------------------------------------------------------------------
    def wall(self, moment: datetime) -> dict[str, str]:
        local = moment.astimezone(self.user_zone)
        return {"date": local.strftime("%Y-%m-%d"), "time": local.strftime("%H:%M:%S")}

    def instant(self, value: object, what: str) -> datetime:
        """A ``{date, time}`` object (or ``YYYY-MM-DD hh:mm:ss`` text) in the user's zone as a UTC instant."""
        if isinstance(value, Mapping):
            day_text, time_text = value.get("date"), value.get("time", "00:00:00")
        elif isinstance(value, str):
            day_text, _, time_text = value.strip().replace("T", " ").partition(" ")
        else:
            raise RowError(f"{what} is not a date-time: {value!r}")
        try:
            day = date.fromisoformat(str(day_text))
            clock = time.fromisoformat(str(time_text or "00:00:00")[:8])
        except ValueError:
            raise RowError(f"{what} is not a date-time: {value!r}") from None
        return datetime.combine(day, clock).replace(tzinfo=self.user_zone).astimezone(UTC)

    # -- records -> rows ---------------------------------------------------------------------------------------------
    def row(self, record: Any, rooms_by_syscode: Mapping[int, str]) -> Row:
        f = self.f
        if not isinstance(record, dict):
            raise RowError("the record is not a JSON object")
        syscode = record.get(f.syscode)
        if not isinstance(syscode, int) or isinstance(syscode, bool):
            raise RowError(f"{f.syscode} is missing")
        room = rooms_by_syscode.get(record.get(f.reservation_unit))  # type: ignore[arg-type]
        if room is None:
            raise RowError(f"{f.reservation_unit} {record.get(f.reservation_unit)!r} is not one of the rooms")
        begin, end = self.instant(record.get(f.begin), f.begin), self.instant(record.get(f.end), f.end)
        if end <= begin:
            raise RowError(f"{f.end} is not after {f.begin}")
        state = self.state_name(record.get(f.state))
        try:
            series = SeriesText.parse(_text(record.get(f.recurrence)))
            occurrence = parse_occurrence(_text(record.get(f.occurrence_id)))
        except ValueError as exc:
            raise RowError(str(exc)) from None
        requestor = record.get(f.requestor)
        changed = None
        if f.changed_at and record.get(f.changed_at) is not None:
            changed = self.instant(record.get(f.changed_at), f.changed_at)
        link_text = _text(record.get(f.link))
        meeting_id = _text(record.get(f.meeting_id)).strip()
        native = native_key(record.get(f.native_series)) if f.native_series else ""
        return Row(
            syscode=syscode,
            room=room,
            begin=begin,
            end=end,
            description=_text(record.get(f.description), f.description),
            state=state,
            status=self.status(state),
            requestor=requestor if isinstance(requestor, int) and not isinstance(requestor, bool) else None,
            external_requestor=_text(record.get(f.external_requestor)),
            meeting_id=meeting_id,
            occurrence=occurrence,
            link_text=link_text,
            link=Link.decode(link_text),
            attendees_text=_text(record.get(f.attendees)),
            series_text=_text(record.get(f.recurrence)),
            series=series,
            changed=changed,
            version=self.version_of(record) if changed is not None else None,
            native=native,
            group=meeting_id or native or f"R{syscode}",
        )

    def version_of(self, record: Mapping[str, Any]) -> str | None:
        """The change time as sent, as text (the precondition a write sends back exactly as it was read)."""
        value = record.get(self.f.changed_at) if self.f.changed_at else None
        return None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"))

    def group_of(self, record: Mapping[str, Any]) -> str:
        """The meeting a record that cannot be read belongs to, so its meeting is skipped with it ("" if none)."""
        meeting = record.get(self.f.meeting_id)
        if isinstance(meeting, str) and meeting.strip():
            return meeting.strip()
        return native_key(record.get(self.f.native_series)) if self.f.native_series else ""

    def state_name(self, value: object) -> str:
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and value in self.settings.states.syscodes:
            return self.settings.states.syscodes[value]
        raise RowError(f"state {value!r} is unknown (set spec.planon.states.syscodes for a syscode state field)")

    def status(self, state: str) -> Status:
        if state in self.settings.states.cancelled:
            return Status.CANCELLED
        if state in self.settings.states.tentative:
            return Status.TENTATIVE
        return Status.CONFIRMED

    # -- rows -> booking ---------------------------------------------------------------------------------------------
    def booking(
        self,
        booking_id: str,
        rows: Sequence[Row],
        persons: Mapping[int, Person],
        zones: Mapping[str, str],
        window: Window | None,
        *,
        inferred: SeriesText | None = None,
        originals: Mapping[int, datetime] | None = None,
    ) -> Booking:
        """The canonical booking of one meeting's reservations (all in this store's rooms).

        ``inferred`` and ``originals`` (syscode -> the occurrence's original start) describe a native series whose
        reservations carry no series text yet (:func:`.native.infer`).
        """
        ordered = sorted(rows, key=lambda r: (r.begin, r.syscode))
        live = [r for r in ordered if r.live]
        shown = live or ordered
        latest = _latest(live or ordered)
        first = shown[0]
        series = inferred or _series_of(ordered)
        status = (
            Status.CANCELLED
            if not live
            else (Status.TENTATIVE if all(r.status is Status.TENTATIVE for r in live) else Status.CONFIRMED)
        )
        link = max((r.link for r in ordered if r.link), key=lambda k: k.seq, default=None)
        required, optional = parse_attendees(latest.attendees_text)
        native: dict[str, list[int]] = defaultdict(list)
        for r in shown:
            native[r.room].append(r.syscode)
        common: dict[str, Any] = {
            "id": booking_id,
            "organizer": self._organizer(first, persons),
            "required": required,
            "optional": optional,
            "rooms": frozenset(r.room for r in shown),
            "status": status,
            "link": link,
            "handle": handle_of(native, {r.syscode: r.version for r in shown}),
            "last_modified": max((r.changed for r in ordered if r.changed), default=None),
        }
        if series is not None and series.rule is not None:
            written = max(r.occurrence or r.begin for r in ordered)
            last = max(r.end for r in ordered)  # cancelled ones too: a cancelled last occurrence is an exdate
            return self._series_booking(common, series, shown, window, written, last, originals or {})
        tz = series.tz if series is not None else zones.get(first.room, self.settings.time_zone)
        return Booking(
            subject=first.description,
            start=first.begin,
            end=first.end,
            timezone=tz,
            all_day=bool(series and series.all_day),
            **common,
        )

    def _series_booking(
        self,
        common: dict[str, Any],
        series: SeriesText,
        rows: Sequence[Row],
        window: Window | None,
        written: datetime,
        last: datetime,
        originals: Mapping[int, datetime],
    ) -> Booking:
        assert series.rule is not None
        by_original: dict[datetime, list[Row]] = defaultdict(list)
        for r in rows:
            if r.live:
                by_original[originals.get(r.syscode) or r.occurrence or r.begin].append(r)
        subjects = Counter(r.description for r in rows if r.live)
        subject = subjects.most_common(1)[0][0] if subjects else rows[0].description
        if window is not None:
            low, high = window.start, window.end
        else:
            low, high = series.start, max(last, series.start) + timedelta(days=1)
        starts = series.rule.starts(series.start, series.tz, high)
        in_range = [s for s in starts if low <= s < high]
        if series.rule.open_ended:
            # An open-ended series is written up to the end of the window it was written in (``written`` is its last
            # occurrence, live or cancelled); later occurrences are not cancelled, only not written yet.
            in_range = [s for s in in_range if s <= written]
        exdates = [s for s in in_range if s not in by_original]
        overrides = []
        known = set(starts)
        for original, members in sorted(by_original.items()):
            if original not in known:
                continue  # an occurrence id the current rule does not give: the rule was changed elsewhere
            r = min(members, key=lambda m: m.syscode)
            moved = (r.begin, r.end) != (original, original + series.duration)
            renamed = r.description != subject
            if moved or renamed:
                overrides.append(OccurrenceOverride(original, r.begin, r.end, r.description if renamed else None))
        return Booking(
            subject=subject,
            start=series.start,
            end=series.start + series.duration,
            timezone=series.tz,
            all_day=series.all_day,
            recurrence=series.rule.with_exceptions(exdates, overrides),
            **common,
        )

    @staticmethod
    def _organizer(row: Row, persons: Mapping[int, Person]) -> Person | None:
        if row.requestor is not None and row.requestor in persons:
            return persons[row.requestor]
        try:
            return Person(normalise_email(row.external_requestor)) if row.external_requestor else None
        except ValueError:
            return None

    # -- booking -> reservations -------------------------------------------------------------------------------------
    def plan(self, booking: Booking, rooms: Collection[str], horizon: datetime | None = None) -> list[Planned]:
        """The reservations a booking needs in ``rooms``: one per room, times one per occurrence for a series.

        A series without an end is written up to ``horizon`` (the end of the sync window; the store reports it
        stale once the window moves past its last occurrence, and it is extended then). Without a horizon it is
        refused, as Connect for Outlook declines unlimited series.
        """
        if booking.recurrence is None:
            subject = self.fit_subject(booking.subject)
            return [Planned(room, None, booking.start, booking.end, subject) for room in sorted(rooms)]
        if booking.recurrence.open_ended and horizon is None:
            raise BookingRefused(
                "Planon does not support a recurrence without an end (give an end date or a number of occurrences)",
                code="RS_UNLIMITED_SERIES",
                backend=BACKEND,
            )
        occurrences = booking.recurrence.occurrences(
            booking.start,
            booking.duration,
            booking.timezone,
            booking.start - timedelta(days=366),
            horizon if booking.recurrence.open_ended and horizon is not None else booking.start + SERIES_HORIZON,
        )
        if len(occurrences) * max(1, len(rooms)) > self.settings.max_occurrences:
            raise BookingRefused(
                f"the series needs {len(occurrences)} occurrences in {len(rooms)} room(s); RoomSync writes at most "
                f"{self.settings.max_occurrences} reservations per meeting (spec.planon.maxOccurrences)",
                code="RS_TOO_MANY_OCCURRENCES",
                backend=BACKEND,
            )
        return [
            Planned(room, o.original_start, o.start, o.end, self.fit_subject(o.subject or booking.subject))
            for room in sorted(rooms)
            for o in occurrences
        ]

    def fit_subject(self, subject: str) -> str:
        """A subject as Planon's Description holds it: cut to its length with a visible ellipsis."""
        return fit_subject(subject, self.limits.subject)

    def unwritten(self, rows: Sequence[Row], window: Window) -> frozenset[str]:
        """Meetings holding an open-ended series whose reservations stop before the window does."""
        groups: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            groups[r.booking_id].append(r)
        result = set()
        for booking_id, members in groups.items():
            series = _series_of(members)
            if series is None or series.rule is None or not series.rule.open_ended or not any(r.live for r in members):
                continue
            written = max(r.occurrence or r.begin for r in members)
            starts = series.rule.starts(series.start, series.tz, window.end)
            if any(written < s < window.end for s in starts):
                result.add(booking_id)
        return frozenset(result)

    def series_text(self, booking: Booking) -> str:
        if booking.recurrence is None and not booking.all_day:
            return ""
        rule = booking.recurrence.with_exceptions() if booking.recurrence is not None else None
        return SeriesText(booking.timezone, booking.start, booking.duration, rule, booking.all_day).format()

    def row_values(self, planned: Planned) -> dict[str, Any]:
        f = self.f
        return {
            f.begin: self.wall(planned.begin),
            f.end: self.wall(planned.end),
            f.description: planned.description,
            f.occurrence_id: format_occurrence(planned.original) if planned.original else "",
        }

    def changed_values(self, row: Row, planned: Planned, shared: Mapping[str, Any]) -> dict[str, Any]:
        """Only what differs between a stored reservation and what it should be (Planon keeps history per field)."""
        f = self.f
        values: dict[str, Any] = {}
        if (row.begin, row.end) != (_second(planned.begin), _second(planned.end)):
            values[f.begin], values[f.end] = self.wall(planned.begin), self.wall(planned.end)
        if row.description != planned.description:
            values[f.description] = planned.description
        occurrence = format_occurrence(planned.original) if planned.original else ""
        if (format_occurrence(row.occurrence) if row.occurrence else "") != occurrence:
            values[f.occurrence_id] = occurrence
        current = {
            f.meeting_id: row.meeting_id,
            f.link: row.link_text,
            f.attendees: row.attendees_text,
            f.recurrence: row.series_text,
            f.requestor: row.requestor,
            f.external_requestor: row.external_requestor,
        }
        for name, value in shared.items():
            if name in current and (current[name] or None) != (value or None):
                values[name] = value
        return values


def _latest(rows: Sequence[Row]) -> Row:
    """The row written last (by change time where the tenant exposes one, else the highest syscode)."""
    return max(rows, key=lambda r: (r.changed or datetime.min.replace(tzinfo=UTC), r.syscode))


def _series_of(rows: Sequence[Row]) -> SeriesText | None:
    """The series text of a meeting: the newest live reservation's. A cancelled reservation keeps the text it had
    when it was cancelled (a shortened series leaves its dropped occurrences with the old rule), so it is only read
    when the whole meeting is cancelled."""
    live = [r for r in rows if r.live]
    for r in sorted(
        live or rows, key=lambda r: (r.changed or datetime.min.replace(tzinfo=UTC), r.syscode), reverse=True
    ):
        if r.series is not None:
            return r.series
    return None


def group_key(values: Mapping[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, default=str)


def _second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _text(value: object, name: str = "a text field") -> str:
    """A text field; a structured value (object, list) is a record RoomSync cannot read, never text to sync."""
    if isinstance(value, dict | list):
        raise RowError(f"{name} holds a {type(value).__name__}, not text")
    return value if isinstance(value, str) else ("" if value is None else str(value))


def diff(
    existing: Sequence[Row], planned: Sequence[Planned], now: datetime
) -> tuple[list[Row], list[tuple[Row, Planned]], list[Planned]]:
    """Which reservations to cancel, update and create so ``existing`` becomes ``planned``.

    Cancelled reservations are history and never reused; reservations that already ended are never touched and
    occurrences that already ended are never created (as Connect for Outlook leaves past occurrences alone). Matching
    is by (room, occurrence id); what is left is paired per room in time order, so a moved series is updated in
    place instead of cancelled and re-created, and the reservations of a native series (no occurrence ids yet) get
    theirs.
    """
    live = [r for r in existing if r.live]
    past_rows = [r for r in live if r.end <= now]
    current = [r for r in live if r.end > now]
    past_keys = {(r.room, r.occurrence) for r in past_rows}
    wanted = [p for p in planned if p.end > now and (p.room, p.original) not in past_keys]
    series = any(p.original is not None for p in planned)
    by_key: dict[tuple[str, datetime | None], Row] = {}
    unkeyed: list[Row] = []
    for r in sorted(current, key=lambda r: r.syscode):
        if series and r.occurrence is None:
            unkeyed.append(r)
        else:
            by_key.setdefault((r.room, r.occurrence), r)
    keyed = {r.syscode for r in by_key.values()} | {r.syscode for r in unkeyed}
    cancels: list[Row] = [r for r in current if r.syscode not in keyed]  # a second reservation for one occurrence
    updates: list[tuple[Row, Planned]] = []
    unmatched_plans: dict[str, list[Planned]] = defaultdict(list)
    for p in wanted:
        row = by_key.pop((p.room, p.original), None)
        if row is not None:
            updates.append((row, p))
        else:
            unmatched_plans[p.room].append(p)
    unmatched_rows: dict[str, list[Row]] = defaultdict(list)
    for row in [*by_key.values(), *unkeyed]:
        unmatched_rows[row.room].append(row)
    creates: list[Planned] = []
    for room in sorted(set(unmatched_plans) | set(unmatched_rows)):
        rows = sorted(unmatched_rows.get(room, []), key=lambda r: r.begin)
        plans = sorted(unmatched_plans.get(room, []), key=lambda p: p.begin)
        updates += list(zip(rows, plans, strict=False))
        cancels += rows[len(plans) :]
        creates += plans[len(rows) :]
    return cancels, updates, creates
