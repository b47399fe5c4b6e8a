"""A Connection's ``spec.graph`` read into settings, credentials and TLS trust.

TLS: the system store (``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured) plus certifi, plus ``caBundle`` when given;
verification is never switched off. azure-core's aiohttp transport only takes a CA *file* for custom trust, so
when ``caBundle`` is set a combined bundle file is written to a private temporary directory for the token calls.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi
from azure.core.credentials import AccessToken

from roomsync.connectors.base import SecretLookup

PS_PUBLIC_STRINGS = "{00020329-0000-0000-C000-000000000046}"
DEFAULT_BASE_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"


class SettingsError(ValueError):
    """The Connection spec cannot be used (it names no credential, or a value is out of range)."""


@dataclass(frozen=True)
class GraphSettings:
    tenant_id: str
    client_id: str
    auth_kind: str  # clientSecret | certificate | workloadIdentity
    secret: str | None = None
    certificate_pem: str | None = None
    base_url: str = DEFAULT_BASE_URL
    authority_host: str = DEFAULT_AUTHORITY
    max_concurrent: int = 4
    #: HTTP requests in flight at once for the whole Connection (a ``$batch`` counts as one)
    max_in_flight: int = 64
    #: requests per ``$batch`` (Graph allows 20); 1 sends every request on its own
    batch_size: int = 20
    ca_bundle: str | None = None
    page_size: int = 100
    max_attempts: int = 5
    max_retry_after: float = 60.0
    request_timeout: float = 60.0
    link_property: str = "RoomSyncLink"
    people_property: str = "RoomSyncPeople"
    #: where the credential comes from, for messages: ``the client secret in Secret ns/name, key clientSecret``
    credential: str = "the credential"

    @property
    def token_url(self) -> str:
        """Entra ID's token endpoint for the tenant (what azure-identity posts to)."""
        return f"{self.authority_host}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def scope(self) -> str:
        """``https://graph.microsoft.com/.default`` for the global cloud, the base URL's origin otherwise."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}/.default"

    @property
    def link_property_id(self) -> str:
        return f"String {PS_PUBLIC_STRINGS} Name {self.link_property}"

    @property
    def people_property_id(self) -> str:
        return f"String {PS_PUBLIC_STRINGS} Name {self.people_property}"

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()  # system store; honours SSL_CERT_FILE / SSL_CERT_DIR
        if not os.environ.get("SSL_CERT_FILE"):
            context.load_verify_locations(cafile=certifi.where())
        if self.ca_bundle:
            context.load_verify_locations(cadata=self.ca_bundle)
        return context

    def ca_file(self, directory: str) -> str | None:
        """A CA bundle file for azure-identity (system + certifi + caBundle), or None to use the defaults."""
        if not self.ca_bundle:
            return None
        parts = [Path(os.environ.get("SSL_CERT_FILE") or certifi.where()).read_text(), self.ca_bundle]
        path = Path(directory, "ca-bundle.pem")
        path.write_text("\n".join(parts))
        return str(path)


def _int(spec: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = spec.get(key, default)
    if not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(f"graph.{key} must be a whole number from {low} to {high}")
    return value


def read_settings(spec: Mapping[str, Any], secrets: SecretLookup, *, namespace: str = "default") -> GraphSettings:
    """Validate what the CRD cannot (credentials exist) and resolve secret references."""
    for key in ("tenantId", "clientId"):
        if not spec.get(key):
            raise SettingsError(f"graph.{key} is required")
    auth = spec.get("auth") or {}
    kinds = [k for k in ("clientSecret", "certificate", "workloadIdentity") if k in auth]
    if len(kinds) != 1:
        raise SettingsError("graph.auth needs exactly one of clientSecret, certificate or workloadIdentity")
    kind = kinds[0]
    secret = certificate = None
    credential = "the pod's federated service account token (workload identity)"
    if kind in ("clientSecret", "certificate"):
        ref = (auth[kind] or {}).get("secretRef") or {}
        if not ref.get("name") or not ref.get("key"):
            raise SettingsError(f"graph.auth.{kind}.secretRef needs name and key")
        what = "client secret" if kind == "clientSecret" else "certificate"
        credential = f"the {what} in Secret {namespace}/{ref['name']}, key {ref['key']}"
        value = secrets(ref["name"], ref["key"])
        if kind == "clientSecret":
            secret = value
        else:
            certificate = value
    base_url = str(spec.get("baseUrl") or DEFAULT_BASE_URL).rstrip("/")
    authority = str(spec.get("authorityHost") or DEFAULT_AUTHORITY).rstrip("/")
    if not authority.startswith("https://"):
        raise SettingsError("graph.authorityHost must be an https:// URL (azure-identity refuses anything else)")
    return GraphSettings(
        tenant_id=str(spec["tenantId"]),
        client_id=str(spec["clientId"]),
        auth_kind=kind,
        secret=secret,
        certificate_pem=certificate,
        base_url=base_url,
        authority_host=authority,
        max_concurrent=_int(spec, "maxConcurrentPerMailbox", 4, 1, 4),
        max_in_flight=_int(spec, "maxRequestsInFlight", 64, 1, 256),
        batch_size=_int(spec, "batchSize", 20, 1, 20),
        ca_bundle=spec.get("caBundle") or None,
        page_size=_int(spec, "pageSize", 100, 10, 1000),
        max_attempts=_int(spec, "maxAttempts", 5, 1, 10),
        max_retry_after=float(_int(spec, "maxRetryAfterSeconds", 60, 1, 600)),
        request_timeout=float(_int(spec, "requestTimeoutSeconds", 60, 5, 600)),
        link_property=str(spec.get("linkPropertyName") or "RoomSyncLink"),
        people_property=str(spec.get("peoplePropertyName") or "RoomSyncPeople"),
        credential=credential,
    )


def make_credential(settings: GraphSettings, ca_dir: str) -> Any:
    """An async azure-identity credential (kiota would call a sync one inline on the event loop)."""
    from azure.identity.aio import CertificateCredential, ClientSecretCredential, WorkloadIdentityCredential

    # The token request keeps azure-core's own RetryPolicy: it is the credential's private pipeline (the SDK's HTTP
    # stack and its MailboxTransport never see it), it only repeats the token POST, which is safe to repeat, and it
    # honours Retry-After. SerializedCredential makes a failure cost one such attempt per cycle.
    kwargs: dict[str, Any] = {"authority": settings.authority_host}
    ca_file = settings.ca_file(ca_dir)
    if ca_file:
        kwargs["connection_verify"] = ca_file
    if settings.auth_kind == "clientSecret":
        assert settings.secret is not None
        return ClientSecretCredential(settings.tenant_id, settings.client_id, settings.secret, **kwargs)
    if settings.auth_kind == "certificate":
        assert settings.certificate_pem is not None
        return CertificateCredential(
            settings.tenant_id, settings.client_id, certificate_data=settings.certificate_pem.encode(), **kwargs
        )
    return WorkloadIdentityCredential(tenant_id=settings.tenant_id, client_id=settings.client_id, **kwargs)


class SerializedCredential:
    """Lets one token request at a time through: azure-identity caches tokens but does not merge concurrent misses,
    so a read fanning out over many rooms would otherwise ask Entra for one token per room.

    A failure is shared the same way: the requests that waited for a token request that failed get its error (made
    readable by ``translate``) without asking again, so a dead or refusing token endpoint costs one attempt - and
    azure-core's retries of it - per cycle, not one per room.
    """

    def __init__(self, inner: Any, translate: Callable[[BaseException], BaseException] = lambda exc: exc) -> None:
        self.inner = inner
        self.translate = translate
        self._lock: asyncio.Lock | None = None
        self._finished = 0  # token requests done: a caller that saw fewer waited for the last one
        self._failure: BaseException | None = None

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        if self._lock is None:
            self._lock = asyncio.Lock()
        finished_seen = self._finished
        async with self._lock:
            if self._finished != finished_seen and self._failure is not None:
                raise self._failure  # the token request this one waited for failed: no second try this round
            try:
                token: AccessToken = await self.inner.get_token(
                    *scopes, claims=claims, tenant_id=tenant_id, enable_cae=enable_cae, **kwargs
                )
            except Exception as exc:
                self._failure = self.translate(exc)
                if self._failure is exc:
                    raise
                raise self._failure from None
            else:
                self._failure = None
            finally:
                self._finished += 1
            return token

    async def close(self) -> None:
        await self.inner.close()

    async def __aenter__(self) -> SerializedCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def private_tempdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="roomsync-graph-")
