"""Contract tests: the sandbox answers the request shapes quoted in the reference (planon.md §1) as quoted."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from roomsync.sandbox.planon import DEMO_ACCESS_KEY, PlanonSandbox, SandboxRefused
from tests.planon.conftest import monday

KEY = {"Authorization": f"PLANONKEY accesskey={DEMO_ACCESS_KEY}"}


async def post(sb: PlanonSandbox, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sb.url}/{path}", json=body, headers=KEY if headers is None else headers) as r,
    ):
        return r.status, await r.json(content_type=None)


async def ids(sb: PlanonSandbox) -> dict[str, int]:
    _, units = await post(sb, "read/ReservationUnit", {"filter": {"Code": {"eq": "AMS-1.01"}}})
    (unit,) = units["records"]
    return {
        "ReservationUnitRef": unit["Syscode"],
        "PropertyRef": unit["PropertyRef"],
        "OrderGroupRef": unit["OrderGroupRef"],
    }


def create_body(refs: dict[str, int], day: str, begin: str = "14:00:00", end: str = "16:00:00") -> dict[str, Any]:
    """The documented create request (reference §1.10), with the syscodes of the sandbox's unit."""
    return {
        "values": {
            "BeginDateTime": {"date": day, "time": begin},
            "EndDateTime": {"date": day, "time": end},
            **refs,
            "Description": "DEMO reservation",
        }
    }


async def test_documented_create_answers_201_with_the_record(sandbox: PlanonSandbox) -> None:
    day = monday().strftime("%Y-%m-%d")
    status, body = await post(sandbox, "execute/UsrReservationMeetingRoom/BomAdd", create_body(await ids(sandbox), day))
    assert status == 201
    (record,) = body["records"]
    # The API user (demo access key) works in Europe/London: the wall clock comes back as it was written.
    assert record["BeginDateTime"] == {"date": day, "time": "14:00:00"}
    assert record["BeginDateTimeUser"] == f"{day}T14:00:00Z"
    assert record["BusinessObjectDefinitionRef"] == 730
    assert record["BusinessObjectStateRef"] == 229 and record["SystemState"] == "UsrReservationConfirmed"
    assert isinstance(record["Syscode"], int) and record["Description"] == "DEMO reservation"
    (stored,) = await sandbox.admin.reservations("AMS-1.01")
    london = datetime.fromisoformat(f"{day}T14:00:00").replace(tzinfo=ZoneInfo("Europe/London"))
    assert datetime.fromisoformat(stored["start"]) == london


async def test_offsets_in_input_are_stripped_and_times_are_in_the_users_zone(sandbox: PlanonSandbox) -> None:
    day = monday().strftime("%Y-%m-%d")
    body = create_body(await ids(sandbox), day, "10:00:00+05:00", "11:00:00Z")
    status, answer = await post(sandbox, "execute/UsrReservationMeetingRoom/BomAdd", body)
    assert status == 201
    assert answer["records"][0]["BeginDateTime"]["time"] == "10:00:00"
    assert answer["records"][0]["EndDateTime"]["time"] == "11:00:00"


async def test_create_without_a_required_field_is_a_business_error(sandbox: PlanonSandbox) -> None:
    body = create_body(await ids(sandbox), monday().strftime("%Y-%m-%d"))
    del body["values"]["OrderGroupRef"]
    status, answer = await post(sandbox, "execute/UsrReservationMeetingRoom/BomAdd", body)
    assert status == 422
    assert answer["errors"][0]["code"] == "PN_E00001" and "OrderGroupRef" in answer["errors"][0]["description"]
    assert answer["records"] is None and answer["warnings"] is None


async def test_read_with_an_eq_filter_returns_records(sandbox: PlanonSandbox) -> None:
    status, body = await post(sandbox, "read/Property", {"filter": {"Code": {"eq": "AMS"}}})
    assert status == 200
    assert [r["TimeZone"] for r in body["records"]] == ["Europe/Amsterdam"]
    status, everything = await post(sandbox, "read/Property", {})
    assert status == 200 and len(everything["records"]) == 2


@pytest.mark.parametrize(
    ("line", "codes"),
    [
        ({"Code": {"in": ["AMS-1.01", "LON-3.01"]}}, {"AMS-1.01", "LON-3.01"}),
        ({"Code": {"nin": ["AMS-1.01", "LON-3.01"]}}, {"AMS-1.02", "AMS-2.01"}),
        ({"Code": {"contains": "ams-1"}}, {"AMS-1.01", "AMS-1.02"}),
        ({"Capacity": {"ge": 8}}, {"AMS-1.01", "AMS-2.01"}),
        ({"Capacity": {"lt": 6}}, {"AMS-1.02"}),
        ({"Capacity": {"ne": 8}, "Code": {"contains": "AMS"}}, {"AMS-1.02", "AMS-2.01"}),  # lines are AND-ed
        ({"AdvanceReservationDays": {"exists": False}}, {"AMS-1.01", "AMS-1.02", "AMS-2.01", "LON-3.01"}),
    ],
)
async def test_filter_operators(sandbox: PlanonSandbox, line: dict[str, Any], codes: set[str]) -> None:
    status, body = await post(sandbox, "read/ReservationUnit", {"filter": line})
    assert status == 200
    assert {r["Code"] for r in body["records"]} == codes


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"filter": {"Nope": {"eq": 1}}}, "PN_E00010"),
        ({"filter": {"Code": {"like": "x"}}}, "PN_E00021"),
        ({"filter": {"Capacity": {"eq": "8"}}}, "PN_E00012"),  # numbers without quotes
        ({"filter": {"Code": {"in": "AMS"}}}, "PN_E00022"),
        ({"filter": {"Code": {"in": [str(i) for i in range(1001)]}}}, "PN_E00023"),
        ({"filter": {}, "select": []}, "PN_E00031"),
    ],
)
async def test_malformed_requests_are_400(sandbox: PlanonSandbox, body: dict[str, Any], code: str) -> None:
    status, answer = await post(sandbox, "read/ReservationUnit", body)
    assert status == 400 and answer["errors"][0]["code"] == code


async def test_delete_returns_the_cascade_warning_until_it_is_answered(sandbox: PlanonSandbox) -> None:
    _, created = await post(
        sandbox,
        "execute/UsrReservationMeetingRoom/BomAdd",
        create_body(await ids(sandbox), monday().strftime("%Y-%m-%d")),
    )
    flt = {"Syscode": {"eq": created["records"][0]["Syscode"]}}
    status, answer = await post(sandbox, "delete/UsrReservationMeetingRoom", {"filter": flt})
    assert status == 422
    assert answer["warnings"] == [{"code": "PN_H00427", "description": answer["warnings"][0]["description"]}]
    assert answer["confirmations"] is None and answer["errors"] is None
    assert len(await sandbox.admin.reservations()) == 1  # nothing deleted yet
    answers = {"warnings": [{"code": "PN_H00427"}]}
    status, answer = await post(sandbox, "delete/UsrReservationMeetingRoom", {"filter": flt, "answers": answers})
    assert status == 200 and await sandbox.admin.reservations() == []


async def test_change_state_follows_the_documented_transitions(sandbox: PlanonSandbox) -> None:
    _, created = await post(
        sandbox,
        "execute/UsrReservationMeetingRoom/BomAdd",
        create_body(await ids(sandbox), monday().strftime("%Y-%m-%d")),
    )
    flt = {"filter": {"Syscode": {"eq": created["records"][0]["Syscode"]}}}
    status, answer = await post(sandbox, "changeState/UsrReservationMeetingRoom/UsrReservationCompleted", flt)
    assert status == 200 and answer["records"][0]["SystemState"] == "UsrReservationCompleted"
    status, answer = await post(sandbox, "changeState/UsrReservationMeetingRoom/UsrReservationCancelled", flt)
    assert status == 422 and answer["errors"][0]["code"] == "PN_E00301"
    status, answer = await post(sandbox, "changeState/UsrReservationMeetingRoom/UsrNoSuchState", flt)
    assert status == 404


async def test_update_changes_matching_records_and_keeps_history_states(sandbox: PlanonSandbox) -> None:
    _, created = await post(
        sandbox,
        "execute/UsrReservationMeetingRoom/BomAdd",
        create_body(await ids(sandbox), monday().strftime("%Y-%m-%d")),
    )
    flt = {"Syscode": {"eq": created["records"][0]["Syscode"]}}
    status, answer = await post(
        sandbox, "update/UsrReservationMeetingRoom", {"filter": flt, "values": {"Description": "x"}}
    )
    assert status == 200 and answer["records"][0]["Description"] == "x"
    status, answer = await post(sandbox, "update/UsrReservationMeetingRoom", {"filter": flt, "values": {"Syscode": 1}})
    assert status == 400 and answer["errors"][0]["code"] == "PN_E00011"
    await post(sandbox, "changeState/UsrReservationMeetingRoom/UsrReservationCancelled", {"filter": flt})
    status, answer = await post(
        sandbox, "update/UsrReservationMeetingRoom", {"filter": flt, "values": {"Description": "y"}}
    )
    assert status == 422 and answer["errors"][0]["code"] == "PN_E00310"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "PLANONKEY accesskey=wrong"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic x"},
    ],
)
async def test_401_without_or_with_bad_credentials(sandbox: PlanonSandbox, headers: dict[str, str]) -> None:
    status, answer = await post(sandbox, "read/Property", {}, headers)
    assert status == 401 and answer["errors"][0]["code"] == "PN_E00401"


async def test_404_for_unknown_version_definition_and_bom(sandbox: PlanonSandbox) -> None:
    async with aiohttp.ClientSession() as session:
        url = sandbox.root_url + "/sdk/system/rest/v9/read/Property"
        async with session.post(url, json={}, headers=KEY) as r:
            assert r.status == 404
            assert "version" in (await r.json())["errors"][0]["description"]
        async with session.get(f"{sandbox.url}/read/Property", headers=KEY) as r:
            assert r.status == 405  # only POST is used
    assert (await post(sandbox, "read/NoSuchDefinition", {}))[0] == 404
    assert (await post(sandbox, "execute/UsrReservationMeetingRoom/BomSave", {"values": {"Description": "x"}}))[
        0
    ] == 404
    assert (await post(sandbox, "update/Person", {"filter": {"Syscode": {"eq": 1}}, "values": {"Email": "x"}}))[
        0
    ] == 404


async def test_v2_serves_the_same_api(sandbox: PlanonSandbox) -> None:
    async with aiohttp.ClientSession() as session:
        url = sandbox.root_url + "/sdk/system/rest/v2/read/Property"
        async with session.post(url, json={"filter": {"Code": {"eq": "LON"}}}, headers=KEY) as r:
            assert r.status == 200 and (await r.json())["records"][0]["TimeZone"] == "Europe/London"


async def test_serialize_nulls_header(sandbox: PlanonSandbox) -> None:
    flt = {"filter": {"Code": {"eq": "AMS-1.01"}}}
    _, sparse = await post(sandbox, "read/ReservationUnit", flt)
    _, full = await post(sandbox, "read/ReservationUnit", flt, {**KEY, "SerializeNulls": "true"})
    assert "AdvanceReservationDays" not in sparse["records"][0]
    assert full["records"][0]["AdvanceReservationDays"] is None


async def test_token_endpoint_client_credentials(sandbox: PlanonSandbox) -> None:
    async with aiohttp.ClientSession() as session:
        form = {"grant_type": "client_credentials", "client_id": "roomsync", "client_secret": "sandbox-client-secret"}
        async with session.post(sandbox.token_url, data=form) as r:
            token = await r.json()
            assert r.status == 200 and token["token_type"] == "Bearer" and token["expires_in"] > 0
        async with session.post(sandbox.token_url, data=form | {"client_secret": "wrong"}) as r:
            assert r.status == 401 and (await r.json())["error"] == "invalid_client"
        async with session.post(sandbox.token_url, data=form | {"grant_type": "password"}) as r:
            assert r.status == 400
    status, _ = await post(sandbox, "read/Property", {}, {"Authorization": f"Bearer {token['access_token']}"})
    assert status == 200


@pytest.mark.parametrize(
    ("begin", "end", "code"),
    [
        ("19:00:00", "21:00:00", "PN_R00103"),  # London user: 20:00-22:00 in Amsterdam, after closing (20:00)
        ("05:00:00", "06:00:00", "PN_R00103"),  # 06:00-07:00 in Amsterdam, before opening
        ("07:00:00", "16:00:00", "PN_R00102"),  # over 480 minutes
    ],
)
async def test_availability_rules_refuse_with_business_errors(
    sandbox: PlanonSandbox, begin: str, end: str, code: str
) -> None:
    body = create_body(await ids(sandbox), monday().strftime("%Y-%m-%d"), begin, end)
    status, answer = await post(sandbox, "execute/UsrReservationMeetingRoom/BomAdd", body)
    assert status == 422 and answer["errors"][0]["code"] == code


async def test_overlap_in_the_same_unit_is_refused(sandbox: PlanonSandbox) -> None:
    refs, day = await ids(sandbox), monday().strftime("%Y-%m-%d")
    assert (await post(sandbox, "execute/UsrReservationMeetingRoom/BomAdd", create_body(refs, day)))[0] == 201
    status, answer = await post(
        sandbox, "execute/UsrReservationMeetingRoom/BomAdd", create_body(refs, day, "15:00:00", "17:00:00")
    )
    assert status == 422 and answer["errors"][0]["code"] == "PN_R00101"
    assert "not available" in answer["errors"][0]["description"]
    # back to back is fine
    assert (
        await post(sandbox, "execute/UsrReservationMeetingRoom/BomAdd", create_body(refs, day, "16:00:00", "17:00:00"))
    )[0] == 201


async def test_request_counters_and_faults(sandbox: PlanonSandbox) -> None:
    await sandbox.admin.fault("status", "read", definition="Property", status=502)
    assert (await post(sandbox, "read/Property", {}))[0] == 502
    assert (await post(sandbox, "read/Property", {}))[0] == 200  # fired once
    await sandbox.admin.fault("malformed", "read")
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sandbox.url}/read/Property", json={}, headers=KEY) as r,
    ):
        with pytest.raises(ValueError):
            await r.json(content_type=None)
    counts = await sandbox.admin.requests()
    assert counts["read/Property"] == 3
    await sandbox.admin.reset_requests()
    assert await sandbox.admin.requests() == {}


async def test_update_answers_the_records_it_wrote_and_the_change_time_guards_a_stale_write(
    sandbox: PlanonSandbox,
) -> None:
    day = monday().strftime("%Y-%m-%d")
    _, created = await post(sandbox, "execute/UsrReservationMeetingRoom/BomAdd", create_body(await ids(sandbox), day))
    (record,) = created["records"]
    read_at = record["SysChangeDateTime"]
    assert set(read_at) == {"date", "time"} and len(read_at["time"]) == 8  # whole seconds, like every date-time
    guarded = {"Syscode": {"in": [record["Syscode"]]}, "SysChangeDateTime": {"eq": read_at}}
    status, body = await post(
        sandbox, "update/UsrReservationMeetingRoom", {"filter": guarded, "values": {"Description": "First"}}
    )
    (written,) = body["records"]
    assert status == 200 and written["Description"] == "First"
    assert written["SysChangeDateTime"] != read_at  # every write moves the change time, even within one second
    # the same filter again: the reservation changed since it was read, so nothing matches and nothing is written
    status, body = await post(
        sandbox, "update/UsrReservationMeetingRoom", {"filter": guarded, "values": {"Description": "Stale"}}
    )
    assert status == 200 and body["records"] == []
    (stored,) = await sandbox.admin.reservations("AMS-1.01")
    assert stored["description"] == "First"


async def test_a_text_longer_than_its_field_is_a_business_error_naming_the_field(sandbox: PlanonSandbox) -> None:
    body = create_body(await ids(sandbox), monday().strftime("%Y-%m-%d"))
    body["values"]["Description"] = "x" * 101
    status, answer = await post(sandbox, "execute/UsrReservationMeetingRoom/BomAdd", body)
    assert status == 422 and answer["errors"][0]["code"] == "PN_E00014"
    assert "Description holds at most 100 characters" in answer["errors"][0]["description"]
    body["values"] |= {"Description": "Fits", "FreeText2": "a" * 2001}
    status, answer = await post(sandbox, "execute/UsrReservationMeetingRoom/BomAdd", body)
    assert status == 422 and "FreeText2" in answer["errors"][0]["description"]
    assert await sandbox.admin.reservations() == []


async def test_touchpoints_write_only_what_planon_writes(sandbox: PlanonSandbox) -> None:
    start = monday(hour=10)
    made = await sandbox.admin.book(["AMS-1.01", "AMS-1.02"], start, start.replace(hour=11), "Two rooms")
    assert [r["fields"] for r in made] == [{}, {}] and [r["recurrentReservation"] for r in made] == [None, None]
    series = await sandbox.admin.book(
        "AMS-2.01", start, start.replace(hour=11), "Weekly", recurrence="FREQ=WEEKLY;COUNT=3"
    )
    assert [r["recurrentReservation"] for r in series] == [series[0]["syscode"]] * 3
    assert all(r["fields"] == {} for r in series)
    _, read = await post(
        sandbox, "read/UsrReservationMeetingRoom", {"filter": {"RecurrentReservationRef": {"eq": series[0]["syscode"]}}}
    )
    assert sorted(r["Syscode"] for r in read["records"]) == [r["syscode"] for r in series]
    # a person edits and cancels without touching the free fields (RoomSync's bookkeeping stays)
    await sandbox.admin.edit(series[1]["syscode"], fields={"FreeString1": "kept"})
    await sandbox.admin.edit(series[1]["syscode"], subject="Renamed")
    (cancelled,) = await sandbox.admin.cancel(series[1]["syscode"])
    assert cancelled["fields"] == {"FreeString1": "kept"} and cancelled["description"] == "Renamed"
    attendees = {"unit": "AMS-1.01", "start": start.isoformat(), "end": start.isoformat(), "required": ["a@b.example"]}
    async with aiohttp.ClientSession() as session, session.post(f"{sandbox.root_url}/_admin/book", json=attendees) as r:
        assert r.status == 400 and "does not record required" in (await r.json())["errors"][0]["description"]
    with pytest.raises(SandboxRefused) as unlimited:
        await sandbox.admin.book("AMS-1.01", start, start.replace(hour=11), "Forever", recurrence="FREQ=WEEKLY")
    assert unlimited.value.code == "PN_R00110"
