"""The free-field text formats, the settings defaults (same as the CRD's), and the synchronous sandbox helpers."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from roomsync.connectors import registry
from roomsync.connectors.planon import PlanonClient, PlanonSettings
from roomsync.connectors.planon.settings import Definitions, PersonFields, PropertyFields, ReservationFields, UnitFields
from roomsync.connectors.planon.texts import (
    SeriesText,
    format_attendees,
    format_occurrence,
    parse_attendees,
    parse_occurrence,
)
from roomsync.connectors.registry import StoreOptions
from roomsync.model import Recurrence, RoomPair, Window, people
from roomsync.sandbox.planon import PlanonSandbox, SandboxAdminSync
from tests.k8s.support import CRDS
from tests.planon.conftest import AMS, monday


def test_series_text_round_trips_and_is_readable() -> None:
    start = datetime(2031, 3, 24, 9, 30, tzinfo=AMS)
    text = SeriesText(
        "Europe/Amsterdam", start, timedelta(hours=1), Recurrence.parse("FREQ=WEEKLY;BYDAY=MO;COUNT=6")
    ).format()
    assert text == (
        "TZID:Europe/Amsterdam\nDTSTART:20310324T093000\nDURATION:PT3600S\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6"
    )
    parsed = SeriesText.parse(text)
    assert parsed is not None and parsed.start == start and parsed.rule is not None and not parsed.all_day
    assert SeriesText.parse("  ") is None
    all_day = SeriesText("W. Europe Standard Time", start, timedelta(days=1), None, True)
    assert SeriesText.parse(all_day.format()) == SeriesText("Europe/Berlin", start, timedelta(days=1), None, True)


@pytest.mark.parametrize(
    "text",
    [
        "TZID:Mars/Olympus\nDTSTART:20310324T093000\nDURATION:PT60S",
        "DTSTART:x",
        "TZID:UTC\nDTSTART:20310324T093000\nDURATION:PT0S",
    ],
)
def test_unreadable_series_text_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        SeriesText.parse(text)


def test_occurrence_and_attendee_texts() -> None:
    moment = datetime(2031, 3, 24, 8, 30, tzinfo=UTC)
    assert format_occurrence(moment) == "20310324T083000Z" and parse_occurrence("20310324t083000z") == moment
    assert parse_occurrence("") is None
    with pytest.raises(ValueError):
        parse_occurrence("monday")
    required, optional = people(["B@x.example", "a@x.example"]), people(["c@x.example"])
    text = format_attendees(required, optional)
    assert text == "Required: a@x.example, b@x.example\nOptional: c@x.example"
    assert parse_attendees(text) == (required, optional)
    assert parse_attendees("Required: a@x.example; not an address\nNotes: z@x.example\nnonsense") == (
        people(["a@x.example"]),
        frozenset(),
    )


def _crd_planon() -> dict[str, Any]:
    doc = yaml.safe_load((CRDS / "roomsync.io_connections.yaml").read_text(encoding="utf-8"))
    schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return dict(schema["properties"]["spec"]["properties"]["planon"]["properties"])


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


@pytest.mark.parametrize(
    ("section", "kind"),
    [
        ("definitions", Definitions),
        ("reservationFields", ReservationFields),
        ("reservationUnitFields", UnitFields),
        ("propertyFields", PropertyFields),
        ("personFields", PersonFields),
    ],
)
def test_crd_defaults_are_the_connector_defaults(section: str, kind: type) -> None:
    crd = _crd_planon()[section]["properties"]
    assert set(crd) == {_camel(f.name) for f in fields(kind)}
    for f in fields(kind):
        assert crd[_camel(f.name)]["default"] == f.default, f"{section}.{_camel(f.name)}"


def test_field_lengths_in_the_crd_and_the_settings_agree() -> None:
    crd = _crd_planon()["fieldLengths"]["properties"]
    defaults = PlanonSettings(url="http://x").field_lengths
    assert {k: v["default"] for k, v in crd.items()} == {"description": defaults.description, "attendees": 2000}
    spec = {"url": "http://x", "fieldLengths": {"attendees": 4000}, "reservationFields": {"nativeSeries": "Ref"}}
    settings = PlanonSettings.from_spec(spec)
    assert (settings.field_lengths.description, settings.field_lengths.attendees) == (100, 4000)
    assert settings.reservation_fields.native_series == "Ref"


def test_crd_scalar_defaults_are_the_connector_defaults() -> None:
    crd = _crd_planon()
    settings = PlanonSettings(url="http://x")
    for key in (
        "chunkSize",
        "cacheSeconds",
        "requestTimeoutSeconds",
        "readAttempts",
        "maxConcurrentRequests",
        "maxOccurrences",
        "changeOverlapSeconds",
    ):
        snake = "".join("_" + c.lower() if c.isupper() else c for c in key)
        assert crd[key]["default"] == getattr(settings, snake), key
    assert crd["safeWarnings"]["default"] == list(settings.safe_warnings)
    assert crd["cancelMode"]["default"] == settings.cancel_mode
    assert crd["states"]["properties"]["cancel"]["default"] == settings.states.cancel
    assert crd["states"]["properties"]["cancelled"]["default"] == list(settings.states.cancelled)
    assert crd["states"]["properties"]["tentative"]["default"] == list(settings.states.tentative)


def test_settings_from_a_full_spec() -> None:
    settings = PlanonSettings.from_spec(
        {
            "url": "https://planon.example/sdk/system/rest/v1/",
            "auth": {},
            "timeZone": "W. Europe Standard Time",
            "definitions": {"reservation": "UsrReservationBoardroom"},
            "reservationFields": {"link": "FreeText9", "changedAt": "SysChangeDateTime"},
            "states": {"cancel": "UsrCancelled", "syscodes": {"235": "UsrCancelled"}},
            "orderGroup": 6,
            "cancelMode": "Delete",
            "chunkSize": 50,
        }
    )
    assert settings.url == "https://planon.example/sdk/system/rest/v1" and settings.time_zone == "Europe/Berlin"
    assert settings.definitions.reservation == "UsrReservationBoardroom" and settings.definitions.person == "Person"
    assert settings.reservation_fields.link == "FreeText9" and settings.reservation_fields.begin == "BeginDateTime"
    assert settings.states.syscodes == {235: "UsrCancelled"} and settings.order_group == 6 and settings.chunk_size == 50


async def test_registry_opens_a_planon_client(sandbox: PlanonSandbox) -> None:
    values = sandbox.demo_secrets()
    client = registry.open_client({"planon": sandbox.connection_spec()}, lambda n, k: values[(n, k)], namespace="ns")
    try:
        assert isinstance(client, PlanonClient) and client.backend == "planon"
        store = client.store([RoomPair("AMS-1.01", "a@example.com")], StoreOptions("ns/rs"))
        assert (await store.read(Window(monday(), monday() + timedelta(days=1)), full=True)).complete
    finally:
        await client.aclose()


def test_sandbox_in_a_thread_with_the_sync_admin_client() -> None:
    with PlanonSandbox.in_thread() as sb:
        admin = SandboxAdminSync(sb.root_url)
        start = monday()
        made = admin.book(
            ["AMS-1.01", "AMS-1.02"], start, start + timedelta(hours=1), "Two rooms", requestor="ben.smith@example.com"
        )
        assert len(made) == 2 and made[0]["fields"] == made[1]["fields"] == {}  # two reservations, nothing tying them
        admin.edit(made[0]["syscode"], subject="Edited")
        admin.cancel(made[1]["syscode"])
        states = {r["unit"]: (r["description"], r["state"]) for r in admin.reservations()}
        assert states == {
            "AMS-1.01": ("Edited", "UsrReservationConfirmed"),
            "AMS-1.02": ("Two rooms", "UsrReservationCancelled"),
        }
        assert admin.state()["reservations"] == 2 and len(sb.state.reservations) == 2
        with pytest.raises(Exception) as refused:
            admin.book("AMS-1.01", start, start + timedelta(hours=1), "Clash")
        assert "PN_R00101" in str(refused.value)
