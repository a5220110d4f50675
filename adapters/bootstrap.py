"""The composition root: the one place that builds an application from settings.

Stores are chosen by URL (``--store`` or ``ETMAD_STORE``):

- ``memory:`` — eventsourcing's POPO recorders, in-memory Registration Data and Party Details;
- ``sqlite:///relative/path.sqlite`` or ``sqlite:////absolute/path.sqlite`` — eventsourcing's
  SQLite recorders, with Registration Data and Party Details in tables of the same file (the
  default is ``sqlite:///var/etmad.sqlite``);
- ``postgresql://user[:password]@host[:port]/dbname[?schema=…&pool_size=…&max_overflow=…&
  lock_timeout=…&connect_timeout=…&pre_ping=…]`` — eventsourcing's PostgreSQL recorders over
  psycopg 3 with a pool, table names pinned, with Registration Data and Party Details in tables
  of the same database and schema (``adapters/storage/postgres.py``; the password may come from
  ``ETMAD_POSTGRES_PASSWORD`` instead).

Logging (structlog) is configured here, once, when a program asks for it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs
import psycopg
import structlog

from adapters.storage.party_details import InMemoryPartyDetails, SQLitePartyDetails
from adapters.storage.postgres import (
    PostgresDatabase,
    PostgresPartyDetails,
    PostgresRegistrationData,
)
from adapters.storage.registration import InMemoryRegistrationData, SQLiteRegistrationData
from application.ports import Clock, PartyDetails, RegistrationData
from application.service import EtmadApplication
from application.settings import Settings
from domain.eligibility import EligibilityParameters
from domain.errors import DomainError, RuleViolation
from domain.programme_policies import SuspensionRule
from domain.selection import SelectionParameters

DEFAULT_STORE = "sqlite:///var/etmad.sqlite"


class ConfigurationError(DomainError):
    code = "CONFIGURATION_ERROR"


@attrs.frozen
class StoreLocation:
    kind: str
    path: Path | None = None
    postgres: PostgresDatabase | None = None

    @classmethod
    def parse(cls, url: str) -> StoreLocation:
        if url == "memory:":
            return cls("memory")
        if url.startswith("sqlite:///"):
            rest = url.removeprefix("sqlite:///")
            if not rest:
                raise ConfigurationError("sqlite:/// needs a file path")
            return cls("sqlite", Path(rest))
        if url.startswith(("postgresql://", "postgres://")):
            return cls("postgresql", postgres=_postgres(url))
        raise ConfigurationError(
            f"unknown store {url!r}: use memory:, sqlite:///PATH (relative), sqlite:////PATH "
            "(absolute) or postgresql://USER@HOST:PORT/DBNAME"
        )


_POSTGRES_FORM = "postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?PARAMETER=VALUE&...]"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_POSTGRES_PARAMETERS = (
    "schema",
    "pool_size",
    "max_overflow",
    "lock_timeout",
    "connect_timeout",
    "pre_ping",
)


def _postgres_parameters(shown: str, query: str) -> dict[str, str]:
    """The ``?name=value&…`` parameters of a PostgreSQL store URL: known names, once each."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ConfigurationError(
            f"store {shown!r}: expected PARAMETER=VALUE pairs separated by & after ?"
        ) from None
    given: dict[str, str] = {}
    for key, value in pairs:
        if key not in _POSTGRES_PARAMETERS:
            raise ConfigurationError(
                f"store {shown!r}: unknown parameter {key!r}; the parameters are "
                f"{', '.join(_POSTGRES_PARAMETERS)}"
            )
        if key in given:
            raise ConfigurationError(f"store {shown!r}: parameter {key!r} given twice")
        given[key] = value
    return given


def _postgres(url: str) -> PostgresDatabase:
    """A ``postgresql://`` store URL's database; every mistake is a ``CONFIGURATION_ERROR``
    naming what is wrong (never the password)."""
    shown = re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)
    parts = urlsplit(url)
    if parts.fragment:
        raise ConfigurationError(f"store {shown!r}: a PostgreSQL URL has no #fragment")
    userinfo, at, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    if not at or not user:
        raise ConfigurationError(f"store {shown!r}: name the user, as in {_POSTGRES_FORM}")
    try:
        port = parts.port or 5432
    except ValueError:
        raise ConfigurationError(f"store {shown!r}: the port must be a number") from None
    if hostport.startswith("["):  # an IPv6 address
        host = hostport[1 : hostport.find("]")]
    else:
        host = hostport.partition(":")[0]
    dbname = unquote(parts.path.removeprefix("/"))
    if not dbname or "/" in dbname:
        raise ConfigurationError(f"store {shown!r}: name the database, as in {_POSTGRES_FORM}")
    given = _postgres_parameters(shown, parts.query)
    schema = given.get("schema", "public")
    if not _SCHEMA_NAME.fullmatch(schema) or schema.startswith("pg_"):
        raise ConfigurationError(
            f"schema={schema!r}: expected a lower-case name of letters, digits and _ (at most "
            "63, not starting with a digit or pg_)"
        )
    defaults = PostgresDatabase(dbname, user)

    def whole(name: str, default: int, what: str, least: int) -> int:
        raw = given.get(name, "")
        return default if raw == "" else _whole_number(name, raw, what, least=least)

    return PostgresDatabase(
        dbname=dbname,
        user=unquote(user),
        host=unquote(host) or "localhost",
        port=port,
        password=unquote(password) if password else None,
        schema=schema,
        pool_size=whole("pool_size", defaults.pool_size, "connections", 1),
        max_overflow=whole("max_overflow", defaults.max_overflow, "connections", 0),
        lock_timeout=whole("lock_timeout", defaults.lock_timeout, "seconds", 1),
        connect_timeout=whole("connect_timeout", defaults.connect_timeout, "seconds", 1),
        pre_ping=_env_bool(given, "pre_ping", default=defaults.pre_ping),
    )


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name}={raw!r}: expected true or false")


_WHOLE = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?|\.[0-9]+")
_STEP = re.compile(r"\s*([0-9]+)\s*:\s*([0-9]+)\s*")


def _whole_number(name: str, raw: str, what: str, *, least: int = 0) -> int:
    """``raw`` as a whole number of ``what`` (ASCII digits) of at least ``least``."""
    text = raw.strip()
    if not _WHOLE.fullmatch(text):
        raise ConfigurationError(f"{name}={raw!r}: expected a whole number of {what}")
    value = int(text)
    if value < least:
        expected = (
            "cannot be negative"
            if least == 0
            else f"expected a whole number of {what} from {least}"
        )
        raise ConfigurationError(f"{name}={raw!r}: {expected}")
    return value


def _env_whole(
    env: Mapping[str, str], name: str, default: int, what: str, *, least: int = 0
) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    return _whole_number(name, raw, what, least=least)


def _env_days(env: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    return timedelta(days=_whole_number(name, raw, "days"))


def _env_ramp_up(
    env: Mapping[str, str], name: str, default: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, int], ...]:
    """``days:daily cap`` steps separated by commas (``0:50,7:200,14:1000,28:5000``)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    steps = [_STEP.fullmatch(step) for step in raw.split(",")]
    if not all(steps):
        raise ConfigurationError(
            f"{name}={raw!r}: expected days:daily cap steps of whole numbers separated by "
            "commas, such as 0:50,7:200,14:1000,28:5000"
        )
    return tuple((int(m[1]), int(m[2])) for m in steps if m is not None)


def _env_ratio(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if not _DECIMAL.fullmatch(raw.strip()):
        raise ConfigurationError(f"{name}={raw!r}: expected a decimal number above 0, at most 1")
    return float(raw)


def _checked(env: Mapping[str, str], name: str, build: Callable[[], object]) -> None:
    """Run ``build``; a rule's refusal of the value is reported against variable ``name``."""
    try:
        build()
    except RuleViolation as e:
        raise ConfigurationError(
            f"{name}={env.get(name)!r}: {e.message}", clause=e.clause
        ) from None


def _selection(env: Mapping[str, str]) -> SelectionParameters:
    """``Settings.selection`` from ``ETMAD_DAILY_CAPACITY``, ``ETMAD_PILOT_SIZE`` and
    ``ETMAD_RAMP_UP``, each checked by the selection's own rules (``ETMAD 6.1(a)``)."""
    defaults = SelectionParameters()
    capacity = _env_whole(env, "ETMAD_DAILY_CAPACITY", defaults.daily_capacity, "Devices a day")
    pilot = _env_whole(env, "ETMAD_PILOT_SIZE", defaults.pilot_size, "Devices")
    _checked(env, "ETMAD_PILOT_SIZE", lambda: attrs.evolve(defaults, pilot_size=pilot))
    ramp_up = _env_ramp_up(env, "ETMAD_RAMP_UP", defaults.ramp_up)
    _checked(env, "ETMAD_RAMP_UP", lambda: attrs.evolve(defaults, ramp_up=ramp_up))
    return SelectionParameters(daily_capacity=capacity, pilot_size=pilot, ramp_up=ramp_up)


def _suspension_rule(env: Mapping[str, str]) -> SuspensionRule:
    """``Settings.suspension_rule`` (DOMAIN 4.3) from ``ETMAD_SUSPENSION_*``, each value
    checked by the rule's own validation (``ETMAD 6.1(d)``)."""
    defaults = SuspensionRule()
    hours = _env_whole(
        env,
        "ETMAD_SUSPENSION_WINDOW_HOURS",
        int(defaults.window / timedelta(hours=1)),
        "hours",
        least=1,
    )
    minimum = _env_whole(
        env,
        "ETMAD_SUSPENSION_MIN_ATTEMPTS",
        defaults.minimum_completed,
        "completed attempts",
        least=1,
    )
    ratio = _env_ratio(env, "ETMAD_SUSPENSION_RATIO", defaults.failure_ratio)
    _checked(env, "ETMAD_SUSPENSION_RATIO", lambda: attrs.evolve(defaults, failure_ratio=ratio))
    return SuspensionRule(
        window=timedelta(hours=hours), minimum_completed=minimum, failure_ratio=ratio
    )


def settings_from_env(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from ``ETMAD_*`` variables (``docs/operations.md``), then explicit overrides."""
    env = os.environ if env is None else env
    defaults = EligibilityParameters()
    eligibility = EligibilityParameters(
        recent_change_of_supplier=_env_days(
            env, "ETMAD_RECENT_CHANGE_OF_SUPPLIER_DAYS", defaults.recent_change_of_supplier
        ),
        pending_change_of_supplier=_env_days(
            env, "ETMAD_PENDING_CHANGE_OF_SUPPLIER_DAYS", defaults.pending_change_of_supplier
        ),
        recent_commissioning=_env_days(
            env, "ETMAD_RECENT_COMMISSIONING_DAYS", defaults.recent_commissioning
        ),
    )
    check = env.get("ETMAD_MPAN_CHECK_DIGIT", "strict")
    if check not in {"strict", "relaxed"}:
        raise ConfigurationError(f"ETMAD_MPAN_CHECK_DIGIT={check!r}: expected strict or relaxed")
    number_text = env.get("ETMAD_BULK_MIGRATION_NUMBER", "300")
    try:
        number = int(number_text)
    except ValueError:
        raise ConfigurationError(
            f"ETMAD_BULK_MIGRATION_NUMBER={number_text!r}: expected a whole number"
        ) from None
    standard = Settings()
    values: dict[str, object] = {
        "eligibility": eligibility,
        "bulk_migration_number": number,
        "auto_authorise_bulk": _env_bool(env, "ETMAD_AUTO_AUTHORISE_BULK", default=True),
        "mpan_check_digit": check == "strict",
        "selection": _selection(env),
        "reselect_after": _env_days(env, "ETMAD_RESELECT_AFTER_DAYS", standard.reselect_after),
        "aggregate_cache_size": _env_whole(
            env,
            "ETMAD_AGGREGATE_CACHE_SIZE",
            standard.aggregate_cache_size,
            "aggregates",
            least=1,
        ),
        "suspension_rule": _suspension_rule(env),
        "auto_suspend": _env_bool(env, "ETMAD_AUTO_SUSPEND", default=standard.auto_suspend),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]


def build_application(
    store: str | None = None,
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    registration: RegistrationData | None = None,
    party_details: PartyDetails | None = None,
) -> EtmadApplication:
    """Build the application on the store named by ``store`` (or ``ETMAD_STORE``)."""
    location = StoreLocation.parse(store or os.environ.get("ETMAD_STORE") or DEFAULT_STORE)
    env: dict[str, str] = {"ORIGINATOR_ID_TYPE": "text", "IS_SNAPSHOTTING_ENABLED": "no"}
    opened: list[PostgresRegistrationData] = []
    if location.kind == "memory":
        env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
        registration = registration or InMemoryRegistrationData()
        party_details = party_details or InMemoryPartyDetails()
    elif location.postgres is not None:
        database = location.postgres
        if database.password is None:
            database = attrs.evolve(
                database, password=os.environ.get("ETMAD_POSTGRES_PASSWORD") or None
            )
        try:
            database.ensure_schema()
        except psycopg.OperationalError as e:
            raise ConfigurationError(
                f"cannot use the PostgreSQL store {database.describe()}: {e}".strip()
            ) from None
        env.update(database.eventsourcing_env())
        if registration is None:
            registration = PostgresRegistrationData(database)
            opened.append(registration)
        party_details = party_details or PostgresPartyDetails(database)
    else:
        assert location.path is not None  # noqa: S101 — parse gives sqlite a path
        location.path.parent.mkdir(parents=True, exist_ok=True)
        env.update(
            {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(location.path),
                "SQLITE_LOCK_TIMEOUT": "30",
            }
        )
        registration = registration or SQLiteRegistrationData(location.path)
        party_details = party_details or SQLitePartyDetails(location.path)
    try:
        return EtmadApplication(
            env,
            registration=registration,
            party_details=party_details,
            clock=clock,
            settings=settings or settings_from_env(),
        )
    except BaseException:
        for adapter in opened:
            adapter.close()
        raise


def configure_logging(*, level: str = "WARNING", json_logs: bool = False) -> None:
    """Configure structlog once for a program; library users configure their own."""
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level.upper(), logging.WARNING),
        format="%(message)s",
    )
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json_logs
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, level.upper(), logging.WARNING)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
