"""PostgreSQL storage: eventsourcing's PostgreSQL recorders (psycopg 3, with a pool) under table
names pinned here, and Registration Data and Party Details in tables of the same database and
schema.

Tables, all in the store's schema: ``etmad_events`` (the events and their notification log),
``etmad_tracking`` (each process manager's position in the log), ``registration_supplier_changes``
with ``registration_data_version`` (a counter every write of Registration Data moves on, so a
reader knows when to read the table again) and ``party_details_user_mpids``."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC

import attrs
import psycopg
from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    OperationalError,
    ProcessRecorder,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
    PostgresProcessRecorder,
)
from psycopg import sql
from psycopg.rows import TupleRow

from adapters.storage.party_details import _mpid
from adapters.storage.registration import _conflict
from domain.identifiers import EUI64, MPxN, mpxn_from_json
from domain.registration import SupplierChange, ordered

EVENTS_TABLE = "etmad_events"
TRACKING_TABLE = "etmad_tracking"
REGISTRATION_TABLE = "registration_supplier_changes"
REGISTRATION_VERSION_TABLE = "registration_data_version"
PARTY_DETAILS_TABLE = "party_details_user_mpids"

Connection = psycopg.Connection[TupleRow]


@attrs.frozen
class PostgresDatabase:
    """Where a PostgreSQL store is and how to reach it (from a ``postgresql://`` store URL)."""

    dbname: str
    user: str
    host: str = "localhost"
    port: int = 5432
    password: str | None = attrs.field(default=None, repr=False)
    schema: str = "public"
    pool_size: int = 5
    max_overflow: int = 10
    lock_timeout: int = 5  # seconds a statement waits for a lock before it fails
    connect_timeout: int = 5  # seconds to wait for a connection (the server's, or the pool's)
    pre_ping: bool = False

    def describe(self) -> str:
        """The database as an operator would name it (no password)."""
        return f"{self.user}@{self.host}:{self.port}/{self.dbname} (schema {self.schema})"

    def connect(self) -> Connection:
        """A connection of its own (autocommit; ``transaction()`` blocks group statements),
        waiting at most ``lock_timeout`` for any lock."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            dbname=self.dbname,
            user=self.user,
            password=self.password or "",
            connect_timeout=self.connect_timeout,
            options=f"-c lock_timeout={self.lock_timeout * 1000}",
            autocommit=True,
        )

    def ensure_schema(self) -> None:
        """Create the schema if it does not exist yet (it needs the CREATE privilege on the
        database only then)."""
        with contextlib.closing(self.connect()) as conn:
            held = conn.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
            ).fetchone()
            if held is None:
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )

    def drop_tables(self) -> list[str]:
        """Drop every table etmad keeps in this schema — the events, the tracking positions,
        Registration Data and Party Details — for ``etmad demo --fresh``; the tables dropped.
        Other tables of the schema are left alone."""
        names = (
            EVENTS_TABLE,
            TRACKING_TABLE,
            REGISTRATION_TABLE,
            REGISTRATION_VERSION_TABLE,
            PARTY_DETAILS_TABLE,
        )
        dropped: list[str] = []
        with contextlib.closing(self.connect()) as conn:
            for name in names:
                found = conn.execute(
                    "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s",
                    (self.schema, name),
                ).fetchone()
                if found is not None:
                    conn.execute(sql.SQL("DROP TABLE {}").format(self.table(name)))
                    dropped.append(f"{self.schema}.{name}")
        return dropped

    def eventsourcing_env(self) -> dict[str, str]:
        """eventsourcing's settings for this database, with the pinned table names."""
        return {
            "PERSISTENCE_MODULE": f"{__name__}:EtmadPostgresFactory",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password or "",
            "POSTGRES_SCHEMA": self.schema,
            "POSTGRES_POOL_SIZE": str(self.pool_size),
            "POSTGRES_MAX_OVERFLOW": str(self.max_overflow),
            "POSTGRES_LOCK_TIMEOUT": str(self.lock_timeout),
            "POSTGRES_CONNECT_TIMEOUT": str(self.connect_timeout),
            "POSTGRES_PRE_PING": "yes" if self.pre_ping else "no",
        }

    def table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)


class EtmadPostgresFactory(PostgresFactory):
    """eventsourcing's PostgreSQL infrastructure with the table names pinned: eventsourcing
    derives them from the application's name, so a renamed or subclassed application would
    otherwise look for its events in other tables."""

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        recorder = PostgresAggregateRecorder(
            datastore=self.datastore, events_table_name=f"etmad_{purpose}"
        )
        self._create(recorder)
        return recorder

    def application_recorder(self) -> ApplicationRecorder:
        recorder = PostgresApplicationRecorder(
            datastore=self.datastore, events_table_name=EVENTS_TABLE
        )
        self._create(recorder)
        return recorder

    def process_recorder(self) -> ProcessRecorder:
        recorder = PostgresProcessRecorder(
            datastore=self.datastore,
            events_table_name=EVENTS_TABLE,
            tracking_table_name=TRACKING_TABLE,
        )
        self._create(recorder)
        return recorder

    def _create(self, recorder: PostgresAggregateRecorder) -> None:
        """``recorder.create_table()``, one process at a time: eventsourcing's statements
        (``CREATE OR REPLACE FUNCTION`` among them) collide on PostgreSQL's catalogue ("tuple
        concurrently updated") when two workers open a new store at the same instant. The
        schema's advisory lock is the one ``_create_tables`` takes for our own tables."""
        if not self.env_create_table():
            return
        schema = self.datastore.schema
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (schema,))
            try:
                recorder.create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (schema,))
                conn.commit()


def _create_tables(database: PostgresDatabase, conn: Connection, *statements: sql.Composed) -> None:
    """Run ``statements`` in one transaction, one process at a time (two processes creating
    the same table at once would otherwise collide on PostgreSQL's catalogue)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (database.schema,))
        for statement in statements:
            conn.execute(statement)


class PostgresRegistrationData:
    """Registration Data in a PostgreSQL table (``registration_supplier_changes``), on a
    connection of its own (closed by ``close``)."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._lock = threading.Lock()
        self._database = database
        self._conn = database.connect()
        self._changes = database.table(REGISTRATION_TABLE)
        self._version = database.table(REGISTRATION_VERSION_TABLE)
        _create_tables(
            database,
            self._conn,
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (mpxn text NOT NULL, "
                "effective_from timestamptz NOT NULL, supplier_id text NOT NULL, "
                "PRIMARY KEY (mpxn, effective_from))"
            ).format(self._changes),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (one boolean PRIMARY KEY DEFAULT true "
                "CHECK (one), version bigint NOT NULL)"
            ).format(self._version),
            sql.SQL("INSERT INTO {} (version) VALUES (0) ON CONFLICT DO NOTHING").format(
                self._version
            ),
        )
        # A mirror of the table, read whole once and kept current: this connection's writes
        # are added to it; every write moves ``registration_data_version`` on, and when it has
        # moved past what the mirror holds (another connection wrote), the mirror is read again
        # (the daily selection asks for every Device's history).
        self._mirror: dict[str, list[SupplierChange]] | None = None
        self._data_version = -1
        self._batching = False

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Commit the changes recorded inside the block once, at its end (none if it raises).
        Other connections' writes of Registration Data wait until then."""
        with self._lock:
            if self._batching:
                raise RuntimeError("batches do not nest")
            self._batching = True
        transaction = contextlib.ExitStack()
        try:
            with self._lock:
                transaction.enter_context(self._conn.transaction())
            try:
                yield
            except BaseException:
                with self._lock:
                    self._mirror = None  # read again: it may hold what is rolled back
                    transaction.__exit__(*sys.exc_info())
                raise
            with self._lock:
                try:
                    transaction.close()  # commits
                except BaseException:
                    self._mirror = None
                    raise
        finally:
            self._batching = False

    def _current(self) -> dict[str, list[SupplierChange]]:
        """The mirror, read again if another connection wrote since (under the lock)."""
        row = self._conn.execute(sql.SQL("SELECT version FROM {}").format(self._version)).fetchone()
        version = -1 if row is None else int(row[0])
        if self._mirror is None or version != self._data_version:
            mirror: dict[str, list[SupplierChange]] = {}
            for mpxn, at, supplier in self._conn.execute(
                sql.SQL("SELECT mpxn, effective_from, supplier_id FROM {}").format(self._changes)
            ):
                mirror.setdefault(mpxn, []).append(
                    SupplierChange(at.astimezone(UTC), supplier, mpxn_from_json(mpxn))
                )
            self._mirror, self._data_version = mirror, version
        return self._mirror

    def record_supplier_change(self, change: SupplierChange) -> bool:
        mpxn = str(change.mpxn)
        with self._lock:
            try:
                # A transaction of its own, or a savepoint inside a batch. Locking the version
                # row first makes writers take turns, so the look-up below sees every committed
                # change.
                with self._conn.transaction():
                    row = self._conn.execute(
                        sql.SQL("SELECT version FROM {} FOR UPDATE").format(self._version)
                    ).fetchone()
                    version = -1 if row is None else int(row[0])
                    held = self._conn.execute(
                        sql.SQL(
                            "SELECT supplier_id FROM {} WHERE mpxn = %s AND effective_from = %s"
                        ).format(self._changes),
                        (mpxn, change.effective_from),
                    ).fetchone()
                    if held is not None:
                        if held[0] != change.supplier_id:
                            raise _conflict(change, held[0])
                        return False
                    self._conn.execute(
                        sql.SQL(
                            "INSERT INTO {} (mpxn, effective_from, supplier_id) VALUES (%s, %s, %s)"
                        ).format(self._changes),
                        (mpxn, change.effective_from, change.supplier_id),
                    )
                    self._conn.execute(
                        sql.SQL("UPDATE {} SET version = version + 1").format(self._version)
                    )
            except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                if not self._lost():
                    self._mirror = None
                    raise
                self._reconnect(e)  # the write did not happen: the caller decides it again
                raise OperationalError(f"Registration Data: the connection was lost: {e}") from e
            except psycopg.Error:
                self._mirror = None
                raise
            if self._mirror is not None:
                self._mirror.setdefault(mpxn, []).append(change)
                if version == self._data_version:
                    self._data_version = version + 1  # nobody else wrote in between
        return True

    def supplier_history(self, mpxn: MPxN) -> Sequence[SupplierChange]:
        with self._lock:
            try:
                return ordered(self._current().get(str(mpxn), ()))
            except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                if not self._lost():
                    raise
                self._reconnect(e)
                return ordered(self._current().get(str(mpxn), ()))

    def _lost(self) -> bool:
        """Whether the connection itself is gone (not a statement that failed on it, such as
        a lock timeout)."""
        return bool(self._conn.closed or self._conn.broken)

    def _reconnect(self, error: psycopg.Error) -> None:
        """The connection was lost (a server restart, a dropped network): open a new one and
        read the table again; inside a batch, or when the server still does not answer, the
        store's ``OperationalError`` (a worker waits through it: ``application/resilience.py``)."""
        self._mirror = None
        if self._batching:
            raise OperationalError(
                f"Registration Data: the connection was lost: {error}"
            ) from error
        with contextlib.suppress(psycopg.Error):
            self._conn.close()
        try:
            self._conn = self._database.connect()
        except psycopg.Error as e:
            raise OperationalError(f"Registration Data: the store does not answer: {e}") from e

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresPartyDetails:
    """Party Details in a PostgreSQL table (``party_details_user_mpids``), one row per (User ID,
    MPID) pair. Each call opens its own connection (the look-ups are one per request), so
    nothing needs closing."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database
        self._pairs = database.table(PARTY_DETAILS_TABLE)
        with self._connection() as conn:
            _create_tables(
                database,
                conn,
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (user_id text NOT NULL, mpid text NOT NULL, "
                    "PRIMARY KEY (user_id, mpid))"
                ).format(self._pairs),
            )

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        with contextlib.closing(self._database.connect()) as conn:
            yield conn

    def record_mpid(self, user_id: EUI64, mpid: str) -> bool:
        mpid = _mpid(mpid)
        with self._connection() as conn:
            cursor = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (user_id, mpid) VALUES (%s, %s) ON CONFLICT DO NOTHING"
                ).format(self._pairs),
                (str(user_id), mpid),
            )
            return cursor.rowcount == 1

    def mpids_of(self, user_id: EUI64) -> frozenset[str]:
        with self._connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT mpid FROM {} WHERE user_id = %s").format(self._pairs),
                (str(user_id),),
            ).fetchall()
        return frozenset(row[0] for row in rows)

    def user_ids_of(self, mpid: str) -> frozenset[EUI64]:
        with self._connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT user_id FROM {} WHERE mpid = %s").format(self._pairs),
                (mpid.strip(),),
            ).fetchall()
        return frozenset(EUI64.parse(row[0]) for row in rows)
