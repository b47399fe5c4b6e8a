"""The admin client of the Exchange sandbox with both faces: the Graph sandbox's people-in-Outlook and inspection
calls, plus the EWS face's accounts, faults, request log and mailbox moves."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from roomsync.sandbox.graph.client import SandboxAdmin


class ExchangeAdmin(SandboxAdmin):
    async def add_service_account(
        self,
        username: str,
        password: str,
        *,
        upn: str | None = None,
        impersonation: Iterable[str] | None = None,
        delegate: Iterable[str] | None = None,
    ) -> None:
        """A service account; ``impersonation`` / ``delegate`` limit its rights to these mailboxes (None = all)."""
        await self._call(
            "POST",
            "ews/accounts",
            {
                "username": username,
                "password": password,
                "upn": upn,
                "impersonation": None if impersonation is None else list(impersonation),
                "delegate": None if delegate is None else list(delegate),
            },
        )

    async def set_app_impersonation(self, client_id: str, mailboxes: Iterable[str] | None) -> None:
        await self._call(
            "PUT", f"ews/apps/{client_id}", {"impersonation": None if mailboxes is None else list(mailboxes)}
        )

    async def set_ews_schemes(self, *schemes: str) -> None:
        await self._call("PUT", "ews/schemes", {"schemes": list(schemes)})

    async def set_ews_concurrency(self, limit: int) -> None:
        await self._call("PUT", "ews/concurrency", {"limit": limit})

    async def set_ews_latency(self, seconds: float) -> None:
        await self._call("PUT", "ews/latency", {"seconds": seconds})

    async def set_room_lists(self, room_lists: Iterable[Mapping[str, Any]] | None) -> None:
        await self._call("PUT", "ews/roomlists", {"roomLists": None if room_lists is None else list(room_lists)})

    async def ews_fault(
        self,
        kind: str,
        *,
        count: int = 1,
        mailbox: str | None = None,
        operation: str | None = None,
        back_off_ms: int = 50,
        code: str = "ErrorInternalServerError",
        after: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``count`` matching EWS requests fail: ServerBusy, Unavailable (503), InternalError (500),
        ConnectionCount, Reset or Delay; ``after`` carries the request out first (a lost answer)."""
        await self._call(
            "POST",
            "ews/faults",
            {
                "kind": kind,
                "count": count,
                "mailbox": mailbox,
                "operation": operation,
                "backOffMs": back_off_ms,
                "code": code,
                "after": after,
                "delay": delay,
            },
        )

    async def clear_ews_faults(self) -> None:
        await self._call("DELETE", "ews/faults")

    async def ews_requests(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "ews/requests")
        return result

    async def reset_ews_requests(self) -> None:
        await self._call("DELETE", "ews/requests")

    async def ews_log(self, mailbox: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._call("GET", f"ews/log?mailbox={mailbox}" if mailbox else "ews/log")
        return result

    async def expire_sync_states(self, mailbox: str | None = None) -> int:
        result = await self._call("POST", "ews/syncstates/expire", {"mailbox": mailbox})
        return int(result["expired"])

    async def move_mailbox(self, mailbox: str) -> dict[str, str]:
        """Move a mailbox (to Exchange Online): every item gets a new id and ChangeKey; returns old id -> new id."""
        result = await self._call("POST", f"ews/mailboxes/{mailbox}/move")
        return dict(result["ids"])

    async def ews_streaming(self) -> dict[str, Any]:
        """Live streaming subscriptions and open streaming connections."""
        result: dict[str, Any] = await self._call("GET", "ews/streaming")
        return result

    async def set_ews_streaming(
        self,
        *,
        max_subscriptions: int | None = None,
        max_connections: int | None = None,
        heartbeat: float | None = None,
    ) -> None:
        body = {"maxSubscriptions": max_subscriptions, "maxConnections": max_connections, "heartbeat": heartbeat}
        await self._call("PUT", "ews/streaming", {k: v for k, v in body.items() if v is not None})

    async def drop_ews_streams(self, mailbox: str | None = None) -> int:
        """End streaming connections without a word (a failed load balancer); returns how many."""
        result = await self._call("POST", "ews/streaming/drop", {"mailbox": mailbox})
        return int(result["dropped"])

    async def expire_ews_subscriptions(self, mailbox: str | None = None) -> int:
        result = await self._call("POST", "ews/streaming/expire", {"mailbox": mailbox})
        return int(result["expired"])
