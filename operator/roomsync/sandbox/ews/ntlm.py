"""A real NTLMv2 acceptor, so exchangelib's NTLM auth (requests_ntlm over pyspnego) completes its handshake here.

The three legs IIS runs for Windows authentication: the request without credentials gets ``401`` with
``WWW-Authenticate: NTLM``; the client's NEGOTIATE gets a CHALLENGE (a fresh server challenge and target info); the
client's AUTHENTICATE is checked by recomputing the NTLMv2 response from the account's password. Like IIS, the TCP
connection stays authenticated afterwards, so later requests on it carry no Authorization header.

The NTLM message structures and the NTOWFv2 / NTLMv2 response arithmetic come from pyspnego's ``_ntlm_raw`` modules
(the library requests_ntlm itself uses); pyspnego's own acceptor needs a credential file named by the process-wide
``NTLM_USER_FILE`` variable, which does not suit an in-process emulator with its own accounts. Channel binding
(Extended Protection) is not enforced; NTLMv1 and LM responses are refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from spnego._ntlm_raw.crypto import compute_response_v2, ntowfv1, ntowfv2
from spnego._ntlm_raw.messages import (
    Authenticate,
    AvId,
    Challenge,
    FileTime,
    Negotiate,
    NegotiateFlags,
    NTClientChallengeV2,
    TargetInfo,
)

NETBIOS_DOMAIN = "CORP"
COMPUTER = "EXCH01"


class NtlmError(Exception):
    """The handshake failed (malformed message, unknown user, wrong password): 401."""


@dataclass
class PendingChallenge:
    """What the acceptor remembers between CHALLENGE and AUTHENTICATE on one connection."""

    server_challenge: bytes


def message_type(token: bytes) -> int:
    if len(token) < 12 or not token.startswith(b"NTLMSSP\x00"):
        raise NtlmError("not an NTLM message")
    return int.from_bytes(token[8:12], "little")


def challenge(negotiate_token: bytes, dns_domain: str) -> tuple[bytes, PendingChallenge]:
    """The CHALLENGE for a NEGOTIATE message."""
    try:
        negotiate = Negotiate.unpack(negotiate_token)
    except Exception as exc:  # pyspnego raises several types for a malformed message
        raise NtlmError(f"malformed NEGOTIATE: {exc}") from None
    flags = (
        negotiate.flags
        | NegotiateFlags.request_target
        | NegotiateFlags.ntlm
        | NegotiateFlags.always_sign
        | NegotiateFlags.target_info
        | NegotiateFlags.target_type_domain
    )
    if not flags & NegotiateFlags.unicode:
        raise NtlmError("the client must negotiate Unicode")
    flags &= ~NegotiateFlags.oem
    flags &= ~NegotiateFlags.version
    info = TargetInfo()
    info[AvId.nb_domain_name] = NETBIOS_DOMAIN
    info[AvId.nb_computer_name] = COMPUTER
    info[AvId.dns_domain_name] = dns_domain
    info[AvId.dns_computer_name] = f"{COMPUTER.lower()}.{dns_domain}"
    info[AvId.timestamp] = FileTime.now()
    server_challenge = os.urandom(8)
    message = Challenge(flags, server_challenge, target_name=NETBIOS_DOMAIN, target_info=info)
    return message.pack(), PendingChallenge(server_challenge)


def authenticate(
    token: bytes, pending: PendingChallenge, password_of: Callable[[str, str], str | None]
) -> tuple[str, str]:
    """Check an AUTHENTICATE message; returns (domain, user). ``password_of(domain, user)`` looks accounts up."""
    try:
        auth = Authenticate.unpack(token)
    except Exception as exc:
        raise NtlmError(f"malformed AUTHENTICATE: {exc}") from None
    user, domain = auth.user_name or "", auth.domain_name or ""
    if not user:
        raise NtlmError("anonymous NTLM logon is not allowed")
    response = auth.nt_challenge_response or b""
    if len(response) <= 24:
        raise NtlmError("NTLMv1 and LM responses are refused (LmCompatibilityLevel 5)")
    password = password_of(domain, user)
    if password is None:
        raise NtlmError(f"unknown user {domain}\\{user}")
    client = NTClientChallengeV2.unpack(response[16:])
    expected, _, _ = compute_response_v2(
        ntowfv2(user, ntowfv1(password), domain),
        pending.server_challenge,
        client.challenge_from_client,
        client.time_stamp,
        client.av_pairs,
    )
    if expected != response:
        raise NtlmError(f"wrong password for {domain}\\{user}")
    return domain, user
