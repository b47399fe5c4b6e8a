"""The emulated Planon data: persons, properties, reservation units, API users, reservations and their states.

Times are kept as UTC instants; every conversion to and from the ``{date, time}`` wall-clock values of the API
happens at the HTTP edge in the zone of the calling API user, as Planon does with time zones enabled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Final

#: Reservation states by system name with the syscode the emulator gives them. Planon's example shows the
#: initial state's syscode 229 and the system name pattern ``UsrReservationCompleted``; the others are chosen.
STATES: Final[dict[str, int]] = {
    "UsrReservationConfirmed": 229,
    "UsrReservationNoCheck": 230,
    "UsrReservationOption": 231,
    "UsrReservationCompleted": 232,
    "UsrReservationEarlyDeparture": 233,
    "UsrReservationNoShow": 234,
    "UsrReservationCancelled": 235,
}
CONFIRMED: Final = "UsrReservationConfirmed"
CANCELLED: Final = "UsrReservationCancelled"
OPTION: Final = "UsrReservationOption"
#: "From Confirmed, a reservation can go to No check, Option, Completed, Early departure, No show and Cancelled"
#: (reference §1.10). An option can be confirmed or cancelled; a no-check one can still complete or be cancelled.
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    CONFIRMED: frozenset(
        {
            "UsrReservationNoCheck",
            OPTION,
            "UsrReservationCompleted",
            "UsrReservationEarlyDeparture",
            "UsrReservationNoShow",
            CANCELLED,
        }
    ),
    OPTION: frozenset({CONFIRMED, CANCELLED}),
    "UsrReservationNoCheck": frozenset({"UsrReservationCompleted", CANCELLED}),
    "UsrReservationCompleted": frozenset(),
    "UsrReservationEarlyDeparture": frozenset(),
    "UsrReservationNoShow": frozenset(),
    CANCELLED: frozenset(),
}
#: States whose reservation no longer holds its unit.
RELEASED: Final = frozenset({CANCELLED, "UsrReservationNoShow"})
#: States in which a reservation may still be edited.
EDITABLE: Final = frozenset({CONFIRMED, OPTION, "UsrReservationNoCheck"})
WEEKDAYS: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
#: The free fields of the reservation definition (text values).
FREE_FIELDS: Final = ("FreeString1", "FreeString2", "FreeString3", "FreeText1", "FreeText2", "FreeText3", "FreeText4")
#: Longest text each field holds; a longer value is refused with a business error naming the field. Planon's real
#: sizes are tenant-configured and not public: these are the emulator's choice (docs/planon.md).
TEXT_LENGTHS: Final[dict[str, int]] = {
    "Description": 100,
    "ExternalRequestor": 254,
    **{name: 100 for name in FREE_FIELDS if name.startswith("FreeString")},
    **{name: 2000 for name in FREE_FIELDS if name.startswith("FreeText")},
}


def stamp() -> datetime:
    """Now, to the second: Planon's date-times (and so its change timestamp) carry whole seconds."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Property:
    syscode: int
    code: str
    name: str
    time_zone: str


@dataclass
class OpeningHours:
    """The unit's linked calendar: open on ``days`` from ``opens`` to ``closes`` in the property's zone."""

    days: frozenset[int] = frozenset(range(5))  # Monday = 0
    opens: time = time(7, 0)
    closes: time = time(20, 0)


@dataclass
class Unit:
    syscode: int
    code: str
    name: str
    property_ref: int
    order_group_ref: int
    capacity: int = 10
    max_minutes: int | None = 480
    opening: OpeningHours | None = field(default_factory=OpeningHours)
    advance_days: int | None = None
    email: str | None = None  # the room's mailbox, where a tenant records it on the unit


@dataclass
class OrderGroup:
    syscode: int
    code: str
    name: str


@dataclass
class Person:
    syscode: int
    email: str
    first_name: str = ""
    last_name: str = ""
    active: bool = True


@dataclass
class AccessKey:
    key: str
    expires: datetime | None = None


@dataclass
class User:
    """A Planon account the API is used as; ``time_zone`` is the zone its date-times are read and written in."""

    account: str
    time_zone: str = "UTC"
    active: bool = True
    access_keys: list[AccessKey] = field(default_factory=list)


@dataclass
class OidcClient:
    """A Keycloak client; tokens it gets act as the Planon user ``service-account-<client_id>``."""

    client_id: str
    secret: str

    @property
    def account(self) -> str:
        return f"service-account-{self.client_id}"


@dataclass
class Token:
    value: str
    account: str
    expires: datetime


@dataclass
class Reservation:
    syscode: int
    begin: datetime
    end: datetime
    description: str
    unit_ref: int
    property_ref: int
    order_group_ref: int
    requestor_ref: int | None = None
    external_requestor: str | None = None
    number_of_people: int | None = None
    state: str = CONFIRMED
    free: dict[str, str | None] = field(default_factory=dict)
    inserted: datetime = field(default_factory=stamp)
    changed: datetime = field(default_factory=stamp)
    source: str = "REST API"
    #: Native series ("Make recurrent"): the syscode of the reservation the series was made from, on every
    #: reservation of the series (that one included); ``None`` for a reservation outside a native series.
    recurrent_ref: int | None = None
    #: raw values returned instead of the real ones (admin "corrupt"), to test readers against bad data
    corrupt: dict[str, object] = field(default_factory=dict)

    @property
    def holds_unit(self) -> bool:
        return self.state not in RELEASED

    def overlaps(self, begin: datetime, end: datetime) -> bool:
        return self.begin < end and begin < self.end


def touch(reservation: Reservation, now: datetime | None = None) -> None:
    """Record a change. The change time is whole seconds (as every Planon date-time) and moves at least one second
    on every write of a reservation, so incremental readers see every write and a writer that filters on the change
    time it read (``{"SysChangeDateTime": {"eq": ...}}``) never overwrites a newer change, even one made in the same
    second. Whether Planon's own timestamp is that strict is not public: the emulator's choice (docs/planon.md)."""
    moment = (now or datetime.now(UTC)).replace(microsecond=0)
    reservation.changed = max(moment, reservation.changed + timedelta(seconds=1))
