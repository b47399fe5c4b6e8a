"""A stateful emulator of the Planon REST API with the default definitions RoomSync documents.

Emulated (reference ``planon.md`` §1): POST-only endpoints under ``/sdk/system/rest/{v1|v2}`` -
``/read/{definition}``, ``/execute/{definition}/BomAdd``, ``/update/{definition}``,
``/changeState/{definition}/{state}``, ``/delete/{definition}``; ``filter`` bodies with AND-ed lines and the
documented operators; ``{date, time}`` values in the calling API user's Planon time zone (offsets in input are
stripped and ignored); references written as syscodes; ``{"records": [...]}`` answers; ``warnings`` that must be
answered with ``answers.warnings`` (``PN_H00427`` on delete); 401 without or with a wrong/expired key or token; 404
for an unknown version, definition, BOM or state; 422 business errors with a ``PN_`` code and description; both
authentication schemes (``Authorization: PLANONKEY accesskey=<key>`` and ``Bearer`` tokens from a Keycloak-style
client-credentials endpoint at ``/auth/realms/planon/protocol/openid-connect/token``, acting as the Planon user
``service-account-<client id>`` that must exist).

Choices where the reference says [unconfirmed] (also listed in docs/planon.md):

- Definitions: ``UsrReservationMeetingRoom`` (reservations; authorizable), read-only ``ReservationUnit`` (``Code``,
  ``Name``, ``PropertyRef``, ``OrderGroupRef``, ``Capacity``, ``MaxReservationDuration`` in minutes,
  ``AdvanceReservationDays``, ``OpeningHours``), ``Property`` (``Code``, ``Name``, ``TimeZone`` IANA), ``Person``
  (``Email``, ``FirstName``, ``LastName``, ``IsActive``) and ``OrderGroup``.
- Reservation fields beyond Planon's example: ``RequestorPersonRef`` (person syscode), ``ExternalRequestor`` (text),
  ``NumberOfPeople``, ``SystemState`` (the state's system name; ``BusinessObjectStateRef`` holds its syscode),
  ``SysChangeDateTime`` (change timestamp), ``InsertSource``, ``RecurrentReservationRef`` (see below) and free
  fields ``FreeString1..3`` and ``FreeText1..4``. ``BeginDateTimeUser``/``EndDateTimeUser`` copy Planon's example
  (user wall time followed by ``Z``) and are read-only. ``ReservationUnit`` also exposes ``Email`` (the room's
  mailbox, when seeded).
- Field lengths: ``Description`` 100 characters, ``ExternalRequestor`` 254, ``FreeString*`` 100, ``FreeText*`` 2000;
  a longer value is refused with 422 ``PN_E00014`` naming the field (for touchpoints too).
- ``SysChangeDateTime`` is whole seconds, like every Planon date-time, and moves at least one second on every write
  of a reservation, so ``{"SysChangeDateTime": {"eq": <as read>}}`` in an update's filter matches only a
  reservation nobody changed since it was read. ``/update`` and ``/changeState`` answer the records they wrote (a
  filter that matches nothing answers none); ``/delete`` answers no records.
- State system names: ``UsrReservationConfirmed`` (initial), ``UsrReservationNoCheck``, ``UsrReservationOption``,
  ``UsrReservationCompleted``, ``UsrReservationEarlyDeparture``, ``UsrReservationNoShow``,
  ``UsrReservationCancelled``; transitions from Confirmed as documented, Option -> Confirmed/Cancelled, No check ->
  Completed/Cancelled, the rest final. Cancelled and no-show reservations release their unit; only Confirmed,
  Option and No check reservations can be updated.
- A reply that needs warnings answered is HTTP 422 with ``warnings`` set and ``errors`` null (the action is not
  done); business errors are 422 with ``errors``; malformed requests (unknown field, read-only field, wrong JSON
  type, bad filter, ``in`` list over 1000 values) are 400 with ``errors``. BomAdd answers 201.
- Business error codes: ``PN_R00101`` unit not available (overlap), ``PN_R00102`` over the unit's maximum
  duration, ``PN_R00103`` outside opening hours, ``PN_R00104`` beyond the advance-reservation days, ``PN_R00105``
  unit not in the property, ``PN_R00110``-``PN_R00112`` a recurrence Planon does not make, ``PN_E00001`` mandatory
  field missing, ``PN_E00014`` text too long, ``PN_E00201``/``PN_E00202``/``PN_E00203`` unknown unit/person/order
  group, ``PN_E00301`` state transition not allowed, ``PN_E00302`` end before start, ``PN_E00310`` reservation not
  editable in its state. Warning ``PN_H00512``: number of people over capacity.
- Filter date-time values: a ``{date, time}`` object or a ``"YYYY-MM-DD hh:mm:ss"`` string in the user's zone;
  ``contains`` is case-insensitive, ``eq``/``in`` are exact. No paging: a read returns every match.
- Reads return only non-null fields unless the ``SerializeNulls: true`` header is sent.
- Touchpoints (web, kiosk, app; :mod:`roomsync.sandbox.planon.touchpoint`) write only what Planon writes: unit,
  times, description, requestor or external requestor, state; no attendees, and free fields are left as they are.
  A booking in several units is one reservation per unit with nothing tying them. A recurring booking is "Make
  recurrent": separate reservations, one per occurrence, expanded in the property's zone, each carrying the
  syscode of the first in the read-only reference ``RecurrentReservationRef`` (Planon's REST representation of the
  series link is not public: this is the emulator's choice).

Admin endpoints live under ``/_admin`` (see :mod:`roomsync.sandbox.planon.admin`); faults under
:mod:`roomsync.sandbox.planon.faults`. Use :class:`PlanonSandbox` (``async with PlanonSandbox() as sb: sb.url``),
:meth:`PlanonSandbox.in_thread` for synchronous code, :func:`serve` for the CLI, and :class:`SandboxAdmin` /
:class:`SandboxAdminSync` as the admin client.
"""

from roomsync.sandbox.planon.client import SandboxAdmin, SandboxAdminSync, SandboxRefused
from roomsync.sandbox.planon.seed import DEMO, DEMO_ACCESS_KEY, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from roomsync.sandbox.planon.server import PlanonSandbox, ThreadedSandbox, make_app, serve
from roomsync.sandbox.planon.state import SandboxState

__all__ = [
    "DEMO",
    "DEMO_ACCESS_KEY",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "PlanonSandbox",
    "SandboxAdmin",
    "SandboxAdminSync",
    "SandboxRefused",
    "SandboxState",
    "ThreadedSandbox",
    "make_app",
    "serve",
]
