"""Ports: what the application needs from the outside world, each a ``typing.Protocol``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from domain.identifiers import MPxN
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
