"""The backend-neutral world the scenarios are written against.

A scenario says what people do ("Ben books two rooms in Outlook", "Anna books at a Planon kiosk"), runs sync cycles
through :class:`~roomsync.sync.runner.RoomSyncRunner` (the code the operator runs), and asserts what both sides hold.
Planon is always the Planon sandbox; the calendar side is a :class:`CalendarBackend` adapter (today the Graph
sandbox; EWS and Google plug in by adding an adapter), so the same scenarios pin every calendar connector.

Times: every cycle gets the world's fixed ``now`` (a Monday in March 2031, so both the US and the EU change to summer
time fall inside the sync window), never the wall clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from roomsync.config.references import DictSource, resolve
from roomsync.config.roomsync import RoomSyncConfig
from roomsync.connectors.registry import capabilities
from roomsync.engine import ActionKind
from roomsync.model import Side
from roomsync.sandbox.planon import PlanonSandbox
from roomsync.sync.cycle import CycleResult
from roomsync.sync.runner import ClientPool, RoomSyncRunner
from roomsync.sync.status import cycle_status

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")
DOMAIN = "contoso.example"
#: Monday 3 March 2031, 08:00 in Amsterdam. The US changes to summer time on 9 March, the EU on 30 March.
NOW = datetime(2031, 3, 3, 7, 0, tzinfo=UTC)
US_DST = date(2031, 3, 9)
EU_DST = date(2031, 3, 30)
CANCELLED = "UsrReservationCancelled"


def person(name: str) -> str:
    return f"{name}@{DOMAIN}"


ANNA, BEN, CARLA, DEV = person("anna"), person("ben"), person("carla"), person("dev")
#: An organizer who is not a Planon person (she works for a customer in New York).
NORA = "nora@customer.example"


def at(day: date | int, hour: int, minute: int = 0, tz: ZoneInfo = AMSTERDAM) -> datetime:
    """A wall time in ``tz``; ``day`` is a date or a number of days after NOW's date."""
    when = day if isinstance(day, date) else NOW.astimezone(tz).date() + timedelta(days=day)
    return datetime.combine(when, time(hour, minute), tzinfo=tz)


@dataclass(frozen=True)
class Room:
    """A meeting room as the scenarios name it: its Planon reservation-unit code and its mailbox."""

    code: str
    mailbox: str
    leads: bool = False
    max_minutes: int | None = None
    opening: tuple[str, str] | None = None  # (from, to) on weekdays in Amsterdam; None = always open


L1 = Room("AMS-L1", f"ams-l1@{DOMAIN}", leads=True, max_minutes=240, opening=("07:00", "20:00"))
F1 = Room("AMS-F1", f"ams-f1@{DOMAIN}")
F2 = Room("AMS-F2", f"ams-f2@{DOMAIN}")
F3 = Room("AMS-F3", f"ams-f3@{DOMAIN}")
F4 = Room("AMS-F4", f"ams-f4@{DOMAIN}", opening=("07:00", "20:00"))
ROOMS = (L1, F1, F2, F3, F4)
#: RoomSync name -> (leader, rooms). The boardroom follows Planon's decisions; the other rooms follow Exchange.
ROOMSYNCS = {"lead": ("Planon", (L1,)), "follow": ("Calendar", (F1, F2, F3, F4))}


# -- what each side holds, in backend-neutral terms ----------------------------------------------------------------
@dataclass(frozen=True)
class Reservation:
    """One Planon reservation as a person sees it in Planon."""

    syscode: int
    room: str
    subject: str
    start: datetime
    end: datetime
    state: str
    organizer: str | None
    meeting: str | None
    occurrence: str | None
    attendees: str
    series: str
    changed: str
    native_series: int | None = None  # Planon's own series link (the emulator's RecurrentReservationRef)

    @property
    def live(self) -> bool:
        return self.state != CANCELLED


@dataclass(frozen=True)
class CalendarEntry:
    """One occurrence in a room calendar as a person sees it in Outlook (series are expanded)."""

    meeting: str  # the identity every room's copy shares (Graph: iCalUId)
    item: str  # the room's own item (a series master for occurrences)
    subject: str
    start: datetime
    end: datetime
    all_day: bool
    organizer: str | None
    required: frozenset[str]
    optional: frozenset[str]
    response: str  # accepted / tentative / notResponded / organizer
    cancelled: bool
    recurring: bool
    exception: bool = False


class CalendarBackend(Protocol):
    """What a calendar sandbox adapter offers the scenarios. Times are aware datetimes; rooms are :class:`Room`."""

    name: str

    async def start(self, rooms: Sequence[Room]) -> None: ...

    async def stop(self) -> None: ...

    def connection(self) -> tuple[dict[str, Any], dict[tuple[str, str], str]]:
        """The Connection ``spec`` (e.g. ``{"graph": {...}}``) and the secret values it refers to."""
        ...

    async def set_rewrites(self, room: Room, *, add_organizer: bool, delete_subject: bool) -> None: ...

    async def book(
        self,
        organizer: str,
        rooms: Sequence[Room],
        subject: str,
        start: datetime,
        end: datetime,
        *,
        required: Iterable[str] = (),
        optional: Iterable[str] = (),
        rrule: str | None = None,
        all_day: bool = False,
        tz: str = "Europe/Amsterdam",
        organizer_name: str | None = None,
    ) -> str: ...

    async def edit(self, meeting: str, **changes: Any) -> None:
        """Organizer's change: subject, start, end, rooms (list of Room), required, optional, rrule."""
        ...

    async def cancel(self, meeting: str) -> None: ...

    async def move_occurrence(self, meeting: str, original: datetime, start: datetime, end: datetime) -> None: ...

    async def cancel_occurrence(self, meeting: str, original: datetime) -> None: ...

    async def entries(self, room: Room, start: datetime, end: datetime) -> list[CalendarEntry]: ...

    async def items(self, room: Room) -> int:
        """How many items (singles and series masters, cancelled ones included) the room calendar holds."""
        ...

    async def answers(self, meeting: str) -> list[tuple[str, str, str]]:
        """The rooms' answers sent to the organizer: (room mailbox, accept/decline/..., comment)."""
        ...


# -- the world --------------------------------------------------------------------------------------------------------
def planon_seed() -> dict[str, Any]:
    units = []
    for room in ROOMS:
        unit: dict[str, Any] = {"code": room.code, "name": room.code, "property": "AMS", "capacity": 12}
        unit["maxMinutes"] = room.max_minutes
        unit["opening"] = (
            {"days": "MO,TU,WE,TH,FR", "from": room.opening[0], "to": room.opening[1]} if room.opening else None
        )
        units.append(unit)
    return {
        "units": units,
        "persons": [
            {"email": ANNA, "firstName": "Anna", "lastName": "de Vries"},
            {"email": BEN, "firstName": "Ben", "lastName": "Smith"},
            {"email": CARLA, "firstName": "Carla", "lastName": "Jansen"},
            {"email": DEV, "firstName": "Dev", "lastName": "Patel"},
        ],
    }


@dataclass
class World:
    """Both sandboxes, the operator's runners on them, and what people do on either side."""

    calendar: CalendarBackend
    roomsync_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: merged into the Planon Connection's ``spec.planon`` (e.g. ``reservationFields.nativeSeries``)
    planon_settings: Mapping[str, Any] = field(default_factory=dict)
    now: datetime = NOW
    planon: PlanonSandbox = field(init=False)
    pool: ClientPool = field(init=False)
    runners: dict[str, RoomSyncRunner] = field(default_factory=dict, init=False)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)
    history: list[dict[str, CycleResult]] = field(default_factory=list, init=False)
    #: a refused create that is reported (``onRefused: Report``, a pattern the calendar cannot express) is retried,
    #: and reported, every cycle by design
    refusals_expected: bool = field(default=False, init=False)

    async def start(self) -> World:
        self.planon = PlanonSandbox()
        await self.planon.start()
        await self.planon.admin.seed(planon_seed())
        await self.calendar.start(ROOMS)
        self.pool = ClientPool()
        calendar_spec, calendar_secrets = self.calendar.connection()
        secrets = {**self.planon.demo_secrets(), **calendar_secrets}
        planon_spec = self.planon.connection_spec() | dict(self.planon_settings)
        connections = {Side.PLANON: {"planon": planon_spec}, Side.CALENDAR: calendar_spec}
        for name, (leader, rooms) in ROOMSYNCS.items():
            config = RoomSyncConfig.from_manifest(self._manifest(name, leader, rooms))
            source = DictSource(
                {
                    ("scenarios", n): {"spec": connections[side]}
                    for n, side in (("planon", Side.PLANON), ("calendar", Side.CALENDAR))
                },
                _secrets_by_name("scenarios", secrets),
            )
            self.runners[name] = await RoomSyncRunner.open(config, self.pool, await resolve(source, config))
        for client in self.pool.clients():
            if client.backend == "planon":
                client.clock = lambda: self.now  # type: ignore[attr-defined]  # past reservations are left alone
        return self

    def _manifest(self, name: str, leader: str, rooms: Sequence[Room]) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "planon": {"connectionRef": "planon"},
            "calendar": {"connectionRef": "calendar"},
            "leader": leader,
            "rooms": [{"planon": r.code, "calendar": r.mailbox} for r in rooms],
            "window": {"past": "1d", "future": "60d"},
            **self.roomsync_overrides.get(name, {}),
        }
        return {"metadata": {"name": name, "namespace": "scenarios", "generation": 1}, "spec": spec}

    @property
    def room_agent(self) -> bool:
        """Whether the calendar decides meeting requests by itself (Exchange) or leaves them (CalDAV)."""
        return capabilities(self.calendar.name).room_agent

    async def stop(self) -> None:
        await self.pool.aclose()
        await self.calendar.stop()
        await self.planon.stop()

    # -- people --------------------------------------------------------------------------------------------------
    @property
    def outlook(self) -> CalendarBackend:
        """A person in Outlook (or the room's delegate): books, edits and cancels meetings with rooms invited."""
        return self.calendar

    async def kiosk_book(
        self,
        rooms: Room | Sequence[Room],
        start: datetime,
        end: datetime,
        subject: str,
        *,
        requestor: str | None = ANNA,
        rrule: str | None = None,
    ) -> list[Reservation]:
        """A person books at a Planon touchpoint (kiosk, web, app) as Planon lets them: a unit or several, times, a
        subject and who it is for; no attendees. Several rooms are one reservation per room with nothing tying
        them; ``rrule`` is Planon's "Make recurrent" (daily, weekly or monthly, with an end): one reservation per
        occurrence, tied only by Planon's native series link."""
        units = [rooms.code] if isinstance(rooms, Room) else [r.code for r in rooms]
        made = await self.planon.admin.book(units, start, end, subject, requestor=requestor, recurrence=rrule)
        return [_reservation(v) for v in made]

    async def kiosk_edit(
        self,
        reservation: Reservation | int,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        subject: str | None = None,
    ) -> Reservation:
        syscode = reservation if isinstance(reservation, int) else reservation.syscode
        return _reservation(await self.planon.admin.edit(syscode, start=start, end=end, subject=subject))

    async def kiosk_cancel(self, reservations: Reservation | Iterable[Reservation]) -> None:
        items = [reservations] if isinstance(reservations, Reservation) else list(reservations)
        await self.planon.admin.cancel([r.syscode for r in items])

    async def outlook_edit_during_next_write(self, meeting: str, **changes: Any) -> None:
        """A person makes ``outlook.edit``'s change at the moment RoomSync's next calendar update starts: after the
        cycle read and planned the meeting, before its write reaches the calendar (preconditions, issue 12). Only
        the moment is caught, at the port; the write itself goes to the backend as always."""
        stores = {name: runner.stores[Side.CALENDAR] for name, runner in self.runners.items()}

        def wrap(store: Any) -> Any:
            real = store.update

            async def update(current: Any, desired: Any, fields: Any) -> Any:
                for other in stores.values():
                    vars(other).pop("update", None)  # once: the next update is RoomSync's own again
                await self.outlook.edit(meeting, **changes)
                return await real(current, desired, fields)

            return update

        for store in stores.values():
            store.update = wrap(store)

    # -- the operator --------------------------------------------------------------------------------------------
    async def sync(self, *only: str) -> dict[str, CycleResult]:
        """One operator cycle per RoomSync (or only the named ones), at the world's ``now``."""
        results = {}
        for name, runner in self.runners.items():
            if only and name not in only:
                continue
            result = await runner.cycle(self.now)
            self.statuses[name] = cycle_status(self.statuses.get(name), result, self.now, runner.config.generation)
            results[name] = result
        self.history.append(results)
        return results

    async def assert_steady(self, cycles: int = 1, *, allow_refused: bool = False) -> None:
        """Scenario 12: further cycles plan zero actions (or only a reported, refused create being retried)."""
        for _ in range(cycles):
            for name, result in (await self.sync()).items():
                assert result.error is None, f"{name}: {result.message}"
                assert result.plan is not None
                actions = result.plan.actions
                if allow_refused:
                    actions = tuple(
                        a for a in actions if not (a.kind is ActionKind.CREATE and _refused_again(result, a))
                    )
                described = [a.describe() for a in actions]
                assert not described, f"{name} is not in a steady state; it plans {described}"

    # -- what each side holds ---------------------------------------------------------------------------------------
    async def reservations(self, room: Room, *, live: bool = True) -> list[Reservation]:
        views = [_reservation(v) for v in await self.planon.admin.reservations(room.code)]
        return [r for r in views if r.live or not live]

    async def entries(self, room: Room, days: int = 60) -> list[CalendarEntry]:
        """Occurrences in the room calendar from a day before ``now`` for ``days`` days (cancelled ones left out)."""
        found = await self.calendar.entries(room, self.now - timedelta(days=1), self.now + timedelta(days=days))
        return [e for e in found if not e.cancelled]


def _secrets_by_name(namespace: str, values: Mapping[tuple[str, str], str]) -> dict[tuple[str, str], dict[str, str]]:
    """``{(secret, key): value}`` as the Secrets a source holds: ``{(namespace, secret): {key: value}}``."""
    secrets: dict[tuple[str, str], dict[str, str]] = {}
    for (name, key), value in values.items():
        secrets.setdefault((namespace, name), {})[key] = value
    return secrets


def _refused_again(result: CycleResult, action: Any) -> bool:
    report = result.report
    return report is not None and any(
        o.action is action and not o.ok and o.reason == "BookingRefused" for o in report.outcomes
    )


def _reservation(view: Mapping[str, Any]) -> Reservation:
    fields = view.get("fields") or {}
    return Reservation(
        syscode=int(view["syscode"]),
        room=str(view["unit"]),
        subject=str(view.get("description") or ""),
        start=datetime.fromisoformat(view["start"]).astimezone(UTC),
        end=datetime.fromisoformat(view["end"]).astimezone(UTC),
        state=str(view["state"]),
        organizer=view.get("requestor") or view.get("externalRequestor"),
        meeting=fields.get("FreeString1"),
        occurrence=fields.get("FreeString2"),
        attendees=fields.get("FreeText2") or "",
        series=fields.get("FreeText3") or "",
        changed=str(view.get("changed") or ""),
        native_series=view.get("recurrentReservation"),
    )


def local(moment: datetime, tz: ZoneInfo = AMSTERDAM) -> str:
    """``Tue 11 Mar 10:00`` - how a person in ``tz`` reads an instant; assertions compare these."""
    return moment.astimezone(tz).strftime("%a %d %b %H:%M")


def span(item: Reservation | CalendarEntry, tz: ZoneInfo = AMSTERDAM) -> str:
    return f"{local(item.start, tz)}-{item.end.astimezone(tz):%H:%M}"
