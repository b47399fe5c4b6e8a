"""``connectors.base.read_each_room``: the per-room read every calendar store shares (which failures make one room
unreadable, which fail the whole read)."""

from __future__ import annotations

import pytest

from roomsync.connectors.base import AuthenticationFailed, BackendError, BackendUnavailable, read_each_room
from roomsync.model import RoomPair

ROOMS = [RoomPair(f"MR-{i}", f"mr-{i}@contoso.com") for i in range(3)]


class RoomDenied(AuthenticationFailed):
    """Access to one room's calendar denied (a backend's MailboxAccessDenied / CalendarAccessDenied)."""


def reading(failures: dict[str, Exception]):
    async def read(room: RoomPair) -> str:
        if room.key in failures:
            raise failures[room.key]
        return f"items of {room.key}"

    return read


async def test_a_failed_room_is_unreadable_and_the_others_are_read():
    read, unreadable = await read_each_room(
        ROOMS, reading({"MR-1": BackendUnavailable("503", backend="x")}), of=3, one_room=(RoomDenied,)
    )
    assert [(room.key, items) for room, items in read] == [("MR-0", "items of MR-0"), ("MR-2", "items of MR-2")]
    assert unreadable == {"MR-1"}


async def test_access_denied_to_one_room_is_that_room_s_only():
    _, unreadable = await read_each_room(
        ROOMS, reading({"MR-0": RoomDenied("no access", backend="x")}), of=3, one_room=(RoomDenied,)
    )
    assert unreadable == {"MR-0"}


@pytest.mark.parametrize(
    ("error", "fatal"),
    [
        (AuthenticationFailed("bad secret", backend="x"), (AuthenticationFailed,)),
        (BackendUnavailable("token endpoint down", backend="x"), (AuthenticationFailed, BackendUnavailable)),
        (KeyError("a bug"), ()),
    ],
    ids=["credentials", "a fatal error of the backend's", "not a backend error"],
)
async def test_what_no_room_can_survive_fails_the_read(error, fatal):
    with pytest.raises(type(error)) as raised:
        await read_each_room(ROOMS, reading({"MR-2": error}), of=3, fatal=fatal, one_room=(RoomDenied,))
    assert raised.value is error


async def test_every_room_of_the_store_unreadable_raises_the_first_error():
    errors = {room.key: BackendUnavailable(f"{room.key} down", backend="x") for room in ROOMS}
    with pytest.raises(BackendError, match="MR-0 down"):
        await read_each_room(ROOMS, reading(errors), of=3)
    # only some of the store's rooms were read (the others come from memory): not all of them are unreadable
    _, unreadable = await read_each_room(ROOMS[:1], reading(errors), of=3)
    assert unreadable == {"MR-0"}
