"""The emulated Planon REST API and token endpoint (aiohttp handlers).

Request pipeline for ``POST {root}/sdk/system/rest/{v1|v2}/{operation}/{definition}[/{argument}]``: count the
request, add the configured latency, fire a matching fault, authenticate (``PLANONKEY accesskey=`` or ``Bearer``),
parse the body (top-level keys ``filter``, ``values``, ``answers``, ``arguments`` only) and run the operation.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from aiohttp import web

from roomsync.sandbox.planon.definitions import ApiError, bad_request, serialise
from roomsync.sandbox.planon.faults import Fault, Faults
from roomsync.sandbox.planon.model import Reservation, User
from roomsync.sandbox.planon.state import SandboxState, WarningsRequired, definition
from roomsync.sandbox.planon.touchpoint import person_changes

API_PREFIX: Final = "/sdk/system/rest"
TOKEN_PATH: Final = "/auth/realms/{realm}/protocol/openid-connect/token"
VERSIONS: Final = frozenset({"v1", "v2"})
BODY_KEYS: Final = frozenset({"filter", "values", "answers", "arguments"})
STATE_KEY: Final = web.AppKey("planon_state", SandboxState)
FAULTS_KEY: Final = web.AppKey("planon_faults", Faults)


def error_body(code: str, description: str) -> dict[str, Any]:
    return {
        "records": None,
        "warnings": None,
        "confirmations": None,
        "errors": [{"code": code, "description": description}],
    }


def error_response(status: int, code: str, description: str) -> web.Response:
    headers = {"WWW-Authenticate": 'PLANONKEY realm="planon", Bearer realm="planon"'} if status == 401 else None
    return web.json_response(error_body(code, description), status=status, headers=headers)


def warnings_response(warnings: list[tuple[str, str]]) -> web.Response:
    body = {
        "records": None,
        "warnings": [{"code": code, "description": text} for code, text in warnings],
        "confirmations": None,
        "errors": None,
    }
    return web.json_response(body, status=422)


async def api_handler(request: web.Request) -> web.StreamResponse:
    state, faults = request.app[STATE_KEY], request.app[FAULTS_KEY]
    version, op = request.match_info["version"], request.match_info["op"]
    name, argument = request.match_info["definition"], request.match_info.get("argument")
    state.requests[f"{op}/{name}" + (f"/{argument}" if argument else "")] += 1
    if faults.latency:
        await asyncio.sleep(faults.latency)
    if version not in VERSIONS:
        return error_response(404, "PN_E00404", f"Incorrect version number {version}")
    fault = faults.take(op, name)
    if fault is not None and fault.kind == "reset" and request.transport is not None:
        request.transport.abort()
        raise ConnectionResetError("injected connection reset")
    if fault is not None:
        early = await _early_fault(fault)
        if early is not None:
            return early
    user = authenticate(state, request.headers.get("Authorization", ""))
    if user is None:
        return error_response(401, "PN_E00401", "Not authenticated: missing, wrong or expired access key or token")
    try:
        if fault is not None and fault.kind == "person" and fault.edit is not None:
            person_changes(state, fault.edit)
        body = await _body(request)
        answered = _answered(body)
        if fault is not None and fault.kind == "warning" and fault.code not in answered:
            return warnings_response([(fault.code, fault.description)])
        if fault is not None and fault.kind == "empty" and op == "read":
            return web.json_response({"records": []})
        status, payload = run(state, op, name, argument, body, user, request.headers)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.description)
    except WarningsRequired as exc:
        return warnings_response(exc.warnings)
    text = json.dumps(payload)
    if fault is not None and fault.kind == "truncated":
        return web.Response(text=text[: len(text) // 2], status=status, content_type="application/json")
    if fault is not None and fault.kind == "oversized":
        text = text[:-1] + " " * fault.size + "}" if text.endswith("}") else text + " " * fault.size
    if fault is not None and fault.kind == "lost":
        return error_response(504, "PN_E00504", "Gateway time-out (the answer was lost)")
    return web.Response(text=text, status=status, content_type="application/json")


async def _early_fault(fault: Fault) -> web.Response | None:
    if fault.kind == "status":
        response = error_response(fault.status, f"PN_E{fault.status:05d}", "Injected server error")
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        return response
    if fault.kind == "slow":
        await asyncio.sleep(fault.delay)
    if fault.kind == "malformed":
        return web.Response(text='{"records": [{"Syscode": 1, oops', status=200, content_type="application/json")
    return None


def authenticate(state: SandboxState, header: str) -> User | None:
    scheme, _, credentials = header.strip().partition(" ")
    now = datetime.now(UTC)
    if scheme.upper() == "PLANONKEY":
        key, sep, value = credentials.strip().partition("=")
        if not sep or key.strip().lower() != "accesskey" or not value.strip():
            return None
        return state.user_for_access_key(value.strip(), now)
    if scheme.lower() == "bearer" and credentials.strip():
        return state.user_for_token(credentials.strip(), now)
    return None


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise bad_request("PN_E00030", "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("PN_E00030", "The request body must be a JSON object")
    unknown = set(body) - BODY_KEYS
    if unknown:
        raise bad_request("PN_E00031", f"Unknown top-level key(s): {', '.join(sorted(unknown))}")
    return body


def _answered(body: Mapping[str, Any]) -> frozenset[str]:
    answers = body.get("answers") or {}
    if not isinstance(answers, Mapping) or not isinstance(answers.get("warnings", []), list):
        raise bad_request("PN_E00032", 'answers must look like {"warnings": [{"code": "PN_H00427"}]}')
    return frozenset(str(a.get("code")) for a in answers.get("warnings", []) if isinstance(a, Mapping))


def run(
    state: SandboxState,
    op: str,
    name: str,
    argument: str | None,
    body: Mapping[str, Any],
    user: User,
    headers: Mapping[str, str],
) -> tuple[int, dict[str, Any]]:
    """Execute one API operation; returns (status, JSON body). Raises ApiError / WarningsRequired."""
    spec = definition(name)
    user_zone = ZoneInfo(user.time_zone)
    nulls = headers.get("SerializeNulls", "false").strip().lower() == "true"
    answered = _answered(body)

    def records(items: list[tuple[object, Mapping[str, object]]]) -> list[dict[str, object]]:
        return [
            serialise(spec, row, user_zone, serialize_nulls=nulls, corrupt=getattr(obj, "corrupt", None))
            for obj, row in items
        ]

    def reservation_records(items: list[Reservation]) -> list[dict[str, object]]:
        from roomsync.sandbox.planon.definitions import reservation_row

        return records([(r, reservation_row(r)) for r in items])

    if op == "read" and argument is None:
        return 200, {"records": records(state.select(spec, body.get("filter"), user_zone))}
    if not spec.authorizable or op not in ("execute", "update", "changeState", "delete"):
        raise ApiError(404, "PN_E00404", f"/{op}/{name} does not exist (the definition exposes only /read)")
    if op == "execute":
        if argument != "BomAdd":
            raise ApiError(404, "PN_E00406", f"BOM {argument} is not exposed by {name}")
        if "filter" in body:
            raise bad_request("PN_E00033", "BomAdd takes values, not a filter")
        created = state.bom_add(body.get("values"), user_zone, answered)
        return 201, {"records": reservation_records([created])}
    if "filter" not in body or not body["filter"]:
        raise bad_request("PN_E00034", f"/{op} needs a filter")
    targets = [obj for obj, _ in state.select(spec, body["filter"], user_zone)]
    assert all(isinstance(t, Reservation) for t in targets)
    typed_targets: list[Reservation] = [t for t in targets if isinstance(t, Reservation)]
    if op == "update":
        return 200, {
            "records": reservation_records(state.update(typed_targets, body.get("values"), user_zone, answered))
        }
    if op == "changeState":
        if argument is None:
            raise ApiError(404, "PN_E00405", "changeState needs a state name")
        return 200, {"records": reservation_records(state.change_state(typed_targets, argument))}
    if argument is not None:
        raise ApiError(404, "PN_E00404", f"/delete/{name}/{argument} does not exist")
    state.delete(typed_targets, answered)
    return 200, {"records": []}


async def token_handler(request: web.Request) -> web.Response:
    """Keycloak-style client-credentials token endpoint (form body or HTTP Basic client authentication)."""
    state, faults = request.app[STATE_KEY], request.app[FAULTS_KEY]
    state.requests["token"] += 1
    fault = faults.take("token", None)
    if fault is not None:
        early = await _early_fault(fault)
        if early is not None:
            return early
    form = await request.post()
    client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
    basic = request.headers.get("Authorization", "")
    if basic.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        except ValueError:
            return web.json_response({"error": "invalid_client"}, status=401)
    if form.get("grant_type") != "client_credentials":
        return web.json_response({"error": "unsupported_grant_type"}, status=400)
    token = state.issue_token(client_id, secret, datetime.now(UTC))
    if token is None:
        return web.json_response(
            {"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"},
            status=401,
        )
    lifetime = max(1, round(state.token_lifetime.total_seconds()))
    return web.json_response(
        {"access_token": token.value, "expires_in": lifetime, "token_type": "Bearer", "scope": "profile email"}
    )


def add_routes(app: web.Application) -> None:
    base = API_PREFIX + "/{version}/{op}/{definition}"
    app.router.add_post(base, api_handler)
    app.router.add_post(base + "/{argument}", api_handler)
    app.router.add_post(TOKEN_PATH, token_handler)


def new_token() -> str:
    return secrets.token_urlsafe(24)
