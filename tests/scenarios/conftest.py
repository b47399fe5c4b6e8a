"""Fixtures: a :class:`World` per scenario, once per calendar backend.

``CALENDAR_BACKENDS`` is the list a new calendar connector joins (EWS, Google, CalDAV): write an adapter with the
:class:`~tests.scenarios.world.CalendarBackend` methods and add it here; every scenario then runs against it.
Every scenario ends with scenario 12: one more cycle must plan nothing (checked when the world is torn down).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest

from tests.scenarios.ews_backend import EwsCalendar
from tests.scenarios.google_backend import GoogleCalendar
from tests.scenarios.graph_backend import GraphCalendar
from tests.scenarios.world import CalendarBackend, World

CALENDAR_BACKENDS: dict[str, Callable[[], CalendarBackend]] = {
    "graph": GraphCalendar,
    "ews": EwsCalendar,
    "google": GoogleCalendar,
}

WorldFactory = Callable[..., Awaitable[World]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:msgraph.*")
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:kiota.*")


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
