"""The CRDs in ``crds/`` as a Python API: load them, default and validate manifests offline.

The CRD files are the single source of truth for the RoomSync API; nothing here restates a field. ``roomsync
validate`` and the tests call :func:`validate_object`, which checks a manifest the way ``kubectl apply`` with strict
field validation would: structural schema with defaults applied (unknown fields are errors, never silently pruned),
``x-kubernetes-list-type`` uniqueness, and the CEL rules evaluated with cel-python. Secrets get the basic checks the
apiserver makes, because ``roomsync sync -f`` reads credentials from the same files.

In a wheel the CRDs are package data (``roomsync/_crds``, force-included by pyproject); in a source checkout they are
read from the repository's ``crds/``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path as FsPath
from typing import Any

import jsonschema
import yaml

from roomsync.config import cel
from roomsync.config.structural import (
    FieldError,
    Path,
    list_type_errors,
    make_validator,
    render_path,
    schema_errors,
    to_jsonschema,
    walk,
)
from roomsync.config.structural import (
    apply_defaults as _apply_schema_defaults,
)

__all__ = ["CRD", "FieldError", "apply_defaults", "crd_directory", "find_crd", "load_crds", "validate_object"]

GROUP = "roomsync.io"
SECRET_KINDS = {("v1", "Secret")}


@dataclass(frozen=True)
class CRD:
    """One CustomResourceDefinition: its names and the schema of each served version."""

    group: str
    kind: str
    plural: str
    schemas: Mapping[str, Mapping[str, Any]]
    document: Mapping[str, Any] = field(repr=False)

    @property
    def api_versions(self) -> list[str]:
        return [f"{self.group}/{v}" for v in self.schemas]

    def schema(self, version: str) -> Mapping[str, Any]:
        return self.schemas[version]


def crd_directory() -> Traversable:
    """Where the CRD files are: package data in a wheel, the repository's ``crds/`` in a checkout."""
    packaged = resources.files("roomsync").joinpath("_crds")
    if packaged.is_dir():
        return packaged
    checkout = FsPath(__file__).resolve().parents[3] / "crds"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("the RoomSync CRDs were found neither in the package (roomsync/_crds) nor in crds/")


@cache
def load_crds() -> tuple[CRD, ...]:
    """Every CRD in the CRD directory, sorted by kind."""
    found: list[CRD] = []
    for entry in sorted(crd_directory().iterdir(), key=lambda e: e.name):
        if not entry.name.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(entry.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                found.append(_crd_from(doc))
    return tuple(sorted(found, key=lambda c: c.kind))


def _crd_from(doc: Mapping[str, Any]) -> CRD:
    spec = doc["spec"]
    schemas = {
        v["name"]: v["schema"]["openAPIV3Schema"] for v in spec["versions"] if v.get("served", True) and "schema" in v
    }
    return CRD(spec["group"], spec["names"]["kind"], spec["names"]["plural"], schemas, doc)


def find_crd(kind: str) -> CRD | None:
    for crd in load_crds():
        if crd.kind == kind:
            return crd
    return None


@cache
def _validator(kind: str, version: str) -> jsonschema.Draft4Validator:
    crd = find_crd(kind)
    assert crd is not None
    return make_validator(to_jsonschema(crd.schema(version), opaque=frozenset({"metadata"})))


def apply_defaults(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``obj`` with the CRD's defaults filled in (what the apiserver stores); other kinds are copied."""
    crd, version = _resolve(obj)
    schema = crd.schema(version) if crd is not None and version is not None else {}
    result: dict[str, Any] = _apply_schema_defaults(dict(obj), schema)
    return result


def _resolve(obj: Mapping[str, Any]) -> tuple[CRD | None, str | None]:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return None, None
    crd = find_crd(kind)
    if crd is None:
        return None, None
    group, _, version = api_version.rpartition("/")
    if group != crd.group or version not in crd.schemas:
        return crd, None
    return crd, version


def owned(obj: Any) -> bool:
    """Whether a manifest is one roomsync reads: any kind of the ``roomsync.io`` group, or a v1 Secret.

    A GitOps folder also holds Kustomizations, ExternalSecrets, Deployments ...: they are someone else's to check.
    """
    if not isinstance(obj, Mapping):
        return True  # not even a manifest: validation says why
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return True
    return api_version.split("/", 1)[0] == GROUP or (api_version, kind) in SECRET_KINDS


def validate_object(obj: Any) -> list[FieldError]:
    """Every problem in one manifest (a parsed YAML document), as path + message; empty when it is valid."""
    if not isinstance(obj, Mapping):
        shown = "null" if obj is None else type(obj).__name__
        return [FieldError("", f"a manifest must be a mapping (YAML object), got {shown}")]
    errors: list[FieldError] = []
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    for name, value in (("apiVersion", api_version), ("kind", kind)):
        if value is None:
            errors.append(FieldError(name, "Required value"))
        elif not isinstance(value, str) or not value:
            errors.append(FieldError(name, "Invalid value: must be a non-empty string"))
    if errors:
        return errors
    assert isinstance(api_version, str) and isinstance(kind, str)
    if (api_version, kind) in SECRET_KINDS:
        return _sorted(_metadata_errors(obj.get("metadata")) + _secret_errors(obj))
    crd, version = _resolve(obj)
    if crd is None:
        known = ", ".join(f"{c.kind} ({'/'.join(c.api_versions)})" for c in load_crds())
        return [FieldError("kind", f"Unsupported value: {kind!r}: roomsync validates {known} and Secret (v1)")]
    if version is None:
        return [
            FieldError(
                "apiVersion", f"Unsupported value: {api_version!r}: {kind} is served as " + ", ".join(crd.api_versions)
            )
        ]
    return _sorted(_metadata_errors(obj.get("metadata")) + _custom_resource_errors(obj, crd, version))


def _sorted(errors: Iterable[FieldError]) -> list[FieldError]:
    return sorted(dict.fromkeys(errors), key=lambda e: (e.path, e.message))


def _custom_resource_errors(obj: Mapping[str, Any], crd: CRD, version: str) -> list[FieldError]:
    schema = crd.schema(version)
    value = _apply_schema_defaults(dict(obj), schema)
    found: list[tuple[Path, str]] = schema_errors(_validator(crd.kind, version), value)
    nodes = [n for n in walk(value, schema) if n.path[:1] != ("metadata",)]
    for node in nodes:
        found.extend(list_type_errors(node))
    broken = [path for path, _ in found]
    for node in nodes:
        rules = node.schema.get("x-kubernetes-validations") or []
        if not rules or any(p[: len(node.path)] == node.path for p in broken):
            continue  # like a type error, a schema error below a rule makes its result meaningless
        for rule in rules:
            found.extend(_rule_errors(rule, node.value, node.path))
    found.extend(_extra_errors(crd.kind, value))
    return [FieldError(render_path(path), message) for path, message in found]


def _rule_errors(rule: Mapping[str, Any], value: Any, path: Path) -> list[tuple[Path, str]]:
    text = str(rule["rule"])
    if re.search(r"\boldSelf\b", text):
        return []  # transition rules only run on updates; a manifest on its own is a create
    message = str(rule.get("message") or f"failed rule: {text}")
    where = (*path, *_field_path(str(rule.get("fieldPath", ""))))
    try:
        ok = cel.evaluate(text, value)
    except cel.CelError as exc:
        return [(where, f"{message} (the rule could not be evaluated: {exc})")]
    return [] if ok else [(where, message)]


def _field_path(field_path: str) -> Path:
    """``.fullResyncInterval`` / ``.rooms[2]`` / ``['a.b']`` -> path parts (the forms CRD fieldPath allows)."""
    parts: list[str | int] = []
    for dotted, quoted, index in re.findall(r"\.([A-Za-z_][A-Za-z0-9_]*)|\['([^']*)'\]|\[(\d+)\]", field_path):
        if index:
            parts.append(int(index))
        else:
            parts.append(dotted or quoted)
    return tuple(parts)


def _extra_errors(kind: str, value: Mapping[str, Any]) -> list[tuple[Path, str]]:
    """Checks the CRD states in a description but cannot enforce within the apiserver's CEL cost budget."""
    if kind != "RoomSync":
        return []
    rooms = (value.get("spec") or {}).get("rooms")
    if not isinstance(rooms, list):
        return []
    errors: list[tuple[Path, str]] = []
    first: dict[str, int] = {}
    for index, room in enumerate(rooms):
        mailbox = room.get("calendar") if isinstance(room, Mapping) else None
        if not isinstance(mailbox, str):
            continue
        key = mailbox.lower()
        if key in first:
            errors.append(
                (
                    ("spec", "rooms", index, "calendar"),
                    f"Duplicate value: {mailbox!r} is already used by spec.rooms[{first[key]}]; "
                    "each room mailbox may appear only once in rooms",
                )
            )
        else:
            first[key] = index
    return errors


# --- metadata and Secret: the checks the apiserver makes on built-in fields -------------------------------------

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_METADATA_FIELDS = {
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
    "ownerReferences",
    "managedFields",
    "selfLink",
}
_SECRET_FIELDS = {"apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"}


def _metadata_errors(meta: Any) -> list[FieldError]:
    if meta is None:
        return [FieldError("metadata.name", "Required value: name or generateName is required")]
    if not isinstance(meta, Mapping):
        return [FieldError("metadata", "Invalid value: must be an object")]
    errors = [
        FieldError(f"metadata.{k}", "unknown field (see ObjectMeta: name, namespace, labels, annotations, ...)")
        for k in meta
        if k not in _METADATA_FIELDS
    ]
    name = meta.get("name")
    if name is None and not meta.get("generateName"):
        errors.append(FieldError("metadata.name", "Required value: name or generateName is required"))
    elif name is not None and (not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name)):
        errors.append(
            FieldError(
                "metadata.name",
                f"Invalid value: {name!r}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric character (at most 253)",
            )
        )
    namespace = meta.get("namespace")
    if namespace is not None and (
        not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL.match(namespace)
    ):
        errors.append(FieldError("metadata.namespace", f"Invalid value: {namespace!r}: must be a DNS-1123 label"))
    for section in ("labels", "annotations"):
        entries = meta.get(section)
        if entries is None:
            continue
        if not isinstance(entries, Mapping):
            errors.append(FieldError(f"metadata.{section}", "Invalid value: must be a map of strings"))
            continue
        for key, val in entries.items():
            if not isinstance(val, str):
                errors.append(
                    FieldError(
                        render_path(("metadata", section, str(key))),
                        f"Invalid value: {val!r}: must be a string (quote it in YAML)",
                    )
                )
    return errors


def _secret_errors(obj: Mapping[str, Any]) -> list[FieldError]:
    errors = [FieldError(k, "unknown field") for k in obj if k not in _SECRET_FIELDS]
    for section in ("data", "stringData"):
        entries = obj.get(section)
        if entries is None:
            continue
        if not isinstance(entries, Mapping):
            errors.append(FieldError(section, "Invalid value: must be a map of strings"))
            continue
        for key, val in entries.items():
            where = render_path((section, str(key)))
            if not isinstance(key, str) or not _SECRET_KEY.match(key) or len(key) > 253:
                errors.append(
                    FieldError(where, "Invalid value: a Secret key must consist of alphanumerics, '-', '_' or '.'")
                )
            if not isinstance(val, str):
                errors.append(
                    FieldError(where, f"Invalid value: {type(val).__name__}: must be a string (quote it in YAML)")
                )
            elif section == "data":
                try:
                    base64.b64decode(val, validate=True)
                except (binascii.Error, ValueError):
                    errors.append(
                        FieldError(where, "Invalid value: data values must be base64 (use stringData for plain text)")
                    )
    for name, kind in (("type", str), ("immutable", bool)):
        if name in obj and not isinstance(obj[name], kind):
            errors.append(FieldError(name, f"Invalid value: must be a {kind.__name__}"))
    return errors
