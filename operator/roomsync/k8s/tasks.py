"""Which asyncio tasks belong to which operator's kopf, so that stopping one operator stops only its own tasks.

When kopf stops, it cancels every task that appeared in the event loop after it started ("hung" tasks): it cannot
tell its own from anyone else's. That is right for a process that runs nothing but kopf, and wrong for RoomSync in
two ways: the RoomSync workers are the controller's tasks, which must finish their cycle (and the replica then
release its shard Leases) after kopf has stopped delivering events; and several operators in one process (the
multi-replica tests, each replica with its own identity) would cancel each other's tasks.

So every task is tagged when it is created with the kopf run it descends from: a context variable set at the start
of the kopf run is inherited by every task that run creates, directly or not. Tasks the controller starts are
created in a context without it (:func:`outside_kopf`). kopf's sweep is given the tasks of the other runs as the
ones to leave alone (:class:`OtherThan`).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Collection, Coroutine, Iterator
from typing import Any
from weakref import WeakKeyDictionary

_KOPF_RUN: contextvars.ContextVar[object | None] = contextvars.ContextVar("roomsync_kopf_run", default=None)
_TAGS: WeakKeyDictionary[asyncio.Task[Any], object] = WeakKeyDictionary()


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Tag every task created from now on in ``loop`` (once per loop; an existing task factory is kept)."""
    previous = loop.get_task_factory()
    if getattr(previous, "roomsync_tags", False):
        return

    def tagging_factory(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **kwargs: Any) -> Any:
        context = kwargs.get("context")
        owner = context.get(_KOPF_RUN) if context is not None else _KOPF_RUN.get()
        task: Any = previous(loop, coro, **kwargs) if previous is not None else asyncio.Task(coro, loop=loop, **kwargs)
        if owner is not None:
            _TAGS[task] = owner
        return task

    tagging_factory.roomsync_tags = True  # type: ignore[attr-defined]
    loop.set_task_factory(tagging_factory)  # type: ignore[arg-type]  # typeshed omits the keyword arguments


def enter_kopf_run(owner: object) -> None:
    """Called first thing in the task that runs kopf: every task it creates from now on belongs to ``owner``."""
    _KOPF_RUN.set(owner)


def outside_kopf() -> contextvars.Context:
    """A context for a task of the controller's own: not part of any kopf run, even when started from a handler."""
    context = contextvars.copy_context()
    context.run(_KOPF_RUN.set, None)
    return context


def kopf_tasks(owner: object) -> list[asyncio.Task[Any]]:
    """The live tasks of ``owner``'s kopf run."""
    return [task for task in asyncio.all_tasks() if _TAGS.get(task) is owner]


class OtherThan(Collection["asyncio.Task[Any]"]):
    """Every task that is not part of ``owner``'s kopf run: what kopf's sweep must leave alone."""

    def __init__(self, owner: object) -> None:
        self.owner = owner

    def __contains__(self, task: object) -> bool:
        return not isinstance(task, asyncio.Task) or _TAGS.get(task) is not self.owner

    def __iter__(self) -> Iterator[asyncio.Task[Any]]:
        return iter([task for task in asyncio.all_tasks() if task in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)
