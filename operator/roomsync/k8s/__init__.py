"""The Kubernetes operator (``roomsync run``): kopf handlers around the same cycle code ``roomsync sync`` runs.

Layout, one job per module: ``options`` (CLI flags -> options), ``settings`` (kopf settings: persistence prefix,
server-side selectors), ``sharding`` (replicas sharing the RoomSyncs through shard Leases), ``lease_thread`` (the Leases
renewed on a thread of their own), ``kubeapi`` (the few API
reads/writes the handlers make), ``resolve`` (a RoomSync's Connections and Secrets, same namespace only), ``spec``
(CRD validation of a live object), ``worker`` (the per-RoomSync loop), ``controller`` (state shared by all workers:
client pool, wake-ups), ``events`` (rate-limited Kubernetes Events), ``metrics`` and ``probes`` (HTTP endpoints),
``handlers`` (the thin kopf layer), ``main`` (``run_operator``).
"""
