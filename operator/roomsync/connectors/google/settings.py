"""A Connection's ``spec.google`` read into settings and service-account credentials.

Scopes are the minimum (docs/google-workspace.md): ``calendar.events`` for the room calendars, acting as the
delegated booking user (``subject``), and ``admin.directory.resource.calendar.readonly`` for ``roomsync rooms``,
acting as ``directorySubject`` (an administrator). Both must be granted to the service account's client id for
domain-wide delegation. ``http://`` endpoints are accepted on loopback only (the sandbox); anything else must be
``https://``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from roomsync.connectors.base import SecretLookup

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar.events"
DIRECTORY_SCOPE = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"
CALENDAR_ORIGIN = "https://www.googleapis.com"
DIRECTORY_ORIGIN = "https://admin.googleapis.com"
#: Google drops longer extended-property keys silently; the people key gets a ``.NN`` suffix per chunk.
MAX_KEY = 44
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SettingsError(ValueError):
    """The Connection spec cannot be used; the message names the field."""


@dataclass(frozen=True)
class GoogleSettings:
    subject: str
    key_info: Mapping[str, str]
    directory_subject: str
    customer: str = "my_customer"
    api_endpoint: str | None = None
    token_uri: str | None = None
    max_concurrent: int = 8
    max_concurrent_per_calendar: int = 2
    requests_per_minute: int = 600
    max_attempts: int = 5
    backoff_base: float = 1.0
    max_backoff: float = 32.0
    request_timeout: float = 60.0
    page_size: int = 250
    link_property: str = "roomsyncLink"
    people_property: str = "roomsyncPeople"

    @property
    def calendar_endpoint(self) -> str:
        return f"{self.api_endpoint or CALENDAR_ORIGIN}/calendar/v3/"

    @property
    def directory_endpoint(self) -> str:
        return f"{self.api_endpoint or DIRECTORY_ORIGIN}/"


def _int(spec: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = spec.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise SettingsError(f"google.{key} must be a whole number from {low} to {high}")
    return value


def _url(spec: Mapping[str, Any], key: str) -> str | None:
    value = spec.get(key)
    if not value:
        return None
    parts = urlsplit(str(value))
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return str(value).rstrip("/")
    raise SettingsError(f"google.{key} must be an https:// URL (http:// only on loopback, for the sandbox)")


def _email(spec: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = str(spec.get(key) or default or "").strip().casefold()
    if "@" not in value:
        raise SettingsError(f"google.{key} must be the e-mail address of a user of the domain")
    return value


def read_settings(spec: Mapping[str, Any], secrets: SecretLookup) -> GoogleSettings:
    """Validate what the CRD cannot (the key file itself) and resolve the secret reference."""
    subject = _email(spec, "subject")
    auth = spec.get("auth") or {}
    if "workloadIdentity" in auth:
        raise SettingsError(
            "google.auth.workloadIdentity: keyless workload identity federation is not supported yet; "
            "use google.auth.serviceAccountKey (docs/google-workspace.md)"
        )
    ref = (auth.get("serviceAccountKey") or {}).get("secretRef") or {}
    if not ref.get("name") or not ref.get("key"):
        raise SettingsError("google.auth.serviceAccountKey.secretRef needs name and key")
    raw = secrets(ref["name"], ref["key"])
    try:
        info = json.loads(raw)
    except ValueError:
        raise SettingsError(
            f"google.auth.serviceAccountKey: Secret {ref['name']}/{ref['key']} is not a JSON key file"
        ) from None
    missing = [
        k for k in ("type", "client_email", "private_key", "token_uri") if not isinstance(info, dict) or not info.get(k)
    ]
    if missing or info.get("type") != "service_account":
        raise SettingsError(
            f"google.auth.serviceAccountKey: Secret {ref['name']}/{ref['key']} is not a service-account key file"
            + (f" (missing {', '.join(missing)})" if missing else "")
        )
    link, people = (
        str(spec.get("linkPropertyName") or "roomsyncLink"),
        str(spec.get("peoplePropertyName") or "roomsyncPeople"),
    )
    if len(link) > MAX_KEY or len(people) > MAX_KEY - 3:
        raise SettingsError(f"google.linkPropertyName may have {MAX_KEY}, peoplePropertyName {MAX_KEY - 3} characters")
    return GoogleSettings(
        subject=subject,
        key_info={str(k): str(v) for k, v in info.items()},
        directory_subject=_email(spec, "directorySubject", subject),
        customer=str(spec.get("customer") or "my_customer"),
        api_endpoint=_url(spec, "apiEndpoint"),
        token_uri=_url(spec, "tokenUri"),
        max_concurrent=_int(spec, "maxConcurrentRequests", 8, 1, 32),
        max_concurrent_per_calendar=_int(spec, "maxConcurrentPerCalendar", 2, 1, 8),
        requests_per_minute=_int(spec, "requestsPerMinute", 600, 1, 100000),
        max_attempts=_int(spec, "maxAttempts", 5, 1, 10),
        backoff_base=_int(spec, "backoffBaseMilliseconds", 1000, 1, 60000) / 1000,
        max_backoff=float(_int(spec, "maxBackoffSeconds", 32, 1, 600)),
        request_timeout=float(_int(spec, "requestTimeoutSeconds", 60, 5, 600)),
        page_size=_int(spec, "pageSize", 250, 10, 2500),
        link_property=link,
        people_property=people,
    )
