"""A real Radicale (https://radicale.org, from PyPI) in its own process on loopback, in a temporary folder.

Not an emulator: for CalDAV the sandbox is the real server. Radicale is GPL-3.0, so it is no runtime dependency of
RoomSync: it comes with the ``caldav-sandbox`` extra (``pip install roomsync[caldav-sandbox]``) and the dev
dependencies, and runs as a separate program (``python -m radicale``), never imported into RoomSync's process.

The configuration is what a small real deployment would use: htpasswd users (plain text, loopback only), a rights
file that gives the service account and the people read and write access to the room calendars under the service
account's collection, ``strict_preconditions`` so that a PUT over an existing item without ``If-Match`` is refused
(a blind overwrite is a bug, and this makes it visible), and a free port on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import NamedTuple
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree

SERVICE_ACCOUNT = "room-sync"
STARTUP_SECONDS = 20.0
RIGHTS = """\
[root]
user: .+
collection:
permissions: R

[own-principal]
user: .+
collection: {user}
permissions: RW

[room-calendars]
user: .+
collection: %(service)s/[^/]+
permissions: rw
"""


class Reply(NamedTuple):
    status: int
    body: str
    etag: str | None


class RadicaleMissing(RuntimeError):
    """Radicale is not installed (it is an optional extra)."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _timezone_calendar(tzid: str) -> str:
    """A minimal VCALENDAR naming the zone, for a calendar's ``calendar-timezone`` (RFC 4791 5.2.2)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//RoomSync sandbox//EN", "BEGIN:VTIMEZONE", f"TZID:{tzid}"]
    return "\r\n".join([*lines, "END:VTIMEZONE", "END:VCALENDAR", ""])


class RadicaleServer:
    """``with RadicaleServer({"room-sync": "secret", "ben": "ben"}) as server: server.make_calendar(...)``."""

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        service_account: str = SERVICE_ACCOUNT,
        strict_preconditions: bool = True,
        failed_login_delay: float = 1.0,
        folder: str | None = None,
        tls: tuple[str, str, str] | None = None,
    ) -> None:
        if importlib.util.find_spec("radicale") is None:
            raise RadicaleMissing("Radicale is not installed: pip install 'roomsync[caldav-sandbox]'")
        if service_account not in users:
            raise ValueError(f"users must include the service account {service_account!r}")
        self.users = dict(users)
        self.host = host
        self.port = port or _free_port(host)
        self.service_account = service_account
        self.strict_preconditions = strict_preconditions
        self.failed_login_delay = failed_login_delay  # Radicale's brake on guessing passwords (0 in tests)
        self.parent_folder = folder  # where the temporary folder goes (tests: a tmpfs, where fsync costs nothing)
        self.tls = tls  # (certificate chain file, key file, CA file): serve https
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def attach(cls, url: str, users: Mapping[str, str]) -> RadicaleServer:
        """A handle on a Radicale started elsewhere (another process's sandbox), for its requests only."""
        parts = urlsplit(url)
        assert parts.hostname and parts.port, url
        return cls(users, host=parts.hostname, port=parts.port, service_account=next(iter(users)))

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}/"

    @property
    def folder(self) -> Path:
        assert self._dir is not None, "not started"
        return Path(self._dir.name)

    def calendar_url(self, name: str) -> str:
        """The URL of a calendar in the service account's collection (``name`` is quoted, so an address works)."""
        return f"{self.url}{self.service_account}/{quote(name, safe='')}/"

    # -- life cycle -------------------------------------------------------------------------------------------------
    def start(self) -> RadicaleServer:
        self._dir = tempfile.TemporaryDirectory(prefix="roomsync-radicale-", dir=self.parent_folder)
        folder = self.folder
        (folder / "users").write_text("".join(f"{user}:{password}\n" for user, password in self.users.items()))
        (folder / "rights").write_text(RIGHTS % {"service": self.service_account})
        tls = f"ssl = True\ncertificate = {self.tls[0]}\nkey = {self.tls[1]}\n" if self.tls else ""
        (folder / "config").write_text(
            f"[server]\nhosts = {self.host}:{self.port}\n{tls}"
            "[auth]\ntype = htpasswd\n"
            f"htpasswd_filename = {folder / 'users'}\nhtpasswd_encryption = plain\n"
            f"delay = {self.failed_login_delay}\n"
            "[rights]\ntype = from_file\n"
            f"file = {folder / 'rights'}\n"
            "[storage]\n"
            f"filesystem_folder = {folder / 'collections'}\n"
            f"strict_preconditions = {self.strict_preconditions}\n"
            "[logging]\nlevel = warning\n"
        )
        self._process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(folder / "config")],
            stdout=subprocess.DEVNULL,
            stderr=(folder / "radicale.log").open("wb"),
        )
        self._wait_until_ready()
        self.request("PROPFIND", f"{self.url}{self.service_account}/", headers={"Depth": "0"})  # makes the principal
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"Radicale exited with {self._process.returncode}: {self.log()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"Radicale did not listen on {self.url} within {STARTUP_SECONDS:.0f} s: {self.log()}")

    def log(self) -> str:
        path = self.folder / "radicale.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._dir is not None:
            shutil.rmtree(self._dir.name, ignore_errors=True)
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> RadicaleServer:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    # -- administration (what an administrator does once, with the service account) ---------------------------------
    def request(
        self, method: str, url: str, body: str = "", *, user: str | None = None, headers: Mapping[str, str] = {}
    ) -> Reply:
        """One HTTP request as ``user`` (the service account by default)."""
        login = user or self.service_account
        token = b64encode(f"{login}:{self.users[login]}".encode()).decode()
        sent = urllib.request.Request(url, data=body.encode() if body else None, method=method)
        sent.add_header("Authorization", f"Basic {token}")
        for name, value in headers.items():
            sent.add_header(name, value)
        context = ssl.create_default_context(cafile=self.tls[2]) if self.tls else None
        try:
            with urllib.request.urlopen(sent, timeout=10, context=context) as answer:
                return Reply(answer.status, answer.read().decode("utf-8", "replace"), answer.headers.get("ETag"))
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.read().decode("utf-8", "replace"), error.headers.get("ETag"))

    def make_calendar(self, name: str, *, display_name: str = "", time_zone: str | None = None) -> str:
        """MKCALENDAR ``/<service account>/<name>/`` for events; returns its URL."""
        ElementTree.register_namespace("D", "DAV:")
        ElementTree.register_namespace("C", "urn:ietf:params:xml:ns:caldav")
        root = ElementTree.Element("{urn:ietf:params:xml:ns:caldav}mkcalendar")
        prop = ElementTree.SubElement(ElementTree.SubElement(root, "{DAV:}set"), "{DAV:}prop")
        ElementTree.SubElement(prop, "{DAV:}displayname").text = display_name or name
        components = ElementTree.SubElement(prop, "{urn:ietf:params:xml:ns:caldav}supported-calendar-component-set")
        ElementTree.SubElement(components, "{urn:ietf:params:xml:ns:caldav}comp", {"name": "VEVENT"})
        if time_zone:
            ElementTree.SubElement(prop, "{urn:ietf:params:xml:ns:caldav}calendar-timezone").text = _timezone_calendar(
                time_zone
            )
        url = self.calendar_url(name)
        reply = self.request("MKCALENDAR", url, ElementTree.tostring(root, encoding="unicode"))
        if reply.status != 201:
            raise RuntimeError(f"MKCALENDAR {url}: {reply.status} {reply.body[:200]}")
        return url
