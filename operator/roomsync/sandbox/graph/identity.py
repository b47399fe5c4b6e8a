"""The emulated Microsoft Entra token endpoint: client secret, certificate (signed JWT assertion) and workload
identity (federated token) grants, with tokens that can be expired or credentials revoked on demand.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class TokenError(Exception):
    """An OAuth error answer (400/401 with ``error`` and an AADSTS ``error_description``)."""

    def __init__(self, error: str, description: str, status: int = 401) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass
class App:
    """An app registration with its credentials."""

    client_id: str
    secrets: set[str] = field(default_factory=set)
    certificates: list[str] = field(default_factory=list)  # PEM
    federated_tokens: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass
class IssuedToken:
    client_id: str
    expires_at: float


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Identity:
    """Apps, issued tokens and the checks the Graph endpoints make on a bearer token."""

    def __init__(self, tenant_id: str, token_lifetime: int = 3599) -> None:
        self.tenant_id = tenant_id
        self.token_lifetime = token_lifetime
        self.apps: dict[str, App] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.issued = 0
        self.requests = 0  # token requests received, refused ones included

    def register(self, client_id: str, **credentials: Any) -> App:
        app = self.apps.setdefault(client_id, App(client_id))
        if credentials.get("secret"):
            app.secrets.add(credentials["secret"])
        if credentials.get("certificate_pem"):
            app.certificates.append(credentials["certificate_pem"])
        if credentials.get("federated_token"):
            app.federated_tokens.add(credentials["federated_token"])
        app.revoked = False
        return app

    def revoke(self, client_id: str | None = None) -> None:
        """Credentials revoked (secret deleted, app disabled): token requests fail, issued tokens stop working."""
        for app in self.apps.values():
            if client_id is None or app.client_id == client_id:
                app.revoked = True
        self.expire_tokens(client_id)

    def expire_tokens(self, client_id: str | None = None) -> None:
        for token in self.tokens.values():
            if client_id is None or token.client_id == client_id:
                token.expires_at = 0

    def token(self, tenant: str, form: dict[str, str]) -> dict[str, Any]:
        self.requests += 1
        if tenant not in (self.tenant_id, "organizations", "common"):
            raise TokenError("invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not found.", 400)
        if form.get("grant_type") != "client_credentials":
            raise TokenError("unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type.", 400)
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            raise TokenError(
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{form.get('client_id')}' was not found in the directory.",
                400,
            )
        if app.revoked:
            raise TokenError("invalid_client", "AADSTS7000222: The provided client secret keys for app are expired.")
        if "client_secret" in form:
            if form["client_secret"] not in app.secrets:
                raise TokenError("invalid_client", "AADSTS7000215: Invalid client secret provided.")
        elif form.get("client_assertion_type") == JWT_BEARER and form.get("client_assertion"):
            self._check_assertion(app, form["client_assertion"])
        else:
            raise TokenError(
                "invalid_client", "AADSTS7000218: The request body must contain client_assertion or client_secret."
            )
        if not form.get("scope", "").endswith("/.default"):
            raise TokenError("invalid_scope", "AADSTS1002012: The provided value for scope is not valid.", 400)
        access = "sbx." + secrets.token_urlsafe(24)
        self.tokens[access] = IssuedToken(app.client_id, time.time() + self.token_lifetime)
        self.issued += 1
        return {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": access,
        }

    def _check_assertion(self, app: App, assertion: str) -> None:
        if assertion in app.federated_tokens:  # workload identity: the federated token is trusted as is
            return
        try:
            header_b64, payload_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64decode(header_b64))
            payload = json.loads(_b64decode(payload_b64))
            signature = _b64decode(signature_b64)
        except (ValueError, json.JSONDecodeError):
            raise TokenError("invalid_client", "AADSTS50027: JWT token is invalid or malformed.") from None
        if payload.get("iss") != app.client_id or payload.get("exp", 0) < time.time():
            raise TokenError("invalid_client", "AADSTS700024: Client assertion is not within its valid time range.")
        signed = f"{header_b64}.{payload_b64}".encode()
        for pem in app.certificates:
            cert = x509.load_pem_x509_certificate(pem.encode())
            key = cert.public_key()
            if not isinstance(key, rsa.RSAPublicKey):
                continue
            sha256 = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA256())).decode()
            sha1 = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).decode()
            try:
                if header.get("alg") == "PS256" and header.get("x5t#S256") == sha256:
                    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
                    key.verify(signature, signed, pss, hashes.SHA256())
                    return
                if header.get("alg") == "RS256" and header.get("x5t") == sha1:
                    key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
                    return
            except InvalidSignature:
                break
        raise TokenError("invalid_client", "AADSTS700027: Client assertion contains an invalid signature.")

    def client_of(self, header: str | None) -> str:
        """The app a bearer token was issued to ("" when unknown): Exchange's limits are per app."""
        token = header[7:].strip() if header and header.lower().startswith("bearer ") else ""
        issued = self.tokens.get(token)
        return issued.client_id if issued is not None else ""

    def check_bearer(self, header: str | None) -> str | None:
        """None when the bearer token is good, else the reason (the caller answers 401)."""
        if not header or not header.lower().startswith("bearer "):
            return "Access token is empty."
        issued = self.tokens.get(header[7:].strip())
        if issued is None:
            return "Access token validation failure. Invalid audience."
        if issued.expires_at < time.time():
            return "Lifetime validation failed, the token is expired."
        app = self.apps.get(issued.client_id)
        if app is None or app.revoked:
            return "The access token has been revoked."
        return None
