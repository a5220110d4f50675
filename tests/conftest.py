"""Shared fixtures: every application test runs against the memory, SQLite and PostgreSQL stores
(PostgreSQL on a throwaway server the session starts, ``tests/postgres_support.py``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

from adapters.bootstrap import build_application
from application.commands import CommandResult, execute
from application.service import EtmadApplication, close_application
from application.settings import Settings
from tests.postgres_support import NoServerError, Schemas, throwaway_server

# Timing belongs in benchmarks, not tests: no per-example deadline (a loaded CI machine must not
# turn a slow example into a failure); print the blob that reproduces any failure.
hypothesis_settings.register_profile("etmad", deadline=None, print_blob=True)
hypothesis_settings.load_profile("etmad")


class FixedClock:
    """A recording clock that tests can read and move."""

    def __init__(self, now: datetime | None = None) -> None:
        self.current = now or datetime(2024, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current


STORES = ["memory", "sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[Schemas]:
    """A throwaway PostgreSQL server for the whole session (skips where none can run), handing
    out a new schema per test."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(throwaway_server())
        except NoServerError as e:
            pytest.skip(f"PostgreSQL store: {e}")
        schemas = Schemas(server)
        stack.callback(schemas.close)
        yield schemas


def postgres_url(schemas: Schemas) -> str:
    """A fresh, empty PostgreSQL store: a new schema of the session's server. Small pools: a
    test builds several applications, and the server serves every test."""
    return schemas.server.url(schema=schemas.new(), pool_size=1, max_overflow=4)


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL: ``memory:``, a fresh SQLite file or a fresh PostgreSQL schema."""
    if request.param == "memory":
        return "memory:"
    if request.param == "postgresql":
        return postgres_url(request.getfixturevalue("postgres_schemas"))
    return f"sqlite:///{tmp_path / 'etmad.sqlite'}"


AppFactory = Callable[..., EtmadApplication]


@pytest.fixture
def make_app(store_url: str) -> Iterator[AppFactory]:
    """Build applications on this test's store (several may share a SQLite file)."""
    built: list[EtmadApplication] = []

    def make(settings: Settings | None = None, **kwargs: Any) -> EtmadApplication:
        app = build_application(
            store_url, settings=settings or Settings(), clock=FixedClock(), **kwargs
        )
        built.append(app)
        return app

    yield make
    for app in built:
        close_application(app)


@pytest.fixture
def app(make_app: AppFactory) -> EtmadApplication:
    return make_app()


class Runner:
    """Runs ``etmad apply`` commands (dicts) on an application, the way the CLI does."""

    def __init__(self, app: EtmadApplication) -> None:
        self.app = app

    def __call__(self, name: str, **fields: Any) -> CommandResult:
        return execute(self.app, {"command": name, **fields})

    def ok(self, name: str, **fields: Any) -> CommandResult:
        result = self(name, **fields)
        assert result.ok, result.error
        return result

    def result(self, name: str, **fields: Any) -> Any:
        """Run a command that must be accepted and return its ``result`` object."""
        return self.ok(name, **fields).result

    def rejected(self, name: str, code: str, **fields: Any) -> CommandResult:
        result = self(name, **fields)
        assert not result.ok, f"{name} was accepted; expected {code}"
        assert result.error is not None
        assert result.error["code"] == code, result.error
        return result


@pytest.fixture
def run(app: EtmadApplication) -> Runner:
    return Runner(app)
