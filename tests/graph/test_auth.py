"""Authentication through azure-identity (async) against the sandbox's HTTPS token endpoint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from roomsync.connectors.base import AuthenticationFailed
from roomsync.connectors.graph import open_client
from roomsync.connectors.graph.settings import SettingsError
from roomsync.sandbox.graph import GraphSandbox

from .conftest import ROOM1, WINDOW, ClientFactory, at, store_of


def self_signed() -> tuple[str, str]:
    """(PEM certificate + key as a Secret would hold it, certificate alone as uploaded to the app registration)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "roomsync")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key_pem + cert_pem, cert_pem


async def test_client_secret_then_wrong_and_revoked(sandbox: GraphSandbox, make_client: ClientFactory) -> None:
    good = store_of(make_client())
    assert (await good.read(WINDOW, full=True)).complete
    assert sandbox.state.identity.issued == 1  # one token for all requests: cached by azure-identity
    spec, _ = sandbox.connection_spec()
    wrong = open_client(spec, lambda name, key: "not-the-secret")
    try:
        with pytest.raises(AuthenticationFailed, match="AADSTS7000215"):
            await store_of(wrong).read(WINDOW, full=True)
    finally:
        await wrong.aclose()
    await sandbox.admin.revoke_credentials()
    with pytest.raises(AuthenticationFailed):
        await good.read(WINDOW, full=False)
    assert sandbox.state.mailboxes[ROOM1].events == {}  # nothing was written, nothing deleted


async def test_expired_token_is_refreshed_transparently(sandbox: GraphSandbox, make_client: ClientFactory) -> None:
    store = store_of(make_client())
    await store.read(WINDOW, full=True)
    await sandbox.admin.expire_tokens()
    assert (await store.read(WINDOW, full=False)).complete  # a CAE claims challenge: kiota asks for a new token
    # each room's request that met the challenge asks once (claims bypass the token cache): at most one per room
    assert 2 <= sandbox.state.identity.issued <= 4


async def test_certificate_credential(sandbox: GraphSandbox) -> None:
    secret_value, public_cert = self_signed()
    await sandbox.admin.register_app("cert-app", certificate_pem=public_cert)
    spec = {
        "tenantId": sandbox.tenant_id,
        "clientId": "cert-app",
        "auth": {"certificate": {"secretRef": {"name": "graph-cert", "key": "tls.pem"}}},
        "baseUrl": sandbox.base_url,
        "authorityHost": sandbox.authority_host,
        "caBundle": sandbox.ca_pem,
    }
    client = open_client(spec, lambda name, key: secret_value)
    try:
        await sandbox.admin.book_in_outlook("alice@contoso.com", [ROOM1], "Cert", at(hours=1), at(hours=2))
        snap = await store_of(client).read(WINDOW, full=True)
        assert len(snap.bookings) == 1
    finally:
        await client.aclose()
    other_value, _ = self_signed()  # a certificate the app registration does not know
    client = open_client(spec, lambda name, key: other_value)
    try:
        with pytest.raises(AuthenticationFailed, match="AADSTS700027"):
            await store_of(client).read(WINDOW, full=True)
    finally:
        await client.aclose()


async def test_workload_identity(sandbox: GraphSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "azure-identity-token"
    token_file.write_text("federated.jwt.from-kubernetes")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    await sandbox.admin.register_app("wi-app", federated_token="federated.jwt.from-kubernetes")
    spec = {
        "tenantId": sandbox.tenant_id,
        "clientId": "wi-app",
        "auth": {"workloadIdentity": {}},
        "baseUrl": sandbox.base_url,
        "authorityHost": sandbox.authority_host,
        "caBundle": sandbox.ca_pem,
    }
    client = open_client(spec, lambda name, key: pytest.fail("workload identity reads no secret"))
    try:
        assert (await store_of(client).read(WINDOW, full=True)).complete
    finally:
        await client.aclose()


def test_settings_are_validated() -> None:
    with pytest.raises(SettingsError):
        open_client({"tenantId": "t", "clientId": "c", "auth": {}}, lambda n, k: "")
    with pytest.raises(SettingsError):
        open_client(
            {"tenantId": "t", "clientId": "c", "auth": {"workloadIdentity": {}}, "authorityHost": "http://127.0.0.1:1"},
            lambda n, k: "",
        )
