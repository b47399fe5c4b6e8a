"""``spec.ews``: what the CRD refuses (``roomsync validate`` names the field), what only the Secrets can tell, and the
declared capabilities."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from roomsync.cli.main import main
from roomsync.config.crds import validate_object
from roomsync.connectors.base import CreateIdempotency, SecretNotFound, Throttling
from roomsync.connectors.ews.settings import SettingsError, read_settings
from roomsync.connectors.registry import capabilities

EXAMPLE = Path(__file__).parents[2] / "manifests" / "examples" / "connection-exchange-on-premises.yaml"


def _connection() -> dict[str, Any]:
    return copy.deepcopy(next(yaml.safe_load_all(EXAMPLE.read_text())))


def _set(path: str, value: Any) -> dict[str, Any]:
    doc = _connection()
    *parents, last = path.split(".")
    node = doc
    for key in parents:
        node = node.setdefault(key, {})
    if value is None:
        del node[last]
    else:
        node[last] = value
    return doc


INVALID = {
    "no url": (_set("spec.ews.url", None), "spec.ews", "url is required unless autodiscover"),
    "http url": (_set("spec.ews.url", "http://mail.contoso.com/EWS/Exchange.asmx"), "spec.ews.url", "should match"),
    "two auths": (
        _set("spec.ews.auth.basic", {"username": "a@b.example", "secretRef": {"name": "s", "key": "k"}}),
        "spec.ews.auth",
        "exactly one of ntlm, basic or oauth2",
    ),
    "no auth": (_set("spec.ews.auth", {}), "spec.ews.auth", "exactly one of ntlm, basic or oauth2"),
    "username without domain": (
        _set("spec.ews.auth.ntlm.username", "svc"),
        "spec.ews.auth.ntlm.username",
        "should match",
    ),
    "password not from a Secret": (
        _set("spec.ews.auth.ntlm.secretRef", None),
        "spec.ews.auth.ntlm.secretRef",
        "Required",
    ),
    "oauth2 as a delegate": (
        _set(
            "spec.ews",
            {
                "url": "https://mail.contoso.com/EWS/Exchange.asmx",
                "accessType": "Delegate",
                "auth": {
                    "oauth2": {
                        "tenantId": "t",
                        "clientId": "c",
                        "clientSecret": {"secretRef": {"name": "s", "key": "k"}},
                    }
                },
            },
        ),
        "spec.ews",
        "accessType must be Impersonation",
    ),
    "oauth2 without a credential": (
        _set("spec.ews.auth", {"oauth2": {"tenantId": "t", "clientId": "c"}}),
        "spec.ews.auth.oauth2",
        "exactly one of clientSecret or certificate",
    ),
    "two CA sources": (
        _set("spec.ews.caBundle", "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"),
        "spec.ews",
        "caBundle or caSecretRef",
    ),
    "CA not PEM": (_set("spec.ews.caSecretRef", None) | {}, "", ""),
    "unknown version": (_set("spec.ews.version", "2016"), "spec.ews.version", "should match"),
    "a build before Exchange 2013": (_set("spec.ews.version", "14.3.123.4"), "spec.ews.version", "should match"),
    "unknown access type": (_set("spec.ews.accessType", "FullAccess"), "spec.ews.accessType", "Unsupported value"),
    "too much concurrency": (_set("spec.ews.maxConcurrentRequests", 28), "spec.ews.maxConcurrentRequests", "27"),
    "page too big": (_set("spec.ews.maxChangesPerRequest", 1000), "spec.ews.maxChangesPerRequest", "512"),
    "unknown field": (_set("spec.ews.skipTlsVerify", True), "spec.ews.skipTlsVerify", "unknown field"),
}
del INVALID["CA not PEM"]
INVALID["CA not PEM"] = (_set("spec.ews.caBundle", "not a certificate"), "spec.ews.caBundle", "should match")
INVALID["CA not PEM"][0]["spec"]["ews"].pop("caSecretRef")


def test_the_example_is_valid() -> None:
    assert validate_object(_connection()) == []


@pytest.mark.parametrize(("doc", "path", "fragment"), list(INVALID.values()), ids=list(INVALID))
def test_a_malformed_spec_ews_is_refused_with_the_field_named(doc: dict[str, Any], path: str, fragment: str) -> None:
    errors = [str(e) for e in validate_object(doc)]
    assert any(e.startswith(f"{path}:") and fragment in e for e in errors), errors


def test_roomsync_validate_names_a_missing_secret_and_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    connection = _connection()
    roomsync = {
        "apiVersion": "roomsync.io/v1alpha1",
        "kind": "RoomSync",
        "metadata": {"name": "on-premises"},
        "spec": {
            "planon": {"connectionRef": "planon"},
            "calendar": {"connectionRef": "exchange-on-premises"},
            "rooms": [{"planon": "MR-1", "calendar": "mr-1@contoso.com"}],
        },
    }
    planon = {
        "apiVersion": "roomsync.io/v1alpha1",
        "kind": "Connection",
        "metadata": {"name": "planon"},
        "spec": {
            "planon": {
                "url": "https://planon.example/sdk/system/rest/v1",
                "auth": {"accessKey": {"secretRef": {"name": "p", "key": "k"}}},
            }
        },
    }

    def secret(name: str, key: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {key: "x"}}

    path = tmp_path / "manifests.yaml"
    documents = [connection, planon, roomsync, secret("p", "k")]
    path.write_text(yaml.safe_dump_all(documents))
    assert main(["validate", "-f", str(path)]) == 1
    assert "spec.ews.auth.ntlm.secretRef" in capsys.readouterr().err
    path.write_text(yaml.safe_dump_all([*documents, secret("ews-credentials", "password")]))
    assert main(["validate", "-f", str(path)]) == 1
    assert "spec.ews.caSecretRef" in capsys.readouterr().err
    path.write_text(
        yaml.safe_dump_all([*documents, secret("ews-credentials", "password"), secret("contoso-internal-ca", "ca.crt")])
    )
    assert main(["validate", "-f", str(path)]) == 0


def test_secrets_are_resolved_and_their_problems_named() -> None:
    spec = _connection()["spec"]["ews"]
    values = {("ews-credentials", "password"): "pw", ("contoso-internal-ca", "ca.crt"): "-----BEGIN CERTIFICATE-----"}
    settings = read_settings(spec, lambda name, key: values[(name, key)])
    assert (settings.username, settings.password, settings.ca_bundle) == (
        "CONTOSO\\svc-roomsync",
        "pw",
        values[("contoso-internal-ca", "ca.crt")],
    )
    assert (settings.auth_kind, settings.access_type, settings.version, settings.time_zone) == (
        "ntlm",
        "Impersonation",
        "Exchange2019",
        "Europe/Amsterdam",
    )
    with pytest.raises(
        SettingsError, match=r"ews\.auth\.ntlm\.secretRef: Secret ews-credentials key password is empty"
    ):
        read_settings(spec, lambda name, key: "")

    def missing(name: str, key: str) -> str:
        raise SecretNotFound(f"Secret facilities/{name} not found")

    with pytest.raises(SecretNotFound, match="ews-credentials"):
        read_settings(spec, missing)


def test_capabilities_are_declared() -> None:
    declared = capabilities("ews")
    assert declared.answers_requests and declared.room_agent and declared.incremental_reads and declared.native_series
    assert declared.create_idempotency is CreateIdempotency.LOOKUP_BY_LINK
    assert declared.throttling is Throttling.PER_ROOM and declared.room_discovery and declared.strict_preconditions


def test_importing_the_connector_touches_no_network_and_changes_nothing_in_exchangelib() -> None:
    """Opening a client installs RoomSync's adapter and extended properties; importing does neither, and never
    connects anywhere (the interpreter refuses to)."""
    code = (
        "import socket\n"
        "def refuse(*args, **kwargs): raise AssertionError('network at import')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "import requests.adapters, exchangelib.protocol\n"
        "import roomsync.connectors.ews, roomsync.connectors.ews.store, roomsync.connectors.ews.rooms\n"
        "from exchangelib import CalendarItem\n"
        "assert exchangelib.protocol.BaseProtocol.HTTP_ADAPTER_CLS is requests.adapters.HTTPAdapter\n"
        "assert not [f.name for f in CalendarItem.FIELDS if f.name.startswith('roomsync_')]\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
