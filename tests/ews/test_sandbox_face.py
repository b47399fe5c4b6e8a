"""The EWS face of the Exchange sandbox as exchangelib meets it outside RoomSync's own calls: folder discovery
(GetFolder) and the version probe a client without a pinned version sends."""

from __future__ import annotations

from exchangelib import IMPERSONATION, Account

from roomsync.sandbox.ews import ExchangeSandbox
from tests.ews.conftest import BEN, PAIRS, R1, WINDOW, ClientFactory, StoreFactory, at


async def test_an_unpinned_version_is_probed_once(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    await exchange.admin.book_in_outlook(BEN, [R1], "Planning", at(4, 9), at(4, 10))
    client = make_client(version=None)
    assert client.config.version is None
    assert len((await make_store(client, rooms=PAIRS[:1]).read(WINDOW, full=True)).bookings) == 1
    operations = [e["operation"] for e in await exchange.admin.ews_log() if e["status"] == 200]
    assert operations.count("ConvertId") == 1 and operations[-1] == "GetItem"
    assert str(client.config.version.build).startswith("15.1")  # read from the ServerVersionInfo header


async def test_exchangelib_finds_the_calendar_folder_with_get_folder(
    exchange: ExchangeSandbox, make_client: ClientFactory
) -> None:
    client = make_client()

    def calendar_name(_: object) -> str:  # a plain exchangelib Account, in the client's thread (its CA trust)
        account = Account(R1, config=client.config, autodiscover=False, access_type=IMPERSONATION)
        return str(account.calendar.name)

    assert await client.run(R1, "GetFolder", calendar_name) == "Calendar"
    gets = [e for e in await exchange.admin.ews_log(R1) if e["operation"] == "GetFolder" and e["status"] == 200]
    assert len(gets) == 2  # the root, then the distinguished calendar (what RoomSync's clients skip)
