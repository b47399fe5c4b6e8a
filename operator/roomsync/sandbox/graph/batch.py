"""``POST /v1.0/$batch``: Graph JSON batching as the documentation describes it (graph-and-ews.md 1.6, 1.7).

- At most 20 requests; each has an ``id`` (unique), a ``method`` and a **relative** ``url``; a request with a body
  needs a ``Content-Type`` header. A malformed batch is refused as a whole (400); an absolute URL - what the SDK's
  own batch helper sends - is answered 400 for that request ("Resource not found for the segment ..."), as real
  Graph does, so a client that sends one fails here as it would in production.
- ``dependsOn`` orders requests; a request whose dependency failed is answered 424 without being run.
- Outlook runs at most 4 requests of a batch at a time; each runs through the same pipeline as a request sent alone
  (authentication with the batch's token, the per app and mailbox concurrency limit and request budget, latency,
  faults), so each is throttled on its own with its own 429, and each is counted per mailbox (``batched``), besides
  the one ``$batch`` request itself.
- Answers come back in ``responses`` with ``id``, ``status``, ``headers`` and a JSON ``body``; the outer status is
  200.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web
from multidict import CIMultiDict

#: Graph's limit on requests per batch.
MAX_REQUESTS: Final = 20
#: Requests of one batch Outlook runs at the same time.
PARALLEL: Final = 4
#: Request keys the batch endpoint stores the inner body and the batch mark under.
INNER_BODY: Final = web.RequestKey("batch_body", object)
BATCHED: Final = web.RequestKey("batched", bool)
#: An unread copy of the batch request, which the inner requests are cloned from (aiohttp clones unread requests).
TEMPLATE: Final = web.RequestKey("batch_template", web.Request)

Run = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BatchError(ValueError):
    """The batch as a whole is malformed: 400."""


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    return {
        "status": status,
        "headers": {"Content-Type": "application/json"},
        "body": {"error": {"code": code, "message": message}},
    }


def _validate(body: object) -> list[Mapping[str, Any]]:
    if not isinstance(body, Mapping) or not isinstance(body.get("requests"), list):
        raise BatchError("The batch request body must be an object with a 'requests' array.")
    requests: list[Mapping[str, Any]] = list(body["requests"])
    if not requests:
        raise BatchError("The batch request must contain at least one request.")
    if len(requests) > MAX_REQUESTS:
        raise BatchError(f"The number of batch requests exceeds the maximum allowed ({MAX_REQUESTS}).")
    ids: set[str] = set()
    for entry in requests:
        if not isinstance(entry, Mapping) or not entry.get("id") or not entry.get("method") or "url" not in entry:
            raise BatchError("Each batch request needs an id, a method and a url.")
        if str(entry["id"]) in ids:
            raise BatchError(f"The batch request id '{entry['id']}' is used more than once.")
        ids.add(str(entry["id"]))
    for entry in requests:
        for dependency in entry.get("dependsOn") or []:
            if str(dependency) not in ids:
                raise BatchError(f"Request '{entry['id']}' depends on '{dependency}', which is not in the batch.")
    return requests


async def handle(request: web.Request, body: object, run: Run) -> web.Response:
    """Run a batch whose JSON body is ``body``; ``run`` handles one inner request like a request sent alone."""
    try:
        requests = _validate(body)
    except BatchError as exc:
        return web.json_response({"error": {"code": "BadRequest", "message": str(exc)}}, status=400)
    done: dict[str, asyncio.Event] = {str(e["id"]): asyncio.Event() for e in requests}
    answers: dict[str, dict[str, Any]] = {}
    parallel = asyncio.Semaphore(PARALLEL)

    async def one(entry: Mapping[str, Any]) -> None:
        request_id = str(entry["id"])
        try:
            for dependency in entry.get("dependsOn") or []:
                await done[str(dependency)].wait()
            failed = [d for d in entry.get("dependsOn") or [] if answers[str(d)]["status"] >= 400]
            if failed:
                answers[request_id] = _error(424, "FailedDependency", f"Request '{failed[0]}' failed.")
                return
            async with parallel:
                answers[request_id] = await _inner(request, entry, run)
        finally:
            done[request_id].set()

    await asyncio.gather(*(one(entry) for entry in requests))
    responses = [{"id": str(e["id"]), **answers[str(e["id"])]} for e in requests]
    return web.json_response({"responses": responses})


async def _inner(outer: web.Request, entry: Mapping[str, Any], run: Run) -> dict[str, Any]:
    url = str(entry["url"])
    if not url.startswith("/"):
        segment = url.split("/", 1)[0]
        return _error(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    headers = {str(k): str(v) for k, v in (entry.get("headers") or {}).items()}
    has_body = entry.get("body") is not None
    if has_body and not any(k.lower() == "content-type" for k in headers):
        return _error(400, "BadRequest", "A request with a body needs a Content-Type header.")
    merged = CIMultiDict(
        (k, v) for k, v in outer.headers.items() if k.lower() not in ("content-type", "content-length")
    )
    for key, value in headers.items():
        merged[key] = value
    inner = outer[TEMPLATE].clone(method=str(entry["method"]).upper(), rel_url="/v1.0" + url, headers=merged)
    inner[INNER_BODY] = entry.get("body") if has_body else {}
    inner[BATCHED] = True
    response = await run(inner)
    answer: dict[str, Any] = {
        "status": response.status,
        "headers": {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "date", "server")},
    }
    payload = response.body if isinstance(response, web.Response) else None
    if isinstance(payload, bytes | bytearray) and payload:
        try:
            answer["body"] = json.loads(payload)
        except ValueError:
            answer["body"] = payload.decode("utf-8", "replace")
    return answer
