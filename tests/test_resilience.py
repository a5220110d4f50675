"""``Resilience``: a step decided again after a conflict or through an outage, within bounds;
``Shard``: workers splitting the Devices (``application/resilience.py``, ``programme.py``)."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import InterfaceError, OperationalError

from application.errors import ConcurrencyConflict
from application.programme import Shard
from application.resilience import Notice, NoticeKind, Resilience, StoreUnavailable
from application.service import EtmadApplication
from domain.identifiers import EUI64


class Steps:
    """A step that fails with the given errors, one a call, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def guard(**kwargs) -> tuple[Resilience, list[Notice], list[float]]:
    notices: list[Notice] = []
    waits: list[float] = []
    return Resilience(on_notice=notices.append, sleep=waits.append, **kwargs), notices, waits


def test_a_conflict_is_decided_again_after_catching_up(
    app: EtmadApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    caught_up = []
    monkeypatch.setattr(app, "catch_up", lambda: caught_up.append(True))
    resilience, notices, waits = guard()
    step = Steps(ConcurrencyConflict("x"), ConcurrencyConflict("y"))
    assert resilience.run(app, "starts", step) == "done"
    assert step.calls == 3
    assert len(caught_up) == 2  # before each new decision
    assert [n.kind for n in notices] == [NoticeKind.CONFLICT, NoticeKind.CONFLICT]
    assert "another worker saved first" in notices[0].describe()
    assert waits == []  # a conflict is not waited on


def test_too_many_conflicts_give_up(app: EtmadApplication) -> None:
    resilience, _, _ = guard(max_conflicts=1)
    with pytest.raises(ConcurrencyConflict):
        resilience.run(app, "starts", Steps(*(ConcurrencyConflict(str(n)) for n in range(3))))


def test_an_outage_is_reported_waited_with_doubling_back_off_and_the_step_resumes(
    app: EtmadApplication,
) -> None:
    resilience, notices, waits = guard(first_backoff=0.5, max_backoff=1.5, max_wait=60)
    step = Steps(OperationalError("server closed"), InterfaceError("gone"), OperationalError("x"))
    assert resilience.run(app, "runs", step) == "done"
    assert waits == [0.5, 1.0, 1.5]  # doubled, capped
    assert [n.kind for n in notices] == [NoticeKind.OUTAGE] * 3 + [NoticeKind.RESUMED]
    assert "the store is unavailable (server closed)" in notices[0].describe()
    assert notices[-1].waited == 3.0
    assert "resumed" in notices[-1].describe()


def test_an_outage_longer_than_the_bound_stops_the_step(app: EtmadApplication) -> None:
    resilience, _, waits = guard(first_backoff=1, max_backoff=4, max_wait=6)
    with pytest.raises(StoreUnavailable) as stopped:
        resilience.run(app, "retries", Steps(*(OperationalError("down") for _ in range(10))))
    assert waits == [1, 2, 3]  # the last wait is cut to the bound
    assert sum(waits) == 6
    assert stopped.value.waited == 6
    assert "run again to continue" in str(stopped.value)


def test_other_errors_are_not_retried(app: EtmadApplication) -> None:
    resilience, notices, _ = guard()
    with pytest.raises(ValueError, match="a bug"):
        resilience.run(app, "runs", Steps(ValueError("a bug")))
    assert notices == []


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="waits"):
        Resilience(max_wait=-1)
    with pytest.raises(ValueError, match="waits"):
        Resilience(first_backoff=2, max_backoff=1)
    with pytest.raises(ValueError, match="conflicts"):
        Resilience(max_conflicts=-1)


def test_shards_split_the_devices_between_workers() -> None:
    shards = [Shard.parse(f"{k}/3") for k in range(3)]
    devices = [EUI64(0x00DB123400000000 + n) for n in range(30)]
    held = [[d for d in devices if s.holds(d)] for s in shards]
    assert sorted(d.value for h in held for d in h) == [d.value for d in devices]
    assert all(len(h) == 10 for h in held)
    for bad in ("3/3", "1", "a/2", "0/0"):
        with pytest.raises(ValueError, match=r"K/N|index"):
            Shard.parse(bad)
