"""A Connection's ``spec.ews`` read into settings and credentials.

The CRD (schema and CEL rules) already refuses what cannot work, naming the field; what is left here is what only
exists at run time: the Secrets' values. TLS: requests' default trust (which honours ``REQUESTS_CA_BUNDLE``) unless
``caBundle`` / ``caSecretRef`` is given, then the system store (``SSL_CERT_FILE`` or certifi) plus that bundle,
written to a private temporary file because requests takes a CA *file*. Verification is never switched off.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import certifi

from roomsync.connectors.base import SecretLookup
from roomsync.connectors.exchange import LINK_PROPERTY, PEOPLE_PROPERTY
from roomsync.model import to_iana

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
IMPERSONATION = "Impersonation"
DELEGATE = "Delegate"


class SettingsError(ValueError):
    """The Connection spec cannot be used (a Secret holds no usable value, an option is out of range)."""


@dataclass(frozen=True)
class EwsSettings:
    url: str | None
    auth_kind: str  # ntlm | basic | oauth2
    username: str | None = None
    password: str | None = None
    tenant_id: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    certificate_pem: str | None = None
    authority_host: str = DEFAULT_AUTHORITY
    autodiscover: bool = False
    access_type: str = IMPERSONATION
    version: str | None = None
    ca_bundle: str | None = None
    time_zone: str = "UTC"
    max_concurrent: int = 4
    threads: int = 8
    page_size: int = 100
    max_attempts: int = 5
    max_retry_after: float = 60.0
    request_timeout: float = 60.0
    link_property: str = LINK_PROPERTY
    people_property: str = PEOPLE_PROPERTY

    @property
    def scope(self) -> str:
        """The OAuth scope: the EWS server's origin (hybrid modern auth registers it as the resource)."""
        parts = urlsplit(self.url or "")
        return f"{parts.scheme}://{parts.netloc}/.default"

    def ca_file(self, directory: str) -> str | None:
        """A CA bundle file (system store + ``caBundle``), or None to keep requests' default trust."""
        if not self.ca_bundle:
            return None
        parts = [Path(os.environ.get("SSL_CERT_FILE") or certifi.where()).read_text(), self.ca_bundle]
        path = Path(directory, "ca-bundle.pem")
        path.write_text("\n".join(parts))
        return str(path)


def _int(spec: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SettingsError(f"ews.{key} must be a whole number from {low} to {high}")
    return value


def _secret(ref: Mapping[str, Any] | None, where: str, secrets: SecretLookup) -> str:
    if not ref or not ref.get("name") or not ref.get("key"):
        raise SettingsError(f"{where} needs name and key")
    value = secrets(str(ref["name"]), str(ref["key"]))
    if not value:
        raise SettingsError(f"{where}: Secret {ref['name']} key {ref['key']} is empty")
    return value


def read_settings(spec: Mapping[str, Any], secrets: SecretLookup) -> EwsSettings:
    """Resolve the Secrets a ``spec.ews`` refers to; the CRD has checked its shape."""
    auth = spec.get("auth") or {}
    kinds = [k for k in ("ntlm", "basic", "oauth2") if k in auth]
    if len(kinds) != 1:
        raise SettingsError("ews.auth needs exactly one of ntlm, basic or oauth2")
    kind = kinds[0]
    if not spec.get("url") and not spec.get("autodiscover"):
        raise SettingsError("ews.url is required unless ews.autodiscover is true")
    values: dict[str, Any] = {}
    section = auth[kind] or {}
    if kind in ("ntlm", "basic"):
        if not section.get("username"):
            raise SettingsError(f"ews.auth.{kind}.username is required")
        values.update(
            username=str(section["username"]),
            password=_secret(section.get("secretRef"), f"ews.auth.{kind}.secretRef", secrets),
        )
    else:
        for key in ("tenantId", "clientId"):
            if not section.get(key):
                raise SettingsError(f"ews.auth.oauth2.{key} is required")
        credential = [k for k in ("clientSecret", "certificate") if k in section]
        if len(credential) != 1:
            raise SettingsError("ews.auth.oauth2 needs exactly one of clientSecret or certificate")
        value = _secret(
            (section[credential[0]] or {}).get("secretRef"), f"ews.auth.oauth2.{credential[0]}.secretRef", secrets
        )
        authority = str(section.get("authorityHost") or DEFAULT_AUTHORITY).rstrip("/")
        if not authority.startswith("https://"):
            raise SettingsError("ews.auth.oauth2.authorityHost must be an https:// URL")
        values.update(
            tenant_id=str(section["tenantId"]),
            client_id=str(section["clientId"]),
            authority_host=authority,
            **({"client_secret": value} if credential[0] == "clientSecret" else {"certificate_pem": value}),
        )
        if spec.get("accessType", IMPERSONATION) != IMPERSONATION:
            raise SettingsError("ews.accessType must be Impersonation with ews.auth.oauth2 (app-only tokens)")
    ca_bundle = spec.get("caBundle") or None
    if spec.get("caSecretRef"):
        ca_bundle = _secret(spec["caSecretRef"], "ews.caSecretRef", secrets)
    access = str(spec.get("accessType") or IMPERSONATION)
    if access not in (IMPERSONATION, DELEGATE):
        raise SettingsError("ews.accessType must be Impersonation or Delegate")
    return EwsSettings(
        url=str(spec["url"]) if spec.get("url") else None,
        auth_kind=kind,
        autodiscover=bool(spec.get("autodiscover", False)),
        access_type=access,
        version=str(spec["version"]) if spec.get("version") else None,
        ca_bundle=ca_bundle,
        time_zone=to_iana(str(spec.get("timeZone") or "UTC")),
        max_concurrent=_int(spec, "maxConcurrentRequests", 4, 1, 27),
        threads=_int(spec, "threads", 8, 1, 64),
        page_size=_int(spec, "maxChangesPerRequest", 100, 1, 512),
        max_attempts=_int(spec, "maxAttempts", 5, 1, 10),
        max_retry_after=float(_int(spec, "maxRetryAfterSeconds", 60, 1, 600)),
        request_timeout=float(_int(spec, "requestTimeoutSeconds", 60, 5, 600)),
        link_property=str(spec.get("linkPropertyName") or LINK_PROPERTY),
        people_property=str(spec.get("peoplePropertyName") or PEOPLE_PROPERTY),
        **values,
    )


def private_tempdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="roomsync-ews-")
