"""Reading the YAML a user gives ``kubectl apply``: files, multi-document streams, ``kind: List``.

Hostile or broken input gets a clear error naming the file and document, never a traceback: files that are not
UTF-8, YAML that is not a mapping, and alias bombs (billion laughs). PyYAML builds an aliased value once and shares
it, but everything after it (schema validation, defaults, JSON) walks the expanded tree: a document of a few dozen
aliases can expand to billions of nodes. So the size of the expanded tree is computed on the composed node graph
(each shared node counted once per use, in time linear in the document) and refused before anything walks it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Nodes a document may expand to once its aliases are followed; real manifests have a few thousand.
MAX_EXPANDED_NODES = 200_000
MAX_FILE_BYTES = 8 * 1024 * 1024


class ManifestError(ValueError):
    """A file that cannot be read as manifests; the message names the file and the document."""


@dataclass(frozen=True)
class Document:
    """One object from a file, with where it came from."""

    source: str
    index: int
    body: Any

    @property
    def where(self) -> str:
        kind = self.body.get("kind", "?") if isinstance(self.body, dict) else "?"
        meta = self.body.get("metadata") if isinstance(self.body, dict) else None
        name = meta.get("name", "?") if isinstance(meta, dict) else "?"
        return f"{self.source} (document {self.index + 1}, {kind}/{name})"


class _GuardedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses documents whose aliases expand beyond ``MAX_EXPANDED_NODES`` nodes."""

    def construct_document(self, node: yaml.Node) -> Any:
        size = expanded_size(node)
        if size > MAX_EXPANDED_NODES:
            raise ManifestError(
                f"its YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes (an alias bomb?); "
                "write the repeated parts out or use fewer aliases"
            )
        return super().construct_document(node)


def expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has with every alias replaced by what it names (capped past the limit).

    Aliased nodes are the same object in the composed graph, so each node's expanded size is computed once. A node
    that contains itself (a recursive alias) counts as too large.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            return MAX_EXPANDED_NODES + 1
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                total += size(child)
                if total > MAX_EXPANDED_NODES:
                    break
        elif isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                total += size(key_node) + size(value_node)
                if total > MAX_EXPANDED_NODES:
                    break
        active.discard(key)
        sizes[key] = min(total, MAX_EXPANDED_NODES + 1)
        return sizes[key]

    return size(root)


def load_text(text: str, source: str) -> list[Document]:
    documents: list[Document] = []
    loader = _GuardedLoader(text)
    try:
        index = 0
        while loader.check_data():  # type: ignore[no-untyped-call]
            body = loader.get_data()
            if body is not None:
                documents.extend(_expand(Document(source, index, body)))
            index += 1
    except ManifestError as error:
        raise ManifestError(f"{source}: {error}") from None
    except yaml.YAMLError as error:
        raise ManifestError(f"{source}: not valid YAML: {error}") from None
    finally:
        loader.dispose()
    return documents


def load_files(paths: Sequence[str | Path]) -> list[Document]:
    """Every document of every file (a directory means its *.yaml/*.yml files, sorted); ``-`` is stdin."""
    documents: list[Document] = []
    for path in _expand_paths(paths):
        if str(path) == "-":
            import sys

            documents.extend(load_text(sys.stdin.read(), "<stdin>"))
            continue
        try:
            raw = path.read_bytes()
        except OSError as error:
            raise ManifestError(f"{path}: cannot read: {error.strerror or error}") from None
        if len(raw) > MAX_FILE_BYTES:
            raise ManifestError(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ManifestError(f"{path}: not UTF-8 text (byte {error.start}: {raw[error.start]:#04x})") from None
        documents.extend(load_text(text, str(path)))
    return documents


def _expand_paths(paths: Sequence[str | Path]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            yield path


def _expand(document: Document) -> Iterator[Document]:
    body = document.body
    if isinstance(body, dict) and body.get("kind") == "List" and isinstance(body.get("items"), list):
        for item in body["items"]:
            yield Document(document.source, document.index, item)
    else:
        yield document
