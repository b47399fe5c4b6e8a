"""Authentication and access: NTLM (a real handshake, then an authenticated connection), Basic, OAuth2 (client
secret and certificate, from the Entra endpoint the Graph face shares), the pinned auth type, impersonation scopes
and delegate access - all through exchangelib against the sandbox's EWS face."""

from __future__ import annotations

import pytest

from roomsync.connectors.base import AuthenticationFailed, Throttling
from roomsync.sandbox.ews import ExchangeSandbox
from tests.ews.conftest import BEN, PAIRS, R1, R2, R3, WINDOW, ClientFactory, StoreFactory, at
from tests.graph.test_auth import self_signed


async def _meeting(exchange: ExchangeSandbox) -> str:
    return await exchange.admin.book_in_outlook(BEN, [R1], "Planning", at(4, 9), at(4, 10))


@pytest.mark.parametrize("auth", ["ntlm", "basic", "oauth2"])
async def test_every_auth_kind_reads_the_rooms(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory, auth: str
) -> None:
    uid = await _meeting(exchange)
    client = make_client(auth=auth)
    snapshot = await make_store(client).read(WINDOW, full=True)
    assert [b.id for b in snapshot.bookings] == [uid]
    log = await exchange.admin.ews_log()
    schemes = {e["scheme"] for e in log if e["status"] == 200}
    assert schemes == {{"ntlm": "NTLM", "basic": "Basic", "oauth2": "Bearer"}[auth]}
    # the auth type is pinned: no unauthenticated probe (a ConvertId) and, for Basic and OAuth, no 401 at all
    assert "ConvertId" not in {e["operation"] for e in log}
    unauthorized = [e for e in log if e["status"] == 401]
    assert (len(unauthorized) > 0) == (auth == "ntlm")


async def test_ntlm_handshake_authenticates_the_connection_once(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    store = make_store(make_client(threads=1), rooms=PAIRS[:1])
    await store.read(WINDOW, full=True)
    await store.read(WINDOW, full=False)
    log = await exchange.admin.ews_log()
    # one connection: the request without credentials and the NEGOTIATE are answered 401, the AUTHENTICATE and
    # every later request on the same connection go through
    assert [e["status"] for e in log][:3] == [401, 401, 200]
    assert all(e["status"] == 200 for e in log[2:]) and len(log) > 4
    client = store.client
    assert client.requests.by_room[(R1, "SyncFolderItems", "401")] == 2  # the handshake legs are counted too


async def test_oauth2_with_a_certificate_and_a_wrong_secret(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    secret_value, public_cert = self_signed()
    await exchange.admin.register_app("ews-cert-app", certificate_pem=public_cert)
    await _meeting(exchange)
    client = make_client(
        auth="oauth2", settings={"client_id": "ews-cert-app", "client_secret": None, "certificate_pem": secret_value}
    )
    assert len((await make_store(client).read(WINDOW, full=True)).bookings) == 1
    wrong = make_client(auth="oauth2", settings={"client_secret": "not-the-secret"})
    with pytest.raises(AuthenticationFailed, match="AADSTS7000215"):
        await make_store(wrong).read(WINDOW, full=True)


@pytest.mark.parametrize("auth", ["ntlm", "basic"])
async def test_a_wrong_password_is_authentication_failed(
    make_client: ClientFactory, make_store: StoreFactory, auth: str
) -> None:
    client = make_client(auth=auth, settings={"password": "not the password"})
    with pytest.raises(AuthenticationFailed, match="check the service account"):
        await make_store(client).read(WINDOW, full=True)


async def test_a_scheme_the_server_does_not_offer_is_authentication_failed(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    await exchange.admin.set_ews_schemes("NTLM")
    with pytest.raises(AuthenticationFailed):
        await make_store(make_client(auth="basic")).read(WINDOW, full=True)


async def test_a_room_outside_the_impersonation_scope_is_unreadable_not_empty(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    await exchange.admin.book_in_outlook(BEN, [R2], "Elsewhere", at(4, 9), at(4, 10))
    await exchange.admin.add_service_account("CORP\\svc-scoped", "Scoped-Passw0rd!", impersonation=[R1, R3])
    client = make_client(settings={"username": "CORP\\svc-scoped", "password": "Scoped-Passw0rd!"})
    snapshot = await make_store(client).read(WINDOW, full=True)
    assert snapshot.unreadable_rooms == {"R2"} and snapshot.bookings == ()
    denied = [e for e in await exchange.admin.ews_log(R2) if e["code"] == "ErrorImpersonateUserDenied"]
    assert denied and all(e["status"] == 500 for e in denied)


async def test_no_room_in_scope_fails_the_read_with_the_reason(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    await exchange.admin.add_service_account("CORP\\svc-none", "None-Passw0rd!", impersonation=[])
    client = make_client(settings={"username": "CORP\\svc-none", "password": "None-Passw0rd!"})
    with pytest.raises(AuthenticationFailed, match=r"ErrorImpersonateUserDenied.*ApplicationImpersonation"):
        await make_store(client).read(WINDOW, full=True)


async def test_delegate_access_needs_rights_on_each_room_and_shares_one_budget(
    exchange: ExchangeSandbox, make_client: ClientFactory, make_store: StoreFactory
) -> None:
    await _meeting(exchange)
    await exchange.admin.add_service_account("CORP\\svc-delegate", "Deleg-Passw0rd!", delegate=[R1, R3])
    client = make_client(
        access_type="Delegate", settings={"username": "CORP\\svc-delegate", "password": "Deleg-Passw0rd!"}
    )
    assert client.capabilities.throttling is Throttling.PER_ACCOUNT
    snapshot = await make_store(client).read(WINDOW, full=True)
    assert snapshot.unreadable_rooms == {"R2"} and len(snapshot.bookings) == 1
    log = await exchange.admin.ews_log()
    assert not any(e.get("impersonated") for e in log if e["status"] == 200)  # no ExchangeImpersonation header
    assert {e["code"] for e in log if e.get("mailbox") == R2} == {"ErrorAccessDenied"}
    assert make_client().capabilities.throttling is Throttling.PER_ROOM
    assert R3  # the third room is readable through its FullAccess grant
