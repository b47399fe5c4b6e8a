"""Admin endpoints of the EWS face under ``/_admin/ews/``: service accounts and their impersonation / delegate
scopes, OAuth app scopes, accepted authentication schemes, EWSMaxConcurrency, room lists, fault injection, the
request log, expiring sync states, streaming subscriptions (limits, dropped connections, expiry), and moving a
mailbox (every item gets a new id and ChangeKey, as in a migration to Exchange Online). No authentication: the
sandbox listens on loopback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from roomsync.sandbox.ews.accounts import ServiceAccount
from roomsync.sandbox.ews.state import SCHEMES, RoomList
from roomsync.sandbox.ews.traffic import EwsFault
from roomsync.sandbox.graph.model import new_id

if TYPE_CHECKING:
    from roomsync.sandbox.ews.state import EwsState
    from roomsync.sandbox.graph.server import SandboxState


def _mailboxes(value: Any) -> set[str] | None:
    return None if value is None else {str(m).casefold() for m in value}


class EwsAdminApi:
    def __init__(self, state: SandboxState, ews: EwsState) -> None:
        self.state, self.ews = state, ews

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_admin/ews/accounts", self.add_account),
            web.put("/_admin/ews/apps/{client_id}", self.set_app),
            web.put("/_admin/ews/schemes", self.set_schemes),
            web.put("/_admin/ews/concurrency", self.set_concurrency),
            web.put("/_admin/ews/latency", self.set_latency),
            web.put("/_admin/ews/roomlists", self.set_room_lists),
            web.post("/_admin/ews/faults", self.add_fault),
            web.delete("/_admin/ews/faults", self.clear_faults),
            web.get("/_admin/ews/requests", self.requests),
            web.delete("/_admin/ews/requests", self.reset_requests),
            web.get("/_admin/ews/log", self.log),
            web.post("/_admin/ews/syncstates/expire", self.expire_sync_states),
            web.post("/_admin/ews/mailboxes/{mailbox}/move", self.move_mailbox),
            web.get("/_admin/ews/streaming", self.streaming),
            web.put("/_admin/ews/streaming", self.set_streaming),
            web.post("/_admin/ews/streaming/drop", self.drop_streams),
            web.post("/_admin/ews/streaming/expire", self.expire_subscriptions),
        ]

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        data = await request.json()
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return data

    async def add_account(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if "\\" not in str(data.get("username", "")) or not data.get("password"):
            return web.json_response({"error": "username (DOMAIN\\user) and password are required"}, status=400)
        self.ews.accounts.add(
            ServiceAccount(
                username=str(data["username"]),
                password=str(data["password"]),
                upn=data.get("upn"),
                impersonation=_mailboxes(data.get("impersonation")),
                delegate=_mailboxes(data.get("delegate")),
            )
        )
        return web.json_response({"ok": True}, status=201)

    async def set_app(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        self.ews.accounts.apps[request.match_info["client_id"]] = _mailboxes(data.get("impersonation"))
        return web.json_response({"ok": True})

    async def set_schemes(self, request: web.Request) -> web.Response:
        schemes = set((await self._body(request)).get("schemes") or [])
        if not schemes <= set(SCHEMES):
            return web.json_response({"error": f"schemes must be among {', '.join(SCHEMES)}"}, status=400)
        self.ews.schemes = schemes
        return web.json_response({"schemes": sorted(schemes)})

    async def set_concurrency(self, request: web.Request) -> web.Response:
        self.ews.traffic.max_concurrency = int((await self._body(request)).get("limit", 27))
        return web.json_response({"limit": self.ews.traffic.max_concurrency})

    async def set_latency(self, request: web.Request) -> web.Response:
        self.ews.traffic.latency = float((await self._body(request)).get("seconds", 0.0))
        return web.json_response({"latency": self.ews.traffic.latency})

    async def set_room_lists(self, request: web.Request) -> web.Response:
        lists = (await self._body(request)).get("roomLists")
        self.ews.explicit_room_lists = (
            None
            if lists is None
            else [
                RoomList(
                    str(r["address"]).casefold(),
                    str(r.get("name") or r["address"]),
                    tuple(str(a).casefold() for a in r.get("members") or []),
                )
                for r in lists
            ]
        )
        return web.json_response({"ok": True})

    async def add_fault(self, request: web.Request) -> web.Response:
        try:
            fault = EwsFault.from_json(await self._body(request))
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.ews.traffic.faults.append(fault)
        return web.json_response({"ok": True}, status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.ews.traffic.faults.clear()
        return web.json_response({"ok": True})

    async def requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.ews.traffic.summary())

    async def reset_requests(self, request: web.Request) -> web.Response:
        self.ews.traffic.reset()
        return web.json_response({"ok": True})

    async def log(self, request: web.Request) -> web.Response:
        mailbox = (request.query.get("mailbox") or "").casefold()
        return web.json_response([e for e in self.ews.traffic.log if not mailbox or e.get("mailbox") == mailbox])

    async def expire_sync_states(self, request: web.Request) -> web.Response:
        mailbox = (await self._body(request)).get("mailbox")
        return web.json_response({"expired": self.ews.sync.expire(mailbox.casefold() if mailbox else None)})

    async def streaming(self, request: web.Request) -> web.Response:
        """Live streaming subscriptions (id, account, mailbox, connected) and the open connections per account."""
        streaming = self.ews.streaming
        subscriptions = [
            {"id": s.id, "account": s.account, "mailbox": s.mailbox, "connected": s.connection is not None}
            for s in streaming.subscriptions.values()
        ]
        connections = [{"account": c.account, "subscriptions": len(c.ids)} for c in streaming.connections]
        return web.json_response({"subscriptions": subscriptions, "connections": connections})

    async def set_streaming(self, request: web.Request) -> web.Response:
        """EWSMaxSubscriptions, the streaming connections per account, the keep-alive interval (seconds)."""
        data = await self._body(request)
        streaming = self.ews.streaming
        streaming.max_subscriptions = int(data.get("maxSubscriptions", streaming.max_subscriptions))
        streaming.max_connections = int(data.get("maxConnections", streaming.max_connections))
        streaming.heartbeat = float(data.get("heartbeat", streaming.heartbeat))
        return web.json_response(
            {
                "maxSubscriptions": streaming.max_subscriptions,
                "maxConnections": streaming.max_connections,
                "heartbeat": streaming.heartbeat,
            }
        )

    async def drop_streams(self, request: web.Request) -> web.Response:
        mailbox = (await self._body(request)).get("mailbox")
        return web.json_response({"dropped": self.ews.streaming.drop(mailbox.casefold() if mailbox else None)})

    async def expire_subscriptions(self, request: web.Request) -> web.Response:
        mailbox = (await self._body(request)).get("mailbox")
        return web.json_response({"expired": self.ews.streaming.expire_all(mailbox.casefold() if mailbox else None)})

    async def move_mailbox(self, request: web.Request) -> web.Response:
        """A mailbox move: new item ids and so new ChangeKeys; UIDs and extended properties travel with the items."""
        address = request.match_info["mailbox"].casefold()
        box = self.state.mailboxes.get(address)
        if box is None:
            return web.json_response({"error": f"no mailbox {address}"}, status=404)
        renamed: dict[str, str] = {}
        for old_id, event in list(box.events.items()):
            event.id = new_id()
            renamed[old_id] = event.id
        box.events = {e.id: e for e in box.events.values()}
        box.transactions = {k: renamed.get(v, v) for k, v in box.transactions.items()}
        box.tombstones.clear()
        self.ews.sync.expire(address)
        self.state.delta.expire(address)
        return web.json_response({"moved": len(renamed), "ids": renamed})
