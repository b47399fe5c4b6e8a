"""Where a backend delivers, and the secret a delivery must carry.

Every room calendar of every RoomSync gets its own address::

    {base}/{backend}/{connection namespace}/{connection}/{roomsync namespace}/{roomsync}/{room calendar}

(``-`` as the Connection's namespace for a ClusterConnection); Planon's trigger, which Planon calls for any of its
units, is ``{base}/planon/{namespace}/{connection}/trigger``. The address names the Connection, the RoomSync and
the room, so a notification is routed without reading anything of its body; a channel is known to be RoomSync's
(and whose) from its address alone, after a restart too; and the receiver may sit behind an Ingress that keeps or
strips the base path: only the trailing segments are read.

The secret (Graph ``clientState``, Google channel token) is an HMAC-SHA256 of the address's path under the
Connection's notification key: any replica that can read the key can check any notification, nothing is stored
per subscription, and a secret captured for one room is worth nothing for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote, unquote

#: The namespace segment of a ClusterConnection's addresses (no namespace can be called that).
CLUSTER = "-"
TRIGGER = "trigger"
CONNECTION, CLUSTER_CONNECTION = "Connection", "ClusterConnection"


@dataclass(frozen=True)
class ConnectionKey:
    """A Connection (``namespace`` set) or a ClusterConnection (``namespace`` empty)."""

    kind: str
    namespace: str
    name: str

    @property
    def cluster(self) -> bool:
        return self.kind == CLUSTER_CONNECTION

    def __str__(self) -> str:
        return f"ClusterConnection {self.name}" if self.cluster else f"Connection {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Address:
    backend: str
    connection: ConnectionKey
    leaf: str  # the room calendar's address (case-folded), or TRIGGER
    roomsync: tuple[str, str] | None = None  # (namespace, name); None for Planon's trigger

    @property
    def path(self) -> str:
        namespace = CLUSTER if self.connection.cluster else self.connection.namespace
        middle = self.roomsync or ()
        segments = (self.backend, namespace, self.connection.name, *middle, self.leaf)
        return "/".join(quote(s, safe="@") for s in segments)

    def url(self, base: str) -> str:
        return f"{base.rstrip('/')}/{self.path}"

    @classmethod
    def of_room(cls, backend: str, connection: ConnectionKey, roomsync: tuple[str, str], room: str) -> Address:
        return cls(backend, connection, room.strip().casefold(), roomsync)

    @classmethod
    def trigger(cls, connection: ConnectionKey) -> Address:
        return cls("planon", connection, TRIGGER)

    @classmethod
    def parse(cls, path: str) -> Address | None:
        """The address a request path ends in (``None`` when it names none)."""
        segments = [unquote(s) for s in path.split("/") if s]
        if len(segments) >= 4 and segments[-1] == TRIGGER and segments[-4] == "planon":
            backend, namespace, name, leaf = segments[-4:]
            roomsync = None
        elif len(segments) >= 6:
            backend, namespace, name, rs_namespace, rs_name, leaf = segments[-6:]
            roomsync = (rs_namespace, rs_name)
        else:
            return None
        if not all((backend, namespace, name, leaf, *(roomsync or ()))):
            return None
        if namespace == CLUSTER:
            connection = ConnectionKey(CLUSTER_CONNECTION, "", name)
        else:
            connection = ConnectionKey(CONNECTION, namespace, name)
        return cls(backend, connection, leaf.strip().casefold(), roomsync)


def prefix(base: str, backend: str, connection: ConnectionKey, roomsync: tuple[str, str] | None = None) -> str:
    """The start of the addresses of one Connection (and RoomSync): its channels are recognised by it."""
    address = Address(backend, connection, "x", roomsync)
    path = address.path.rsplit("/", 1)[0]
    return f"{base.rstrip('/')}/{path}/"


def sign(key: bytes, address: Address) -> str:
    """The secret deliveries to ``address`` carry: ``rs1.`` and 43 characters (Graph allows 128, Google 256)."""
    mac = hmac.new(key, f"roomsync-notify\n{address.path}".encode(), hashlib.sha256).digest()
    return "rs1." + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def genuine(key: bytes, address: Address, presented: str) -> bool:
    return hmac.compare_digest(sign(key, address).encode(), presented.encode())


def key_id(key: bytes) -> str:
    """A short name for a key (which key a channel was made with), revealing nothing of it."""
    return hashlib.sha256(b"roomsync-key-id\n" + key).hexdigest()[:12]
