"""Reading the YAML a user gives ``kubectl apply``: files, multi-document streams, ``kind: List``.

Hostile or broken input gets a clear error naming the file and document, never a traceback: files that are not
UTF-8, YAML that is not a mapping, and alias bombs (billion laughs), which PyYAML would happily build.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

#: Aliases a single document may use; real manifests use a handful (the CRDs use 3), bombs use millions.
MAX_ALIASES = 100
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
    """A SafeLoader that refuses documents using more than ``MAX_ALIASES`` aliases."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise ManifestError(f"more than {MAX_ALIASES} YAML aliases in one document (an alias bomb?)")
        return super().compose_node(parent, index)


def load_text(text: str, source: str) -> list[Document]:
    documents: list[Document] = []
    loader = _GuardedLoader(text)
    try:
        index = 0
        while loader.check_data():  # type: ignore[no-untyped-call]
            body = loader.get_data()
            loader._aliases = 0
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
