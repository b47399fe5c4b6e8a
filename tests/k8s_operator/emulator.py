"""A kmock Kubernetes emulator with the apiserver semantics kopf relies on and kmock 0.8 lacks.

kmock's ``KubernetesEmulator`` stores objects and streams watch events, but it never bumps ``resourceVersion``,
has no ``generation``, lets a PATCH on the main URL change ``status`` (and one on ``/status`` change ``spec``),
answers a failed JSON-patch ``test`` with 500 instead of 422, replays every object on every watch, and ignores
label selectors. kopf's consistency tracking and our status-subresource discipline depend on all of these, so this
subclass replaces kmock's object-mutating step with one that behaves like the apiserver:

* every change bumps a cluster-wide ``resourceVersion``; a no-op patch changes nothing and sends no event;
* ``metadata.generation`` starts at 1 and grows when anything outside ``metadata`` and ``status`` changes;
* for resources with a ``status`` subresource, the main URL ignores ``status`` and ``/status`` changes only
  ``status`` (also on create, where ``status`` is dropped);
* a JSON-patch whose ``test`` fails is a 422 conflict;
* ``DELETE`` on an object with finalizers only sets ``deletionTimestamp``; it is removed once they are gone;
* list answers carry the current ``resourceVersion``; a watch from a ``resourceVersion`` only replays what changed
  after it; ``labelSelector`` (equality, inequality and existence terms) filters list and watch;
* optimistic concurrency as the apiserver answers it: ``PUT`` (replace) of a named object, and a ``PATCH`` or a
  ``DELETE`` (``preconditions`` in its DeleteOptions) that names a ``resourceVersion``, are refused with 409 Conflict
  when the object has moved on since; ``PUT`` of a missing object is 404; a ``POST`` of an existing name is 409
  AlreadyExists;
* Leases (``coordination.k8s.io/v1``), namespaced, for the shard Leases of replicas sharing the RoomSyncs.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import attrs
import jsonpatch
import kmock
from aiohttp import web
from kmock._internal import enums, rendering

Body = dict[str, Any]

RESOURCES: dict[str, kmock.ResourceInfo] = {
    "roomsync.io/v1alpha1/roomsyncs": kmock.ResourceInfo(
        kind="RoomSync",
        namespaced=True,
        verbs={"get", "list", "watch", "patch", "create", "delete"},
        subresources={"status"},
    ),
    "roomsync.io/v1alpha1/connections": kmock.ResourceInfo(
        kind="Connection",
        namespaced=True,
        verbs={"get", "list", "watch", "patch", "create", "delete"},
        subresources={"status"},
    ),
    "roomsync.io/v1alpha1/clusterconnections": kmock.ResourceInfo(
        kind="ClusterConnection",
        namespaced=False,
        verbs={"get", "list", "watch", "patch", "create", "delete"},
        subresources={"status"},
    ),
    "v1/secrets": kmock.ResourceInfo(
        kind="Secret", namespaced=True, verbs={"get", "list", "watch", "patch", "create", "delete"}
    ),
    "v1/events": kmock.ResourceInfo(kind="Event", namespaced=True, verbs={"create", "list"}),
    "v1/namespaces": kmock.ResourceInfo(kind="Namespace", namespaced=False, verbs={"list", "watch"}),
    "apiextensions.k8s.io/v1/customresourcedefinitions": kmock.ResourceInfo(
        kind="CustomResourceDefinition", namespaced=False, verbs={"list", "watch"}
    ),
    "coordination.k8s.io/v1/leases": kmock.ResourceInfo(
        kind="Lease", namespaced=True, verbs={"get", "list", "watch", "create", "update", "patch", "delete"}
    ),
}
LEASES = "coordination.k8s.io/v1/leases"
#: How many past requests the emulator keeps. kmock 0.8 keeps every request it served and, to route each new one,
#: filters that whole list (``request in payload._source``): the cost of a request grows with the history, and the
#: sharding tests (three replicas renewing Leases over minutes of virtual time) send thousands. Under load that made
#: each request slower than the virtual clock's step, so a test's event loop never went idle: a livelock that
#: stalled the suite. No test reads the history, so only the requests still being routed are kept.
REQUEST_HISTORY = 64


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: dicts merge, ``None`` deletes, everything else (lists too) replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def matches_selector(labels: Mapping[str, str], selector: str) -> bool:
    """The equality-based label selector grammar (``a=b,c!=d,e,!f``); set-based terms are not needed here."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _spec_part(body: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("metadata", "status")}


@attrs.define(kw_only=True)
class ApiServer(kmock.KubernetesEmulator):
    """kmock's emulator with resourceVersion, generation, status subresource and selector semantics, and namespaces
    (listed from the objects in them, read one by one with the labels in ``namespace_labels``)."""

    _versions: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1), init=False)
    _current: int = attrs.field(default=0, init=False)
    _created: dict[int, Any] = attrs.field(factory=dict, init=False)
    #: Labels of namespaces (a namespace exists when something lives in it, or when it is labelled here).
    namespace_labels: dict[str, dict[str, str]] = attrs.field(factory=dict, init=False)
    #: Replicas cut off from the API server: requests whose User-Agent ends in ``(<identity>)`` get 503.
    unreachable: set[str] = attrs.field(factory=set, init=False)
    #: Every request served, as (method, path, User-Agent): what tests read instead of kmock's bounded history.
    log: list[tuple[str, str, str]] = attrs.field(factory=list, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        for key, info in RESOURCES.items():
            self.resources[key] = info

    # -- helpers for tests -------------------------------------------------------------------------------------------
    def read(self, resource: str, namespace: str | None, name: str) -> Body | None:
        """The stored object, or None when it does not exist (never created, deleted, or garbage-collected)."""
        key = (kmock.resource(resource), namespace, name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        return copy.deepcopy(self.objects[key].raw)

    def _bump(self) -> str:
        self._current = next(self._versions)
        return str(self._current)

    def _has_status(self, resource: Any) -> bool:
        info = self.resources.get(resource) if resource in self.resources else None
        return bool(info is not None and "status" in info.subresources)

    # -- namespaces ---------------------------------------------------------------------------------------------------
    async def __call__(self, raw_request: web.BaseRequest) -> web.StreamResponse:
        """A partitioned replica's requests fail (:attr:`unreachable`).

        kmock 0.8 cannot parse ``/api/v1/namespaces`` (it takes ``namespaces`` for the namespaced-path prefix);
        kopf lists and watches it when the operator is restricted to namespaces. Namespaces are implied by the
        objects stored in them, as on a cluster where they all exist."""
        del self._requests[:-REQUEST_HISTORY]  # kmock scans its whole history for every request: O(n^2) otherwise
        agent = raw_request.headers.get("User-Agent", "")
        self.log.append((raw_request.method, raw_request.path, agent))
        if any(agent.endswith(f"({identity})") for identity in self.unreachable):
            status = {"kind": "Status", "status": "Failure", "reason": "ServiceUnavailable", "code": 503}
            return web.json_response({**status, "message": "unreachable (a partition in the test)"}, status=503)
        if raw_request.path.startswith("/api/v1/namespaces/") and raw_request.path.count("/") == 4:
            name = raw_request.path.rsplit("/", 1)[1]  # GET of one namespace: its labels
            meta = {"name": name, "labels": self.namespace_labels.get(name, {})}
            return web.json_response({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})
        if raw_request.path != "/api/v1/namespaces":
            return await super().__call__(raw_request)
        if raw_request.query.get("watch") != "true":
            names = sorted({"default"} | {ns for (_, ns, _), o in self.objects.items() if ns and not o.deleted})
            items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in names]
            return web.json_response({"metadata": {"resourceVersion": str(self._current)}, "items": items})
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(raw_request)
        await asyncio.Event().wait()  # no namespace ever changes; kopf cancels the watch on exit
        return response

    # -- the object-changing requests ---------------------------------------------------------------------------------
    async def _handle(self, request: rendering.Request) -> Any:
        if request.method == "PUT" and request.resource is not None and request.name is not None:
            async with self._lock:
                replaced = await self._replace(request)
            return web.json_response(replaced)
        gc_key = None
        if request.resource is not None and request.action in (
            enums.action.CREATE,
            enums.action.UPDATE,
            enums.action.DELETE,
        ):
            async with self._lock:
                gc_key = await self._mutate(request)
        try:
            serve = self._served_directly(request)
            if serve is not None:
                return web.json_response(await serve(request))
            return await kmock.KubernetesScaffold._handle(self, request)
        finally:
            if gc_key is not None:
                async with self._lock:
                    obj = self.objects[gc_key]
                    raw = copy.deepcopy(obj.raw)
                    raw["metadata"]["resourceVersion"] = self._bump()
                    obj.delete()
                    await self._buses[request.resource].put({"type": "DELETED", "object": raw})

    def _served_directly(self, request: rendering.Request) -> Any:
        """The object requests are answered here, not through kmock's reaction matching, which scans every request
        served so far for every new one (quadratic: a test running replicas for ten minutes of loop time sends
        thousands). Watches stream through kmock, and CRDs are listed by kmock from the declared resources; the tests
        here add no reactions of their own."""
        resource = request.resource
        if resource is None or not resource.plural or resource.plural == "customresourcedefinitions":
            return None  # discovery (/apis/<group>/<version>) and CRDs: kmock's
        if request.subresource not in (None, "status"):
            return None
        return {
            enums.action.LIST: self._serve_list,
            enums.action.FETCH: self._serve_fetch,
            enums.action.CREATE: self._serve_create,
            enums.action.UPDATE: self._serve_update,
            enums.action.DELETE: self._serve_delete,
        }.get(request.action)

    async def _mutate(self, request: rendering.Request) -> Any:
        resource = request.resource
        if request.action == enums.action.CREATE:
            body = copy.deepcopy(request.data or {})
            meta = body.setdefault("metadata", {})
            namespace = request.namespace or meta.get("namespace")
            if meta.get("generateName") and not meta.get("name"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            key = (resource, namespace, meta.get("name"))
            if key in self.objects and not self.objects[key].deleted:
                raise kmock.KubernetesError(status=409, reason="AlreadyExists", message=f"{meta.get('name')} exists")
            if namespace:
                meta["namespace"] = namespace
            meta.update(
                uid=str(uuid.uuid4()),
                resourceVersion=self._bump(),
                generation=1,
                creationTimestamp=_now(),
            )
            if self._has_status(resource):
                body.pop("status", None)
            if key in self.objects:
                self.objects[key].create(body)
            else:
                self.objects[key] = body
            await self._buses[resource].put({"type": "ADDED", "object": copy.deepcopy(body)})
            self._created[request.id] = key
            return None

        key = (resource, request.namespace, request.name)
        if request.name is None:
            return None
        if key not in self.objects or self.objects[key].deleted:
            raise kmock.KubernetesError(status=404, reason="NotFound", message=f"{request.name} not found")
        obj = self.objects[key]
        old = copy.deepcopy(obj.raw)
        _precondition(old, request)

        if request.action == enums.action.DELETE:
            if old["metadata"].get("deletionTimestamp"):
                return None
            if old["metadata"].get("finalizers"):
                new = copy.deepcopy(old)
                new["metadata"]["deletionTimestamp"] = _now()
                new["metadata"]["resourceVersion"] = self._bump()
                obj.history.append(new)
                await self._buses[resource].put({"type": "MODIFIED", "object": copy.deepcopy(new)})
                return None
            old["metadata"]["resourceVersion"] = self._bump()
            obj.delete()
            await self._buses[resource].put({"type": "DELETED", "object": old})
            return None

        # PATCH (merge or JSON patch), on the main URL or the status subresource.
        patched = self._apply_patch(old, request)
        return await self._store(request, key, old, patched)

    async def _replace(self, request: rendering.Request) -> Body:
        """``PUT``: the whole object from the request, on condition of the ``resourceVersion`` it carries."""
        key = (request.resource, request.namespace, request.name)
        if key not in self.objects or self.objects[key].deleted:
            raise kmock.KubernetesError(status=404, reason="NotFound", message=f"{request.name} not found")
        old = copy.deepcopy(self.objects[key].raw)
        new = copy.deepcopy(request.data or {})
        _precondition(old, request)
        if (new.get("metadata") or {}).get("name", request.name) != request.name:
            raise kmock.KubernetesError(status=400, reason="BadRequest", message="the name does not match the URL")
        await self._store(request, key, old, new)
        return copy.deepcopy(self.objects[key].raw)

    async def _store(self, request: rendering.Request, key: Any, old: Body, patched: Body) -> Any:
        """Keep ``patched`` as the new state of the object at ``key`` (status subresource, generation, version)."""
        resource = request.resource
        if self._has_status(resource):
            if request.subresource == "status":
                new = copy.deepcopy(old)
                if "status" in patched:
                    new["status"] = patched["status"]
                else:
                    new.pop("status", None)
            else:
                new = patched
                new.pop("status", None)
                if "status" in old:
                    new["status"] = old["status"]
        else:
            new = patched
        for immutable in ("uid", "creationTimestamp", "deletionTimestamp", "generation", "namespace", "name"):
            if immutable in old["metadata"]:
                new.setdefault("metadata", {})[immutable] = old["metadata"][immutable]
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return None  # the apiserver neither bumps nor notifies on a no-op
        if _spec_part(new) != _spec_part(old):
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        new["metadata"]["resourceVersion"] = self._bump()
        self.objects[key].history.append(new)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return key  # released: garbage-collected once the response is out
        await self._buses[resource].put({"type": "MODIFIED", "object": copy.deepcopy(new)})
        return None

    @staticmethod
    def _apply_patch(old: Body, request: rendering.Request) -> Body:
        content_type = request.headers.get("Content-Type", request.headers.get("content-type", ""))
        data = request.data
        if isinstance(data, list) or "json-patch" in content_type:
            try:
                result: Body = jsonpatch.apply_patch(old, data or [], in_place=False)
            except jsonpatch.JsonPatchTestFailed as failed:
                raise kmock.KubernetesError(
                    status=422, reason="Invalid", message=f"the patch test failed: {failed}"
                ) from None
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as bad:
                raise kmock.KubernetesError(status=422, reason="Invalid", message=str(bad)) from None
            return result
        return merge_patch(old, data or {})  # type: ignore[no-any-return]

    # -- reads --------------------------------------------------------------------------------------------------------
    def _visible(self, request: rendering.Request) -> list[Body]:
        selector = request.params.get("labelSelector", "")
        found = []
        for (resource, namespace, _name), obj in self.objects.items():
            if resource != request.resource or obj.deleted:
                continue
            if request.namespace is not None and namespace != request.namespace:
                continue
            if request.name is not None and _name != request.name:
                continue
            raw = obj.raw
            if selector and not matches_selector(raw.get("metadata", {}).get("labels") or {}, selector):
                continue
            found.append(copy.deepcopy(raw))
        return found

    async def _serve_create(self, request: rendering.Request) -> Any:
        async with self._lock:
            return copy.deepcopy(self.objects[self._created.pop(request.id)].raw)

    async def _serve_list(self, request: rendering.Request) -> Any:
        if request.resource not in self._get_resources():
            raise kmock.KubernetesResourceNotFoundError()
        async with self._lock:
            items = self._visible(request)
            version = str(self._current)
        return {"metadata": {"resourceVersion": version}, "items": items}

    async def _serve_watch(self, request: rendering.Request) -> AsyncIterator[Any]:
        yield b""
        since = int(request.params.get("resourceVersion") or 0)
        selector = request.params.get("labelSelector", "")
        bus = self._buses[request.resource]
        async with self._lock:
            mark = await bus.mark()
            replay = [o for o in self._visible(request) if int(o["metadata"].get("resourceVersion", 0)) > since]
        for obj in replay:
            yield {"type": "ADDED" if since == 0 else "MODIFIED", "object": obj}
        async for event in bus.stream(since=mark):
            meta = event.get("object", {}).get("metadata", {})
            if request.namespace is not None and meta.get("namespace") != request.namespace:
                continue
            if int(meta.get("resourceVersion", 0)) <= since:
                continue
            if selector and not matches_selector(meta.get("labels") or {}, selector):
                continue
            yield event


def _precondition(current: Body, request: rendering.Request) -> None:
    """A write naming a ``resourceVersion`` (in the object, or in DeleteOptions' ``preconditions``) applies only if
    the object is still at that version, as the apiserver's optimistic concurrency has it."""
    data = request.data if isinstance(request.data, dict) else {}
    if request.action == enums.action.DELETE:
        expected = (data.get("preconditions") or {}).get("resourceVersion")
    else:
        expected = (data.get("metadata") or {}).get("resourceVersion")
    actual = current["metadata"].get("resourceVersion")
    if expected is not None and str(expected) != str(actual):
        plural = request.resource.plural if request.resource is not None else "objects"
        raise kmock.KubernetesError(
            status=409,
            reason="Conflict",
            message=f'Operation cannot be fulfilled on {plural} "{request.name}": the object has been modified; '
            "please apply your changes to the latest version and try again",
        )


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
