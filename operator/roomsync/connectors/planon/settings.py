"""A Connection's ``spec.planon`` as typed settings, with the defaults the CRD documents.

Every definition, field and state name is configurable because each Planon tenant exposes its own REST
definitions (reference §1.1, §6.1). The defaults match the definitions docs/planon.md asks a Planon administrator
to create, and the sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final

from roomsync.model import to_iana

CANCEL_BY_STATE: Final = "ChangeState"
CANCEL_BY_DELETE: Final = "Delete"


@dataclass(frozen=True)
class Definitions:
    reservation: str = "UsrReservationMeetingRoom"
    reservation_unit: str = "ReservationUnit"
    property: str = "Property"
    person: str = "Person"


@dataclass(frozen=True)
class ReservationFields:
    syscode: str = "Syscode"
    begin: str = "BeginDateTime"
    end: str = "EndDateTime"
    description: str = "Description"
    reservation_unit: str = "ReservationUnitRef"
    property: str = "PropertyRef"
    order_group: str = "OrderGroupRef"
    requestor: str = "RequestorPersonRef"
    external_requestor: str = "ExternalRequestor"
    state: str = "SystemState"
    meeting_id: str = "FreeString1"
    occurrence_id: str = "FreeString2"
    link: str = "FreeText1"
    attendees: str = "FreeText2"
    recurrence: str = "FreeText3"
    changed_at: str = ""  # empty: no incremental reads, and writes carry no precondition
    number_of_people: str = ""  # empty: not written
    #: A field Planon fills on every reservation of a native series ("Make recurrent") with the same value (the
    #: emulator: ``RecurrentReservationRef``); empty: each native reservation is a meeting of its own.
    native_series: str = ""


@dataclass(frozen=True)
class UnitFields:
    syscode: str = "Syscode"
    code: str = "Code"
    property: str = "PropertyRef"
    order_group: str = "OrderGroupRef"
    capacity: str = "Capacity"
    name: str = "Name"
    email: str = ""  # empty: the tenant keeps no mailbox address on its units


@dataclass(frozen=True)
class PropertyFields:
    syscode: str = "Syscode"
    time_zone: str = "TimeZone"
    name: str = "Name"


@dataclass(frozen=True)
class FieldLengths:
    """The longest text Planon stores in the subject and attendee fields (tenant-configured in the Field Definer).

    Longer values are shortened with a visible marker instead of refused, so Planon still holds the room; see
    :func:`field_limits`.
    """

    description: int = 100
    attendees: int = 2000


@dataclass(frozen=True)
class PersonFields:
    syscode: str = "Syscode"
    email: str = "Email"
    first_name: str = "FirstName"
    last_name: str = "LastName"


@dataclass(frozen=True)
class States:
    cancel: str = "UsrReservationCancelled"
    cancelled: tuple[str, ...] = ("UsrReservationCancelled",)
    tentative: tuple[str, ...] = ("UsrReservationOption",)
    #: state syscode -> system name, for definitions whose state field is ``BusinessObjectStateRef`` (a syscode)
    syscodes: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanonSettings:
    url: str
    time_zone: str = "UTC"
    ca_bundle: str | None = None
    definitions: Definitions = Definitions()
    reservation_fields: ReservationFields = ReservationFields()
    unit_fields: UnitFields = UnitFields()
    property_fields: PropertyFields = PropertyFields()
    person_fields: PersonFields = PersonFields()
    states: States = States()
    field_lengths: FieldLengths = FieldLengths()
    order_group: int | None = None  # None: the reservation unit's own order group
    safe_warnings: tuple[str, ...] = ("PN_H00427",)
    cancel_mode: str = CANCEL_BY_STATE
    chunk_size: int = 100
    cache_seconds: float = 600.0
    request_timeout_seconds: float = 30.0
    read_attempts: int = 3
    max_concurrent_requests: int = 16  # docs/planon.md §3: what a Planon Cloud tenant is asked to carry
    max_occurrences: int = 500
    change_overlap_seconds: float = 120.0

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> PlanonSettings:
        """Settings from ``spec.planon`` (camelCase keys as in the CRD); unknown keys are ignored."""
        states = spec.get("states", {})
        return cls(
            url=str(spec["url"]).rstrip("/"),
            time_zone=to_iana(spec.get("timeZone", "UTC")),
            ca_bundle=spec.get("caBundle"),
            definitions=_section(Definitions, spec.get("definitions")),
            reservation_fields=_section(ReservationFields, spec.get("reservationFields")),
            unit_fields=_section(UnitFields, spec.get("reservationUnitFields")),
            property_fields=_section(PropertyFields, spec.get("propertyFields")),
            person_fields=_section(PersonFields, spec.get("personFields")),
            states=States(
                cancel=states.get("cancel", States.cancel),
                cancelled=tuple(states.get("cancelled", States.cancelled)),
                tentative=tuple(states.get("tentative", States.tentative)),
                syscodes={int(k): str(v) for k, v in states.get("syscodes", {}).items()},
            ),
            field_lengths=FieldLengths(
                **{f.name: int(v) for f in fields(FieldLengths) if (v := spec.get("fieldLengths", {}).get(f.name))}
            ),
            order_group=spec.get("orderGroup"),
            safe_warnings=tuple(spec.get("safeWarnings", cls.safe_warnings)),
            cancel_mode=spec.get("cancelMode", CANCEL_BY_STATE),
            chunk_size=int(spec.get("chunkSize", cls.chunk_size)),
            cache_seconds=float(spec.get("cacheSeconds", cls.cache_seconds)),
            request_timeout_seconds=float(spec.get("requestTimeoutSeconds", cls.request_timeout_seconds)),
            read_attempts=int(spec.get("readAttempts", cls.read_attempts)),
            max_concurrent_requests=int(spec.get("maxConcurrentRequests", cls.max_concurrent_requests)),
            max_occurrences=int(spec.get("maxOccurrences", cls.max_occurrences)),
            change_overlap_seconds=float(spec.get("changeOverlapSeconds", cls.change_overlap_seconds)),
        )

    def with_fields(self, **changes: str) -> PlanonSettings:
        return replace(self, reservation_fields=replace(self.reservation_fields, **changes))


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _section(kind: type[Any], raw: Mapping[str, Any] | None) -> Any:
    """A dataclass of names from a camelCase mapping, defaults for what is not given."""
    if not raw:
        return kind()
    return kind(**{f.name: str(raw[_camel(f.name)]) for f in fields(kind) if _camel(f.name) in raw})
