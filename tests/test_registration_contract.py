"""Registration Data: one contract, written once, run against every adapter of the port."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from adapters.storage.postgres import PostgresDatabase, PostgresRegistrationData
from adapters.storage.registration import InMemoryRegistrationData, SQLiteRegistrationData
from application.errors import RegistrationConflict
from application.ports import RegistrationData
from domain.identifiers import MPAN, MPRN
from domain.registration import SupplierChange
from tests.postgres_support import Schemas

T0 = datetime(2023, 7, 1, tzinfo=UTC)
ELEC = MPAN.parse("1200023305967")
GAS = MPRN.parse("1234567")


class RegistrationDataContract:
    """What every ``RegistrationData`` adapter promises (see ``application/ports.py``)."""

    @pytest.fixture
    def data(self) -> RegistrationData:
        """Each adapter's test class provides a fresh, empty adapter."""
        raise NotImplementedError

    def test_unknown_mpxn_has_no_history(self, data: RegistrationData):
        assert list(data.supplier_history(ELEC)) == []

    def test_history_is_ordered_by_effective_time_whatever_the_recording_order(self, data):
        later = SupplierChange(T0 + timedelta(days=20), "SUPB", ELEC)  # future-dated: pending
        earlier = SupplierChange(T0, "SUPA", ELEC)
        assert data.record_supplier_change(later) is True
        assert data.record_supplier_change(earlier) is True
        assert list(data.supplier_history(ELEC)) == [earlier, later]

    def test_recording_the_same_change_twice_keeps_one(self, data):
        change = SupplierChange(T0, "SUPA", ELEC)
        assert data.record_supplier_change(change) is True
        assert data.record_supplier_change(change) is False
        assert list(data.supplier_history(ELEC)) == [change]

    def test_a_different_supplier_at_the_same_time_is_a_conflict(self, data):
        data.record_supplier_change(SupplierChange(T0, "SUPA", ELEC))
        with pytest.raises(RegistrationConflict) as raised:
            data.record_supplier_change(SupplierChange(T0, "SUPB", ELEC))
        assert raised.value.code == "SUPPLIER_CHANGE_CONFLICT"
        assert [c.supplier_id for c in data.supplier_history(ELEC)] == ["SUPA"]

    def test_mpxns_are_kept_apart_and_times_come_back_in_utc(self, data):
        offset = datetime(2023, 7, 1, 9, tzinfo=UTC).astimezone(timezone(timedelta(hours=1)))
        data.record_supplier_change(SupplierChange(offset, "GASCO", GAS))
        data.record_supplier_change(SupplierChange(T0, "SUPA", ELEC))
        (gas,) = data.supplier_history(GAS)
        assert gas.mpxn == GAS
        assert gas.effective_from == datetime(2023, 7, 1, 9, tzinfo=UTC)
        assert gas.effective_from.utcoffset() == timedelta(0)
        assert [c.supplier_id for c in data.supplier_history(ELEC)] == ["SUPA"]

    def test_a_batch_keeps_its_changes_only_if_it_ends_well(self, data):
        kept = SupplierChange(T0, "SUPA", ELEC)
        with data.batch():
            data.record_supplier_change(kept)
            assert list(data.supplier_history(ELEC)) == [kept]  # seen inside the batch
        dropped = SupplierChange(T0 + timedelta(days=1), "SUPB", ELEC)

        def interrupted() -> None:
            with data.batch():
                data.record_supplier_change(dropped)
                raise RuntimeError("stop")

        with pytest.raises(RuntimeError):
            interrupted()
        assert list(data.supplier_history(ELEC)) == [kept]


class TestInMemoryRegistrationData(RegistrationDataContract):
    @pytest.fixture
    def data(self) -> RegistrationData:
        return InMemoryRegistrationData()


class TestSQLiteRegistrationData(RegistrationDataContract):
    @pytest.fixture
    def data(self, tmp_path: Path) -> Iterator[RegistrationData]:
        adapter = SQLiteRegistrationData(tmp_path / "registration.sqlite")
        yield adapter
        adapter.close()

    def test_survives_reopening(self, tmp_path: Path):
        path = tmp_path / "registration.sqlite"
        first = SQLiteRegistrationData(path)
        first.record_supplier_change(SupplierChange(T0, "SUPA", ELEC))
        first.close()
        again = SQLiteRegistrationData(path)
        assert [c.supplier_id for c in again.supplier_history(ELEC)] == ["SUPA"]
        again.close()

    def test_another_connections_changes_are_seen_at_the_next_read(self, tmp_path: Path):
        path = tmp_path / "shared.sqlite"
        reader, writer = SQLiteRegistrationData(path), SQLiteRegistrationData(path)
        try:
            first = SupplierChange(T0, "SUPA", ELEC)
            reader.record_supplier_change(first)
            assert list(reader.supplier_history(ELEC)) == [first]  # the mirror is read now
            later = SupplierChange(T0 + timedelta(days=3), "SUPB", ELEC)
            writer.record_supplier_change(later)
            assert list(reader.supplier_history(ELEC)) == [first, later]
            with pytest.raises(RegistrationConflict):
                reader.record_supplier_change(SupplierChange(later.effective_from, "SUPC", ELEC))
        finally:
            reader.close()
            writer.close()


def _database(schemas: Schemas) -> PostgresDatabase:
    server = schemas.server
    return PostgresDatabase(
        server.dbname, server.user, server.host, server.port, schema=schemas.new()
    )


class TestPostgresRegistrationData(RegistrationDataContract):
    @pytest.fixture
    def database(self, postgres_schemas: Schemas) -> PostgresDatabase:
        return _database(postgres_schemas)

    @pytest.fixture
    def data(self, database: PostgresDatabase) -> Iterator[RegistrationData]:
        adapter = PostgresRegistrationData(database)
        yield adapter
        adapter.close()

    def test_survives_reopening(self, database: PostgresDatabase):
        first = PostgresRegistrationData(database)
        first.record_supplier_change(SupplierChange(T0, "SUPA", ELEC))
        first.close()
        again = PostgresRegistrationData(database)
        assert [c.supplier_id for c in again.supplier_history(ELEC)] == ["SUPA"]
        again.close()

    def test_another_connections_changes_are_seen_at_the_next_read(self, database):
        reader, writer = PostgresRegistrationData(database), PostgresRegistrationData(database)
        try:
            first = SupplierChange(T0, "SUPA", ELEC)
            reader.record_supplier_change(first)
            assert list(reader.supplier_history(ELEC)) == [first]  # the mirror is read now
            later = SupplierChange(T0 + timedelta(days=3), "SUPB", ELEC)
            writer.record_supplier_change(later)
            assert list(reader.supplier_history(ELEC)) == [first, later]
            with pytest.raises(RegistrationConflict):
                reader.record_supplier_change(SupplierChange(later.effective_from, "SUPC", ELEC))
        finally:
            reader.close()
            writer.close()

    def test_a_batch_is_seen_by_others_only_when_it_ends(self, database):
        batching, other = PostgresRegistrationData(database), PostgresRegistrationData(database)
        try:
            change = SupplierChange(T0, "SUPA", ELEC)
            assert list(other.supplier_history(ELEC)) == []
            with batching.batch():
                batching.record_supplier_change(change)
                assert list(other.supplier_history(ELEC)) == []  # not committed yet
            assert list(other.supplier_history(ELEC)) == [change]
        finally:
            batching.close()
            other.close()

    def test_a_conflict_inside_a_batch_keeps_the_batchs_other_changes(self, data):
        kept = SupplierChange(T0, "SUPA", ELEC)
        with data.batch():
            data.record_supplier_change(kept)
            with pytest.raises(RegistrationConflict):
                data.record_supplier_change(SupplierChange(T0, "SUPB", ELEC))
            assert data.record_supplier_change(SupplierChange(T0, "GASCO", GAS)) is True
        assert list(data.supplier_history(ELEC)) == [kept]
        assert [c.supplier_id for c in data.supplier_history(GAS)] == ["GASCO"]

    def test_batches_do_not_nest(self, data):
        with data.batch(), pytest.raises(RuntimeError, match="nest"), data.batch():
            pass
