"""MD4 (RFC 1320), which the NT password hash (NTOWF) is made of.

OpenSSL 3 no longer offers MD4 to ``hashlib`` and ``cryptography`` has none, so the NTLM acceptor carries this
small implementation (checked against RFC 1320's test suite in the tests).
"""

from __future__ import annotations

import struct

_MASK = 0xFFFFFFFF


def _rotate(value: int, shift: int) -> int:
    value &= _MASK
    return ((value << shift) | (value >> (32 - shift))) & _MASK


def md4(data: bytes) -> bytes:
    """The 16-byte MD4 digest of ``data``."""
    length = len(data) * 8
    data += b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack("<Q", length & 0xFFFFFFFFFFFFFFFF)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for offset in range(0, len(data), 64):
        x = struct.unpack("<16I", data[offset : offset + 64])
        aa, bb, cc, dd = a, b, c, d
        for i in range(16):  # round 1: F(x, y, z) = (x & y) | (~x & z)
            k, s = i, (3, 7, 11, 19)[i % 4]
            a = _rotate(a + ((b & c) | (~b & d)) + x[k], s)
            a, b, c, d = d, a, b, c
        for i in range(16):  # round 2: G(x, y, z) = majority, + 0x5A827999
            k, s = (i % 4) * 4 + i // 4, (3, 5, 9, 13)[i % 4]
            a = _rotate(a + ((b & c) | (b & d) | (c & d)) + x[k] + 0x5A827999, s)
            a, b, c, d = d, a, b, c
        for i in range(16):  # round 3: H(x, y, z) = x ^ y ^ z, + 0x6ED9EBA1
            k, s = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)[i], (3, 9, 11, 15)[i % 4]
            a = _rotate(a + (b ^ c ^ d) + x[k] + 0x6ED9EBA1, s)
            a, b, c, d = d, a, b, c
        a, b, c, d = (a + aa) & _MASK, (b + bb) & _MASK, (c + cc) & _MASK, (d + dd) & _MASK
    return struct.pack("<4I", a, b, c, d)
