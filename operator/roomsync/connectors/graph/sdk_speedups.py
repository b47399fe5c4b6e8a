"""A CPU fix for msgraph-sdk's generated models, applied once when the Graph connector is imported.

``Entity.get_field_deserializers`` (msgraph-sdk 1.x) executes about 1,200 ``from .x import X`` statements, which
exist only for type annotations, every time any entity is deserialized: once per event and once per extended
property. Reading 100 events cost 3.0 s of CPU, 12x the cost with this patch (docs/performance.md). The replacement
returns exactly what the original returns (the ``id`` and ``@odata.type`` setters); it is only installed after
checking that the original still returns exactly those two keys, so a future SDK that changes them is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from msgraph.generated.models.entity import Entity

_BASE_FIELDS = {"id", "@odata.type"}


def _entity_fields(self: Entity) -> dict[str, Callable[[Any], None]]:
    return {
        "id": lambda n: setattr(self, "id", n.get_str_value()),
        "@odata.type": lambda n: setattr(self, "odata_type", n.get_str_value()),
    }


def install() -> bool:
    """Install the fast ``Entity.get_field_deserializers``; ``False`` when the SDK's version does not match."""
    original = Entity.get_field_deserializers
    if original is _entity_fields:
        return True
    if set(original(Entity())) != _BASE_FIELDS:
        return False
    Entity.get_field_deserializers = _entity_fields  # type: ignore[method-assign]
    return True


INSTALLED = install()
