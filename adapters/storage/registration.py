"""Registration Data adapters: in memory, and SQLite (a table beside the event store)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from application.errors import RegistrationConflict
from domain.identifiers import MPxN, mpxn_from_json
from domain.registration import SupplierChange, ordered


def _conflict(change: SupplierChange, held: str) -> RegistrationConflict:
    return RegistrationConflict(
        f"Registration Data for {change.mpxn} already names {held} from "
        f"{change.effective_from.isoformat()}, not {change.supplier_id}"
    )


class InMemoryRegistrationData:
    """Registration Data held in memory (tests, the ``memory:`` store)."""

    def __init__(self) -> None:
        self._changes: dict[MPxN, dict[datetime, SupplierChange]] = {}

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Keep the changes recorded inside the block only if it does not raise."""
        kept = {mpxn: dict(changes) for mpxn, changes in self._changes.items()}
        try:
            yield
        except BaseException:
            self._changes = kept
            raise

    def record_supplier_change(self, change: SupplierChange) -> bool:
        held = self._changes.setdefault(change.mpxn, {})
        existing = held.get(change.effective_from)
        if existing is not None:
            if existing.supplier_id != change.supplier_id:
                raise _conflict(change, existing.supplier_id)
            return False
        held[change.effective_from] = change
        return True

    def supplier_history(self, mpxn: MPxN) -> Sequence[SupplierChange]:
        return ordered(self._changes.get(mpxn, {}).values())


class SQLiteRegistrationData:
    """Registration Data in a SQLite table (``registration_supplier_changes``)."""

    _SCHEMA = (
        "CREATE TABLE IF NOT EXISTS registration_supplier_changes ("
        "mpxn TEXT NOT NULL, effective_from TEXT NOT NULL, supplier_id TEXT NOT NULL, "
        "PRIMARY KEY (mpxn, effective_from))"
    )

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self._path, check_same_thread=False, timeout=30)
        with self._lock, self._conn:
            self._conn.execute(self._SCHEMA)
        # A mirror of the table, read whole once and kept current: this connection's writes
        # are added to it; another connection's commit changes ``PRAGMA data_version``, and the
        # mirror is read again (the daily selection asks for every Device's history).
        self._mirror: dict[str, list[SupplierChange]] | None = None
        self._data_version = -1
        self._batching = False

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Commit the changes recorded inside the block once, at its end (none if it raises).
        The table stays locked for writing by other connections until then."""
        with self._lock:
            if self._batching:
                raise RuntimeError("batches do not nest")
            self._batching = True
        try:
            yield
        except BaseException:
            with self._lock:
                self._conn.rollback()
                self._mirror = None  # read again: it may hold what was rolled back
            raise
        else:
            with self._lock:
                self._conn.commit()
        finally:
            self._batching = False

    def _current(self) -> dict[str, list[SupplierChange]]:
        """The mirror, read again if another connection committed since (under the lock)."""
        version = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
        if self._mirror is None or version != self._data_version:
            mirror: dict[str, list[SupplierChange]] = {}
            for mpxn, at, supplier in self._conn.execute(
                "SELECT mpxn, effective_from, supplier_id FROM registration_supplier_changes"
            ):
                mirror.setdefault(mpxn, []).append(
                    SupplierChange(datetime.fromisoformat(at), supplier, mpxn_from_json(mpxn))
                )
            self._mirror, self._data_version = mirror, version
        return self._mirror

    def record_supplier_change(self, change: SupplierChange) -> bool:
        key = (str(change.mpxn), change.effective_from.isoformat())
        with self._lock, contextlib.nullcontext() if self._batching else self._conn:
            row = self._conn.execute(
                "SELECT supplier_id FROM registration_supplier_changes "
                "WHERE mpxn = ? AND effective_from = ?",
                key,
            ).fetchone()
            if row is not None:
                if row[0] != change.supplier_id:
                    raise _conflict(change, row[0])
                return False
            self._conn.execute(
                "INSERT INTO registration_supplier_changes VALUES (?, ?, ?)",
                (*key, change.supplier_id),
            )
            if self._mirror is not None:
                self._mirror.setdefault(key[0], []).append(change)
        return True

    def supplier_history(self, mpxn: MPxN) -> Sequence[SupplierChange]:
        with self._lock:
            return ordered(self._current().get(str(mpxn), ()))

    def close(self) -> None:
        with self._lock:
            self._conn.close()
