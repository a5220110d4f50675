"""Ports: what the application needs from the outside world, each a ``typing.Protocol``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from domain.identifiers import EUI64, MPxN
from domain.registration import SupplierChange


class RegistrationData(Protocol):
    """**Protocol**: the Registration Data of MPxNs — who is (or is to be) the Responsible
    Supplier, and from when. Not an aggregate of ours: the DCC receives it from registration
    systems; etmad only reads it, and records what it is fed.

    Promises: ``supplier_history`` returns every change recorded for the MPxN, future-dated
    ones included, ordered by ``effective_from``; recording the same change twice keeps one.
    """

    def record_supplier_change(self, change: SupplierChange) -> bool:
        """Record a change of supplier; return False if exactly that change was already held."""
        ...

    def supplier_history(self, mpxn: MPxN) -> Sequence[SupplierChange]:
        """Every recorded change for ``mpxn``, oldest ``effective_from`` first."""
        ...


class Clock(Protocol):
    """**Protocol**: the store's recording time (never business time, which commands carry)."""

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class PartyDetails(Protocol):
    """**Protocol**: the DSP's Party Details ↔ User ID relationship (DOMAIN 1; G2.21 as amended
    by ETMAD 3.1): which MPIDs are the Party's whose DUIS User ID (EUI-64) is given. Not an
    aggregate of ours: the DCC holds it from its User registration; etmad reads it, and
    records what it is fed. The DCC's request checks use it to decide that the MPID named as
    Responsible Supplier is one of the signing User's (SRPD 6.1, ``application/srv623.py``).

    A Party may have several User IDs (one per User Role it acts in: a supplier's xmlSign
    User ID and the User ID its supplier certificates carry may differ) and several MPIDs.
    Recording a (User ID, MPID) pair says that User ID is one of the MPID's Party's, so User IDs
    recorded with a common MPID are associated with the same Party (SRPD 8.1A(b)(iii)).

    Promises: a User ID may have several MPIDs and an MPID several User IDs (its Party's);
    recording the same pair twice keeps one.
    """

    def record_mpid(self, user_id: EUI64, mpid: str) -> bool:
        """Record that ``mpid`` is an MPID of the Party whose User ID is ``user_id``; return
        False if exactly that pair was already held."""
        ...

    def mpids_of(self, user_id: EUI64) -> frozenset[str]:
        """The MPIDs of the Party whose User ID is ``user_id`` (empty if none is held)."""
        ...

    def user_ids_of(self, mpid: str) -> frozenset[EUI64]:
        """The User IDs of the Party whose MPID is ``mpid`` (empty if none is held)."""
        ...
