"""Party Details adapters (``application.ports.PartyDetails``): in memory, and SQLite (a table
beside the event store)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from application.ports import PartyDetailsConflict
from domain.identifiers import EUI64


def _mpid(mpid: str) -> str:
    held = mpid.strip()
    if not held:
        raise ValueError("an MPID must not be empty")
    return held


def _conflict(mpid: str, held: EUI64, user_id: EUI64) -> PartyDetailsConflict:
    return PartyDetailsConflict(
        f"Party Details give MPID {mpid} to the Party of User ID {held}, not {user_id}"
    )


class InMemoryPartyDetails:
    """Party Details held in memory (tests, the ``memory:`` store)."""

    def __init__(self) -> None:
        self._users: dict[str, EUI64] = {}

    def record_mpid(self, user_id: EUI64, mpid: str) -> bool:
        mpid = _mpid(mpid)
        held = self._users.get(mpid)
        if held is not None:
            if held != user_id:
                raise _conflict(mpid, held, user_id)
            return False
        self._users[mpid] = user_id
        return True

    def mpids_of(self, user_id: EUI64) -> frozenset[str]:
        return frozenset(mpid for mpid, user in self._users.items() if user == user_id)

    def user_id_of(self, mpid: str) -> EUI64 | None:
        return self._users.get(mpid.strip())


class SQLitePartyDetails:
    """Party Details in a SQLite table (``party_details_mpids``), one row per MPID. Each call
    opens its own connection (the look-ups are one per request), so nothing needs closing."""

    _SCHEMA = (
        "CREATE TABLE IF NOT EXISTS party_details_mpids ("
        "mpid TEXT NOT NULL PRIMARY KEY, user_id TEXT NOT NULL)"
    )

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        with self._connection() as conn:
            conn.execute(self._SCHEMA)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with contextlib.closing(sqlite3.connect(self._path, timeout=30)) as conn, conn:
            yield conn

    def record_mpid(self, user_id: EUI64, mpid: str) -> bool:
        mpid = _mpid(mpid)
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE")  # one writer decides whether the MPID is held
            row = conn.execute(
                "SELECT user_id FROM party_details_mpids WHERE mpid = ?", (mpid,)
            ).fetchone()
            if row is not None:
                held = EUI64.parse(row[0])
                if held != user_id:
                    raise _conflict(mpid, held, user_id)
                return False
            conn.execute("INSERT INTO party_details_mpids VALUES (?, ?)", (mpid, str(user_id)))
        return True

    def mpids_of(self, user_id: EUI64) -> frozenset[str]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT mpid FROM party_details_mpids WHERE user_id = ?", (str(user_id),)
            ).fetchall()
        return frozenset(row[0] for row in rows)

    def user_id_of(self, mpid: str) -> EUI64 | None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT user_id FROM party_details_mpids WHERE mpid = ?", (mpid.strip(),)
            ).fetchone()
        return None if row is None else EUI64.parse(row[0])
