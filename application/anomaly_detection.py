"""CoS Party anomaly detection: loading a User's ADT file and showing its thresholds
(DOMAIN.md 3.6; rules in ``domain.anomaly_detection``).

* ``load_adt_file``: one unit of work on the User's ``adt:<User ID>`` aggregate; the file's
  sequence number and entries are checked by the aggregate (TADP 3.7: any failed check rejects
  the whole file and nothing is saved). Its ``Outcome`` result is the ``AdtThresholds`` after
  loading.
* ``load_read_adt_file``: the same for an ``AdtFile`` as a reader gives it, after checking that
  the file is the named User's (``ADT_USER_MISMATCH``): a file's sequence number only means
  something for the User ID it was written for.
* ``adt_thresholds``: the query: the User's SRV 6.23 threshold as it stood at a business time.

``AdtFileReader`` is the port through which a command names an ADT file by its path; the
adapters read and validate the bytes (``adapters.codecs.adt``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs

from application.errors import CommandRejected
from application.service import EtmadApplication, Outcome, UnitOfWork
from domain import clauses
from domain.anomaly_detection import (
    SOURCE_CLAUSES,
    AdtEntry,
    AdtThreshold,
    AnomalyDetectionRecord,
    ThresholdSource,
    anomaly_detection_aggregate_id,
)
from domain.events import utc


@attrs.frozen(kw_only=True)
class AdtFile:
    """An ADT file as read: the User ID it is for, its sequence number and its entries in file
    order (duplicates kept, nothing defaulted: the aggregate applies those rules)."""

    user_id: str
    sequence_number: int
    entries: tuple[AdtEntry, ...]


class AdtFileReader(Protocol):
    """**Protocol**: reads the ADT file a command names by its path.

    Promises: returns the file as written, or raises a ``DomainError`` with a stable ``code``
    (and the line and field where it can say) when it cannot be read or is malformed; it never
    removes duplicate entries or adds default ones."""

    def read_adt_file(self, path: str) -> AdtFile:
        """The ADT file at ``path``."""
        ...


class AdtUserMismatch(CommandRejected):
    """The file is another User ID's: its sequence number is not this User's to check."""

    def __init__(self, file_user_id: str, user_id: str) -> None:
        super().__init__(
            "ADT_USER_MISMATCH",
            f"the ADT file is for User ID {file_user_id!r}, not {user_id!r}: the whole file is "
            "rejected",
            clause=clauses.TADP_ADT_SEQUENCE_NUMBER,
        )


@attrs.frozen(kw_only=True)
class AdtThresholds:
    """A User's SRV 6.23 threshold as it stood at ``as_of``: where it came from (and the clause
    it is set under), the last file loaded, and the requests let through in the 1440 minutes
    ending at ``as_of``."""

    user_id: str
    as_of: datetime
    threshold: AdtThreshold
    source: ThresholdSource
    clause: str
    sequence_number: int | None
    loaded_at: datetime | None
    files_loaded: int
    requests_in_window: int


def _thresholds(record: AnomalyDetectionRecord, at: datetime) -> AdtThresholds:
    return AdtThresholds(
        user_id=record.user_id,
        as_of=at,
        threshold=record.threshold,
        source=record.source,
        clause=SOURCE_CLAUSES[record.source],
        sequence_number=record.sequence_number,
        loaded_at=record.loaded_at,
        files_loaded=record.files_loaded,
        requests_in_window=record.window_count(at),
    )


def adt_thresholds(app: EtmadApplication, *, user_id: str, at: datetime) -> AdtThresholds:
    """The User's SRV 6.23 threshold at business time ``at``, from the facts dated up to it
    (zeros, ``no_adt_file``, before its first file)."""
    at = utc(at)
    record = app.load(
        anomaly_detection_aggregate_id(user_id), AnomalyDetectionRecord.create, as_of=at
    ) or AnomalyDetectionRecord(user_id=user_id)
    return _thresholds(record, at)


def load_adt_file(
    app: EtmadApplication,
    *,
    user_id: str,
    sequence_number: int,
    entries: Sequence[AdtEntry],
    at: datetime,
) -> Outcome:
    """Load the User's ADT file at ``at``: refused whole (nothing saved) on a sequence number
    not greater than the last loaded (``ADT_FILE_REPLAYED``), two entries for one SRV and Time
    Period (``DUPLICATE_ADT_ENTRY``) or an invalid entry (``INVALID_ADT_ENTRY``)."""
    uow = UnitOfWork(app)
    aggregate_id = anomaly_detection_aggregate_id(user_id)
    record = uow.get(aggregate_id, AnomalyDetectionRecord.create) or AnomalyDetectionRecord(
        user_id=user_id
    )
    event = record.load_adt_file(sequence_number=sequence_number, entries=entries, at=at)
    state = uow.record(aggregate_id, AnomalyDetectionRecord.create, event)
    assert state is not None  # noqa: S101 — the event was just folded into it
    return Outcome(uow.commit(), _thresholds(state, utc(at)))


def load_read_adt_file(
    app: EtmadApplication, *, user_id: str, adt_file: AdtFile, at: datetime
) -> Outcome:
    """Load ``adt_file`` as ``user_id``'s ADT file; a file written for another User ID is
    refused whole (``ADT_USER_MISMATCH``)."""
    if adt_file.user_id != user_id:
        raise AdtUserMismatch(adt_file.user_id, user_id)
    return load_adt_file(
        app,
        user_id=user_id,
        sequence_number=adt_file.sequence_number,
        entries=adt_file.entries,
        at=at,
    )
