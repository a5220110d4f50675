"""Replaying the event log gives back exactly the state the application decided on.

Random sequences of Device and Device Model commands (many refused, which is fine) are run
through ``execute`` on both stores. Then every aggregate rebuilt from its stored events equals
a fold of those events done here, the state a library user loaded after each command, and the
state the ``UnitOfWork`` held when it committed; ``version=`` reads are prefix folds and
``as_of=`` reads keep only the facts at or before that business time (standing facts always).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from application.commands import execute
from application.mapper import Envelope, event_record
from application.serialization import JSON
from application.service import EtmadApplication, UnitOfWork
from application.settings import Settings
from domain.device import Device
from domain.device_model import DeviceModel, ModelFamily
from domain.events import DomainEvent
from domain.identifiers import EUI64, DeviceModelKey, mpan_check_digit
from tests.conftest import AppFactory

BASE = datetime(2023, 6, 1, tzinfo=UTC)
OFFSETS = [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))]
ONE_MICROSECOND = timedelta(microseconds=1)
_examples = itertools.count(1)

Factory = Callable[[DomainEvent, int], Any]
Command = dict[str, Any]


def factory_for(aggregate_id: str) -> Factory:
    kind = aggregate_id.partition(":")[0]
    factories: dict[str, Factory] = {
        "device": Device.create,
        "device-model": DeviceModel.create,
        "model-family": ModelFamily.create,
    }
    return factories[kind]


# --- the estate of one example --------------------------------------------------------------


@attrs.frozen
class Estate:
    """Identifiers of one example, fresh for each so examples never share an aggregate."""

    n: int

    def model(self, family: str, firmware: str) -> dict[str, str]:
        return {
            "manufacturer": f"ACME-{self.n}",
            "model": family,
            "hardware_version": "HW1",
            "firmware_version": firmware,
        }

    @property
    def hub_models(self) -> list[dict[str, str]]:
        return [self.model("HUB", "1"), self.model("HUB", "2")]

    @property
    def meter_models(self) -> list[dict[str, str]]:
        return [self.model("ESME", fw) for fw in ("1", "2", "3")]

    def device(self, role: str) -> str:
        index = ["hub", "e1", "e2", "e3", "gpf"].index(role)
        raw = f"{self.n:012X}{index:04X}"
        return str(EUI64(int(raw, 16)))

    @property
    def devices(self) -> list[str]:
        return [self.device(r) for r in ("hub", "e1", "e2", "e3", "gpf")]

    def mpan(self, k: int) -> str:
        first = f"{(self.n * 10 + k) % 10**12:012d}"
        return first + str(mpan_check_digit(first))


def iso(hours: int, offset: timezone) -> str:
    return (BASE + timedelta(hours=hours)).astimezone(offset).isoformat()


times = st.builds(iso, st.integers(min_value=0, max_value=240), st.sampled_from(OFFSETS))
optional_times = st.none() | times


def _without_none(**fields: object) -> Command:
    return {k: v for k, v in fields.items() if v is not None}


def setup_commands(estate: Estate, at: list[str | None]) -> list[Command]:
    """Models of a Communications Hub and a meter family, and four Devices (one may be
    registered later by the random sequence)."""
    hub1, hub2 = estate.hub_models
    esme1 = estate.meter_models[0]
    return [
        _without_none(
            command="RegisterDeviceModel",
            model=hub1,
            device_type="CHF",
            smets="SMETS2+",
            firmware_rank=1,
            at=at[0],
        ),
        _without_none(
            command="RegisterDeviceModel",
            model=hub2,
            device_type="CHF",
            smets="SMETS2+",
            firmware_rank=2,
            at=at[1],
        ),
        _without_none(
            command="RegisterDeviceModel",
            model=esme1,
            device_type="ESME",
            smets="SMETS2+",
            firmware_rank=1,
            at=at[2],
        ),
        _without_none(
            command="RegisterDeviceModel",
            model=estate.meter_models[1],
            device_type="ESME",
            smets="SMETS2+",
            firmware_rank=2,
            at=at[7],
        ),
        _without_none(
            command="RegisterDevice",
            device_id=estate.device("hub"),
            device_type="CHF",
            model=hub1,
            at=at[3],
        ),
        _without_none(
            command="RegisterDevice",
            device_id=estate.device("e1"),
            device_type="ESME",
            model=esme1,
            mpxn=estate.mpan(1),
            comms_hub_id=estate.device("hub"),
            at=at[4],
        ),
        _without_none(
            command="RegisterDevice",
            device_id=estate.device("e2"),
            device_type="ESME",
            model=esme1,
            mpxn=estate.mpan(2),
            at=at[5],
        ),
        _without_none(
            command="RegisterDevice",
            device_id=estate.device("gpf"),
            device_type="GPF",
            model=hub1,
            comms_hub_id=estate.device("hub"),
            at=at[6],
        ),
    ]


# Which commands to draw, weighted: the Non-Migratable lifecycle needs several steps in a row.
KINDS = [*range(23), 3, 5, 7, 12, 13, 13, 13, 14, 14, 15, 16, 16, 17, 18]


@st.composite
def random_command(draw: st.DrawFn, estate: Estate) -> Command:  # noqa: C901, PLR0911, PLR0912 — one arm per kind
    """One command of the Device or Device Model vocabulary, with random targets and times."""
    hub, e1, e2, e3, gpf = estate.devices
    device = draw(st.sampled_from([hub, e1, e1, e1, e2, e3, gpf]))
    esme1, esme2, esme3 = estate.meter_models
    model = draw(st.sampled_from([esme1, esme1, esme1, esme2, esme3, *estate.hub_models]))
    at = draw(times)
    kind = draw(st.sampled_from(KINDS))
    party = draw(st.sampled_from(["SUPA", "SUPB"]))
    match kind:
        case 0 | 1:
            return {"command": "RecordCommissioning", "device_id": device, "at": at}
        case 2:
            return {"command": "RecordDecommissioning", "device_id": device, "at": at}
        case 3 | 4:
            name = draw(st.sampled_from(["RaiseTechnicalIssue", "ClearTechnicalIssue"]))
            return _without_none(
                command=name,
                device_id=device,
                at=at,
                reason=draw(st.sampled_from(["no response", " "])),
                issue_id=draw(st.sampled_from([None, "a", "b"])),
            )
        case 5 | 6:
            return {
                "command": "RecordCredentialsReplaced",
                "device_id": device,
                "at": at,
                "party": draw(st.sampled_from(["TCoS", "ECoS"])),
                "certificate": {
                    "serial": draw(st.sampled_from(["1", "2", "0x3", 4])),
                    "issuer": draw(st.sampled_from(["TCOS-CA", "ECOS-CA"])),
                },
            }
        case 7 | 8:
            return {
                "command": "RecordSrv623Processed",
                "device_id": device,
                "at": at,
                "request_id": draw(st.sampled_from(["r1", "r2", ""])),
            }
        case 9:
            return {"command": "UpgradeFirmware", "device_id": device, "at": at, "model": model}
        case 10:
            return {"command": "RecordMigrationStarted", "device_id": device, "at": at}
        case 11:
            return {
                "command": "RecordSupplierChange",
                "mpxn": estate.mpan(draw(st.integers(1, 3))),
                "supplier_id": party,
                "effective_from": at,
            }
        case 12:
            name = draw(st.sampled_from(["SuspendModel", "ResumeModel"]))
            return {"command": name, "model": model, "at": at, "reason": "failures"}
        case 13:
            return {
                "command": "CategoriseNonMigratable",
                "model": model,
                "at": at,
                "rationale": draw(st.sampled_from(["cannot process 6.23", "cannot", "", "x"])),
                "decided_by": "DCC",
            }
        case 14:
            return {
                "command": "RecordDisagreement",
                "model": model,
                "at": at,
                "party": party,
                "reason": "it works for us",
            }
        case 15:
            return _without_none(
                command="RecordAgreement",
                model=model,
                at=at,
                outcome=draw(st.sampled_from(["kept", "withdrawn"])),
                party=draw(st.sampled_from([None, "SUPA", "SUPB"])),
            )
        case 16:
            return {"command": "LodgeAppeal", "model": model, "at": at, "party": party}
        case 17:
            return {
                "command": "RecordDetermination",
                "model": model,
                "at": at,
                "outcome": draw(st.sampled_from(["upheld", "overturned"])),
            }
        case 18:
            return {
                "command": "RecategoriseMigratable",
                "model": model,
                "at": at,
                "rationale": "fixed by firmware",
                "decided_by": "DCC",
            }
        case 19:
            return {
                "command": "AuthoriseBulkMigration",
                "model": model,
                "at": at,
                "decided_by": "ops",
                "rationale": "reasonably satisfied",
            }
        case 20:
            return {
                "command": "RecordModelTestEvidence",
                "model": model,
                "at": at,
                "outcome": draw(st.sampled_from(["passed", "failed"])),
                "detail": "pre-CPL",
            }
        case 21:
            rank = draw(st.sampled_from([2, 3, 3]))
            return _without_none(
                command="RegisterDeviceModel",
                model=estate.meter_models[rank - 1],
                device_type="ESME",
                smets="SMETS2+",
                firmware_rank=rank,
                at=draw(optional_times),
            )
        case _:
            return _without_none(
                command="RegisterDevice",
                device_id=estate.device("e3"),
                device_type="ESME",
                model=draw(st.sampled_from(estate.meter_models)),
                mpxn=estate.mpan(3),
                comms_hub_id=draw(st.sampled_from([None, estate.device("hub")])),
                at=draw(optional_times),
            )


@attrs.frozen
class Scenario:
    estate: Estate
    settings: Settings
    setup: list[Command]
    commands: list[Command]
    as_of: list[datetime]


@st.composite
def burst(draw: st.DrawFn, estate: Estate) -> list[Command]:
    """A short story in business-time order that reaches deeper states than single random
    commands do: proving a model (replacement then SRV 6.23), or the Non-Migratable lifecycle
    through disagreement, agreement or appeal and determination, and re-categorisation."""
    start = draw(st.integers(min_value=0, max_value=200))
    steps = iter(itertools.count(start, draw(st.integers(min_value=0, max_value=5))))

    def at() -> str:
        return iso(next(steps), draw(st.sampled_from(OFFSETS)))

    if draw(st.booleans()):
        device = draw(st.sampled_from(estate.devices))
        party = draw(st.sampled_from(["ECoS", "TCoS"]))
        return [
            {
                "command": "RecordCredentialsReplaced",
                "device_id": device,
                "at": at(),
                "party": party,
                "certificate": {"serial": str(draw(st.integers(5, 9))), "issuer": f"{party}-CA"},
            },
            {
                "command": "RecordSrv623Processed",
                "device_id": device,
                "at": at(),
                "request_id": "r",
            },
        ]
    esme1, esme2, _ = estate.meter_models
    model = draw(st.sampled_from([esme1, esme1, esme2, estate.hub_models[0]]))
    party = draw(st.sampled_from(["SUPA", "SUPB"]))
    story: list[Command] = [
        {
            "command": "CategoriseNonMigratable",
            "model": model,
            "at": at(),
            "rationale": "cannot process an SRV 6.23",
            "decided_by": "DCC",
        },
        {
            "command": "RecordDisagreement",
            "model": model,
            "at": at(),
            "party": party,
            "reason": "r",
        },
    ]
    ending = draw(st.sampled_from(["kept", "withdrawn", "upheld", "overturned", "recategorised"]))
    if ending in {"kept", "withdrawn"}:
        story.append({"command": "RecordAgreement", "model": model, "at": at(), "outcome": ending})
    elif ending in {"upheld", "overturned"}:
        story.append({"command": "LodgeAppeal", "model": model, "at": at(), "party": party})
        story.append(
            {"command": "RecordDetermination", "model": model, "at": at(), "outcome": ending}
        )
    if ending in {"kept", "upheld", "recategorised"}:
        story.append(
            {
                "command": "RecategoriseMigratable",
                "model": model,
                "at": at(),
                "rationale": "works after all",
                "decided_by": "DCC",
            }
        )
    return story


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    estate = Estate(next(_examples))
    setup_at = draw(st.lists(optional_times, min_size=8, max_size=8))
    return Scenario(
        estate=estate,
        settings=Settings(
            bulk_migration_number=draw(st.integers(min_value=0, max_value=2)),
            auto_authorise_bulk=draw(st.booleans()),
        ),
        setup=setup_commands(estate, setup_at),
        commands=[
            command
            for chunk in draw(
                st.lists(
                    st.one_of(random_command(estate).map(lambda c: [c]), burst(estate)),
                    min_size=5,
                    max_size=30,
                )
            )
            for command in chunk
        ],
        as_of=[
            BASE + timedelta(minutes=m)
            for m in draw(st.lists(st.integers(-60, 250 * 60), min_size=1, max_size=3))
        ],
    )


# --- the reference fold ---------------------------------------------------------------------


def fold(envelopes: Iterable[Envelope], factory: Factory, as_of: datetime | None = None) -> Any:
    """The aggregate as a reader of the log would rebuild it, by hand: in order, keeping only
    facts at or before ``as_of`` (facts without a business time always); None if its first
    fact lies after ``as_of`` (it did not exist then)."""
    state = None
    for envelope in envelopes:
        at = envelope.event.occurred_at
        if as_of is not None and at is not None and at > as_of:
            if state is None:
                return None
            continue
        version = envelope.originator_version
        state = (
            factory(envelope.event, version)
            if state is None
            else state.apply(envelope.event, version)
        )
    return state


class CommitSpy:
    """Keeps what each ``UnitOfWork`` held when it committed: every aggregate it read or
    changed (None for one it looked for and did not find)."""

    def __init__(self) -> None:
        self.held: dict[str, Any] = {}
        self.last: dict[str, Any] = {}
        self.commits = 0
        self.original = UnitOfWork.commit

    def wrapper(self) -> Callable[[UnitOfWork], tuple[Envelope, ...]]:
        def commit(uow: UnitOfWork) -> tuple[Envelope, ...]:
            saved = self.original(uow)
            self.commits += 1
            self.last = dict(uow._states)
            self.held.update({k: v for k, v in self.last.items() if v is not None})
            return saved

        return commit


def max_notification_id(app: EtmadApplication) -> int:
    return app.recorder.max_notification_id() or 0


def check_aggregate(
    app: EtmadApplication,
    aggregate_id: str,
    scenario: Scenario,
    *,
    reported: list[JSON],
    live: Any,
    held: Any,
) -> None:
    factory = factory_for(aggregate_id)
    envelopes = list(app.stored(aggregate_id))
    assert [e.originator_version for e in envelopes] == list(range(1, len(envelopes) + 1))
    # What the commands reported is what the store holds, in order, nothing more.
    assert [event_record(e) for e in envelopes] == reported

    rebuilt = app.load(aggregate_id, factory)
    assert rebuilt == fold(envelopes, factory)
    assert rebuilt == live
    assert rebuilt == held
    assert rebuilt.version == len(envelopes)
    if isinstance(rebuilt, Device):
        assert app.device(rebuilt.device_id) == rebuilt
    if isinstance(rebuilt, DeviceModel):
        assert app.device_model(rebuilt.key) == rebuilt

    for version in range(1, len(envelopes) + 1):
        assert list(app.stored(aggregate_id, version=version)) == envelopes[:version]
        at_version = app.load(aggregate_id, factory, version=version)
        assert at_version == fold(envelopes[:version], factory)
        assert at_version.version == version

    business_times = {e.event.occurred_at for e in envelopes} - {None}
    probes = set(scenario.as_of)
    for at in business_times:
        assert at is not None
        probes |= {at, at - ONE_MICROSECOND}
    for as_of in sorted(probes):
        expected = fold(envelopes, factory, as_of)
        assert app.load(aggregate_id, factory, as_of=as_of) == expected
        # The same instant written with another offset reads the same.
        elsewhere = as_of.astimezone(OFFSETS[2])
        assert app.load(aggregate_id, factory, as_of=elsewhere) == expected
        if expected is None:
            assert envelopes[0].event.occurred_at is not None
            assert envelopes[0].event.occurred_at > as_of
            continue
        included = [
            e for e in envelopes if e.event.occurred_at is None or e.event.occurred_at <= as_of
        ]
        assert expected.version == included[-1].originator_version
    # Standing facts hold at every time, however early.
    if envelopes[0].event.occurred_at is None:
        assert app.load(aggregate_id, factory, as_of=datetime(1970, 1, 1, tzinfo=UTC)) is not None


def run_commands(
    app: EtmadApplication, scenario: Scenario, spy: CommitSpy
) -> tuple[dict[str, list[JSON]], dict[str, Any]]:
    """Run the scenario's commands; return the event records each aggregate was reported to
    get, and its state as a library user loaded it after the last command that changed it."""
    reported: dict[str, list[JSON]] = {}
    live: dict[str, Any] = {}
    for number, command in enumerate([*scenario.setup, *scenario.commands]):
        before = max_notification_id(app)
        commits = spy.commits
        result = execute(app, command)
        event(f"{command['command']}: {result.error['code'] if result.error else 'ok'}")
        if number < len(scenario.setup):
            assert result.ok, (command, result.error)
        if not result.ok:
            assert result.error is not None
            assert result.error["code"] not in {"INVALID_COMMAND", "UNKNOWN_COMMAND"}, result.error
            # A refused command saves nothing.
            assert max_notification_id(app) == before
            assert spy.commits == commits
            continue
        assert max_notification_id(app) == before + len(result.events)
        for record in result.events:
            reported.setdefault(str(record["aggregate_id"]), []).append(record)
        if spy.commits > commits:
            # Everything the command decided on is what the store now gives back: nothing
            # was folded in memory and left unsaved.
            for aggregate_id, state in spy.last.items():
                assert app.load(aggregate_id, factory_for(aggregate_id)) == state, aggregate_id
        # A library user reads each aggregate the command changed.
        for aggregate_id in {str(r["aggregate_id"]) for r in result.events}:
            live[aggregate_id] = app.load(aggregate_id, factory_for(aggregate_id))
            assert live[aggregate_id] == spy.held[aggregate_id]
    return reported, live


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_replay_gives_back_the_decided_state(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch, scenario: Scenario
):
    app = make_app(settings=scenario.settings)
    spy = CommitSpy()
    with monkeypatch.context() as patch:
        patch.setattr(UnitOfWork, "commit", spy.wrapper())
        reported, live = run_commands(app, scenario, spy)

    assert reported.keys() == live.keys()
    assert reported.keys() <= spy.held.keys()
    for aggregate_id, records in reported.items():
        check_aggregate(
            app,
            aggregate_id,
            scenario,
            reported=records,
            live=live[aggregate_id],
            held=spy.held[aggregate_id],
        )


def test_a_known_story_by_version_and_by_business_time(make_app: AppFactory):
    """A fixed story: the reference fold and ``load`` agree, and the reads give known answers."""
    app = make_app()
    estate = Estate(next(_examples))
    for command in setup_commands(estate, [None, None, None, None, iso(0, UTC), None, None, None]):
        assert execute(app, command).ok
    e1 = estate.device("e1")
    assert execute(app, {"command": "RecordCommissioning", "device_id": e1, "at": iso(10, UTC)}).ok
    raised = {"command": "RaiseTechnicalIssue", "device_id": e1, "reason": "no response"}
    assert execute(app, {**raised, "at": iso(5, OFFSETS[1])}).ok
    device_id = EUI64.parse(e1)
    aggregate_id = f"device:{e1}"
    envelopes = list(app.stored(aggregate_id))
    assert [type(e.event).__name__ for e in envelopes] == [
        "Registered",
        "Commissioned",
        "TechnicalIssueRaised",
    ]
    assert app.device(device_id) == fold(envelopes, Device.create)
    # Before registration the Device did not exist; at 5h the issue, not the commissioning.
    assert app.load(aggregate_id, Device.create, as_of=BASE - ONE_MICROSECOND) is None
    at_five = app.device(device_id, as_of=BASE + timedelta(hours=5))
    assert at_five.commissioned_at is None
    assert [i.issue_id for i in at_five.technical_issues] == ["default"]
    assert at_five.version == 3
    assert app.device(device_id, version=2).technical_issues == ()
    assert app.device(device_id, version=2).commissioned_at == BASE + timedelta(hours=10)
    # The hub's model is a standing fact: there at any time.
    hub_model = DeviceModelKey.from_json(estate.hub_models[0])
    assert app.device_model(hub_model, as_of=datetime(1970, 1, 1, tzinfo=UTC)).key == hub_model
