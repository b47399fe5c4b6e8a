"""The REST API definitions the emulator exposes, their fields, and the filter language.

A Planon REST definition exposes one business object with chosen fields (reference §1.1). The emulator exposes the
defaults RoomSync documents: ``UsrReservationMeetingRoom`` (authorizable: read, BomAdd, update, changeState,
delete) and the read-only ``ReservationUnit``, ``Property``, ``Person`` and ``OrderGroup``.

Filters follow reference §1.4: ``{"Field": {"op": value}}`` lines that are AND-ed, operators ``exists``,
``contains``, ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``, ``in``, ``nin``. A date-time filter value is a
``{date, time}`` object or a ``"YYYY-MM-DD hh:mm:ss"``/``"YYYY-MM-DD"`` string in the API user's zone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from functools import lru_cache
from typing import Any, Final
from zoneinfo import ZoneInfo

from roomsync.sandbox.planon.model import FREE_FIELDS, STATES, TEXT_LENGTHS, Reservation

#: The longest ``in``/``nin`` list the emulator accepts (Planon's limit is not public; a bound keeps clients honest).
MAX_IN_VALUES: Final = 1000
OPERATORS: Final = frozenset({"exists", "contains", "eq", "ne", "lt", "le", "gt", "ge", "in", "nin"})


class ApiError(Exception):
    """An error answer: HTTP status plus a ``PN_`` code and description for the ``errors`` list."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description


def bad_request(code: str, description: str) -> ApiError:
    return ApiError(400, code, description)


def business_error(code: str, description: str) -> ApiError:
    return ApiError(422, code, description)


class Kind(StrEnum):
    INT = "int"
    STR = "str"
    BOOL = "bool"
    DATETIME = "datetime"


@dataclass(frozen=True)
class FieldSpec:
    kind: Kind
    writable: bool = True


@dataclass(frozen=True)
class Definition:
    name: str
    fields: Mapping[str, FieldSpec]
    authorizable: bool


R = FieldSpec
RESERVATION_FIELDS: Final[dict[str, FieldSpec]] = {
    "Syscode": R(Kind.INT, writable=False),
    "BeginDateTime": R(Kind.DATETIME),
    "EndDateTime": R(Kind.DATETIME),
    "BeginDateTimeUser": R(Kind.STR, writable=False),
    "EndDateTimeUser": R(Kind.STR, writable=False),
    "Description": R(Kind.STR),
    "ReservationUnitRef": R(Kind.INT),
    "PropertyRef": R(Kind.INT),
    "OrderGroupRef": R(Kind.INT),
    "RequestorPersonRef": R(Kind.INT),
    "ExternalRequestor": R(Kind.STR),
    "NumberOfPeople": R(Kind.INT),
    "BusinessObjectStateRef": R(Kind.INT, writable=False),
    "SystemState": R(Kind.STR, writable=False),
    "BusinessObjectDefinitionRef": R(Kind.INT, writable=False),
    "InsertDateTime": R(Kind.DATETIME, writable=False),
    "SysChangeDateTime": R(Kind.DATETIME, writable=False),
    "InsertSource": R(Kind.STR, writable=False),
    "RecurrentReservationRef": R(Kind.INT, writable=False),
    **{name: R(Kind.STR) for name in FREE_FIELDS},
}
RESERVATION_DEFINITION_REF: Final = 730

DEFINITIONS: Final[dict[str, Definition]] = {
    "UsrReservationMeetingRoom": Definition("UsrReservationMeetingRoom", RESERVATION_FIELDS, authorizable=True),
    "ReservationUnit": Definition(
        "ReservationUnit",
        {
            "Syscode": R(Kind.INT, False),
            "Code": R(Kind.STR, False),
            "Name": R(Kind.STR, False),
            "PropertyRef": R(Kind.INT, False),
            "OrderGroupRef": R(Kind.INT, False),
            "Capacity": R(Kind.INT, False),
            "MaxReservationDuration": R(Kind.INT, False),
            "AdvanceReservationDays": R(Kind.INT, False),
            "OpeningHours": R(Kind.STR, False),
            "Email": R(Kind.STR, False),
        },
        authorizable=False,
    ),
    "Property": Definition(
        "Property",
        {
            "Syscode": R(Kind.INT, False),
            "Code": R(Kind.STR, False),
            "Name": R(Kind.STR, False),
            "TimeZone": R(Kind.STR, False),
        },
        authorizable=False,
    ),
    "Person": Definition(
        "Person",
        {
            "Syscode": R(Kind.INT, False),
            "Email": R(Kind.STR, False),
            "FirstName": R(Kind.STR, False),
            "LastName": R(Kind.STR, False),
            "IsActive": R(Kind.BOOL, False),
        },
        authorizable=False,
    ),
    "OrderGroup": Definition(
        "OrderGroup",
        {"Syscode": R(Kind.INT, False), "Code": R(Kind.STR, False), "Name": R(Kind.STR, False)},
        authorizable=False,
    ),
}


# -- wall-clock values -------------------------------------------------------------------------------------------
def parse_wall_clock(value: object, user_zone: ZoneInfo, what: str) -> datetime:
    """A ``{date, time}`` object (or a ``YYYY-MM-DD[ hh:mm[:ss]]`` string) in the user's zone, as a UTC instant.

    Planon strips and ignores any zone given in the input (reference §1.9), so an offset or ``Z`` is dropped.
    """
    if isinstance(value, Mapping):
        day_text, time_text = value.get("date"), value.get("time", "00:00:00")
    elif isinstance(value, str):
        day_text, _, time_text = value.strip().replace("T", " ").partition(" ")
        time_text = time_text or "00:00:00"
    else:
        raise bad_request("PN_E00012", f"{what}: expected a {{date, time}} object")
    if not isinstance(day_text, str) or not isinstance(time_text, str):
        raise bad_request("PN_E00012", f"{what}: date and time must be strings")
    for marker in ("Z", "z", "+"):
        time_text = time_text.split(marker)[0]
    if time_text.count("-"):
        time_text = time_text.split("-")[0]
    try:
        day = date.fromisoformat(day_text)
        clock = time.fromisoformat(time_text)
    except ValueError:
        raise bad_request("PN_E00012", f"{what}: {value!r} is not a date and time") from None
    return datetime.combine(day, clock.replace(tzinfo=None)).replace(tzinfo=user_zone).astimezone(UTC)


def wall_clock(value: datetime, user_zone: ZoneInfo) -> dict[str, str]:
    day, clock = _wall_texts(value, user_zone)
    return {"date": day, "time": clock}


def user_text(value: datetime, user_zone: ZoneInfo) -> str:
    """The ``...User`` field as Planon's example shows it: the user's wall time followed by ``Z``."""
    day, clock = _wall_texts(value, user_zone)
    return f"{day}T{clock}Z"


@lru_cache(maxsize=1 << 16)
def _wall_texts(value: datetime, user_zone: ZoneInfo) -> tuple[str, str]:
    """(date, time) of an instant in the user's zone. Memoised: every answer serialises the date-times of every
    record it carries, mostly the same few instants (slot starts, change times), and formatting them was the
    emulator's largest cost in a 10,000-reservation sync."""
    local = value.astimezone(user_zone)
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")


def check_length(name: str, value: object) -> None:
    """A text longer than its field holds is a business error naming the field (nothing is written)."""
    limit = TEXT_LENGTHS.get(name)
    if limit is not None and isinstance(value, str) and len(value) > limit:
        raise business_error("PN_E00014", f"{name} holds at most {limit} characters; the value has {len(value)}")


def coerce(spec: FieldSpec, value: object, user_zone: ZoneInfo, name: str) -> object:
    """A request value as the field's Python type; 400 for the wrong JSON type."""
    if value is None:
        return None
    if spec.kind is Kind.DATETIME:
        return parse_wall_clock(value, user_zone, name)
    if spec.kind is Kind.INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request("PN_E00012", f"{name}: expected a number without quotes, got {value!r}")
        return value
    if spec.kind is Kind.BOOL:
        if not isinstance(value, bool):
            raise bad_request("PN_E00012", f"{name}: expected true or false, got {value!r}")
        return value
    if not isinstance(value, str):
        raise bad_request("PN_E00012", f"{name}: expected a string in double quotes, got {value!r}")
    return value


# -- filters -----------------------------------------------------------------------------------------------------
Predicate = Callable[[Mapping[str, object]], bool]


def compile_filter(definition: Definition, raw: object, user_zone: ZoneInfo) -> Predicate:
    """Validate a ``filter`` block and return a predicate over typed rows (400 on anything malformed)."""
    if raw is None:
        return lambda row: True
    if not isinstance(raw, Mapping):
        raise bad_request("PN_E00020", "filter must be an object of field: {operator: value}")
    tests: list[Predicate] = []
    for name, condition in raw.items():
        spec = definition.fields.get(name)
        if spec is None:
            raise bad_request("PN_E00010", f"Field {name} does not exist in definition {definition.name}")
        if not isinstance(condition, Mapping) or not condition:
            raise bad_request("PN_E00020", f'filter on {name} must be an object like {{"eq": value}}')
        for op, value in condition.items():
            if op not in OPERATORS:
                raise bad_request("PN_E00021", f"unknown filter operator {op!r} on {name}")
            tests.append(_test(name, spec, op, value, user_zone))
    return lambda row: all(test(row) for test in tests)


def _test(name: str, spec: FieldSpec, op: str, value: object, user_zone: ZoneInfo) -> Predicate:
    if op == "exists":
        if not isinstance(value, bool):
            raise bad_request("PN_E00022", f"exists on {name} takes true or false")
        return lambda row: (row.get(name) not in (None, "")) is value
    if op in ("in", "nin"):
        if not isinstance(value, list):
            raise bad_request("PN_E00022", f"{op} on {name} takes a list")
        if len(value) > MAX_IN_VALUES:
            raise bad_request("PN_E00023", f"{op} on {name}: at most {MAX_IN_VALUES} values")
        values = {_key(coerce(spec, v, user_zone, name)) for v in value}
        if op == "in":
            return lambda row: _key(row.get(name)) in values
        return lambda row: _key(row.get(name)) not in values
    if op == "contains":
        if not isinstance(value, str):
            raise bad_request("PN_E00022", f"contains on {name} takes a string")
        needle = value.casefold()
        return lambda row: isinstance(row.get(name), str) and needle in str(row.get(name)).casefold()
    expected = coerce(spec, value, user_zone, name)
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
    }
    check = compare[op]

    def predicate(row: Mapping[str, object]) -> bool:
        actual = row.get(name)
        if actual is None or expected is None:
            return (actual is None and expected is None) if op == "eq" else (op == "ne" and actual != expected)
        try:
            return check(actual, expected)
        except TypeError:
            return False

    return predicate


def _key(value: object) -> object:
    return value


# -- rows ----------------------------------------------------------------------------------------------------------
def reservation_row(reservation: Reservation) -> dict[str, object]:
    """The typed values of a reservation (UTC datetimes), for filtering and serialising."""
    row: dict[str, object] = {
        "Syscode": reservation.syscode,
        "BeginDateTime": reservation.begin,
        "EndDateTime": reservation.end,
        "Description": reservation.description,
        "ReservationUnitRef": reservation.unit_ref,
        "PropertyRef": reservation.property_ref,
        "OrderGroupRef": reservation.order_group_ref,
        "RequestorPersonRef": reservation.requestor_ref,
        "ExternalRequestor": reservation.external_requestor,
        "NumberOfPeople": reservation.number_of_people,
        "BusinessObjectStateRef": STATES[reservation.state],
        "SystemState": reservation.state,
        "BusinessObjectDefinitionRef": RESERVATION_DEFINITION_REF,
        "InsertDateTime": reservation.inserted,
        "SysChangeDateTime": reservation.changed,
        "InsertSource": reservation.source,
        "RecurrentReservationRef": reservation.recurrent_ref,
    }
    for name in FREE_FIELDS:
        row[name] = reservation.free.get(name)
    return row


def serialise(
    definition: Definition,
    row: Mapping[str, object],
    user_zone: ZoneInfo,
    *,
    serialize_nulls: bool,
    corrupt: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """A typed row as JSON: date-times as ``{date, time}`` in the user's zone, nulls only when asked for."""
    result: dict[str, object] = {}
    for name, spec in definition.fields.items():
        if name.endswith("DateTimeUser"):
            base = row.get(name.removesuffix("User"))
            value: object = user_text(base, user_zone) if isinstance(base, datetime) else None
        else:
            value = row.get(name)
            if spec.kind is Kind.DATETIME and isinstance(value, datetime):
                value = wall_clock(value, user_zone)
        if corrupt and name in corrupt:
            value = corrupt[name]
        if value is None and not serialize_nulls:
            continue
        result[name] = value
    return result


def select(rows: Iterable[Mapping[str, object]], predicate: Predicate) -> list[Mapping[str, object]]:
    return [row for row in rows if predicate(row)]
