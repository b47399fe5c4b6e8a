"""The index page at ``/_admin`` of every emulator: what a person can do there, and how.

It is built from the emulator's own routes and the first line of each handler's docstring, so it lists exactly what
the emulator serves. The actions of a person (booking, changing, cancelling, looking at a calendar) come first, with
a ``curl`` example (``{day}`` in an example stands for the next weekday, so the example lands in the days a sync
covers); the knobs for tests and experiments (faults, counters, clocks) follow. A browser gets HTML,
``Accept: application/json`` gets the same as JSON.
"""

from __future__ import annotations

import html
import inspect
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

PREFIX = "/_admin"


@dataclass(frozen=True)
class AdminIndex:
    """What the page says about one emulator."""

    title: str
    #: one paragraph: what the emulator plays, where its API is, how RoomSync's CLI drives it
    intro: str
    #: path prefixes (below ``/_admin``) of what a person does, in the order to show them
    person: Sequence[str]
    #: example JSON bodies by path, for the curl lines; keys named like a ``{placeholder}`` of the path fill it in
    examples: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: extra curl options (``-k`` for a self-signed certificate)
    curl: str = "curl"

    def install(self, app: web.Application) -> None:
        app.router.add_get(PREFIX, self.serve)
        app.router.add_get(PREFIX + "/", self.serve)

    def routes(self, app: web.Application) -> list[dict[str, str]]:
        found = []
        for route in app.router.routes():
            path = route.resource.canonical if route.resource is not None else ""
            if not path.startswith(PREFIX + "/") or path == PREFIX + "/" or route.method == "HEAD":
                continue
            doc = inspect.getdoc(route.handler) or ""
            found.append({"method": route.method, "path": path, "what": doc.split("\n\n")[0].replace("\n", " ")})
        return found

    def _is_person(self, path: str) -> int | None:
        below = path.removeprefix(PREFIX)
        return next((i for i, prefix in enumerate(self.person) if below.startswith(prefix)), None)

    async def serve(self, request: web.Request) -> web.Response:
        routes = self.routes(request.app)
        person = sorted((r for r in routes if self._is_person(r["path"]) is not None), key=self._order)
        other = [r for r in routes if self._is_person(r["path"]) is None]
        origin = f"{request.scheme}://{request.host}"
        day = next_weekday(datetime.now(UTC).date())
        for route in person:
            example = self.examples.get(route["path"].removeprefix(PREFIX))
            if example is not None or (route["method"] == "GET" and "{" not in route["path"]):
                route["example"] = self._curl(origin, route, _dated(example or {}, day))
        if "application/json" in request.headers.get("Accept", ""):
            return web.json_response({"title": self.title, "intro": self.intro, "person": person, "other": other})
        return web.Response(text=self._html(person, other), content_type="text/html")

    def _order(self, route: Mapping[str, str]) -> tuple[int, str]:
        return self._is_person(route["path"]) or 0, route["path"]

    def _curl(self, origin: str, route: Mapping[str, str], example: Mapping[str, Any]) -> str:
        path, body = route["path"], dict(example)
        for name in re.findall(r"{(\w+)}", path):
            path = path.replace(f"{{{name}}}", str(body.pop(name, f"{{{name}}}")))
        line = f"{self.curl} -X {route['method']} {origin}{path}"
        if body:
            line += f" -H 'Content-Type: application/json' -d '{json.dumps(body)}'"
        return line

    def _html(self, person: Sequence[Mapping[str, str]], other: Sequence[Mapping[str, str]]) -> str:
        def rows(routes: Sequence[Mapping[str, str]], with_example: bool) -> str:
            out = []
            for r in routes:
                example = f"<br><code>{html.escape(r['example'])}</code>" if with_example and r.get("example") else ""
                out.append(
                    f"<tr><td><code>{r['method']}</code></td><td><code>{html.escape(r['path'])}</code></td>"
                    f"<td>{html.escape(r['what'])}{example}</td></tr>"
                )
            return "\n".join(out)

        head = "<tr><th>Method</th><th>Path</th><th>What it does</th></tr>"
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(self.title)}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}}td,th{{text-align:left;padding:.3em .6em;
vertical-align:top;border-bottom:1px solid #ddd}}code{{font-size:.9em}}</style></head>
<body><h1>{html.escape(self.title)}</h1><p>{html.escape(self.intro)}</p>
<h2>What a person can do here</h2><table>{head}
{rows(person, True)}</table>
<h2>For tests and experiments</h2><table>{head}
{rows(other, False)}</table></body></html>
"""


def next_weekday(today: date) -> date:
    day = today + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _dated(example: Mapping[str, Any], day: date) -> dict[str, Any]:
    dated: dict[str, Any] = json.loads(json.dumps(example).replace("{day}", day.isoformat()))
    return dated
