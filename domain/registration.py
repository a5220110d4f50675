"""Registration Data as the domain sees it: who is the Responsible Supplier of an MPxN, when.

The data itself lives outside etmad (a port of the application); these are the pure rules over
a supplier history, including changes of supplier that are future-dated (pending).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import attrs

from domain.events import utc
from domain.identifiers import MPxN


@attrs.frozen(order=True)
class SupplierChange:
    """From ``effective_from`` the MPxN's Responsible Supplier is ``supplier_id``."""

    effective_from: datetime = attrs.field(converter=utc)
    supplier_id: str
    mpxn: MPxN = attrs.field(order=False)


def ordered(history: Iterable[SupplierChange]) -> tuple[SupplierChange, ...]:
    return tuple(sorted(history, key=lambda c: c.effective_from))


def supplier_on(history: Iterable[SupplierChange], at: datetime) -> str | None:
    """The Responsible Supplier in force at ``at`` (the latest change effective by then)."""
    current: str | None = None
    for change in ordered(history):
        if change.effective_from > at:
            break
        current = change.supplier_id
    return current


def changes_of_supplier(history: Iterable[SupplierChange]) -> tuple[SupplierChange, ...]:
    """The entries that change the supplier: the first appointment, and every later entry
    naming a different supplier from the one before it. Re-stating the same supplier is not a
    change of supplier."""
    changes: list[SupplierChange] = []
    previous: str | None = None
    for change in ordered(history):
        if change.supplier_id != previous:
            changes.append(change)
        previous = change.supplier_id
    return tuple(changes)
