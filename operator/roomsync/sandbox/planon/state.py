"""The emulator's state and the business logic Planon applies to it.

Every write goes through :meth:`SandboxState.check_availability`, so the emulator refuses what Planon would refuse:
an overlapping reservation in the same unit, a reservation longer than the unit's maximum duration, one outside the
unit's opening hours or beyond its advance-reservation horizon. Writes via the REST API and via the admin "touchpoint"
endpoints share this logic; only the audit data (``InsertSource``) differs.
"""

from __future__ import annotations

import itertools
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from roomsync.sandbox.planon.definitions import (
    DEFINITIONS,
    RESERVATION_FIELDS,
    ApiError,
    Definition,
    FieldSpec,
    bad_request,
    business_error,
    check_length,
    coerce,
    compile_filter,
    reservation_row,
)
from roomsync.sandbox.planon.index import VALUE_FIELDS, Reservations
from roomsync.sandbox.planon.model import (
    CONFIRMED,
    EDITABLE,
    STATES,
    TRANSITIONS,
    AccessKey,
    OidcClient,
    OrderGroup,
    Person,
    Property,
    Reservation,
    Token,
    Unit,
    User,
    stamp,
    touch,
)

RESERVATION_DEFINITION: Final = "UsrReservationMeetingRoom"
#: Fields BomAdd needs (reference §1.10: "five required fields: start, end, order group, property, reservation unit").
REQUIRED_ON_ADD: Final = ("BeginDateTime", "EndDateTime", "OrderGroupRef", "PropertyRef", "ReservationUnitRef")
#: Warning returned by delete because it cascades to order costs (reference §1.10).
DELETE_WARNING: Final = ("PN_H00427", "Deleting the reservation also deletes its order costs and cost specifications.")
CAPACITY_WARNING: Final = "PN_H00512"


class WarningsRequired(Exception):
    """The request needs warnings answered: repeat it with ``answers.warnings`` listing these codes."""

    def __init__(self, warnings: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(code for code, _ in warnings))
        self.warnings = warnings


class SandboxState:
    """All data of one emulated Planon environment (single-threaded: used from one event loop)."""

    def __init__(self) -> None:
        self._syscodes = itertools.count(1000)
        self.properties: dict[int, Property] = {}
        self.units: dict[int, Unit] = {}
        self.order_groups: dict[int, OrderGroup] = {}
        self.persons: dict[int, Person] = {}
        self.users: dict[str, User] = {}
        self.oidc_clients: dict[str, OidcClient] = {}
        self.tokens: dict[str, Token] = {}
        self.reservations = Reservations()
        self.requests: Counter[str] = Counter()
        self.token_lifetime = timedelta(minutes=5)

    def next_syscode(self) -> int:
        return next(self._syscodes)

    # -- seeding ---------------------------------------------------------------------------------------------------
    def add_property(self, code: str, name: str, time_zone: str) -> Property:
        ZoneInfo(time_zone)  # refuse unknown zones at seed time
        prop = Property(self.next_syscode(), code, name, time_zone)
        self.properties[prop.syscode] = prop
        return prop

    def add_order_group(self, code: str, name: str) -> OrderGroup:
        group = OrderGroup(self.next_syscode(), code, name)
        self.order_groups[group.syscode] = group
        return group

    def add_unit(self, unit: Unit) -> Unit:
        if self.unit_by_code(unit.code) is not None:
            raise ValueError(f"reservation unit {unit.code} exists")
        self.units[unit.syscode] = unit
        return unit

    def add_person(self, email: str, first_name: str = "", last_name: str = "", active: bool = True) -> Person:
        person = Person(self.next_syscode(), email, first_name, last_name, active)
        self.persons[person.syscode] = person
        return person

    def add_user(self, account: str, time_zone: str = "UTC", access_keys: Iterable[AccessKey] = ()) -> User:
        ZoneInfo(time_zone)
        user = User(account, time_zone, access_keys=list(access_keys))
        self.users[account] = user
        return user

    def add_oidc_client(self, client_id: str, secret: str) -> OidcClient:
        client = OidcClient(client_id, secret)
        self.oidc_clients[client_id] = client
        return client

    # -- look-ups --------------------------------------------------------------------------------------------------
    def unit_by_code(self, code: str) -> Unit | None:
        return next((u for u in self.units.values() if u.code == code), None)

    def property_by_code(self, code: str) -> Property | None:
        return next((p for p in self.properties.values() if p.code == code), None)

    def order_group_by_code(self, code: str) -> OrderGroup | None:
        return next((g for g in self.order_groups.values() if g.code == code), None)

    def person_by_email(self, email: str) -> Person | None:
        folded = email.strip().casefold()
        return next((p for p in self.persons.values() if p.email.casefold() == folded), None)

    def unit_zone(self, unit: Unit) -> ZoneInfo:
        return ZoneInfo(self.properties[unit.property_ref].time_zone)

    # -- authentication --------------------------------------------------------------------------------------------
    def user_for_access_key(self, key: str, now: datetime) -> User | None:
        for user in self.users.values():
            for access_key in user.access_keys:
                if secrets.compare_digest(access_key.key, key) and (
                    access_key.expires is None or access_key.expires > now
                ):
                    return user if user.active else None
        return None

    def issue_token(self, client_id: str, secret: str, now: datetime) -> Token | None:
        client = self.oidc_clients.get(client_id)
        if client is None or not secrets.compare_digest(client.secret, secret):
            return None
        token = Token(secrets.token_urlsafe(24), client.account, now + self.token_lifetime)
        self.tokens[token.value] = token
        return token

    def user_for_token(self, value: str, now: datetime) -> User | None:
        token = self.tokens.get(value)
        if token is None or token.expires <= now:
            return None
        user = self.users.get(token.account)  # the service-account user must exist and be active in Planon
        return user if user is not None and user.active else None

    def expire_tokens(self) -> int:
        count = len(self.tokens)
        for token in self.tokens.values():
            token.expires = datetime(2000, 1, 1, tzinfo=UTC)
        return count

    # -- typed rows per definition ---------------------------------------------------------------------------------
    def rows(self, definition: Definition) -> list[tuple[object, dict[str, object]]]:
        if definition.name == RESERVATION_DEFINITION:
            return [(r, reservation_row(r)) for r in self.reservations.values()]
        if definition.name == "ReservationUnit":
            return [(u, _unit_row(u)) for u in self.units.values()]
        if definition.name == "Property":
            return [
                (p, {"Syscode": p.syscode, "Code": p.code, "Name": p.name, "TimeZone": p.time_zone})
                for p in self.properties.values()
            ]
        if definition.name == "Person":
            return [
                (
                    p,
                    {
                        "Syscode": p.syscode,
                        "Email": p.email,
                        "FirstName": p.first_name,
                        "LastName": p.last_name,
                        "IsActive": p.active,
                    },
                )
                for p in self.persons.values()
            ]
        if definition.name == "OrderGroup":
            return [(g, {"Syscode": g.syscode, "Code": g.code, "Name": g.name}) for g in self.order_groups.values()]
        raise ApiError(404, "PN_E00404", f"REST definition {definition.name} does not exist")

    def select(self, definition: Definition, raw_filter: object, user_zone: ZoneInfo) -> list[tuple[object, Any]]:
        predicate = compile_filter(definition, raw_filter, user_zone)
        if definition.name == RESERVATION_DEFINITION:
            candidates = self._candidates(definition, raw_filter, user_zone)
            return [(r, row) for r in candidates if predicate(row := reservation_row(r))]
        return [(obj, row) for obj, row in self.rows(definition) if predicate(row)]

    def _candidates(self, definition: Definition, raw_filter: object, user_zone: ZoneInfo) -> list[Reservation]:
        """The reservations the indexed tests of a filter let through, in storage order (see :mod:`.index`).

        Only a necessary condition: the compiled filter still decides, so answers are what a scan gives. Tests on
        other fields (and other operators) narrow nothing; a filter without an indexed test scans everything.
        """
        if not isinstance(raw_filter, Mapping):
            return list(self.reservations.values())
        found: set[int] | None = None
        for name, condition in raw_filter.items():
            if not isinstance(condition, Mapping) or name not in definition.fields:
                continue
            matches = self._indexed(name, condition, definition.fields[name], user_zone)
            if matches is not None:
                found = matches if found is None else found & matches
        if found is None:
            return list(self.reservations.values())
        return self.reservations.ordered(found)

    def _indexed(
        self, name: str, condition: Mapping[str, Any], spec: FieldSpec, user_zone: ZoneInfo
    ) -> set[int] | None:
        """Syscodes passing one field's test, by index; ``None`` when the index cannot tell."""
        index = self.reservations

        def typed(value: object) -> object:
            return coerce(spec, value, user_zone, name)

        if name == "SysChangeDateTime" and set(condition) <= {"ge", "gt"} and len(condition) == 1:
            ((op, raw),) = condition.items()
            moment = typed(raw)
            return index.changed_since(moment, inclusive=op == "ge") if isinstance(moment, datetime) else None
        if set(condition) == {"in"} and isinstance(condition["in"], list):
            values = [typed(v) for v in condition["in"]]
        elif set(condition) == {"eq"}:
            values = [typed(condition["eq"])]
        else:
            return None
        if name == "Syscode":
            return index.existing(values)
        if name == "ReservationUnitRef":
            return index.in_units(v for v in values if isinstance(v, int))
        if name in VALUE_FIELDS:
            return index.with_values(name, values)
        return None

    # -- writes ----------------------------------------------------------------------------------------------------
    def bom_add(
        self, values: object, user_zone: ZoneInfo, answered: frozenset[str], *, source: str = "REST API"
    ) -> Reservation:
        typed = self._typed_values(values, user_zone)
        missing = [name for name in REQUIRED_ON_ADD if typed.get(name) is None]
        if missing:
            raise business_error("PN_E00001", f"Mandatory field(s) not filled in: {', '.join(missing)}")
        now = stamp()
        reservation = Reservation(
            syscode=0,
            begin=typed["BeginDateTime"],
            end=typed["EndDateTime"],
            description=typed.get("Description") or "",
            unit_ref=typed["ReservationUnitRef"],
            property_ref=typed["PropertyRef"],
            order_group_ref=typed["OrderGroupRef"],
            inserted=now,
            changed=now,
            source=source,
        )
        self._apply(reservation, typed)
        self.check(reservation, ignore=None, answered=answered, now=now)
        reservation.syscode = self.next_syscode()
        self.reservations[reservation.syscode] = reservation
        return reservation

    def update(
        self, targets: list[Reservation], values: object, user_zone: ZoneInfo, answered: frozenset[str]
    ) -> list[Reservation]:
        """All-or-nothing: every target is checked on a copy before any is changed."""
        typed = self._typed_values(values, user_zone)
        now = datetime.now(UTC)
        updated = []
        for target in targets:
            if target.state not in EDITABLE:
                raise business_error(
                    "PN_E00310", f"Reservation {target.syscode} is {_label(target.state)} and cannot be changed"
                )
            copy = Reservation(**{**target.__dict__, "free": dict(target.free), "corrupt": dict(target.corrupt)})
            self._apply(copy, typed)
            self.check(copy, ignore={t.syscode for t in targets}, answered=answered, now=now)
            updated.append(copy)
        self._check_among(updated)
        for copy in updated:
            touch(copy, now)
            self.reservations[copy.syscode] = copy
        return updated

    def change_state(self, targets: list[Reservation], state: str) -> list[Reservation]:
        if state not in STATES:
            raise ApiError(404, "PN_E00405", f"State {state} does not exist for {RESERVATION_DEFINITION}")
        for target in targets:
            if state not in TRANSITIONS[target.state]:
                raise business_error(
                    "PN_E00301",
                    f"Reservation {target.syscode} cannot go from {_label(target.state)} to {_label(state)}",
                )
        now = datetime.now(UTC)
        for target in targets:
            if state == CONFIRMED:  # an option being confirmed must still fit
                self.check(target, ignore={target.syscode}, answered=frozenset({CAPACITY_WARNING}), now=now)
            target.state = state
            touch(target, now)
            self.reservations.refresh(target)
        return targets

    def delete(self, targets: list[Reservation], answered: frozenset[str]) -> list[Reservation]:
        if targets and DELETE_WARNING[0] not in answered:
            raise WarningsRequired([DELETE_WARNING])
        for target in targets:
            del self.reservations[target.syscode]
        return targets

    # -- business rules --------------------------------------------------------------------------------------------
    def check(self, r: Reservation, *, ignore: set[int] | None, answered: frozenset[str], now: datetime) -> None:
        unit = self.units.get(r.unit_ref)
        if unit is None:
            raise business_error("PN_E00201", f"Reservation unit {r.unit_ref} does not exist")
        if r.property_ref != unit.property_ref:
            raise business_error(
                "PN_R00105", f"Reservation unit {unit.code} does not belong to property {r.property_ref}"
            )
        if r.order_group_ref not in self.order_groups:
            raise business_error("PN_E00203", f"Order group {r.order_group_ref} does not exist")
        if r.requestor_ref is not None and r.requestor_ref not in self.persons:
            raise business_error("PN_E00202", f"Person {r.requestor_ref} does not exist")
        if r.end <= r.begin:
            raise business_error("PN_E00302", "The end date-time must be after the start date-time")
        if r.holds_unit:
            self.check_availability(unit, r.begin, r.end, ignore=ignore or set(), now=now)
        if r.number_of_people and r.number_of_people > unit.capacity and CAPACITY_WARNING not in answered:
            raise WarningsRequired(
                [
                    (
                        CAPACITY_WARNING,
                        f"The number of people ({r.number_of_people}) exceeds the maximum of "
                        f"{unit.code} ({unit.capacity}). Do you want to continue?",
                    )
                ]
            )

    def check_availability(
        self, unit: Unit, begin: datetime, end: datetime, *, ignore: set[int], now: datetime
    ) -> None:
        zone = self.unit_zone(unit)
        if unit.max_minutes is not None and end - begin > timedelta(minutes=unit.max_minutes):
            raise business_error(
                "PN_R00102",
                f"The reservation exceeds the maximum reservation duration of {unit.code} ({unit.max_minutes} minutes)",
            )
        if unit.advance_days is not None and begin > now + timedelta(days=unit.advance_days):
            raise business_error(
                "PN_R00104", f"{unit.code} can be reserved at most {unit.advance_days} days in advance"
            )
        if unit.opening is not None:
            local_begin, local_end = begin.astimezone(zone), end.astimezone(zone)
            opening = unit.opening
            fits = (
                local_begin.date() == (local_end - timedelta(microseconds=1)).date()
                and local_begin.weekday() in opening.days
                and local_begin.time() >= opening.opens
                and (local_end.time() <= opening.closes and local_end.date() == local_begin.date())
            )
            if not fits:
                raise business_error(
                    "PN_R00103",
                    f"{unit.code} is not open {local_begin:%a %Y-%m-%d %H:%M}-{local_end:%H:%M} "
                    f"(opening hours {_opening_text(unit)}, {zone.key})",
                )
        for other in self.reservations.of_unit(unit.syscode):
            taken = other.holds_unit and other.syscode not in ignore
            if taken and other.overlaps(begin, end):
                local = other.begin.astimezone(zone), other.end.astimezone(zone)
                raise business_error(
                    "PN_R00101",
                    f"{unit.code} is not available: already reserved {local[0]:%Y-%m-%d %H:%M}-"
                    f"{local[1]:%H:%M} ({zone.key})",
                )

    def _check_among(self, updated: list[Reservation]) -> None:
        for i, a in enumerate(updated):
            for b in updated[i + 1 :]:
                if a.unit_ref == b.unit_ref and a.holds_unit and b.holds_unit and a.overlaps(b.begin, b.end):
                    unit = self.units[a.unit_ref]
                    raise business_error("PN_R00101", f"{unit.code} is not available: the updated reservations overlap")

    def _typed_values(self, values: object, user_zone: ZoneInfo) -> dict[str, Any]:
        if not isinstance(values, Mapping) or not values:
            raise bad_request("PN_E00020", "values must be a non-empty object of field: value")
        typed: dict[str, Any] = {}
        for name, value in values.items():
            spec = RESERVATION_FIELDS.get(name)
            if spec is None:
                raise bad_request("PN_E00010", f"Field {name} does not exist in definition {RESERVATION_DEFINITION}")
            if not spec.writable:
                raise bad_request("PN_E00011", f"Field {name} is read-only")
            typed[name] = coerce(spec, value, user_zone, name)
            check_length(name, typed[name])
        return typed

    @staticmethod
    def _apply(r: Reservation, typed: Mapping[str, Any]) -> None:
        simple = {
            "BeginDateTime": "begin",
            "EndDateTime": "end",
            "Description": "description",
            "ReservationUnitRef": "unit_ref",
            "PropertyRef": "property_ref",
            "OrderGroupRef": "order_group_ref",
            "RequestorPersonRef": "requestor_ref",
            "ExternalRequestor": "external_requestor",
            "NumberOfPeople": "number_of_people",
        }
        for name, value in typed.items():
            if name in simple:
                if name in REQUIRED_ON_ADD and value is None:
                    raise business_error("PN_E00001", f"Mandatory field {name} cannot be emptied")
                setattr(r, simple[name], value if name != "Description" else (value or ""))
            else:
                r.free[name] = value


def _unit_row(unit: Unit) -> dict[str, object]:
    return {
        "Syscode": unit.syscode,
        "Code": unit.code,
        "Name": unit.name,
        "PropertyRef": unit.property_ref,
        "OrderGroupRef": unit.order_group_ref,
        "Capacity": unit.capacity,
        "MaxReservationDuration": unit.max_minutes,
        "AdvanceReservationDays": unit.advance_days,
        "OpeningHours": _opening_text(unit) if unit.opening else None,
        "Email": unit.email,
    }


def _opening_text(unit: Unit) -> str:
    if unit.opening is None:
        return "always"
    days = ",".join(("MO", "TU", "WE", "TH", "FR", "SA", "SU")[d] for d in sorted(unit.opening.days))
    return f"{days} {unit.opening.opens:%H:%M}-{unit.opening.closes:%H:%M}"


def _label(state: str) -> str:
    return state.removeprefix("UsrReservation")


def definition(name: str) -> Definition:
    found = DEFINITIONS.get(name)
    if found is None:
        raise ApiError(404, "PN_E00404", f"REST definition {name} does not exist")
    return found
