"""The emulator's reservations, indexed the way a database behind Planon's REST API would be queried.

Every request used to build a row for each reservation and test its filter, so a world of 10,000 reservations spent
most of its time scanning (two thirds of the emulator's CPU in docs/performance.md). The index answers the filters
RoomSync and people actually send without a scan: by syscode, by reservation unit (and, within a unit, by time for
the availability check), by change time (incremental reads) and by the value of a free or reference field. It only
narrows the candidates; the compiled filter still decides, so answers are exactly what a scan gives.

Reservations are replaced, not mutated, by most writes (``reservations[syscode] = copy``); a write that changes one
in place (a state change) calls :meth:`Reservations.refresh` so its change time and unit are indexed again.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, MutableMapping
from datetime import datetime
from typing import Final

from roomsync.sandbox.planon.model import FREE_FIELDS, Reservation

#: Fields whose values are indexed (``eq`` / ``in`` filters): the free fields and the native series reference.
VALUE_FIELDS: Final = (*FREE_FIELDS, "RecurrentReservationRef")


def _value(reservation: Reservation, name: str) -> object:
    if name == "RecurrentReservationRef":
        return reservation.recurrent_ref
    return reservation.free.get(name)


class Reservations(MutableMapping[int, Reservation]):
    """``syscode -> Reservation`` in storage order (ascending syscodes), with secondary indexes."""

    def __init__(self) -> None:
        self._all: dict[int, Reservation] = {}
        self._by_unit: defaultdict[int, dict[int, Reservation]] = defaultdict(dict)
        self._changes: list[tuple[datetime, int]] = []  # sorted (change time, syscode)
        self._by_value: dict[str, defaultdict[object, set[int]]] = {n: defaultdict(set) for n in VALUE_FIELDS}
        #: what each reservation is indexed under: (unit, change time, field values)
        self._keys: dict[int, tuple[int, datetime, tuple[object, ...]]] = {}

    # -- the mapping ---------------------------------------------------------------------------------------------
    def __getitem__(self, syscode: int) -> Reservation:
        return self._all[syscode]

    def __setitem__(self, syscode: int, reservation: Reservation) -> None:
        self._unindex(syscode)
        self._all[syscode] = reservation
        self._index(syscode, reservation)

    def __delitem__(self, syscode: int) -> None:
        self._unindex(syscode)
        del self._all[syscode]

    def __iter__(self) -> Iterator[int]:
        return iter(self._all)

    def __len__(self) -> int:
        return len(self._all)

    def refresh(self, reservation: Reservation) -> None:
        """Index a reservation again after it was changed in place (its state and change time)."""
        self[reservation.syscode] = reservation

    # -- queries -----------------------------------------------------------------------------------------------------
    def in_units(self, units: Iterable[int]) -> set[int]:
        return {s for unit in units for s in self._by_unit.get(unit, {})}

    def of_unit(self, unit: int) -> Collection[Reservation]:
        return self._by_unit.get(unit, {}).values()

    def changed_since(self, moment: datetime, *, inclusive: bool) -> set[int]:
        find = bisect.bisect_left if inclusive else bisect.bisect_right
        start = find(self._changes, moment, key=lambda entry: entry[0])
        return {syscode for _, syscode in self._changes[start:]}

    def with_values(self, name: str, values: Iterable[object]) -> set[int]:
        index = self._by_value[name]
        return {s for value in values for s in index.get(value, ())}

    def existing(self, syscodes: Iterable[object]) -> set[int]:
        return {s for s in syscodes if isinstance(s, int) and s in self._all}

    def ordered(self, syscodes: Iterable[int]) -> list[Reservation]:
        """Reservations in storage order (syscodes are handed out in ascending order)."""
        return [self._all[s] for s in sorted(syscodes)]

    # -- upkeep ------------------------------------------------------------------------------------------------------
    def _index(self, syscode: int, r: Reservation) -> None:
        values = tuple(_value(r, name) for name in VALUE_FIELDS)
        self._keys[syscode] = (r.unit_ref, r.changed, values)
        self._by_unit[r.unit_ref][syscode] = r
        bisect.insort(self._changes, (r.changed, syscode))
        for name, value in zip(VALUE_FIELDS, values, strict=True):
            if value is not None:
                self._by_value[name][value].add(syscode)

    def _unindex(self, syscode: int) -> None:
        keys = self._keys.pop(syscode, None)
        if keys is None:
            return
        unit, changed, values = keys
        self._by_unit[unit].pop(syscode, None)
        at = bisect.bisect_left(self._changes, (changed, syscode))
        if at < len(self._changes) and self._changes[at] == (changed, syscode):
            del self._changes[at]
        for name, value in zip(VALUE_FIELDS, values, strict=True):
            if value is not None:
                holders = self._by_value[name].get(value)
                if holders is not None:
                    holders.discard(syscode)
                    if not holders:
                        del self._by_value[name][value]
