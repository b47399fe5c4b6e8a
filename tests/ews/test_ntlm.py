"""The sandbox's NTLM acceptor is written from MS-NLMP, not with the client's library: its arithmetic is checked
against the specification's and RFC 1320's published values."""

from __future__ import annotations

import pytest

from roomsync.sandbox.ews.md4 import md4
from roomsync.sandbox.ews.ntlm import nt_proof


@pytest.mark.parametrize(
    ("data", "digest"),
    [
        (b"", "31d6cfe0d16ae931b73c59d7e0c089c0"),
        (b"abc", "a448017aaf21d8525fc10ae87aa6729d"),
        (b"message digest", "d9130a8164549fe818874806e1c7014b"),
        (b"1234567890" * 8, "e33b4ddc9c38f2199c3e7b164fcc0536"),
        ("Password".encode("utf-16-le"), "a4f49c406510bdcab6824ee7c30fd852"),  # MS-NLMP 4.2.2.1.2, NTOWFv1
    ],
)
def test_md4_matches_rfc_1320(data: bytes, digest: str) -> None:
    assert md4(data).hex() == digest


def test_the_ntlmv2_proof_matches_ms_nlmp_4_2_4() -> None:
    av_pairs = bytes.fromhex("02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000")
    blob = (
        bytes.fromhex("0101000000000000")
        + bytes(8)
        + bytes.fromhex("aaaaaaaaaaaaaaaa")
        + bytes(4)
        + av_pairs
        + bytes(4)
    )
    proof = nt_proof("Password", "User", "Domain", bytes.fromhex("0123456789abcdef"), blob)
    assert proof.hex() == "68cd0ab851e51c96aabc927bebef6a1c"
