"""The composition root: stores by URL, settings from the environment, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.bootstrap import (
    ConfigurationError,
    StoreLocation,
    build_application,
    settings_from_env,
)
from application.commands import execute
from application.service import close_application
from application.settings import Settings


def test_store_urls():
    assert StoreLocation.parse("memory:").kind == "memory"
    assert StoreLocation.parse("sqlite:///var/etmad.sqlite").path == Path("var/etmad.sqlite")
    assert StoreLocation.parse("sqlite:////srv/etmad.sqlite").path == Path("/srv/etmad.sqlite")
    for bad in ("sqlite:///", "mysql://x", "postgresql://localhost/etmad", ""):
        with pytest.raises(ConfigurationError):
            StoreLocation.parse(bad)


def test_the_process_environment_cannot_move_the_event_store(tmp_path, monkeypatch):
    # eventsourcing would read ETMAD_SQLITE_DBNAME (application name + setting) from the
    # environment; the composition root's store URL must be the only say.
    elsewhere = tmp_path / "elsewhere.sqlite"
    monkeypatch.setenv("ETMAD_SQLITE_DBNAME", str(elsewhere))
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.popo")
    chosen = tmp_path / "chosen.sqlite"
    app = build_application(f"sqlite:///{chosen}", settings=Settings())
    try:
        model = {
            "manufacturer": "A",
            "model": "B",
            "hardware_version": "1",
            "firmware_version": "1",
        }
        assert execute(
            app,
            {
                "command": "RegisterDeviceModel",
                "model": model,
                "device_type": "ESME",
                "smets": "SMETS2+",
                "firmware_rank": 1,
            },
        ).ok
    finally:
        close_application(app)
    assert chosen.exists()
    assert not elsewhere.exists()


def test_settings_from_the_environment():
    settings = settings_from_env(
        {
            "ETMAD_BULK_MIGRATION_NUMBER": "120",
            "ETMAD_AUTO_AUTHORISE_BULK": "false",
            "ETMAD_MPAN_CHECK_DIGIT": "relaxed",
            "ETMAD_RECENT_CHANGE_OF_SUPPLIER_DAYS": "10",
            "ETMAD_PENDING_CHANGE_OF_SUPPLIER_DAYS": "21",
            "ETMAD_RECENT_COMMISSIONING_DAYS": "3",
        }
    )
    assert settings.bulk_migration_number == 120
    assert settings.auto_authorise_bulk is False
    assert settings.mpan_check_digit is False
    assert settings.eligibility.recent_change_of_supplier.days == 10
    assert settings.eligibility.pending_change_of_supplier.days == 21
    assert settings.eligibility.recent_commissioning.days == 3
    assert settings_from_env({}) == Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ETMAD_BULK_MIGRATION_NUMBER", "many"),
        ("ETMAD_AUTO_AUTHORISE_BULK", "perhaps"),
        ("ETMAD_MPAN_CHECK_DIGIT", "lenient"),
        ("ETMAD_RECENT_COMMISSIONING_DAYS", "-1"),
        ("ETMAD_PENDING_CHANGE_OF_SUPPLIER_DAYS", "two weeks"),
    ],
)
def test_bad_settings_are_refused_with_their_name(name, value):
    with pytest.raises(ConfigurationError) as raised:
        settings_from_env({name: value})
    assert name in raised.value.message
