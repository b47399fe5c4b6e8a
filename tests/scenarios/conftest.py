"""Fixtures: a :class:`World` per scenario, once per calendar backend.

``CALENDAR_BACKENDS`` is the list a new calendar connector joins (EWS, Google, CalDAV): write an adapter with the
:class:`~tests.scenarios.world.CalendarBackend` methods and add it here; every scenario then runs against it.
Every scenario ends with scenario 12: one more cycle must plan nothing (checked when the world is torn down).

A scenario that needs something a backend does not have says so with ``@pytest.mark.calendar_needs(feature,
reason=...)``: ``feature`` is a :class:`~roomsync.connectors.base.Capabilities` field (``room_agent``), or a
behaviour of the vendor's room that the port does not describe, named in the adapter's ``features`` (Exchange's
``subject_rewrites``). The backends without it are left out (deselected, counted in the summary) and each such test
id is listed with the reason after collection.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest

from roomsync.connectors.registry import capabilities
from tests.scenarios.caldav_backend import CaldavCalendar
from tests.scenarios.ews_backend import EwsCalendar
from tests.scenarios.google_backend import GoogleCalendar
from tests.scenarios.graph_backend import GraphCalendar
from tests.scenarios.world import CalendarBackend, World

CALENDAR_BACKENDS: dict[str, Callable[[], CalendarBackend]] = {
    "graph": GraphCalendar,
    "ews": EwsCalendar,
    "google": GoogleCalendar,
    "caldav": CaldavCalendar,
}
#: "<test id>: <reason>" for every scenario left out for a backend, shown after collection.
NOT_APPLICABLE: list[str] = []

WorldFactory = Callable[..., Awaitable[World]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:msgraph.*")
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:kiota.*")
    config.addinivalue_line(
        "markers", "calendar_needs(feature, reason): the scenario does not apply to calendar backends without feature"
    )


def offers(backend: str, feature: str) -> bool:
    """Whether a calendar backend declares ``feature``: a Capabilities field, or one of its adapter's features."""
    declared = capabilities(backend)
    if hasattr(declared, feature):
        return bool(getattr(declared, feature))
    return feature in getattr(CALENDAR_BACKENDS[backend], "features", frozenset())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, left_out = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec is not None else None
        unmet = [
            str(m.kwargs.get("reason") or m.args[0])
            for m in item.iter_markers("calendar_needs")
            if backend in CALENDAR_BACKENDS and not offers(backend, m.args[0])
        ]
        if unmet:
            left_out.append(item)
            NOT_APPLICABLE.append(f"{item.nodeid}: {'; '.join(unmet)}")
        else:
            kept.append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    if not NOT_APPLICABLE:
        return []
    return ["scenarios not applicable to a calendar backend (left out by its capabilities):"] + [
        f"  {line}" for line in NOT_APPLICABLE
    ]


@pytest.fixture(params=sorted(CALENDAR_BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_world(backend: str) -> AsyncIterator[WorldFactory]:
    """``await make_world(follow={"onRefused": "Decline"})``: a world whose RoomSyncs get these spec overrides;
    ``planon={...}`` is merged into the Planon Connection's ``spec.planon``."""
    worlds: list[World] = []

    async def factory(*, planon: Mapping[str, Any] | None = None, **overrides: Mapping[str, Any]) -> World:
        world = await World(CALENDAR_BACKENDS[backend](), overrides, planon or {}).start()
        worlds.append(world)
        return world

    yield factory
    try:
        for world in worlds:
            await world.assert_steady(allow_refused=world.refusals_expected)  # scenario 12, after every scenario
    finally:
        for world in worlds:
            await world.stop()


@pytest.fixture
async def world(make_world: WorldFactory) -> World:
    return await make_world()
