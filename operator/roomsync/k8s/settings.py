"""kopf settings for RoomSync: our own persistence prefix, no kopf peering, and server-side selectors.

kopf keeps its bookkeeping on the objects themselves. By default it writes ``kopf.zalando.org/...`` annotations and
a ``kopf.zalando.org/KopfFinalizerMarker`` finalizer, which would collide with any other kopf operator in the
cluster and tells a person nothing; everything kopf writes is put under ``roomsync.io`` instead. These names are
part of the stored state: changing them later needs kopf's ``Multi*Storage`` transition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import kopf

if TYPE_CHECKING:
    from roomsync.k8s.options import OperatorOptions

GROUP = "roomsync.io"
VERSION = "v1alpha1"
FINALIZER = f"{GROUP}/finalizer"
#: kopf's diff-base (last handled spec) annotation: ``roomsync.io/last-handled-configuration``.
DIFFBASE_KEY = "last-handled-configuration"
#: The key the label selector is registered under. Not ``roomsync.io/roomsyncs``: kopf parses that form as
#: group ``io/roomsyncs`` and silently matches nothing (kopf 1.45 pitfall).
ROOMSYNC_SELECTOR_KEY = (GROUP, "roomsyncs")
#: Secrets carrying this label are watched, so that a rotated credential applies at once; the operator never
#: receives the other Secrets of the cluster. Unlabelled Secrets are still read by name when a RoomSync or a
#: Connection check needs them, and again at every full resync and after a failed login.
SECRET_LABEL = f"{GROUP}/credentials"
SECRET_SELECTOR_KEY = ("", "secrets")


def make_settings(options: OperatorOptions) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP, v1=False)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP, key=DIFFBASE_KEY, v1=False)

    # Events: only the ones we post explicitly (kopf.event), never log lines; named after us.
    settings.posting.loggers = False
    settings.posting.reporting_component = "roomsync"
    settings.posting.reporting_instance = options.instance
    settings.posting.event_name_prefix = "roomsync-event-"

    # kopf's own peering (active/standby, one replica working) is never used: replicas share the RoomSyncs through
    # shard Leases (roomsync.k8s.sharding) and every replica handles the watch events of every RoomSync.
    settings.peering.standalone = True

    # A label selector: filtered by the apiserver, so RoomSyncs it does not select never reach this operator. Only
    # RoomSyncs are selected: Connections and Secrets carry no such label and must stay visible.
    if options.selector:
        settings.watching.label_selectors[ROOMSYNC_SELECTOR_KEY] = options.selector

    settings.watching.label_selectors[SECRET_SELECTOR_KEY] = SECRET_LABEL

    # Cycles are long-lived; give them time to finish writing status when the operator stops.
    settings.process.ultimate_exiting_timeout = 30
    return settings
