"""The PostgreSQL store: its URL, its pinned tables, its settings reaching the connections."""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from adapters.bootstrap import ConfigurationError, StoreLocation, build_application
from adapters.demo import delete_store
from adapters.storage.postgres import PostgresDatabase, PostgresRegistrationData
from application.commands import execute
from application.service import EtmadApplication, close_application
from application.settings import Settings
from domain.identifiers import EUI64, MPAN
from domain.registration import SupplierChange
from tests.conftest import postgres_url
from tests.postgres_support import Schemas

MODEL = {"manufacturer": "A", "model": "B", "hardware_version": "1", "firmware_version": "1"}
REGISTER = {
    "command": "RegisterDeviceModel",
    "model": MODEL,
    "device_type": "ESME",
    "smets": "SMETS2+",
    "firmware_rank": 1,
}


def test_a_full_url_names_every_setting():
    location = StoreLocation.parse(
        "postgresql://etmad:s%40cret@db.example:6543/dcc?schema=etmad&pool_size=3"
        "&max_overflow=2&lock_timeout=7&connect_timeout=9&pre_ping=true"
    )
    assert location.kind == "postgresql"
    assert location.postgres == PostgresDatabase(
        dbname="dcc",
        user="etmad",
        host="db.example",
        port=6543,
        password="s@cret",  # noqa: S106 — a test value
        schema="etmad",
        pool_size=3,
        max_overflow=2,
        lock_timeout=7,
        connect_timeout=9,
        pre_ping=True,
    )


def test_a_short_url_takes_the_defaults():
    database = StoreLocation.parse("postgres://etmad@localhost/etmad").postgres
    assert database == PostgresDatabase("etmad", "etmad")
    assert (database.port, database.schema, database.password) == (5432, "public", None)
    assert (database.pool_size, database.max_overflow) == (5, 10)
    assert (database.lock_timeout, database.connect_timeout, database.pre_ping) == (5, 5, False)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://u@h/db?pool=5", "unknown parameter 'pool'"),
        ("postgresql://u@h/db?schema=a&schema=b", "given twice"),
        ("postgresql://u@h/db?schema=Etmad", "schema='Etmad'"),
        ("postgresql://u@h/db?schema=pg_x", "schema='pg_x'"),
        ("postgresql://u@h/db?pool_size=0", "pool_size='0'"),
        ("postgresql://u@h/db?lock_timeout=soon", "lock_timeout='soon'"),
        ("postgresql://u@h/db?pre_ping=maybe", "pre_ping='maybe'"),
        ("postgresql://u@h/db?pool_size", "PARAMETER=VALUE"),
        ("postgresql://localhost/db", "name the user"),
        ("postgresql://u@h/", "name the database"),
        ("postgresql://u@h:port/db", "port"),
    ],
)
def test_a_bad_url_is_a_configuration_error_that_says_why(url: str, says: str):
    with pytest.raises(ConfigurationError) as raised:
        StoreLocation.parse(url)
    assert raised.value.code == "CONFIGURATION_ERROR"
    assert says in raised.value.message


def test_the_password_is_never_repeated_in_an_error():
    with pytest.raises(ConfigurationError) as raised:
        StoreLocation.parse("postgresql://u:hunter2@h/db?colour=red")
    assert "hunter2" not in raised.value.message
    assert "u:***@h" in raised.value.message


def test_an_unreachable_server_is_a_configuration_error_naming_it():
    with pytest.raises(ConfigurationError) as raised:
        build_application("postgresql://etmad@127.0.0.1:1/etmad?connect_timeout=1")
    assert "etmad@127.0.0.1:1/etmad" in raised.value.message


def _tables(schemas: Schemas, schema: str) -> set[str]:
    with contextlib.closing(schemas.server.connect()) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    return {str(row[0]) for row in rows}


def test_the_tables_are_pinned_whatever_the_application_class_is_called(
    postgres_schemas: Schemas,
):
    url = postgres_url(postgres_schemas)
    location = StoreLocation.parse(url)
    assert location.postgres is not None
    app = build_application(url, settings=Settings())
    try:
        assert execute(app, REGISTER).ok
        held = app.recorder.max_notification_id()
    finally:
        close_application(app)
    assert _tables(postgres_schemas, location.postgres.schema) == {
        "etmad_events",
        "etmad_tracking",
        "registration_supplier_changes",
        "registration_data_version",
        "party_details_user_mpids",
    }

    class Renamed(EtmadApplication):  # eventsourcing would name its tables "renamed_…"
        pass

    env = {"ORIGINATOR_ID_TYPE": "text", **location.postgres.eventsourcing_env()}
    renamed = Renamed(env, registration=PostgresRegistrationData(location.postgres))
    try:
        assert renamed.recorder.max_notification_id() == held
    finally:
        close_application(renamed)


def test_the_schema_is_created_when_missing(postgres_schemas: Schemas):
    server = postgres_schemas.server
    schema = f"created_{time.monotonic_ns()}"
    app = build_application(server.url(schema=schema, pool_size=1), settings=Settings())
    try:
        assert execute(app, REGISTER).ok
    finally:
        close_application(app)
    assert "etmad_events" in _tables(postgres_schemas, schema)


def test_the_password_comes_from_the_environment_when_the_url_has_none(
    postgres_schemas: Schemas, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ETMAD_POSTGRES_PASSWORD", "from-env")
    app = build_application(postgres_url(postgres_schemas), settings=Settings())
    try:
        assert app.factory.env["POSTGRES_PASSWORD"] == "from-env"  # noqa: S105 — a test value
    finally:
        close_application(app)


def test_the_pool_and_lock_timeout_settings_reach_eventsourcing(postgres_schemas: Schemas):
    server = postgres_schemas.server
    url = server.url(
        schema=postgres_schemas.new(), pool_size=2, max_overflow=3, lock_timeout=4, pre_ping="on"
    )
    app = build_application(url, settings=Settings())
    try:
        datastore = app.factory.datastore  # type: ignore[attr-defined]
        assert (datastore.pool.min_size, datastore.pool.max_size) == (2, 5)
        assert datastore.lock_timeout == 4
        assert datastore.pre_ping is True
    finally:
        close_application(app)


def test_a_writer_waits_for_a_lock_at_most_the_lock_timeout(postgres_schemas: Schemas):
    server = postgres_schemas.server
    database = PostgresDatabase(
        server.dbname,
        server.user,
        server.host,
        server.port,
        schema=postgres_schemas.new(),
        lock_timeout=1,
    )
    change = SupplierChange(datetime(2024, 1, 1, tzinfo=UTC), "SUPA", MPAN.parse("1200023305967"))
    registration = PostgresRegistrationData(database)
    holder = server.connect()
    try:
        with holder.transaction():
            holder.execute(
                sql.SQL("SELECT version FROM {} FOR UPDATE").format(
                    database.table("registration_data_version")
                )
            )
            started = time.monotonic()
            with pytest.raises(psycopg.errors.LockNotAvailable):
                registration.record_supplier_change(change)
            assert 0.9 < time.monotonic() - started < 5
        assert registration.record_supplier_change(change)  # the lock is released
    finally:
        holder.close()
        registration.close()


def test_demo_fresh_drops_etmads_tables_and_only_those(postgres_schemas) -> None:
    """``etmad demo --fresh`` on PostgreSQL starts from an empty store: etmad's tables in the
    schema are dropped, another table there is left alone."""
    url = postgres_url(postgres_schemas)
    app = build_application(url, settings=Settings())
    try:
        assert app.party_details is not None
        app.party_details.record_mpid(EUI64(0x90B3D51F30010000), "SUPA")
    finally:
        close_application(app)
    location = StoreLocation.parse(url)
    assert location.postgres is not None
    with contextlib.closing(location.postgres.connect()) as conn:
        conn.execute(f"CREATE TABLE {location.postgres.schema}.someone_elses (x int)")
    dropped = delete_store(location)
    assert f"{location.postgres.schema}.etmad_events" in dropped
    assert f"{location.postgres.schema}.party_details_user_mpids" in dropped
    with contextlib.closing(location.postgres.connect()) as conn:
        left = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (location.postgres.schema,)
        ).fetchall()
    assert [row[0] for row in left] == ["someone_elses"]
    again = build_application(url, settings=Settings())
    try:
        assert again.recorder.max_notification_id() in (None, 0)
    finally:
        close_application(again)


def test_workers_opening_a_new_store_at_the_same_instant_do_not_collide(postgres_schemas) -> None:
    """Four workers opening one new schema at once: eventsourcing's table and function creation
    runs one at a time (the schema's advisory lock), so none fails on the catalogue."""
    url = postgres_url(postgres_schemas)
    start = threading.Barrier(4)
    failures: list[BaseException] = []
    built: list[EtmadApplication] = []

    def open_store() -> None:
        start.wait()
        try:
            built.append(build_application(url, settings=Settings()))
        except BaseException as e:  # noqa: BLE001 — reported by the assertion below
            failures.append(e)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert failures == []
        assert len(built) == 4
    finally:
        for app in built:
            close_application(app)
