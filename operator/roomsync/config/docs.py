"""Generate ``docs/configuration.md``, the configuration reference, from the CRDs.

The reference is derived, never written by hand, so it cannot drift from the API: a test compares the committed file
with the output of this module. Regenerate with::

    python -m roomsync.config.docs -o docs/configuration.md
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from roomsync.config.crds import CRD, load_crds

_INTRO = """\
# Configuration reference

<!-- Generated from crds/*.yaml by `python -m roomsync.config.docs -o docs/configuration.md`. Do not edit by hand. -->

RoomSync is configured with two kinds of Kubernetes resources in the API group `roomsync.io`, version `v1alpha1`:

- a **Connection** says how to reach one backend (Planon, or a calendar system such as Exchange Online through
  Microsoft Graph) and where its credentials are (a key of a Secret in the same namespace);
- a **RoomSync** pairs Planon reservation units with room mailboxes, names the Planon and calendar Connections
  to use, and says how to keep them in sync.

`kubectl explain roomsync.spec` and `kubectl explain connection.spec` show the same descriptions in a cluster;
`roomsync validate -f FILE` checks manifests offline against the same schema and rules. Examples are in
[`manifests/examples/`](../manifests/examples/).

**Durations** (`interval`, `fullResyncInterval`, `window.past`, `window.future`) are Go durations such as `90s`,
`1m30s` or `2h`, or a whole number of days such as `7d` (`1d12h` is not accepted: write `36h`).

**Rules** list the checks beyond types and bounds (CEL rules evaluated by the apiserver, and by `roomsync validate`).
Fields marked *status* are written by the operator; do not set them.
"""


def _type_of(schema: Mapping[str, Any]) -> str:
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"[]{_type_of(schema.get('items') or {})}"
    if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
        return "object (free-form)"
    return kind


def _constraints(schema: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    if "enum" in schema:
        out.append("one of " + ", ".join(f"`{v}`" for v in schema["enum"]))
    for key, label in (("minimum", "min"), ("maximum", "max"), ("minItems", "min items"), ("maxItems", "max items")):
        if key in schema:
            out.append(f"{label} {schema[key]}")
    if "minLength" in schema and "maxLength" in schema:
        out.append(f"{schema['minLength']} to {schema['maxLength']} characters")
    elif "maxLength" in schema:
        out.append(f"at most {schema['maxLength']} characters")
    elif "minLength" in schema:
        out.append(f"at least {schema['minLength']} characters")
    if schema.get("x-kubernetes-list-type") == "map":
        out.append("unique by " + ", ".join(f"`{k}`" for k in schema.get("x-kubernetes-list-map-keys", [])))
    if "format" in schema:
        out.append(f"format {schema['format']}")
    return out


def _escape(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rows(schema: Mapping[str, Any], prefix: str, required: Sequence[str] = ()) -> Iterator[list[str]]:
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        default = f"`{json.dumps(sub['default'], separators=(',', ':'))}`" if "default" in sub else ""
        if name in required:
            default = "**required**"
        notes = _constraints(sub)
        description = _escape(str(sub.get("description", "")))
        if notes:
            description += f" <br>*{'; '.join(notes)}*"
        yield [f"`{path}`", _type_of(sub), default, description]
        if sub.get("type") == "object":
            yield from _rows(sub, path, sub.get("required") or ())
        elif sub.get("type") == "array" and (sub.get("items") or {}).get("type") == "object":
            yield from _rows(sub["items"], f"{path}[]", sub["items"].get("required") or ())


def _rules(schema: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, str]]:
    for rule in schema.get("x-kubernetes-validations") or []:
        where = prefix + str(rule.get("fieldPath", ""))
        yield where or "(root)", str(rule.get("message") or rule["rule"])
    for name, sub in (schema.get("properties") or {}).items():
        yield from _rules(sub, f"{prefix}.{name}" if prefix else name)
    items = schema.get("items")
    if isinstance(items, Mapping):
        yield from _rules(items, f"{prefix}[]")


def _table(rows: Sequence[Sequence[str]]) -> str:
    lines = ["| Field | Type | Default | Description |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _section(crd: CRD) -> str:
    version = next(iter(crd.schemas))
    schema = crd.schema(version)
    names = crd.document["spec"]["names"]
    short = ", ".join(f"`{s}`" for s in names.get("shortNames", []))
    parts = [
        f"## {crd.kind}",
        "",
        f"`apiVersion: {crd.group}/{version}`, `kind: {crd.kind}`, namespaced. "
        f"`kubectl get {crd.plural}`" + (f" (short name {short})" if short else "") + ".",
        "",
        _escape(str(schema.get("description", ""))),
        "",
        "### spec",
        "",
        _table(list(_rows(schema["properties"]["spec"], "spec", schema["properties"]["spec"].get("required") or ()))),
        "",
    ]
    rules = list(_rules(schema["properties"]["spec"], "spec"))
    if rules:
        parts += ["### Rules", ""] + [f"- `{where}`: {message}" for where, message in rules] + [""]
    status = schema["properties"].get("status")
    if status and status.get("properties"):
        parts += ["### status", "", _table(list(_rows(status, "status"))), ""]
    return "\n".join(parts)


def render() -> str:
    """The whole reference as Markdown."""
    crds = sorted(load_crds(), key=lambda c: (c.kind != "RoomSync", c.kind))
    return _INTRO + "\n" + "\n".join(_section(c) for c in crds)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m roomsync.config.docs", description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", help="write to this file instead of standard output")
    parser.add_argument("--check", action="store_true", help="exit 1 if --output is not up to date")
    args = parser.parse_args(argv)
    text = render()
    if not args.output:
        sys.stdout.write(text)
        return 0
    if args.check:
        with open(args.output, encoding="utf-8") as handle:
            current = handle.read()
        if current != text:
            print(f"{args.output} is out of date: run python -m roomsync.config.docs -o {args.output}", file=sys.stderr)
            return 1
        return 0
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
