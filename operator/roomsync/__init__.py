"""RoomSync: two-way sync of Planon room reservations and room calendars, as a Kubernetes operator."""

__version__ = "0.1.0"
