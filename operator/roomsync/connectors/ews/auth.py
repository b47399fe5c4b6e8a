"""exchangelib credentials and the pinned auth type for a Connection's ``spec.ews.auth``.

The auth type is always given to exchangelib, so it never sends its unauthenticated probe to learn it. OAuth2
tokens come from azure-identity (client secret or certificate, against the Entra authority; the scope is the EWS
server's origin, as hybrid modern authentication registers it): exchangelib asks :class:`EntraTokenCredentials` for a
token when it opens a session and again when one expires.

Each client gets credentials that compare unequal to any other's, because exchangelib caches one Protocol (and its
connection pool) per endpoint and credentials, process-wide: two Connections, or an old and a new client of one
Connection, must not share - and close - each other's sessions.
"""

from __future__ import annotations

import uuid
from typing import Any

from exchangelib import BASIC, NTLM, OAUTH2, Credentials, OAuth2Credentials

from roomsync.connectors.ews.settings import EwsSettings


class OwnedCredentials(Credentials):  # type: ignore[misc]
    def __init__(self, username: str, password: str) -> None:
        super().__init__(username, password)
        self.owner = uuid.uuid4().hex


class EntraTokenCredentials(OAuth2Credentials):  # type: ignore[misc]
    """App-only OAuth2 credentials whose tokens azure-identity fetches and caches."""

    def __init__(self, settings: EwsSettings, credential: Any) -> None:
        super().__init__(client_id=settings.client_id, client_secret=None, tenant_id=settings.tenant_id)
        self.owner = uuid.uuid4().hex
        self._credential = credential
        self._scope = settings.scope

    def _token(self) -> dict[str, Any]:
        token = self._credential.get_token(self._scope)
        return {"access_token": token.token, "token_type": "Bearer", "expires_at": float(token.expires_on)}

    def session_params(self) -> dict[str, Any]:
        return {"token": self._token()}

    def refresh(self, session: Any) -> None:
        self.access_token = self._token()


def make_credentials(settings: EwsSettings, ca_file: str | None) -> tuple[Any, str, Any]:
    """(exchangelib credentials, auth type, the azure-identity credential to close or None)."""
    if settings.auth_kind in ("ntlm", "basic"):
        assert settings.username is not None and settings.password is not None
        return (
            OwnedCredentials(settings.username, settings.password),
            NTLM if settings.auth_kind == "ntlm" else BASIC,
            None,
        )
    from azure.identity import CertificateCredential, ClientSecretCredential

    kwargs: dict[str, Any] = {"authority": settings.authority_host, "disable_instance_discovery": True}
    if ca_file:
        kwargs["connection_verify"] = ca_file
    assert settings.tenant_id is not None and settings.client_id is not None
    if settings.client_secret is not None:
        credential: Any = ClientSecretCredential(
            settings.tenant_id, settings.client_id, settings.client_secret, **kwargs
        )
    else:
        assert settings.certificate_pem is not None
        credential = CertificateCredential(
            settings.tenant_id, settings.client_id, certificate_data=settings.certificate_pem.encode(), **kwargs
        )
    return EntraTokenCredentials(settings, credential), OAUTH2, credential
