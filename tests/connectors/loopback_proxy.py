"""A small real HTTP proxy on loopback: ``CONNECT host:port`` tunnels (https) and absolute-form forwarding (http,
one request per connection).

It is what a corporate egress proxy does, minus authentication, and records every target it was asked for, so a
test can tell which requests went through it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoopbackProxy:
    port: int = 0
    #: ``CONNECT 127.0.0.1:443`` / ``POST http://127.0.0.1:80/path``: the first line of every request it served
    seen: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def targets(self) -> set[str]:
        """``host:port`` of everything that went through."""
        found = set()
        for line in self.seen:
            method, target = line.split()[:2]
            found.add(target if method == "CONNECT" else urlsplit(target).netloc)
        return found

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        first, _, rest = head.partition(b"\r\n")
        method, target, version = first.decode("latin-1").split(" ", 2)
        self.seen.append(f"{method} {target}")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        else:
            parts = urlsplit(target)
            upstream_reader, upstream_writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            # one request per connection, so every forwarded request is seen (and recorded) on its own
            headers = [
                line
                for line in rest.split(b"\r\n")
                if line
                and line.split(b":")[0].strip().lower() not in (b"connection", b"proxy-connection", b"keep-alive")
            ]
            head = f"{method} {path} {version}\r\n".encode("latin-1") + b"\r\n".join(headers)
            upstream_writer.write(head + b"\r\nConnection: close\r\n\r\n")
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LoopbackProxy]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
