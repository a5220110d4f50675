"""Party Details adapters (``application.ports.PartyDetails``): in memory, and SQLite (a table
beside the event store)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from domain.identifiers import EUI64


def _mpid(mpid: str) -> str:
    held = mpid.strip()
    if not held:
        raise ValueError("an MPID must not be empty")
    return held


class InMemoryPartyDetails:
    """Party Details held in memory (tests, the ``memory:`` store)."""

    def __init__(self) -> None:
        self._pairs: set[tuple[EUI64, str]] = set()

    def record_mpid(self, user_id: EUI64, mpid: str) -> bool:
        pair = (user_id, _mpid(mpid))
        if pair in self._pairs:
            return False
        self._pairs.add(pair)
        return True

    def mpids_of(self, user_id: EUI64) -> frozenset[str]:
        return frozenset(mpid for user, mpid in self._pairs if user == user_id)

    def user_ids_of(self, mpid: str) -> frozenset[EUI64]:
        wanted = mpid.strip()
        return frozenset(user for user, held in self._pairs if held == wanted)


class SQLitePartyDetails:
    """Party Details in a SQLite table (``party_details_user_mpids``), one row per (User ID,
    MPID) pair; rows of the earlier one-User-ID-per-MPID table are carried over. Each call
    opens its own connection (the look-ups are one per request), so nothing needs closing."""

    _SCHEMA = (
        "CREATE TABLE IF NOT EXISTS party_details_user_mpids ("
        "user_id TEXT NOT NULL, mpid TEXT NOT NULL, PRIMARY KEY (user_id, mpid))"
    )

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        with self._connection() as conn:
            conn.execute(self._SCHEMA)
            earlier = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                ("party_details_mpids",),
            ).fetchone()
            if earlier is not None:
                conn.execute(
                    "INSERT OR IGNORE INTO party_details_user_mpids (user_id, mpid) "
                    "SELECT user_id, mpid FROM party_details_mpids"
                )

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with contextlib.closing(sqlite3.connect(self._path, timeout=30)) as conn, conn:
            yield conn

    def record_mpid(self, user_id: EUI64, mpid: str) -> bool:
        mpid = _mpid(mpid)
        with self._connection() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO party_details_user_mpids (user_id, mpid) VALUES (?, ?)",
                (str(user_id), mpid),
            )
            return cursor.rowcount == 1

    def mpids_of(self, user_id: EUI64) -> frozenset[str]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT mpid FROM party_details_user_mpids WHERE user_id = ?", (str(user_id),)
            ).fetchall()
        return frozenset(row[0] for row in rows)

    def user_ids_of(self, mpid: str) -> frozenset[EUI64]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT user_id FROM party_details_user_mpids WHERE mpid = ?", (mpid.strip(),)
            ).fetchall()
        return frozenset(EUI64.parse(row[0]) for row in rows)
