"""The shared HTTP plumbing: why a server could not be reached (from the real exceptions aiohttp and httpx raise on
loopback), and how long a retry waits (the server's Retry-After first)."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import aiohttp
import httpx
import pytest
from tenacity import AsyncRetrying, RetryCallState
from tenacity.wait import wait_fixed

from roomsync.connectors.network import clean, proxy_for, reason, unreachable
from roomsync.connectors.retry import parse_retry_after, stop_when_retry_after_exceeds, wait_retry_after
from roomsync.sandbox.graph import GraphSandbox


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def failure_of_httpx(url: str) -> BaseException:
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.TransportError) as failed:
            await client.get(url)
    return failed.value


async def failure_of_aiohttp(url: str) -> BaseException:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError) as failed:
            await session.get(url)
    return failed.value


async def test_connection_refused_is_named_for_both_stacks() -> None:
    url = f"https://127.0.0.1:{closed_port()}/v1.0"
    for failure in (await failure_of_httpx(url), await failure_of_aiohttp(url)):
        assert reason(failure) == "connection refused"
    assert unreachable("Planon", url, failure) == f"Planon at {url} cannot be reached: connection refused"


async def test_an_untrusted_certificate_is_a_tls_failure_without_object_reprs() -> None:
    async with GraphSandbox() as tls_server:  # a loopback HTTPS server whose CA nobody trusts
        for failure in (
            await failure_of_httpx(tls_server.base_url),
            await failure_of_aiohttp(tls_server.base_url),
        ):
            said = reason(failure)
            assert said.startswith("TLS failure: the server's certificate is not trusted (unable to get local issuer")
            assert "caBundle" in said and "object at 0x" not in said
        assert "SSLContext" in str(failure) or "ssl:" in str(failure)  # what the raw text would have shown


def test_a_name_that_does_not_resolve_is_said_so() -> None:
    """Built as httpx builds it (resolving a real name would leave loopback)."""
    try:
        try:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except socket.gaierror as cause:
            raise httpx.ConnectError("[Errno -2] Name or service not known") from cause
    except httpx.ConnectError as failure:
        assert reason(failure) == "name not resolved (Name or service not known)"


def test_clean_drops_object_reprs() -> None:
    text = "Cannot connect to host 127.0.0.1:1 ssl:<ssl.SSLContext object at 0x7fd461e9a180> [refused]"
    assert clean(text) == "Cannot connect to host 127.0.0.1:1 ssl: [refused]"


def test_proxy_for_follows_https_proxy_and_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert proxy_for("https://graph.microsoft.com/v1.0") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert proxy_for("https://graph.microsoft.com/v1.0") == "http://proxy.corp:3128"
    assert proxy_for("http://planon.corp/sdk") is None  # http needs HTTP_PROXY
    monkeypatch.setenv("NO_PROXY", ".corp,localhost")
    assert proxy_for("https://planon.corp/sdk") is None and proxy_for("https://login.microsoftonline.com") is not None


def _state(outcome: object = None, error: BaseException | None = None, attempt: int = 1) -> RetryCallState:
    state = RetryCallState(AsyncRetrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    if error is not None:
        state.set_exception((type(error), error, None))
    else:
        state.set_result(outcome)
    return state


def test_the_wait_honours_retry_after_from_a_response_or_an_exception_else_falls_back() -> None:
    wait = wait_retry_after(wait_fixed(7))
    throttled = SimpleNamespace(headers=httpx.Headers({"Retry-After": "2.128"}))
    assert 2.128 <= wait(_state(throttled)) <= 2.128 + 0.2128  # fractional, plus at most 10 % jitter
    busy = RuntimeError("busy")
    busy.retry_after = 3.0  # type: ignore[attr-defined]
    assert 3.0 <= wait(_state(error=busy)) <= 3.25
    assert wait(_state(SimpleNamespace(headers=httpx.Headers()))) == 7  # no Retry-After: the fallback
    assert wait(_state(error=ValueError("x"))) == 7


def test_a_retry_after_beyond_the_limit_stops_the_retries() -> None:
    stop = stop_when_retry_after_exceeds(60)
    assert stop(_state(SimpleNamespace(headers=httpx.Headers({"Retry-After": "120"}))))
    assert not stop(_state(SimpleNamespace(headers=httpx.Headers({"Retry-After": "59"}))))
    assert not stop(_state(error=ValueError("x")))


def test_parse_retry_after() -> None:
    assert parse_retry_after("2.128") == pytest.approx(2.128)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
