"""Cached look-ups of Planon master data: reservation units (code -> syscode, property, zone) and persons.

RoomSyncs name rooms by reservation-unit code; Planon writes references as syscodes (reference §1.8). Units,
their properties' time zones and persons change rarely, so they are read in batches (``in`` filters) and cached for
``cacheSeconds``, including negative answers, so a cycle costs no master-data requests in the steady state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from roomsync.connectors.base import RoomInfo
from roomsync.connectors.planon.http import PlanonHttp, Record
from roomsync.connectors.planon.settings import PlanonSettings
from roomsync.model import Person, UnknownTimeZone, normalise_email, to_iana

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class UnitInfo:
    code: str
    syscode: int
    property: int
    order_group: int | None
    capacity: int | None
    time_zone: str


class TtlCache(Generic[K, V]):
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._items: dict[K, tuple[V, float]] = {}

    def get(self, key: K) -> tuple[bool, V | None]:
        item = self._items.get(key)
        if item is None or item[1] <= self.clock():
            return False, None
        return True, item[0]

    def expiry(self, keys: Iterable[K]) -> float:
        """When the first of ``keys`` expires (all must be cached)."""
        return min((self._items[k][1] for k in keys), default=self.clock())

    def put(self, key: K, value: V) -> None:
        self._items[key] = (value, self.clock() + self.seconds)

    def missing(self, keys: Iterable[K]) -> list[K]:
        return [k for k in dict.fromkeys(keys) if not self.get(k)[0]]

    def clear(self) -> None:
        self._items.clear()


def chunks(values: Sequence[V], size: int) -> Iterator[list[V]]:
    for start in range(0, len(values), max(1, size)):
        yield list(values[start : start + max(1, size)])


class Directory:
    def __init__(self, http: PlanonHttp, settings: PlanonSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.http = http
        self.settings = settings
        self._units: TtlCache[str, UnitInfo | None] = TtlCache(settings.cache_seconds, clock)
        self._zones: TtlCache[int, str] = TtlCache(settings.cache_seconds, clock)
        self._person_by_email: TtlCache[str, int | None] = TtlCache(settings.cache_seconds, clock)
        self._person_by_syscode: TtlCache[int, Person | None] = TtlCache(settings.cache_seconds, clock)
        self.clock = clock
        #: the last answer of :meth:`units` and until when it holds: every write of a store asks for the same rooms,
        #: and checking 1,000 codes one by one per write cost more than the write (docs/performance.md)
        self._last_units: tuple[Collection[str], float, dict[str, UnitInfo]] | None = None

    # -- reservation units -----------------------------------------------------------------------------------------
    async def units(self, codes: Collection[str]) -> dict[str, UnitInfo]:
        """The known units among ``codes`` (unknown codes are left out). The answer is shared: do not change it."""
        last = self._last_units
        if last is not None and last[0] is codes and self.clock() < last[1]:
            return last[2]
        missing = self._units.missing(codes)
        if missing:
            f = self.settings.unit_fields
            raw: list[Record] = []
            for chunk in chunks(missing, self.settings.chunk_size):
                raw += await self.http.read(self.settings.definitions.reservation_unit, {f.code: {"in": chunk}})
            records = [r for r in raw if isinstance(r, dict) and isinstance(r.get(f.syscode), int)]
            zones = await self._property_zones({r[f.property] for r in records if isinstance(r.get(f.property), int)})
            found: dict[str, UnitInfo] = {}
            for r in records:
                code = str(r.get(f.code, ""))
                prop = r.get(f.property)
                if code in missing and isinstance(prop, int):
                    found[code] = UnitInfo(
                        code=code,
                        syscode=r[f.syscode],
                        property=prop,
                        order_group=_int(r.get(f.order_group)),
                        capacity=_int(r.get(f.capacity)),
                        time_zone=zones.get(prop, self.settings.time_zone),
                    )
            for code in missing:
                self._units.put(code, found.get(code))
        known = {code: info for code in codes if (info := self._units.get(code)[1]) is not None}
        self._last_units = (codes, self._units.expiry(codes), known)
        return known

    async def all_units(self) -> list[RoomInfo]:
        """Every reservation unit (uncached: room discovery is an occasional, interactive look-up), by code."""
        f, p = self.settings.unit_fields, self.settings.property_fields
        units = [
            r
            for r in await self.http.read(self.settings.definitions.reservation_unit, None)
            if isinstance(r, dict) and isinstance(r.get(f.syscode), int) and r.get(f.code)
        ]
        properties: dict[int, Record] = {}
        wanted = sorted({r[f.property] for r in units if isinstance(r.get(f.property), int)})
        for chunk in chunks(wanted, self.settings.chunk_size):
            for r in await self.http.read(self.settings.definitions.property, {p.syscode: {"in": chunk}}):
                if isinstance(r, dict) and isinstance(r.get(p.syscode), int):
                    properties[r[p.syscode]] = r
        rooms = []
        for r in units:
            prop = properties.get(r.get(f.property), {})  # type: ignore[arg-type]
            email = str(r.get(f.email) or "").strip() if f.email else ""
            rooms.append(
                RoomInfo(
                    key=str(r[f.code]),
                    name=str(r.get(f.name) or ""),
                    email=_address(email),
                    capacity=_int(r.get(f.capacity)),
                    building=str(prop.get(p.name) or ""),
                    time_zone=_zone(prop.get(p.time_zone), self.settings.time_zone) if prop else None,
                )
            )
        return sorted(rooms, key=lambda room: room.key)

    async def _property_zones(self, syscodes: set[int]) -> dict[int, str]:
        missing = self._zones.missing(sorted(syscodes))
        f = self.settings.property_fields
        for chunk in chunks(missing, self.settings.chunk_size):
            for r in await self.http.read(self.settings.definitions.property, {f.syscode: {"in": chunk}}):
                if isinstance(r, dict) and isinstance(r.get(f.syscode), int):
                    self._zones.put(r[f.syscode], _zone(r.get(f.time_zone), self.settings.time_zone))
            for syscode in chunk:
                if not self._zones.get(syscode)[0]:
                    self._zones.put(syscode, self.settings.time_zone)
        return {s: zone for s in syscodes if (zone := self._zones.get(s)[1]) is not None}

    # -- persons ---------------------------------------------------------------------------------------------------
    async def person_syscodes(self, emails: Collection[str]) -> dict[str, int]:
        """Planon person syscodes for organizer addresses; addresses without a person are left out."""
        missing = self._person_by_email.missing(emails)
        f = self.settings.person_fields
        for chunk in chunks(missing, self.settings.chunk_size):
            for r in await self.http.read(self.settings.definitions.person, {f.email: {"in": chunk}}):
                person = self._person(r)
                if person is not None:
                    self._person_by_email.put(person.email, r[f.syscode])
                    self._person_by_syscode.put(r[f.syscode], person)
            for email in chunk:
                if not self._person_by_email.get(email)[0]:
                    self._person_by_email.put(email, None)
        return {e: s for e in emails if (s := self._person_by_email.get(e)[1]) is not None}

    async def persons(self, syscodes: Collection[int]) -> dict[int, Person]:
        """Persons by syscode (for requestors); unknown syscodes or persons without a valid address are left out."""
        missing = self._person_by_syscode.missing(sorted(syscodes))
        f = self.settings.person_fields
        for chunk in chunks(missing, self.settings.chunk_size):
            for r in await self.http.read(self.settings.definitions.person, {f.syscode: {"in": chunk}}):
                person = self._person(r)
                if person is not None:
                    self._person_by_syscode.put(r[f.syscode], person)
                    self._person_by_email.put(person.email, r[f.syscode])
            for syscode in chunk:
                if not self._person_by_syscode.get(syscode)[0]:
                    self._person_by_syscode.put(syscode, None)
        return {s: p for s in syscodes if (p := self._person_by_syscode.get(s)[1]) is not None}

    def _person(self, record: Any) -> Person | None:
        f = self.settings.person_fields
        if not isinstance(record, dict) or not isinstance(record.get(f.syscode), int):
            return None
        try:
            email = normalise_email(str(record.get(f.email) or ""))
        except ValueError:
            return None
        name = " ".join(str(record.get(n) or "").strip() for n in (f.first_name, f.last_name)).strip()
        return Person(email, name)

    def clear(self) -> None:
        for cache in (self._units, self._zones, self._person_by_email, self._person_by_syscode):
            cache.clear()


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _address(value: str) -> str | None:
    try:
        return normalise_email(value) if value else None
    except ValueError:
        return None  # a unit field holding something that is not an address suggests no pairing


def _zone(value: object, default: str) -> str:
    try:
        return to_iana(str(value)) if value else default
    except UnknownTimeZone:
        return default
