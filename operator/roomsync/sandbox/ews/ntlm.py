"""A real NTLMv2 acceptor, so exchangelib's NTLM auth (requests_ntlm over pyspnego) completes its handshake here.

The three legs IIS runs for Windows authentication (MS-NLMP): the request without credentials gets ``401`` with
``WWW-Authenticate: NTLM``; the client's NEGOTIATE_MESSAGE gets a CHALLENGE_MESSAGE (a fresh server challenge and
the target information); the client's AUTHENTICATE_MESSAGE is checked by recomputing its NTProofStr from the
account's password. Like IIS, the TCP connection stays authenticated afterwards, so later requests on it carry no
Authorization header.

Written from the specification rather than with the client's library, so the emulator checks pyspnego instead of
agreeing with it. NTLMv1 and LM responses are refused (LmCompatibilityLevel 5); the MIC and channel bindings
(Extended Protection) are not verified.
"""

from __future__ import annotations

import hmac
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from roomsync.sandbox.ews.md4 import md4

SIGNATURE = b"NTLMSSP\x00"
NETBIOS_DOMAIN = "CORP"
COMPUTER = "EXCH01"
UNICODE = 0x00000001
REQUEST_TARGET = 0x00000004
NTLM = 0x00000200
ALWAYS_SIGN = 0x00008000
TARGET_TYPE_DOMAIN = 0x00010000
TARGET_INFO = 0x00800000
#: flags the acceptor echoes when the client asks for them (signing, sealing, key strength, extended security)
ECHOED = 0x00000010 | 0x00000020 | 0x00080000 | 0x20000000 | 0x40000000 | 0x80000000
#: AV_PAIR ids (MS-NLMP 2.2.2.1)
AV_EOL, AV_NB_COMPUTER, AV_NB_DOMAIN, AV_DNS_COMPUTER, AV_DNS_DOMAIN, AV_TIMESTAMP = 0, 1, 2, 3, 4, 7
#: 100 ns intervals between 1601-01-01 and 1970-01-01
FILETIME_EPOCH = 116444736000000000


class NtlmError(Exception):
    """The handshake failed (malformed message, unknown user, wrong password): 401."""


@dataclass
class PendingChallenge:
    """What the acceptor remembers between CHALLENGE and AUTHENTICATE on one connection."""

    server_challenge: bytes


def message_type(token: bytes) -> int:
    if len(token) < 12 or not token.startswith(SIGNATURE):
        raise NtlmError("not an NTLM message")
    kind: int = struct.unpack_from("<I", token, 8)[0]
    return kind


def _av_pair(av_id: int, value: bytes) -> bytes:
    return struct.pack("<HH", av_id, len(value)) + value


def challenge(negotiate: bytes, dns_domain: str) -> tuple[bytes, PendingChallenge]:
    """The CHALLENGE_MESSAGE for a NEGOTIATE_MESSAGE."""
    if len(negotiate) < 16 or message_type(negotiate) != 1:
        raise NtlmError("expected a NEGOTIATE_MESSAGE")
    requested: int = struct.unpack_from("<I", negotiate, 12)[0]
    if not requested & UNICODE:
        raise NtlmError("the client must negotiate Unicode")
    flags = (requested & ECHOED) | UNICODE | REQUEST_TARGET | NTLM | ALWAYS_SIGN | TARGET_TYPE_DOMAIN | TARGET_INFO
    target_name = NETBIOS_DOMAIN.encode("utf-16-le")
    now = FILETIME_EPOCH + int(time.time() * 10_000_000)
    target_info = b"".join(
        [
            _av_pair(AV_NB_DOMAIN, NETBIOS_DOMAIN.encode("utf-16-le")),
            _av_pair(AV_NB_COMPUTER, COMPUTER.encode("utf-16-le")),
            _av_pair(AV_DNS_DOMAIN, dns_domain.encode("utf-16-le")),
            _av_pair(AV_DNS_COMPUTER, f"{COMPUTER.lower()}.{dns_domain}".encode("utf-16-le")),
            _av_pair(AV_TIMESTAMP, struct.pack("<Q", now)),
            _av_pair(AV_EOL, b""),
        ]
    )
    server_challenge = os.urandom(8)
    header = 48  # signature, type, target name fields, flags, challenge, reserved, target info fields
    message = (
        SIGNATURE
        + struct.pack("<I", 2)
        + struct.pack("<HHI", len(target_name), len(target_name), header)
        + struct.pack("<I", flags)
        + server_challenge
        + b"\x00" * 8
        + struct.pack("<HHI", len(target_info), len(target_info), header + len(target_name))
        + target_name
        + target_info
    )
    return message, PendingChallenge(server_challenge)


def _field(message: bytes, offset: int) -> bytes:
    length, _, start = struct.unpack_from("<HHI", message, offset)
    if start + length > len(message):
        raise NtlmError("a field of the AUTHENTICATE_MESSAGE lies outside it")
    return message[start : start + length]


def nt_proof(password: str, user: str, domain: str, server_challenge: bytes, blob: bytes) -> bytes:
    """NTProofStr = HMAC_MD5(NTOWFv2, ServerChallenge || temp) (MS-NLMP 3.3.2)."""
    ntowf_v2 = hmac.digest(md4(password.encode("utf-16-le")), (user.upper() + domain).encode("utf-16-le"), "md5")
    return hmac.digest(ntowf_v2, server_challenge + blob, "md5")


def authenticate(
    message: bytes, pending: PendingChallenge, password_of: Callable[[str, str], str | None]
) -> tuple[str, str]:
    """Check an AUTHENTICATE_MESSAGE; returns (domain, user). ``password_of(domain, user)`` looks accounts up."""
    if len(message) < 64 or message_type(message) != 3:
        raise NtlmError("expected an AUTHENTICATE_MESSAGE")
    try:
        flags: int = struct.unpack_from("<I", message, 60)[0]
        encoding = "utf-16-le" if flags & UNICODE else "cp1252"
        response = _field(message, 20)
        domain = _field(message, 28).decode(encoding)
        user = _field(message, 36).decode(encoding)
    except (struct.error, UnicodeDecodeError) as exc:
        raise NtlmError(f"malformed AUTHENTICATE_MESSAGE: {exc}") from None
    if not user:
        raise NtlmError("anonymous NTLM logon is not allowed")
    if len(response) <= 24:
        raise NtlmError("NTLMv1 and LM responses are refused (LmCompatibilityLevel 5)")
    password = password_of(domain, user)
    if password is None:
        raise NtlmError(f"unknown user {domain}\\{user}")
    expected = nt_proof(password, user, domain, pending.server_challenge, response[16:])
    if not hmac.compare_digest(expected, response[:16]):
        raise NtlmError(f"wrong password for {domain}\\{user}")
    return domain, user
