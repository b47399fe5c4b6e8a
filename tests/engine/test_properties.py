"""Properties of the engine + apply, checked with hypothesis on in-memory stores.

Convergence, idempotence, no echo, no duplicates after a crash at any write, no loss.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomsync.connectors.memory.store import InjectedCrash
from roomsync.engine import Direction, Policy
from roomsync.model import Booking, Side, Status
from tests.helpers import Harness, booking

ROOM_KEYS = ("MR-1", "MR-2", "MR-3")

bookings = st.builds(
    lambda hour, day, minutes, subject, rooms, required: (hour, day, minutes, subject, rooms, required),
    hour=st.integers(7, 18),
    day=st.integers(0, 5),
    minutes=st.sampled_from([30, 60, 90]),
    subject=st.sampled_from(["Standup", "Budget review", " Budget  review ", "1:1"]),
    rooms=st.sets(st.sampled_from(ROOM_KEYS), min_size=1, max_size=2).map(tuple),
    required=st.sets(st.sampled_from(["bob@contoso.com", "Carol@Contoso.com", "dan@fabrikam.com"])).map(tuple),
)
mutation = st.tuples(
    st.sampled_from([Side.PLANON, Side.CALENDAR]),
    st.sampled_from(["edit", "move", "delete", "cancel", "create"]),
    st.integers(0, 50),
    bookings,
)
policies = st.builds(
    Policy,
    leader=st.sampled_from([Side.PLANON, Side.CALENDAR]),
    allow_mass_delete=st.just(True),
)
#: Twice the active profile's examples: 200 in the normal run, a few fixed ones under mutation (conftest.py).
SETTINGS = settings(
    max_examples=2 * settings.default.max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def make(prefix: str, index: int, spec: tuple) -> Booking:  # type: ignore[type-arg]
    hour, day, minutes, subject, rooms, required = spec
    return booking(f"{prefix}{index}", hour, day=day, minutes=minutes, subject=subject, rooms=rooms, required=required)


def seeded(policy: Policy, planon: list, calendar: list) -> Harness:  # type: ignore[type-arg]
    h = Harness(policy=policy)
    for i, spec in enumerate(planon):
        h.planon.put(make("seed-p", i, spec))
    for i, spec in enumerate(calendar):
        h.calendar.put(make("seed-c", i, spec))
    return h


def mutate(h: Harness, changes: list) -> None:  # type: ignore[type-arg]
    for n, (side, kind, pick, spec) in enumerate(changes):
        store = h.planon if side is Side.PLANON else h.calendar
        live = sorted(store.live(), key=lambda b: b.id)
        if kind == "create" or not live:
            store.put(make(f"new{n}-", pick, spec))
            continue
        target = live[pick % len(live)]
        if kind == "edit":
            store.put(replace(target, subject=f"edited {n}"))
        elif kind == "move":
            store.put(replace(target, start=target.start + timedelta(hours=1), end=target.end + timedelta(hours=1)))
        elif kind == "cancel":
            store.put(replace(target, status=Status.CANCELLED))
        else:
            del store.bookings[target.id]


def assert_converged(h: Harness) -> None:
    assert h.content(Side.PLANON) == h.content(Side.CALENDAR)


@SETTINGS
@given(policies, st.lists(bookings, max_size=6), st.lists(bookings, max_size=6), st.lists(mutation, max_size=6))
def test_convergence_idempotence_and_no_echo(policy: Policy, planon: list, calendar: list, changes: list) -> None:  # type: ignore[type-arg]
    h = seeded(policy, planon, calendar)
    h.cycle()
    assert_converged(h)
    writes = h.writes()
    assert h.cycle().plan.empty, "a second cycle with no outside change must plan nothing"  # type: ignore[union-attr]
    assert h.writes() == writes, "our own writes must not come back as changes"
    mutate(h, changes)
    h.cycle()
    assert_converged(h)
    assert h.cycle().plan.empty  # type: ignore[union-attr]


@SETTINGS
@given(
    policies,
    st.lists(bookings, min_size=1, max_size=5),
    st.lists(bookings, max_size=5),
    st.lists(mutation, max_size=5),
    st.integers(0, 30),
)
def test_a_crash_after_any_write_never_duplicates_or_loses(
    policy: Policy,
    planon: list,
    calendar: list,
    changes: list,
    crash_at: int,  # type: ignore[type-arg]
) -> None:
    h = seeded(policy, planon, calendar)
    h.cycle()
    mutate(h, changes)
    expected = _expected_after_clean_run(policy, planon, calendar, changes)
    h.planon.crash_after_writes = crash_at // 2
    h.calendar.crash_after_writes = crash_at - crash_at // 2
    try:
        h.cycle()
    except* InjectedCrash:
        pass  # the process "died" mid-cycle; a fresh one starts with no memory
    h.planon.crash_after_writes = h.calendar.crash_after_writes = None
    h.cycle()
    assert_converged(h)
    assert h.content(Side.PLANON) == expected, "a crash must not change the outcome (no loss, no duplicate)"
    assert h.cycle().plan.empty  # type: ignore[union-attr]


def _expected_after_clean_run(policy: Policy, planon: list, calendar: list, changes: list):  # type: ignore[no-untyped-def,type-arg]
    clean = seeded(policy, planon, calendar)
    clean.cycle()
    mutate(clean, changes)
    clean.cycle()
    return clean.content(Side.PLANON)


@SETTINGS
@given(st.lists(bookings, min_size=1, max_size=6), st.lists(mutation, max_size=6))
def test_nothing_is_deleted_unless_it_was_deleted_on_the_other_side(planon: list, changes: list) -> None:  # type: ignore[type-arg]
    h = seeded(Policy(allow_mass_delete=True), planon, [])
    h.cycle()
    edits_only = [(side, kind, pick, spec) for side, kind, pick, spec in changes if kind in ("edit", "move", "create")]
    mutate(h, edits_only)
    h.cycle()
    # (bookings made independently on both sides for the same room and time are adopted as one: that is no loss)
    assert not [b for b in h.planon.bookings.values() if b.cancelled]
    assert not [b for b in h.calendar.bookings.values() if b.cancelled]
    assert {f"seed-p{i}" for i in range(len(planon))} <= {b.id for b in h.planon.live()}
    assert_converged(h)


@SETTINGS
@given(
    st.sampled_from(list(Direction)),
    st.lists(bookings, max_size=5),
    st.lists(bookings, max_size=5),
    st.lists(mutation, max_size=5),
)
def test_one_way_directions_never_write_the_source(
    direction: Direction, planon: list, calendar: list, changes: list
) -> None:  # type: ignore[type-arg]
    h = seeded(Policy(direction=direction, allow_mass_delete=True), planon, calendar)
    h.cycle()
    mutate(h, changes)
    before = {Side.PLANON: h.planon.log.count(), Side.CALENDAR: h.calendar.log.count()}
    h.cycle()
    if direction.source is not None:
        source_store = h.planon if direction.source is Side.PLANON else h.calendar
        assert source_store.log.count() == before[direction.source] == 0
    assert h.cycle().plan.empty  # type: ignore[union-attr]
