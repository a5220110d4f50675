"""The composition root: the one place that builds an application from settings.

Stores are chosen by URL (``--store`` or ``ETMAD_STORE``):

- ``memory:`` — eventsourcing's POPO recorders and in-memory Registration Data;
- ``sqlite:///relative/path.sqlite`` or ``sqlite:////absolute/path.sqlite`` — eventsourcing's
  SQLite recorders, with Registration Data in a table of the same file (the default is
  ``sqlite:///var/etmad.sqlite``).

Logging (structlog) is configured here, once, when a program asks for it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import attrs
import structlog

from adapters.storage.registration import InMemoryRegistrationData, SQLiteRegistrationData
from application.ports import Clock, RegistrationData
from application.service import EtmadApplication
from application.settings import Settings
from domain.eligibility import EligibilityParameters
from domain.errors import DomainError

DEFAULT_STORE = "sqlite:///var/etmad.sqlite"


class ConfigurationError(DomainError):
    code = "CONFIGURATION_ERROR"


@attrs.frozen
class StoreLocation:
    kind: str
    path: Path | None = None

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
            raise ConfigurationError(
                "the PostgreSQL store is not available in this version; use memory: or "
                "sqlite:///PATH"
            )
        raise ConfigurationError(
            f"unknown store {url!r}: use memory: or sqlite:///PATH (relative) or "
            "sqlite:////PATH (absolute)"
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


def _env_days(env: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        days = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r}: expected a whole number of days") from None
    if days < 0:
        raise ConfigurationError(f"{name}={raw!r}: cannot be negative")
    return timedelta(days=days)


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
    values: dict[str, object] = {
        "eligibility": eligibility,
        "bulk_migration_number": number,
        "auto_authorise_bulk": _env_bool(env, "ETMAD_AUTO_AUTHORISE_BULK", default=True),
        "mpan_check_digit": check == "strict",
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]


def build_application(
    store: str | None = None,
    *,
    settings: Settings | None = None,
    clock: Clock | None = None,
    registration: RegistrationData | None = None,
) -> EtmadApplication:
    """Build the application on the store named by ``store`` (or ``ETMAD_STORE``)."""
    location = StoreLocation.parse(store or os.environ.get("ETMAD_STORE") or DEFAULT_STORE)
    env: dict[str, str] = {"ORIGINATOR_ID_TYPE": "text", "IS_SNAPSHOTTING_ENABLED": "no"}
    if location.kind == "memory":
        env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
        registration = registration or InMemoryRegistrationData()
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
    return EtmadApplication(
        env, registration=registration, clock=clock, settings=settings or settings_from_env()
    )


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
