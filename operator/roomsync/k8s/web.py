"""The read-only health page: one HTML page, served by the operator on its own port (``--web-port``), off by default.

For the people who keep the rooms running and do not use kubectl, like the Health Check of Planon's Connect for
Calendars: every RoomSync with its mode, readiness and last sync, its rooms with pending work and the last error,
conflicts, the bookings that failed or were refused with Planon's or Exchange's reason, a dry run's plan, and the
health of every Connection. It is rendered on the server from the objects the operator watches (no script, no
external asset, refreshed every 30 seconds) and changes nothing: GET only, no forms. It has no login of its own, so
the chart exposes it through a ClusterIP Service only (``kubectl port-forward``); an Ingress belongs behind an
authenticating proxy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import Any

from aiohttp import web

from roomsync.k8s.health import ConnectionView, RoomSyncView

Snapshot = Callable[[], tuple[list[RoomSyncView], list[ConnectionView]]]

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1f2328;background:#fff}
h1{font-size:1.4rem}h2{font-size:1.15rem;margin:1.6rem 0 .4rem}h3{font-size:1rem;margin:1rem 0 .3rem}
table{border-collapse:collapse;margin:.3rem 0 1rem;min-width:40rem}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#f6f8fa}.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.unknown{color:#9a6700;font-weight:600}.muted{color:#656d76}section{border-top:2px solid #d0d7de;margin-top:1rem}
"""


def _state(value: str) -> str:
    css = {"True": "ok", "False": "bad"}.get(value, "unknown")
    return f'<span class="{css}">{escape(value)}</span>'


def _table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[str]], label: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f'<h3>{escape(caption)}</h3><table aria-label="{escape(label)}"><tr>{head}</tr>{body}</table>'


def _roomsync(view: RoomSyncView) -> str:
    parts = [
        f'<section data-roomsync="{escape(view.key)}"><h2>RoomSync {escape(view.key)}</h2>',
        "<p>",
        f"Ready: {_state(view.ready)} ({escape(view.reason)}) &middot; ",
        f"Synced: {_state(view.synced)} ({escape(view.synced_reason)}) &middot; ",
        f"Mode: <b>{escape(view.mode)}</b> &middot; ",
        f"Last sync: {escape(view.last_sync or 'never')} &middot; Pending: {view.pending} &middot; ",
        f"Conflicts: {view.conflicts} &middot; Refused: {view.refused}<br>",
        f'<span class="muted">{escape(view.message)}</span><br>',
        f'<span class="muted">Planon: {escape(view.planon)} &middot; Calendar: {escape(view.calendar)}</span></p>',
    ]
    rooms = [
        [
            escape(r.planon),
            escape(r.calendar),
            "&ndash;" if r.bookings is None else str(r.bookings),
            str(r.pending),
            f'<span class="bad">{escape(r.error)}</span>' if r.error else "",
        ]
        for r in view.rooms
    ]
    parts.append(_table("Rooms", ("Planon unit", "Calendar", "Bookings", "Pending", "Last error"), rooms, "rooms"))
    if view.failures:
        failures = [
            [
                escape(str(f.get("side", ""))),
                escape(str(f.get("room", ""))),
                escape(str(f.get("subject", ""))),
                escape(str(f.get("start", ""))),
                f'<span class="bad">{escape(str(f.get("reason", "")))}</span>',
                escape(str(f.get("message", ""))),
                escape(str(f.get("lastSeen", ""))),
                str(f.get("count", 1)),
            ]
            for f in view.failures
        ]
        headers = ("Side", "Room", "Subject", "Start", "Reason", "Message", "Last seen", "Times")
        parts.append(_table("Failed or refused bookings", headers, failures, "failures"))
    if view.planned:
        planned = [
            [escape(str(p.get(k, ""))) for k in ("side", "action", "room", "subject", "start", "reason")]
            for p in view.planned
        ]
        shown = f"{len(view.planned)} of {view.planned_total}" if view.planned_total > len(view.planned) else ""
        columns = ("Side", "Action", "Room", "Subject", "Start", "Why")
        parts.append(_table(f"Planned changes (dry run) {shown}".strip(), columns, planned, "planned"))
    parts.append("</section>")
    return "".join(parts)


def _connections(views: Sequence[ConnectionView]) -> str:
    rows = [
        [
            escape(v.kind),
            escape(v.key),
            escape(v.backend),
            _state(v.ready) + f" ({escape(v.reason)})",
            _state(v.conditions.get("Reachable", "Unknown")),
            _state(v.conditions.get("Authenticated", "Unknown")),
            _state(v.conditions.get("RoomsVisible", "Unknown"))
            + ("" if v.rooms_visible is None else f" ({v.rooms_visible})"),
            escape(v.message),
            escape(v.last_check),
        ]
        for v in views
    ]
    headers = ("Kind", "Name", "Backend", "Ready", "Reachable", "Authenticated", "Rooms visible", "Message", "Checked")
    return _table("Connections", headers, rows, "connections")


def render(roomsyncs: Sequence[RoomSyncView], connections: Sequence[ConnectionView]) -> str:
    ready = sum(1 for v in roomsyncs if v.ready == "True")
    summary = f"{len(roomsyncs)} RoomSync(s), {ready} ready; {len(connections)} connection(s)"
    body = "".join(_roomsync(v) for v in roomsyncs) or "<p>No RoomSync yet.</p>"
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="30"><title>RoomSync health</title>'
        f"<style>{STYLE}</style></head><body><h1>RoomSync health</h1>"
        f'<p class="muted" id="summary">{escape(summary)}</p>{_connections(connections)}{body}</body></html>'
    )


def routes(snapshot: Snapshot) -> list[web.RouteDef]:
    async def page(_: web.Request) -> web.Response:
        roomsyncs, connections = snapshot()
        headers = {
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        }
        return web.Response(text=render(roomsyncs, connections), content_type="text/html", headers=headers)

    return [web.get("/", page)]


def controller_snapshot(controller: Any) -> Snapshot:
    """The page's data: the latest RoomSync and Connection objects the operator has seen."""
    from roomsync.k8s.health import connection_views, roomsync_views

    def snapshot() -> tuple[list[RoomSyncView], list[ConnectionView]]:
        return (
            roomsync_views(controller.roomsyncs.values()),
            connection_views((key[0], body) for key, body in controller.connections.items()),
        )

    return snapshot
