"""Change notifications as the normal path, polling as the safety net.

- :mod:`.addresses`: the per-room notification URL and the secret it is checked with (an HMAC of the URL's path
  under the Connection's notification key), so any replica can check any notification without shared state;
- :mod:`.settings`: whether a Connection notifies, where to, with which key, and the safety-net poll interval;
- :mod:`.receiver`: the HTTP endpoint (validation handshakes, secrets checked and refused ones counted, wake-ups);
- :mod:`.keeper`: one RoomSync's channels (subscribe, renew well before expiry, replace, stop), kept in its status.

The operator (:mod:`roomsync.k8s.notifications`) serves the receiver and routes a wake-up to the replica that owns
the RoomSync; the scenario suite and the benchmarks drive the same pieces without Kubernetes.
"""
