"""Why a server could not be reached, in words a person can act on.

aiohttp, httpx and azure-core each wrap the operating system's error in exceptions of their own whose text is vague
("All connection attempts failed", "ClientConnectorError") or full of object reprs ("ssl:<ssl.SSLContext object at
0x7f...>"). :func:`reason` follows the chain of causes down to the operating system's or OpenSSL's verdict and names
it: connection refused, name not resolved, TLS failure, timed out. Every connector words a dead URL with
:func:`unreachable`, so the message names the URL and the reason the same way for every backend.

:func:`proxy_for` applies ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` the way urllib, requests and aiohttp do, for
the stacks that do not read them on their own: aiohttp only with ``trust_env``, which would also send a ``~/.netrc``
password to the token endpoint and cost a thread hop per request; httpx not at all once a transport is passed in.
"""

from __future__ import annotations

import re
import socket
import ssl
import urllib.request
from collections.abc import Iterator
from typing import Final
from urllib.parse import urlsplit

#: ``<ssl.SSLContext object at 0x7f...>`` and the like: nothing a person can use.
_OBJECT_REPR: Final = re.compile(r"<[^<>]*\bobject at 0x[0-9a-fA-F]+>")
_ERRNO: Final = re.compile(r"^\[Errno -?\d+\]\s*")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it was raised from or wraps, outermost first, each once."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for attribute in ("os_error", "certificate_error", "inner_exception"):  # aiohttp, azure-core
            wrapped = getattr(current, attribute, None)
            if isinstance(wrapped, BaseException):
                pending.append(wrapped)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        pending.extend(getattr(current, "exceptions", None) or ())  # exception groups (happy eyeballs)


def _strerror(exc: OSError) -> str:
    text = exc.strerror or str(exc)
    return _ERRNO.sub("", text).strip().rstrip(".")


def reason(exc: BaseException) -> str:
    """The most specific cause of a failed connection or exchange, e.g. ``connection refused``."""
    causes = list(_causes(exc))
    for cause in causes:  # aiohttp's certificate error is one too, without OpenSSL's verdict: the one it wraps has it
        verdict = getattr(cause, "verify_message", None)
        if isinstance(cause, ssl.SSLCertVerificationError) and verdict:
            return (
                f"TLS failure: the server's certificate is not trusted ({verdict}; if a proxy or a private CA signs "
                "it, add that CA to the Connection's caBundle)"
            )
    for cause in causes:
        if isinstance(cause, ssl.SSLError):
            return f"TLS failure ({cause.reason or _strerror(cause)})"
    for cause in causes:
        if isinstance(cause, socket.gaierror):
            return f"name not resolved ({_strerror(cause)})"
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(cause, TimeoutError) or type(cause).__name__.endswith(("Timeout", "TimeoutError")):
            return "timed out"
    for cause in reversed(causes):  # the innermost operating-system error says most
        if isinstance(cause, OSError) and (cause.errno is not None or cause.strerror):
            return _strerror(cause)
    for cause in causes:
        if type(cause).__name__ in ("ServerDisconnectedError", "RemoteProtocolError"):
            return "the server closed the connection without answering"
    return clean(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def clean(text: str) -> str:
    """``text`` without object reprs (``<ssl.SSLContext object at 0x...>``) and on one line."""
    return " ".join(_OBJECT_REPR.sub("", text).split())


def unreachable(what: str, url: str, exc: BaseException) -> str:
    """``Planon at https://... cannot be reached: connection refused``."""
    return f"{what} at {url} cannot be reached: {reason(exc)}"


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY`` for https, ``HTTP_PROXY`` for http), or None when
    there is none or ``NO_PROXY`` exempts the host."""
    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy or not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return proxy
