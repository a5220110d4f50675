"""The aggregate cache (``application/cache.py``): what it serves is what a replay gives.

Every load through the cache (latest, as of a business time, after this application's own saves,
after another application's writes on the same store) must equal a replay of the store; a
decision taken on a stale state is refused by the version check, and the retry decides on the
fresh one. Run on memory and SQLite; the two-writer tests need a shared SQLite file.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from adapters.bootstrap import build_application
from application.errors import ConcurrencyConflict
from application.service import EtmadApplication, UnitOfWork, close_application
from application.settings import Settings
from domain.device import Device, Registered, device_aggregate_id
from domain.device_model import DeviceModel, model_aggregate_id
from domain.identifiers import EUI64, MPAN, DeviceModelKey
from tests.builders import (
    LONG_AGO,
    NOW,
    commissioned_device,
    days,
    eui,
    iso,
    mpan,
    register_model,
    supplier_change,
)
from tests.conftest import AppFactory, FixedClock, Runner


def replayed(app: EtmadApplication, aggregate_id: str, factory, as_of: datetime | None = None):
    """The aggregate rebuilt from the store without the cache."""
    return app._replay(app.stored(aggregate_id), factory, as_of)


def key(model: dict[str, str]) -> DeviceModelKey:
    return DeviceModelKey(**model)


def a_story(run: Runner) -> tuple[str, dict[str, str]]:
    model = register_model(run)
    meter = commissioned_device(run, eui(1), model)
    run.ok("RaiseTechnicalIssue", device_id=meter, at=iso(NOW - days(3)), reason="no reads")
    run.ok("ClearTechnicalIssue", device_id=meter, at=iso(NOW - days(1)), reason="reads again")
    run.ok("RecordMigrationStarted", device_id=meter, at=iso(NOW))
    return meter, model


def test_cached_loads_equal_a_replay_latest_and_as_of(run: Runner) -> None:
    meter, model = a_story(run)
    app = run.app
    device_id = device_aggregate_id(EUI64.parse(meter))
    model_id = model_aggregate_id(key(model))
    for moment in (None, LONG_AGO - days(1), LONG_AGO, NOW - days(1), NOW, NOW + days(5)):
        for aggregate_id, factory in ((device_id, Device.create), (model_id, DeviceModel.create)):
            first = app.load(aggregate_id, factory, as_of=moment)
            again = app.load(aggregate_id, factory, as_of=moment)  # served from the cache
            assert first == again == replayed(app, aggregate_id, factory, moment)
    assert app.cache.hits > 0


def test_the_cache_follows_this_applications_own_saves(run: Runner) -> None:
    meter, _ = a_story(run)
    app = run.app
    aggregate_id = device_aggregate_id(EUI64.parse(meter))
    before = app.load(aggregate_id, Device.create)
    assert before is not None
    run.ok("RecordDecommissioning", device_id=meter, at=iso(NOW + days(10)))
    after = app.load(aggregate_id, Device.create)
    assert after is not None
    assert after.version == before.version + 1
    assert after.decommissioned_at is not None
    assert after == replayed(app, aggregate_id, Device.create)


def test_an_aggregate_known_absent_is_found_once_this_application_creates_it(run: Runner) -> None:
    app = run.app
    aggregate_id = device_aggregate_id(EUI64.parse(eui(7)))
    assert app.load(aggregate_id, Device.create) is None
    commissioned_device(run, eui(7), register_model(run))
    assert app.load(aggregate_id, Device.create) is not None


def test_a_bounded_cache_forgets_the_least_recently_used(make_app: AppFactory) -> None:
    app = make_app(Settings(aggregate_cache_size=2))
    run = Runner(app)
    model = register_model(run)
    for n in range(1, 5):
        commissioned_device(run, eui(n), model)
    assert len(app.cache) <= 2
    for n in range(1, 5):
        aggregate_id = device_aggregate_id(EUI64.parse(eui(n)))
        assert app.load(aggregate_id, Device.create) == replayed(app, aggregate_id, Device.create)


def test_ids_by_event_type_are_read_incrementally_in_first_recorded_order(run: Runner) -> None:
    model = register_model(run)
    commissioned_device(run, eui(3), model)
    assert run.app.aggregates_with(Registered.TYPE) == [device_aggregate_id(EUI64.parse(eui(3)))]
    commissioned_device(run, eui(1), model)
    commissioned_device(run, eui(2), model)
    assert run.app.aggregates_with(Registered.TYPE) == [
        device_aggregate_id(EUI64.parse(eui(n))) for n in (3, 1, 2)
    ]


# --- two applications on one store (SQLite) -------------------------------------------------


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[EtmadApplication, EtmadApplication]]:
    """Two applications on one SQLite file (a ``memory:`` store is one process's own)."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    first = build_application(url, settings=Settings(), clock=FixedClock())
    second = build_application(url, settings=Settings(), clock=FixedClock())
    yield first, second
    close_application(first)
    close_application(second)


def test_another_writers_events_are_caught_up_before_a_decision(
    two: tuple[EtmadApplication, EtmadApplication],
) -> None:
    first, second = two
    meter, _ = a_story(Runner(first))
    aggregate_id = device_aggregate_id(EUI64.parse(meter))
    assert first.load(aggregate_id, Device.create) is not None  # cached in the first
    Runner(second).ok("RecordDecommissioning", device_id=meter, at=iso(NOW + days(10)))
    # A new unit of work catches up: the first application decides on the latest state.
    state = UnitOfWork(first).get(aggregate_id, Device.create)
    assert state is not None
    assert state.decommissioned_at is not None
    assert state == replayed(second, aggregate_id, Device.create)
    assert first.aggregates_with(Registered.TYPE) == second.aggregates_with(Registered.TYPE)


def test_a_decision_on_a_stale_state_is_refused_and_the_retry_succeeds(
    two: tuple[EtmadApplication, EtmadApplication],
) -> None:
    first, second = two
    meter, _ = a_story(Runner(first))
    aggregate_id = device_aggregate_id(EUI64.parse(meter))
    stale = UnitOfWork(first)  # caught up now; the second writes after this
    device = stale.get(aggregate_id, Device.create)
    assert device is not None
    Runner(second).ok(
        "RaiseTechnicalIssue", device_id=meter, at=iso(NOW + days(4)), reason="tamper", issue_id="t"
    )
    stale.record(aggregate_id, Device.create, device.decommission(NOW + days(10)))
    with pytest.raises(ConcurrencyConflict):
        stale.commit()
    # Nothing of the refused unit of work was saved, and the cache forgot the stale state.
    assert first.load(aggregate_id, Device.create) == replayed(first, aggregate_id, Device.create)
    Runner(first).ok("RecordDecommissioning", device_id=meter, at=iso(NOW + days(10)))
    final = first.load(aggregate_id, Device.create)
    assert final is not None
    assert final.decommissioned_at is not None
    assert [i.issue_id for i in final.technical_issues] == ["t"]


def test_an_aggregate_known_absent_is_found_once_another_writer_creates_it(
    two: tuple[EtmadApplication, EtmadApplication],
) -> None:
    first, second = two
    aggregate_id = device_aggregate_id(EUI64.parse(eui(8)))
    assert first.load(aggregate_id, Device.create) is None  # remembered as absent
    commissioned_device(Runner(second), eui(8), register_model(Runner(second)))
    assert UnitOfWork(first).get(aggregate_id, Device.create) == replayed(
        second, aggregate_id, Device.create
    )


# --- batches: many units of work, one transaction ----------------------------------------------


def test_a_batch_saves_its_units_of_work_together_at_its_end(run: Runner) -> None:
    app = run.app
    model = register_model(run)
    before = app.recorder.max_notification_id()
    with app.batch():
        commissioned_device(run, eui(1), model, mpxn=mpan(1))
        supplier_change(run, mpan(1), "SUPA", NOW - days(30))
        refused = run("RecordCommissioning", device_id=eui(1), at=iso(NOW))  # already: refused
        assert not refused.ok
        assert app.recorder.max_notification_id() == before  # nothing saved yet...
        state = app.load(device_aggregate_id(EUI64.parse(eui(1))), Device.create)
        assert state is not None  # ...but every unit of work decides on the ones before it
        assert state.commissioned_at == LONG_AGO
    assert app.recorder.max_notification_id() == (before or 0) + 2
    aggregate_id = device_aggregate_id(EUI64.parse(eui(1)))
    assert app.load(aggregate_id, Device.create) == replayed(app, aggregate_id, Device.create)
    assert [c.supplier_id for c in app.supplier_history(MPAN.parse(mpan(1)))] == ["SUPA"]
    assert app.aggregates_with(Registered.TYPE) == [aggregate_id]
    assert app.assess_eligibility(EUI64.parse(eui(1)), NOW).eligible


def test_a_batch_that_raises_saves_nothing(make_app: AppFactory) -> None:
    app = make_app()
    run = Runner(app)
    model = register_model(run)
    before = app.recorder.max_notification_id()

    def interrupted() -> None:
        with app.batch():
            commissioned_device(run, eui(1), model, mpxn=mpan(1))
            supplier_change(run, mpan(1), "SUPA", NOW - days(30))
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        interrupted()
    assert app.recorder.max_notification_id() == before
    assert app.load(device_aggregate_id(EUI64.parse(eui(1))), Device.create) is None
    assert list(app.supplier_history(MPAN.parse(mpan(1)))) == []
    commissioned_device(run, eui(1), model)  # and the application goes on


def test_a_fresh_application_does_not_read_the_whole_log_to_catch_up(
    two: tuple[EtmadApplication, EtmadApplication],
) -> None:
    first, second = two
    meter, _ = a_story(Runner(first))
    assert second.cache.catch_up() == 0  # nothing cached: nothing to fold, nothing read
    aggregate_id = device_aggregate_id(EUI64.parse(meter))
    assert second.load(aggregate_id, Device.create) == replayed(first, aggregate_id, Device.create)
    Runner(first).ok("RecordDecommissioning", device_id=meter, at=iso(NOW + days(10)))
    assert second.cache.catch_up() == 1  # now it holds the Device: the new event is read
    state = second.load(aggregate_id, Device.create)
    assert state is not None
    assert state.decommissioned_at is not None
