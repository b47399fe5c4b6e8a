"""Google's OAuth token endpoint for the service-account JWT flow, as the sandbox plays it.

The sandbox hands out a service-account key (a fresh RSA key pair, the JSON key file Google would let an admin
download) and verifies every assertion with that key's public half: the JWT header's ``kid``, the RS256 signature,
``iss`` (the service account), ``exp``. ``aud`` is NOT checked against the sandbox's own URL: google-auth always
sends ``https://oauth2.googleapis.com/token`` whatever ``token_uri`` says. Domain-wide delegation is a grant of
scopes to the service account's client id (Admin console > Security > API controls); asking for a scope outside
it, or for a subject that is not a user of the domain, is refused the way Google refuses it.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CALENDAR_SCOPES = frozenset(
    {"https://www.googleapis.com/auth/calendar", "https://www.googleapis.com/auth/calendar.events"}
)
DIRECTORY_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/admin.directory.resource.calendar",
        "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly",
    }
)


class TokenError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass
class Grant:
    """An access token: who it acts as and what it may do."""

    subject: str | None
    scopes: frozenset[str]
    expires: float


@functools.cache
def _shared_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class ServiceAccount:
    email: str
    client_id: str
    key_id: str
    private_pem: str
    public_key: Any

    @classmethod
    def generate(cls, email: str, *, fresh: bool = False) -> ServiceAccount:
        """A service account with an RSA key; sandboxes in one process share one key pair unless ``fresh``
        (generating one costs a noticeable fraction of a second)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if fresh else _shared_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return cls(email, str(secrets.randbelow(10**20)).zfill(21), secrets.token_hex(20), pem, key.public_key())

    def key_file(self, token_uri: str, project: str = "roomsync-sandbox") -> dict[str, str]:
        """The JSON key file an admin downloads from the Cloud console."""
        return {
            "type": "service_account",
            "project_id": project,
            "private_key_id": self.key_id,
            "private_key": self.private_pem,
            "client_email": self.email,
            "client_id": self.client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
        }


@dataclass
class Identity:
    """Service accounts, the domain's users, the delegation grants and the tokens issued."""

    domain: str
    accounts: dict[str, ServiceAccount] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)
    #: client id -> scopes granted for domain-wide delegation
    delegation: dict[str, frozenset[str]] = field(default_factory=dict)
    tokens: dict[str, Grant] = field(default_factory=dict)
    lifetime: int = 3599
    issued: list[dict[str, Any]] = field(default_factory=list)

    def token(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != JWT_BEARER:
            raise TokenError("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type')}")
        header, claims = self._verify(form.get("assertion") or "")
        account = self.accounts[claims["iss"]]
        scopes = frozenset(str(claims.get("scope") or "").split())
        if not scopes:
            raise TokenError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        subject = claims.get("sub")
        if subject is not None and subject != account.email:
            subject = str(subject).casefold()
            if subject not in self.users:
                raise TokenError("invalid_grant", "Invalid email or User ID")
            if not scopes <= self.delegation.get(account.client_id, frozenset()):
                raise TokenError(
                    "unauthorized_client",
                    "Client is unauthorized to retrieve access tokens using this method, or client not authorized "
                    "for any of the scopes requested.",
                    401,
                )
        else:
            subject = None
        access = "ya29.sandbox-" + secrets.token_urlsafe(24)
        self.tokens[access] = Grant(subject, scopes, time.time() + self.lifetime)
        self.issued.append({"sub": subject, "scope": sorted(scopes), "kid": header.get("kid")})
        return {"access_token": access, "expires_in": self.lifetime, "token_type": "Bearer"}

    def _verify(self, assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        parts = assertion.split(".")
        if len(parts) != 3:
            raise TokenError(
                "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable format"
            )
        try:
            header, claims = json.loads(_b64decode(parts[0])), json.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except ValueError:
            raise TokenError("invalid_grant", "Invalid JWT: unreadable") from None
        account = self.accounts.get(str(claims.get("iss")))
        if account is None:
            raise TokenError("invalid_grant", "Invalid JWT Signature.")
        if header.get("alg") != "RS256" or header.get("kid") not in (None, account.key_id):
            raise TokenError("invalid_grant", "Invalid JWT Signature.")
        try:
            account.public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise TokenError("invalid_grant", "Invalid JWT Signature.") from None
        now = time.time()
        if float(claims.get("exp", 0)) < now - 30 or float(claims.get("iat", now)) > now + 300:
            raise TokenError("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes)")
        return header, claims

    def check(self, authorization: str | None, wanted: frozenset[str]) -> tuple[Grant | None, str | None, int]:
        """``(grant, problem, status)`` for a bearer token and the scopes an API method accepts."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None, "Request is missing required authentication credential.", 401
        grant = self.tokens.get(authorization.split(" ", 1)[1].strip())
        if grant is None or grant.expires < time.time():
            return None, "Request had invalid authentication credentials.", 401
        if not grant.scopes & wanted:
            return grant, "Request had insufficient authentication scopes.", 403
        return grant, None, 200

    def expire_all(self) -> None:
        for grant in self.tokens.values():
            grant.expires = 0.0
