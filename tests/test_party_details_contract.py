"""Party Details: one contract, written once, run against every adapter of the port."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.bootstrap import build_application
from adapters.storage.party_details import InMemoryPartyDetails, SQLitePartyDetails
from adapters.storage.postgres import PostgresDatabase, PostgresPartyDetails
from application.ports import PartyDetails
from application.service import close_application
from application.settings import Settings
from domain.identifiers import EUI64
from tests.conftest import Runner
from tests.postgres_support import Schemas

SUPPLIER = EUI64(0x90B3D51F30010000)
OTHER = EUI64(0x90B3D51F30020000)


class PartyDetailsContract:
    """What every ``PartyDetails`` adapter promises (see ``application/ports.py``)."""

    @pytest.fixture
    def details(self) -> PartyDetails:
        """Each adapter's test class provides a fresh, empty adapter."""
        raise NotImplementedError

    def test_an_unknown_user_id_has_no_mpids_and_an_unknown_mpid_no_user(self, details):
        assert details.mpids_of(SUPPLIER) == frozenset()
        assert details.user_ids_of("GTSP") == frozenset()

    def test_a_party_may_have_several_mpids_and_each_names_its_user(self, details):
        assert details.record_mpid(SUPPLIER, "GTSP") is True
        assert details.record_mpid(SUPPLIER, "GTS2") is True
        assert details.record_mpid(OTHER, "RIVL") is True
        assert details.mpids_of(SUPPLIER) == frozenset({"GTSP", "GTS2"})
        assert details.mpids_of(OTHER) == frozenset({"RIVL"})
        assert details.user_ids_of("GTS2") == {SUPPLIER}
        assert details.user_ids_of("RIVL") == {OTHER}

    def test_recording_the_same_pair_twice_keeps_one(self, details):
        assert details.record_mpid(SUPPLIER, "GTSP") is True
        assert details.record_mpid(SUPPLIER, "GTSP") is False
        assert details.mpids_of(SUPPLIER) == frozenset({"GTSP"})

    def test_user_ids_recorded_with_one_mpid_are_that_partys(self, details):
        # A Party has a User ID per User Role: its xmlSign User ID and the User ID its
        # supplier certificates carry may differ; both are recorded with its MPID.
        assert details.record_mpid(SUPPLIER, "GTSP") is True
        assert details.record_mpid(OTHER, "GTSP") is True
        assert details.user_ids_of("GTSP") == {SUPPLIER, OTHER}
        assert details.mpids_of(OTHER) == frozenset({"GTSP"})

    def test_an_empty_mpid_is_refused(self, details):
        with pytest.raises(ValueError, match="MPID"):
            details.record_mpid(SUPPLIER, "  ")
        assert details.mpids_of(SUPPLIER) == frozenset()


class TestInMemoryPartyDetails(PartyDetailsContract):
    @pytest.fixture
    def details(self) -> PartyDetails:
        return InMemoryPartyDetails()


class TestSQLitePartyDetails(PartyDetailsContract):
    @pytest.fixture
    def details(self, tmp_path: Path) -> PartyDetails:
        return SQLitePartyDetails(tmp_path / "party-details.sqlite")

    def test_survives_reopening_and_is_shared_by_connections(self, tmp_path: Path):
        path = tmp_path / "party-details.sqlite"
        SQLitePartyDetails(path).record_mpid(SUPPLIER, "GTSP")
        reader, writer = SQLitePartyDetails(path), SQLitePartyDetails(path)
        assert reader.mpids_of(SUPPLIER) == frozenset({"GTSP"})
        writer.record_mpid(SUPPLIER, "GTS2")
        assert reader.mpids_of(SUPPLIER) == frozenset({"GTSP", "GTS2"})
        assert reader.record_mpid(OTHER, "GTS2") is True
        assert writer.user_ids_of("GTS2") == {SUPPLIER, OTHER}


class TestPostgresPartyDetails(PartyDetailsContract):
    @pytest.fixture
    def database(self, postgres_schemas: Schemas) -> PostgresDatabase:
        server = postgres_schemas.server
        return PostgresDatabase(
            server.dbname, server.user, server.host, server.port, schema=postgres_schemas.new()
        )

    @pytest.fixture
    def details(self, database: PostgresDatabase) -> PartyDetails:
        return PostgresPartyDetails(database)

    def test_survives_reopening_and_is_shared_by_connections(self, database: PostgresDatabase):
        PostgresPartyDetails(database).record_mpid(SUPPLIER, "GTSP")
        reader, writer = PostgresPartyDetails(database), PostgresPartyDetails(database)
        assert reader.mpids_of(SUPPLIER) == frozenset({"GTSP"})
        writer.record_mpid(SUPPLIER, "GTS2")
        assert reader.mpids_of(SUPPLIER) == frozenset({"GTSP", "GTS2"})
        assert reader.record_mpid(OTHER, "GTS2") is True
        assert writer.user_ids_of("GTS2") == {SUPPLIER, OTHER}


def test_the_composition_root_gives_every_application_party_details(store_url: str):
    app = build_application(store_url, settings=Settings())
    try:
        assert app.party_details is not None
        app.party_details.record_mpid(SUPPLIER, "GTSP")
        assert app.party_details.mpids_of(SUPPLIER) == frozenset({"GTSP"})
    finally:
        close_application(app)
    if store_url != "memory:":
        again = build_application(store_url, settings=Settings())
        try:
            assert again.party_details is not None
            assert again.party_details.user_ids_of("GTSP") == {SUPPLIER}
        finally:
            close_application(again)


# --- through `etmad apply` -------------------------------------------------------------------


def test_party_details_are_recorded_with_etmad_apply(run: Runner) -> None:
    first = run.ok("RecordPartyDetails", user_id="90-b3-d5-1f-30-01-00-00", mpid="SUPA")
    assert first.result == {"user_id": "90-B3-D5-1F-30-01-00-00", "mpid": "SUPA", "recorded": True}
    again = run.ok("RecordPartyDetails", user_id="90-B3-D5-1F-30-01-00-00", mpid="SUPA")
    assert isinstance(again.result, dict)
    assert again.result["recorded"] is False  # the same pair twice keeps one
    # another User ID of the same Party (its supplier certificates' User ID, say)
    other = run.ok("RecordPartyDetails", user_id="90-B3-D5-1F-30-03-00-00", mpid="SUPA")
    assert isinstance(other.result, dict)
    assert other.result["recorded"] is True
    assert run.app.party_details is not None
    assert run.app.party_details.mpids_of(EUI64.parse("90-B3-D5-1F-30-01-00-00")) == {"SUPA"}
