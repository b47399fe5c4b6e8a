"""The emulator on its own: the resource booking assistant per processing mode, and Graph details on the wire."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from roomsync.sandbox.graph import GraphSandbox

from .conftest import ROOM1, ROOM2, ROOM3, at


async def raw(sandbox: GraphSandbox) -> httpx.AsyncClient:
    context = ssl.create_default_context(cadata=sandbox.ca_pem)
    async with httpx.AsyncClient(verify=context) as http:
        token = await http.post(
            f"{sandbox.authority_host}/{sandbox.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return httpx.AsyncClient(verify=context, base_url=sandbox.base_url, headers=headers)


async def test_booking_assistant_per_processing_mode(sandbox: GraphSandbox) -> None:
    admin = sandbox.admin
    first = await admin.book_in_outlook(
        "alice@contoso.com", [ROOM1, ROOM3], "Design", at(hours=1), at(hours=2), organizer_name="Alice"
    )
    (accepted,) = await admin.room_events(ROOM1)
    assert accepted["response"] == "accepted" and accepted["subject"] == "Alice"  # AddOrganizerToSubject default
    (pending,) = await admin.room_events(ROOM3)
    assert pending["response"] == "notResponded" and pending["showAs"] == "tentative" and pending["subject"] == "Design"
    # a conflicting request: AutoAccept declines (the copy never lands), AutoUpdate holds it like any other
    clash = await admin.book_in_outlook("bob@contoso.com", [ROOM1, ROOM3], "Clash", at(hours=1.5), at(hours=2.5))
    assert [e["iCalUId"] for e in await admin.room_events(ROOM1)] == [first]
    assert {e["iCalUId"] for e in await admin.room_events(ROOM3)} == {first, clash}
    assert any(
        m["kind"] == "decline" and m["from"] == ROOM1 and m["to"] == "bob@contoso.com" for m in await admin.mail()
    )
    # AllowConflicts lets it in; the subject settings Planon needs keep the organizer's subject
    await admin.set_processing(
        ROOM2, "AutoAccept", allow_conflicts=True, delete_subject=False, add_organizer_to_subject=False
    )
    await admin.book_in_outlook("bob@contoso.com", [ROOM2], "One", at(hours=1), at(hours=2))
    await admin.book_in_outlook("bob@contoso.com", [ROOM2], "Two", at(hours=1), at(hours=2))
    assert sorted(e["subject"] for e in await admin.room_events(ROOM2)) == ["One", "Two"]
    # None: nothing on the calendar, the request waits in the inbox
    await admin.set_processing(ROOM2, "None")
    await admin.book_in_outlook("bob@contoso.com", [ROOM2], "Three", at(days=1), at(days=1, hours=1))
    assert len(await admin.room_events(ROOM2)) == 2 and len(await admin.room_inbox(ROOM2)) == 1
    # organizer edits travel to the copies; a time change asks the AutoUpdate room again
    await admin.edit(first, start=at(hours=3), end=at(hours=4))
    copies = {e["iCalUId"]: e for e in await admin.room_events(ROOM3)}
    assert copies[first]["start"].startswith("2031-03-03T12:00") and copies[first]["response"] == "notResponded"
    await admin.cancel(first)
    assert (await admin.room_events(ROOM1))[0]["isCancelled"]


async def test_wire_details(sandbox: GraphSandbox) -> None:
    await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM3], "Hold", at(hours=1), at(hours=2))
    async with await raw(sandbox) as http:
        view = await http.get(
            f"/users/{ROOM3.replace('@', '%40')}/calendarView",
            params={"startDateTime": "2031-03-01T00:00:00Z", "endDateTime": "2031-03-10T00:00:00Z"},
            headers={"Prefer": 'outlook.timezone="W. Europe Standard Time"'},
        )
        event: dict[str, Any] = view.json()["value"][0]
        assert event["start"] == {"dateTime": "2031-03-03T11:00:00.0000000", "timeZone": "W. Europe Standard Time"}
        # action parameters match case-insensitively (the SDK sends PascalCase)
        answer = await http.post(
            f"/users/{ROOM3}/events/{event['id']}/tentativelyAccept", json={"Comment": "maybe", "SendResponse": False}
        )
        assert answer.status_code == 202 and answer.content == b""
        # transactionId: a repeated POST returns the first event
        body = {
            "subject": "x",
            "transactionId": "t-1",
            "start": {"dateTime": "2031-03-04T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2031-03-04T10:00:00", "timeZone": "UTC"},
        }
        one = await http.post(f"/users/{ROOM1}/events", json=body)
        two = await http.post(f"/users/{ROOM1}/events", json=body)
        assert one.status_code == two.status_code == 201 and one.json()["id"] == two.json()["id"]
        # delta: pages with its own base URL, then @removed; an unknown token is 410 syncStateNotFound
        first = await http.get(
            f"/users/{ROOM1}/calendarView/delta()",
            params={"startDateTime": "2031-03-01T00:00:00Z", "endDateTime": "2031-03-10T00:00:00Z"},
        )
        link = first.json()["@odata.deltaLink"]
        assert link.startswith(sandbox.base_url)
        assert (await http.delete(f"/users/{ROOM1}/events/{one.json()['id']}")).status_code == 204
        changes = (await http.get(link)).json()["value"]
        assert changes == [
            {"@odata.type": "#microsoft.graph.event", "id": one.json()["id"], "@removed": {"reason": "deleted"}}
        ]
        gone = await http.get(link.replace("deltatoken=", "deltatoken=x"))
        assert gone.status_code == 410 and gone.json()["error"]["code"] == "syncStateNotFound"
        assert "request-id" in gone.json()["error"]["innerError"]
        missing = await http.get(f"/users/{ROOM1}/events/AAMkAGnothere")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"
        unauthenticated = await http.get(f"/users/{ROOM1}/events", headers={"Authorization": ""})
        assert unauthenticated.status_code == 401
