"""Admin endpoints under ``/_admin``: seed, act as a person at a touchpoint, inspect, count, inject faults.

They are no part of the emulated Planon API and need no authentication (the sandbox only listens on loopback by
default). Errors use the API's ``errors`` body so the admin client can show Planon's refusal text.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, Final

from aiohttp import web

from roomsync.sandbox.admin_page import AdminIndex
from roomsync.sandbox.planon import touchpoint
from roomsync.sandbox.planon.api import FAULTS_KEY, STATE_KEY, error_response
from roomsync.sandbox.planon.definitions import ApiError
from roomsync.sandbox.planon.faults import Fault
from roomsync.sandbox.planon.seed import apply_seed

ADMIN_PREFIX: Final = "/_admin"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _guard(handler: Handler) -> Handler:
    @functools.wraps(handler)  # the index page at /_admin reads the handler's docstring
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.description)
        except (ValueError, KeyError, TypeError) as exc:
            return error_response(400, "PN_E00400", f"bad admin request: {exc}")

    return wrapped


async def _json(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


async def seed(request: web.Request) -> web.Response:
    """Add units, properties, persons, users, access keys or OIDC clients (a seed document)."""
    return web.json_response({"added": apply_seed(request.app[STATE_KEY], await _json(request))})


async def reset(request: web.Request) -> web.Response:
    """Forget everything: an empty Planon, no faults."""
    request.app[STATE_KEY].__init__()  # type: ignore[misc]  # same object, fresh data: handlers keep their reference
    request.app[FAULTS_KEY].clear()
    return web.json_response({"reset": True})


#: What a touchpoint does not record: attendees (a person types no invitation list into Planon) and a time zone of
#: the booking (Planon takes it from the unit's property).
NOT_AT_A_TOUCHPOINT: Final = frozenset({"required", "optional", "attendees", "timeZone"})


async def book(request: web.Request) -> web.Response:
    """A person books at a touchpoint (kiosk, app, web): unit or units, start, end, subject, requestor."""
    body = await _json(request)
    state = request.app[STATE_KEY]
    refused = sorted(NOT_AT_A_TOUCHPOINT & set(body))
    if refused:
        raise ValueError(f"a Planon touchpoint does not record {', '.join(refused)}")
    units = body.get("units") or ([body["unit"]] if body.get("unit") else [])
    created = touchpoint.book(
        state,
        units=units,
        start=touchpoint._instant(body["start"]),
        end=touchpoint._instant(body["end"]),
        subject=body.get("subject", ""),
        requestor=body.get("requestor"),
        external_requestor=body.get("externalRequestor"),
        recurrence=body.get("recurrence"),
        state_name=body.get("state", "UsrReservationConfirmed"),
        source=body.get("source", "Kiosk"),
    )
    return web.json_response({"reservations": [touchpoint.view(state, r) for r in created]}, status=201)


async def edit(request: web.Request) -> web.Response:
    """A person changes a reservation at a touchpoint: syscode and the new subject, start, end or unit."""
    body = await _json(request)
    state = request.app[STATE_KEY]
    changed = [touchpoint.edit(state, s, body) for s in _syscodes(body)]
    return web.json_response({"reservations": [touchpoint.view(state, r) for r in changed]})


async def cancel(request: web.Request) -> web.Response:
    """A person cancels reservations at a touchpoint (syscode or syscodes; state for another end state)."""
    body = await _json(request)
    state = request.app[STATE_KEY]
    target = body.get("state", "UsrReservationCancelled")
    changed = touchpoint.transition(state, _syscodes(body), target)
    return web.json_response({"reservations": [touchpoint.view(state, r) for r in changed]})


def _syscodes(body: dict[str, Any]) -> list[int]:
    if "syscode" in body:
        return [_syscode(body["syscode"])]
    if "syscodes" in body:
        return [_syscode(s) for s in body["syscodes"]]
    raise ValueError("give syscode or syscodes")


def _syscode(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise ValueError(
            f"syscode {value!r} is not a reservation number (GET /_admin/reservations lists them)"
        ) from None


async def reservations(request: web.Request) -> web.Response:
    """The reservations as Planon holds them (``?unit=AMS-1.01``, ``?state=``): times in UTC, requestor."""
    state = request.app[STATE_KEY]
    query = request.query
    result = []
    unit = state.unit_by_code(query["unit"]) if "unit" in query else None
    if "unit" in query and unit is None:
        return web.json_response({"reservations": []})
    pool = state.reservations.of_unit(unit.syscode) if unit is not None else state.reservations.values()
    for r in sorted(pool, key=lambda r: (r.begin, r.syscode)):
        view = touchpoint.view(state, r)
        if "state" in query and r.state != query["state"]:
            continue
        result.append(view)
    return web.json_response({"reservations": result})


async def inspect(request: web.Request) -> web.Response:
    """Properties, units, persons, API users and the number of reservations."""
    state = request.app[STATE_KEY]
    return web.json_response(
        {
            "properties": [asdict(p) for p in state.properties.values()],
            "units": [
                {
                    "syscode": u.syscode,
                    "code": u.code,
                    "name": u.name,
                    "capacity": u.capacity,
                    "maxMinutes": u.max_minutes,
                }
                for u in state.units.values()
            ],
            "persons": [asdict(p) for p in state.persons.values()],
            "users": [{"account": u.account, "timeZone": u.time_zone} for u in state.users.values()],
            "reservations": len(state.reservations),
        }
    )


async def corrupt(request: web.Request) -> web.Response:
    """Make a stored field unreadable (syscode, field, value), as a broken integration would."""
    body = await _json(request)
    reservation = request.app[STATE_KEY].reservations[int(body["syscode"])]
    reservation.corrupt[str(body["field"])] = body.get("value")
    return web.json_response({"corrupted": reservation.syscode})


async def requests_get(request: web.Request) -> web.Response:
    """Requests the API served, per operation."""
    return web.json_response({"requests": dict(request.app[STATE_KEY].requests)})


async def requests_reset(request: web.Request) -> web.Response:
    """Forget the request counters."""
    request.app[STATE_KEY].requests.clear()
    return web.json_response({"requests": {}})


async def faults_add(request: web.Request) -> web.Response:
    """Make the next matching requests fail: status (with retry_after), slow, empty, malformed, lost ..."""
    body = await _json(request)
    fault = Fault(**body)
    request.app[FAULTS_KEY].add(fault)
    return web.json_response({"armed": len(request.app[FAULTS_KEY].armed)}, status=201)


async def faults_get(request: web.Request) -> web.Response:
    """The armed faults."""
    return web.json_response({"faults": [asdict(f) for f in request.app[FAULTS_KEY].armed]})


async def faults_clear(request: web.Request) -> web.Response:
    """Remove every armed fault."""
    request.app[FAULTS_KEY].clear()
    return web.json_response({"faults": []})


async def latency(request: web.Request) -> web.Response:
    """Add a delay to every API request (seconds)."""
    body = await _json(request)
    seconds = float(body.get("seconds", 0.0))
    if seconds < 0:
        raise ValueError("latency must not be negative")
    request.app[FAULTS_KEY].latency = seconds
    return web.json_response({"seconds": seconds})


async def expire_tokens(request: web.Request) -> web.Response:
    """Expire the OIDC tokens issued so far."""
    return web.json_response({"expired": request.app[STATE_KEY].expire_tokens()})


def add_routes(app: web.Application) -> None:
    p = ADMIN_PREFIX
    routes: list[tuple[str, str, Handler]] = [
        ("POST", "/seed", seed),
        ("POST", "/reset", reset),
        ("POST", "/book", book),
        ("POST", "/edit", edit),
        ("POST", "/cancel", cancel),
        ("GET", "/reservations", reservations),
        ("GET", "/state", inspect),
        ("POST", "/corrupt", corrupt),
        ("GET", "/requests", requests_get),
        ("DELETE", "/requests", requests_reset),
        ("POST", "/faults", faults_add),
        ("GET", "/faults", faults_get),
        ("DELETE", "/faults", faults_clear),
        ("PUT", "/latency", latency),
        ("POST", "/tokens/expire", expire_tokens),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, p + path, _guard(handler))
    INDEX.install(app)


INDEX: Final = AdminIndex(
    title="Planon sandbox - admin",
    intro="This sandbox plays a Planon tenant: its REST API is at /sdk/system/rest/v1 (Authorization: PLANONKEY "
    "accesskey=... or a Bearer token from /auth/realms/planon/protocol/openid-connect/token). The admin API below "
    "plays the people at Planon's touchpoints and lets tests look inside; it needs no credentials. From the command "
    "line, `roomsync sandbox book -f sandbox.yaml planon ...` and `roomsync sandbox show -f sandbox.yaml` do the "
    "same.",
    person=("/book", "/edit", "/cancel", "/reservations"),
    examples={
        "/book": {
            "unit": "AMS-1.01",
            "start": "{day}T15:00:00Z",
            "end": "{day}T16:00:00Z",
            "subject": "Retro",
            "requestor": "anna@contoso.example",
        },
        "/edit": {"syscode": "<syscode of the reservation>", "subject": "Retro (moved)", "start": "{day}T15:30:00Z"},
        "/cancel": {"syscode": "<syscode of the reservation>"},
    },
)
