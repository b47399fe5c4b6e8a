"""The pure reconcile engine: pairs bookings across the two sides and decides the writes that make them agree.

No I/O, no clock reads, no connector imports: everything it needs arrives as arguments.
"""

from roomsync.engine.actions import Action, ActionKind, RequestDecision
from roomsync.engine.pairing import Pairing, dangling_peer_ids, pair
from roomsync.engine.plan import Note, Plan, plan
from roomsync.engine.policy import MASS_DELETE_FLOOR, Direction, OnRefused, Policy

__all__ = [
    "MASS_DELETE_FLOOR",
    "Action",
    "ActionKind",
    "Direction",
    "Note",
    "OnRefused",
    "Pairing",
    "Plan",
    "Policy",
    "RequestDecision",
    "dangling_peer_ids",
    "pair",
    "plan",
]
