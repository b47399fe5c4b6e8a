"""A Connection's ``spec.caldav`` read into settings: server, credentials, room calendars, TLS trust.

The CRD already checks shapes and ranges (``roomsync validate`` names the field); this module resolves what the CRD
cannot (secret values, zone names) and refuses what would be unsafe with the field named: credentials never travel
over plain HTTP except to the machine itself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import certifi

from roomsync.connectors.base import SecretLookup
from roomsync.model import UnknownTimeZone, normalise_email, to_iana

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class SettingsError(ValueError):
    """The Connection spec cannot be used; the message names the field."""


@dataclass(frozen=True)
class CalDAVSettings:
    url: str
    auth_kind: str  # basic | bearer
    username: str | None = None
    secret: str = field(default="", repr=False)
    #: room address -> calendar collection URL (ends with "/")
    calendars: Mapping[str, str] = field(default_factory=dict)
    #: principal whose calendar home is searched for room calendars; "" = the authenticated user's principal
    principal: str | None = None
    discover: bool = False
    discovery_domain: str | None = None
    time_zone: str = "UTC"
    ca_bundle: str | None = None
    max_concurrent: int = 4
    request_timeout: int = 60

    def calendar_url(self, address: str) -> str | None:
        return self.calendars.get(address.casefold())

    def verify(self, directory: str) -> bool | str:
        """What the HTTP client verifies TLS with: the defaults, or one file of system + certifi + caBundle."""
        if not self.ca_bundle:
            return True
        parts = [Path(os.environ.get("SSL_CERT_FILE") or certifi.where()).read_text(), self.ca_bundle]
        path = Path(directory, "ca-bundle.pem")
        path.write_text("\n".join(parts))
        return str(path)


def _collection(url: str, base: str, where: str) -> str:
    absolute = urljoin(base, url.strip())
    _check_url(absolute, where)
    return absolute if absolute.endswith("/") else absolute + "/"


def _check_url(url: str, where: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{where} must be an http(s) URL, got {url!r}")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise SettingsError(f"{where} must use https:// (plain http is only allowed to this machine), got {url!r}")


def _int(spec: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = spec.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise SettingsError(f"caldav.{key} must be a whole number from {low} to {high}")
    return value


def _secret(auth: Mapping[str, Any], kind: str, secrets: SecretLookup) -> str:
    ref = (auth.get(kind) or {}).get("secretRef") or {}
    if not ref.get("name") or not ref.get("key"):
        raise SettingsError(f"caldav.auth.{kind}.secretRef needs name and key")
    return secrets(str(ref["name"]), str(ref["key"]))


def read_settings(spec: Mapping[str, Any], secrets: SecretLookup) -> CalDAVSettings:
    """Validate what the CRD cannot and resolve secret references."""
    url = str(spec.get("url") or "").strip()
    if not url:
        raise SettingsError("caldav.url is required")
    _check_url(url, "caldav.url")
    base = url if url.endswith("/") else url + "/"
    auth = spec.get("auth") or {}
    kinds = [k for k in ("basic", "bearer") if k in auth]
    if len(kinds) != 1:
        raise SettingsError("caldav.auth needs exactly one of basic or bearer")
    kind = kinds[0]
    username = None
    if kind == "basic":
        username = str((auth["basic"] or {}).get("username") or "")
        if not username:
            raise SettingsError("caldav.auth.basic.username is required")
    secret = _secret(auth, kind, secrets)
    calendars: dict[str, str] = {}
    for index, entry in enumerate(spec.get("calendars") or []):
        where = f"caldav.calendars[{index}]"
        try:
            address = normalise_email(str(entry.get("room") or ""))
        except ValueError as exc:
            raise SettingsError(f"{where}.room: {exc}") from None
        if address in calendars:
            raise SettingsError(f"{where}.room: {address} is listed twice")
        calendars[address] = _collection(str(entry.get("url") or ""), base, f"{where}.url")
    discovery = spec.get("discovery")
    principal = None
    domain = None
    if discovery is not None:
        principal = (
            _collection(str(discovery["principal"]), base, "caldav.discovery.principal")
            if (discovery.get("principal"))
            else None
        )
        domain = str(discovery.get("domain") or "").strip().lstrip("@").casefold() or None
    if not calendars and discovery is None:
        raise SettingsError("caldav needs calendars (one URL per room) or discovery (a principal to search)")
    zone_name = str(spec.get("timeZone") or "UTC")
    try:
        zone_name = to_iana(zone_name)
    except UnknownTimeZone as exc:
        raise SettingsError(f"caldav.timeZone: {exc}") from None
    return CalDAVSettings(
        url=base,
        auth_kind=kind,
        username=username,
        secret=secret,
        calendars=calendars,
        principal=principal,
        discover=discovery is not None,
        discovery_domain=domain,
        time_zone=zone_name,
        ca_bundle=spec.get("caBundle") or None,
        max_concurrent=_int(spec, "maxConcurrentRequests", 4, 1, 32),
        request_timeout=_int(spec, "requestTimeoutSeconds", 60, 5, 600),
    )


def private_tempdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="roomsync-caldav-")
