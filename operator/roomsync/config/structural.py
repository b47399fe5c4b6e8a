"""Kubernetes structural schemas, offline: defaulting, strict validation and list-type uniqueness.

The apiserver does three things with a CRD's ``openAPIV3Schema`` that plain JSON Schema does not: it fills
``default`` values, it prunes fields the schema does not know (``kubectl apply`` reports them as errors under strict
field validation, and a pruned field is a silent misconfiguration for a user, so we always reject them), and it
enforces ``x-kubernetes-list-type`` uniqueness. This module does the same on plain dicts and translates the schema
into a JSON Schema for the rest (types, enums, patterns, bounds). Messages follow the apiserver's wording so what
``roomsync validate`` prints looks like what ``kubectl apply`` would print.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jsonschema

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class FieldError:
    """One problem in a manifest: where (``spec.rooms[2].calendar``) and why."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def render_path(path: Sequence[str | int]) -> str:
    """``('spec', 'rooms', 2, 'calendar')`` -> ``spec.rooms[2].calendar``; odd keys go in brackets."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.replace("-", "").replace("_", "").isalnum():
            out += f".{part}" if out else part
        else:
            out += f"[{part}]"
    return out


def _is_preserving(schema: Mapping[str, Any]) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


def apply_defaults(value: Any, schema: Mapping[str, Any]) -> Any:
    """Return a copy of ``value`` with the schema's ``default`` values filled in, top-down like the apiserver."""
    value = copy.deepcopy(value)
    _default_in_place(value, schema)
    return value


def _default_in_place(value: Any, schema: Mapping[str, Any]) -> None:
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        for name, sub in properties.items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                _default_in_place(value[name], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for name, item in value.items():
                if name not in properties:
                    _default_in_place(item, extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            _default_in_place(item, schema["items"])


def to_jsonschema(schema: Mapping[str, Any], *, opaque: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Translate a structural schema into a strict draft-4 JSON Schema.

    ``opaque`` names top-level properties validated elsewhere (``metadata``: the apiserver checks ObjectMeta itself).
    """
    return _translate(schema, opaque)


_DROPPED = {"default", "nullable", "example", "externalDocs", "title"}  # description stays: error hints use it


def _translate(schema: Mapping[str, Any], opaque: frozenset[str] = frozenset()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in schema.items():
        if key.startswith("x-kubernetes-") or key in _DROPPED:
            continue
        if key == "properties":
            out[key] = {name: ({"type": "object"} if name in opaque else _translate(sub)) for name, sub in val.items()}
        elif (key == "items" and isinstance(val, Mapping)) or (
            key == "additionalProperties" and isinstance(val, Mapping)
        ):
            out[key] = _translate(val)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_translate(s) for s in val]
        elif key == "not":
            out[key] = _translate(val)
        else:
            out[key] = copy.deepcopy(val)
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if schema.get("type") == "object" and "additionalProperties" not in schema and not _is_preserving(schema):
        out["additionalProperties"] = False
    return out


_FORMATS = jsonschema.FormatChecker(formats=())


def _date_time(value: object) -> bool:
    """RFC 3339 date-time, as the apiserver checks ``format: date-time``."""
    if not isinstance(value, str):
        return True
    datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return "T" in value.upper()


_FORMATS.checks("date-time", raises=ValueError)(_date_time)


def make_validator(jsonschema_doc: Mapping[str, Any]) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(jsonschema_doc, format_checker=_FORMATS)


def _show(value: Any) -> str:
    return (
        json.dumps(value, ensure_ascii=False) if isinstance(value, str | int | float | bool) else type(value).__name__
    )


_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}


def schema_errors(validator: jsonschema.Draft4Validator, value: Any, prefix: Path = ()) -> list[tuple[Path, str]]:
    """All schema violations as (path, apiserver-style message), sorted by path."""
    found: dict[tuple[Path, str], None] = {}
    for error in validator.iter_errors(value):
        for path, message in _explain(error):
            found[(prefix + path, message)] = None
    return sorted(found, key=lambda item: (render_path(item[0]), item[1]))


def _explain(error: jsonschema.ValidationError) -> Iterator[tuple[Path, str]]:
    path: Path = tuple(error.absolute_path)
    kind, limit, inst = error.validator, error.validator_value, error.instance
    if kind == "required":
        for name in limit:
            if isinstance(inst, Mapping) and name not in inst:
                yield (*path, name), "Required value"
    elif kind == "additionalProperties" and limit is False and isinstance(inst, Mapping):
        known = sorted((error.schema.get("properties") or {}).keys())
        hint = f" (known fields: {', '.join(known)})" if known else " (this object takes no fields)"
        for name in inst:
            if name not in known:
                yield (*path, name), "unknown field" + hint
    elif kind == "enum":
        yield path, f"Unsupported value: {_show(inst)}: supported values: " + ", ".join(_show(v) for v in limit)
    elif kind == "type":
        expected = " or ".join(limit) if isinstance(limit, list) else limit
        actual = "null" if inst is None else _TYPE_NAMES.get(type(inst), type(inst).__name__)
        yield path, f"Invalid value: {actual}: must be of type {expected}"
    elif kind == "pattern":
        hint = str(error.schema.get("description") or "").strip()
        yield path, f"Invalid value: {_show(inst)}: should match '{limit}'" + (f" ({hint})" if hint else "")
    elif kind == "minLength":
        yield path, f"Invalid value: {_show(inst)}: should be at least {limit} chars long"
    elif kind == "maxLength":
        yield path, f"Too long: may not be more than {limit} bytes"
    elif kind == "minItems":
        yield path, f"Invalid value: {len(inst)}: should have at least {limit} items"
    elif kind == "maxItems":
        yield path, f"Too many: {len(inst)}: must have at most {limit} items"
    elif kind == "minimum":
        yield path, f"Invalid value: {_show(inst)}: should be greater than or equal to {limit}"
    elif kind == "maximum":
        yield path, f"Invalid value: {_show(inst)}: should be less than or equal to {limit}"
    elif kind == "format":
        yield path, f"Invalid value: {_show(inst)}: must be a valid {limit}"
    elif kind == "anyOf" and error.schema.get("anyOf") == [{"type": "integer"}, {"type": "string"}]:
        yield path, f"Invalid value: {_show(inst)}: must be an integer or a string"
    else:
        yield path, error.message


@dataclass(frozen=True)
class Node:
    """A value present in the object, with its schema and path (for CEL rules and list-type checks)."""

    value: Any
    schema: Mapping[str, Any]
    path: Path


def walk(value: Any, schema: Mapping[str, Any], path: Path = ()) -> Iterator[Node]:
    """Every present value whose schema is known, parents before children."""
    yield Node(value, schema, path)
    if isinstance(value, dict):
        properties = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            sub = properties.get(name, extra if isinstance(extra, Mapping) else None)
            if sub is not None:
                yield from walk(item, sub, (*path, name))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            yield from walk(item, schema["items"], (*path, index))


def list_type_errors(node: Node) -> list[tuple[Path, str]]:
    """Duplicates in ``x-kubernetes-list-type: set`` and ``map`` lists (the apiserver's "Duplicate value")."""
    list_type = node.schema.get("x-kubernetes-list-type")
    if not isinstance(node.value, list) or list_type not in ("set", "map"):
        return []
    keys: list[str] = list(node.schema.get("x-kubernetes-list-map-keys") or [])
    seen: set[str] = set()
    errors: list[tuple[Path, str]] = []
    for index, item in enumerate(node.value):
        if list_type == "map":
            if not isinstance(item, Mapping):
                continue
            identity = {k: item.get(k) for k in keys}
            shown = ", ".join(f"{k}={_show(v)}" for k, v in identity.items())
        else:
            identity = item
            shown = _show(item)
        token = json.dumps(identity, sort_keys=True, default=str)
        if token in seen:
            errors.append(((*node.path, index), f"Duplicate value: {shown}"))
        seen.add(token)
    return errors
