"""CoS Party Threshold Anomaly Detection (DOMAIN.md 3.6; SRPD 8.2 and clause 20, the ADT file
rules of the TADP as the 2021 consultation proposed them, its section 3.2): one aggregate per
User ID, id ``adt:<User ID>``.

What the aggregate holds:

- **the User's SRV 6.23 threshold**, as loaded from its ADT files (``AdtFileLoaded``). A file's
  sequence number must be greater than that of any file loaded before for the User ID ("greater
  than that in any previous file that has been successfully processed"), else it is refused
  ``ADT_FILE_REPLAYED``; a file "with more than one entry for a particular SRV with the same Time
  Period" is refused ``DUPLICATE_ADT_ENTRY``; any failed check rejects the whole file (TADP 3.7)
  and nothing is recorded. The CoS Party "only applies User-set ADTs, not global thresholds, and
  furthermore only applies thresholds set for a Time Period Applicable of 1440 minutes"
  (SRPD 20): of a file's entries it keeps the SRV 6.23 entry for 1440 minutes and counts the
  others as ignored (they are the DCC's TADP business, not the CoS Party's). "For SRV 6.23 ...
  if there is no entry corresponding to a Time Period Applicable of 1440 minutes (1 day), the
  DCC should create an entry for that Time Period Applicable with an ADT and Warning Threshold
  of zero": such a file loads ADT 0, Warning 0, marked ``ADT_FILE_DEFAULT``. A newer file
  replaces the whole threshold; old values are not kept.
- **a User ID that never submitted a file** gets, for SRVs giving rise to critical commands, "the
  ADT and Warning Threshold values [set] to zero (with a Time Period Applicable of 1 day)". DUIS
  lists SRV 6.23 as non-critical, so the seeds leave it open: **[choice]** such a User gets
  ADT 0 and Warning 0 for SRV 6.23 too (``NO_ADT_FILE``), the same as a file without a 6.23
  entry, so that never submitting a file is never more permissive than submitting one. Every
  SRV 6.23 of that User is ceased until it loads a file.
- **the rolling window**: the times of the User's SRV 6.23 requests the CoS Party let through
  (``RequestAssessed`` with a ``proceed`` or ``warn`` verdict), kept only while they can still
  fall in a window (the 1440 minutes ending at the last event). **[choice]** the window is the
  1440 minutes ending at receipt, open at its start and closed at its end: a request received
  exactly 1440 minutes before another is no longer counted with it (``requests_in_window``).
  **[choice]** ceased requests are not counted: they produce nothing, and the supplier must
  resend (SRPD 20: nothing is quarantined), so counting them would keep a User ceased longer.

The policy ``assess_threshold`` is pure: the request, counted with the ``window_counts`` before
it, ``cease``s when the count exceeds the ADT (SRPD 8.2 "may result in a cessation of
processing"; SRPD 20: an alert goes to the User, nothing is quarantined); else it ``warn``s when
the count reaches the User's Warning Threshold (**[choice]**, DOMAIN 3.6: the Warning Threshold
is the User's own, from its file; a Warning Threshold of 0 sets no warning level); else it
``proceed``s. Events are dated and in time order (``BEFORE_LAST_EVENT``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Final, Self

import attrs

from domain import clauses
from domain.errors import RuleViolation
from domain.events import DomainEvent, utc

SRV_6_23: Final = "6.23"
TIME_PERIOD_APPLICABLE_MINUTES: Final = 1440  # the only Time Period the CoS Party applies
WINDOW: Final = timedelta(minutes=TIME_PERIOD_APPLICABLE_MINUTES)


def anomaly_detection_aggregate_id(user_id: str) -> str:
    return f"adt:{user_id}"


class AdtCode(enum.StrEnum):
    """Why a command was refused. Stable: callers match on these."""

    USER_ID_REQUIRED = "USER_ID_REQUIRED"
    INVALID_ADT_SEQUENCE_NUMBER = "INVALID_ADT_SEQUENCE_NUMBER"
    ADT_FILE_REPLAYED = "ADT_FILE_REPLAYED"
    INVALID_ADT_ENTRY = "INVALID_ADT_ENTRY"
    DUPLICATE_ADT_ENTRY = "DUPLICATE_ADT_ENTRY"
    INVALID_WINDOW_COUNT = "INVALID_WINDOW_COUNT"
    REQUEST_REQUIRED = "REQUEST_REQUIRED"
    BEFORE_LAST_EVENT = "BEFORE_LAST_EVENT"


def _violation(message: str, code: AdtCode, clause: str) -> RuleViolation:
    return RuleViolation(message, code=code.value, clause=clause)


def _whole(value: object, *, least: int = 0) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


class ThresholdSource(enum.StrEnum):
    """Where the User's SRV 6.23 threshold came from."""

    ADT_FILE = "adt_file"  # the file's own 1440-minute SRV 6.23 entry
    ADT_FILE_DEFAULT = "adt_file_default"  # the file had none: zeros created on loading
    NO_ADT_FILE = "no_adt_file"  # the User ID never submitted a file: zeros [choice]


#: The clause each source of a threshold is set under.
SOURCE_CLAUSES: Final[dict[ThresholdSource, str]] = {
    ThresholdSource.ADT_FILE: clauses.SRPD_20,
    ThresholdSource.ADT_FILE_DEFAULT: clauses.TADP_ADT_DEFAULTS,
    ThresholdSource.NO_ADT_FILE: clauses.TADP_ADT_NO_FILE,
}


@attrs.frozen(kw_only=True)
class AdtEntry:
    """One entry of an ADT file, as its reader gives it: the SRV (``"6.23"``), its Time Period
    Applicable in minutes, its Anomaly Detection Threshold and its Warning Threshold."""

    srv: str
    time_period_minutes: int
    adt: int
    warning: int


@attrs.frozen(kw_only=True)
class AdtThreshold:
    """The SRV 6.23 threshold the CoS Party applies: at most ``adt`` requests in the 1440
    minutes ending at receipt; the User is warned from ``warning`` requests (0: no warning)."""

    adt: int
    warning: int
    time_period_minutes: int = TIME_PERIOD_APPLICABLE_MINUTES


ZERO_THRESHOLD: Final = AdtThreshold(adt=0, warning=0)


class Verdict(enum.StrEnum):
    """What the CoS Party does with the request, in rising order of severity."""

    PROCEED = "proceed"
    WARN = "warn"  # proceed, and warn the User [choice]
    CEASE = "cease"  # cease processing; alert the User; nothing is quarantined (SRPD 20)

    @property
    def severity(self) -> int:
        return list(Verdict).index(self)


@attrs.frozen(kw_only=True)
class AnomalyReason:
    code: str
    clause: str
    detail: str


@attrs.frozen(kw_only=True)
class AnomalyDecision:
    """The CoS Party's Threshold Anomaly Detection on one SRV 6.23 of ``user_id`` received at
    ``at``, with its inputs: the requests counted in the window before it (``window_counts``),
    the count with it (``count``), the threshold and where it came from (with the sequence
    number of the file that set it, if any), and its reasons, each with its clause."""

    user_id: str
    at: datetime
    window_from: datetime
    window_counts: int
    count: int
    threshold: AdtThreshold
    source: ThresholdSource
    sequence_number: int | None
    verdict: Verdict
    reasons: tuple[AnomalyReason, ...]
    clause: str = clauses.SRPD_20

    @property
    def ceases(self) -> bool:
        return self.verdict is Verdict.CEASE

    @property
    def alerts_user(self) -> bool:
        """The User is told: an alert when processing ceases (SRPD 20), a warning [choice]."""
        return self.verdict is not Verdict.PROCEED


# --- events ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AdtFileLoaded(DomainEvent):
    """The CoS Party loaded a User's ADT file (``occurred_at``: when): the threshold it sets
    for SRV 6.23 over 1440 minutes, where that came from, and how many of the file's entries
    the CoS Party does not apply (other SRVs or other Time Periods)."""

    TYPE = "etmad.anomaly_detection.AdtFileLoaded.v1"
    user_id: str
    sequence_number: int
    threshold: AdtThreshold
    source: ThresholdSource
    ignored_entries: int
    clause: str = clauses.TADP_ADT_SEQUENCE_NUMBER


@attrs.frozen(kw_only=True)
class RequestAssessed(DomainEvent):
    """The CoS Party applied Threshold Anomaly Detection to one SRV 6.23 (``request``: the
    Service Request's aggregate id) and decided ``decision``."""

    TYPE = "etmad.anomaly_detection.RequestAssessed.v1"
    request: str
    decision: AnomalyDecision
    clause: str = clauses.SRPD_8_2


EVENTS: tuple[type[DomainEvent], ...] = (AdtFileLoaded, RequestAssessed)


# --- the rolling window and the policy ------------------------------------------------------


def requests_in_window(received: Iterable[datetime], at: datetime) -> int:
    """How many of the request times ``received`` fall in the 1440 minutes ending at ``at``:
    strictly after ``at - 1440 minutes`` and at or before ``at`` ([choice], DOMAIN 3.6)."""
    at = utc(at)
    start = at - WINDOW
    return sum(1 for t in received if start < t <= at)


def assess_threshold(
    user: AnomalyDetectionRecord, at: datetime, window_counts: int
) -> AnomalyDecision:
    """CoS Party Threshold Anomaly Detection (SRPD 8.2, clause 20) on an SRV 6.23 of ``user``
    received at ``at``, after ``window_counts`` of the User's requests counted in the 1440
    minutes ending at ``at``. With this request the count is ``window_counts + 1``: above the
    ADT it ceases; else at or above a non-zero Warning Threshold it warns ([choice]); else it
    proceeds."""
    at = utc(at)
    if not _whole(window_counts):
        raise _violation(
            f"the count of requests in the window is a whole number, not {window_counts!r}",
            AdtCode.INVALID_WINDOW_COUNT,
            clauses.SRPD_20,
        )
    threshold = user.threshold
    count = window_counts + 1
    minutes = threshold.time_period_minutes
    reasons = [_source_reason(user)]
    if count > threshold.adt:
        verdict = Verdict.CEASE
        reasons.append(
            AnomalyReason(
                code="ADT_EXCEEDED",
                clause=clauses.SRPD_20,
                detail=(
                    f"request {count} of User {user.user_id} in {minutes} minutes exceeds its "
                    f"Anomaly Detection Threshold of {threshold.adt}: the CoS Party ceases "
                    "processing it and alerts the User; nothing is quarantined"
                ),
            )
        )
    elif threshold.warning > 0 and count >= threshold.warning:
        verdict = Verdict.WARN
        reasons.append(
            AnomalyReason(
                code="WARNING_THRESHOLD_REACHED",
                clause=clauses.SRPD_20,
                detail=(
                    f"request {count} of User {user.user_id} in {minutes} minutes reaches its "
                    f"Warning Threshold of {threshold.warning} (ADT {threshold.adt}): the "
                    "request proceeds and the User is warned"
                ),
            )
        )
    else:
        verdict = Verdict.PROCEED
        reasons.append(
            AnomalyReason(
                code="WITHIN_THRESHOLD",
                clause=clauses.SRPD_20,
                detail=(
                    f"request {count} of User {user.user_id} in {minutes} minutes is within its "
                    f"Anomaly Detection Threshold of {threshold.adt}"
                ),
            )
        )
    return AnomalyDecision(
        user_id=user.user_id,
        at=at,
        window_from=at - WINDOW,
        window_counts=window_counts,
        count=count,
        threshold=threshold,
        source=user.source,
        sequence_number=user.sequence_number,
        verdict=verdict,
        reasons=tuple(reasons),
    )


def _source_reason(user: AnomalyDetectionRecord) -> AnomalyReason:
    t = user.threshold
    match user.source:
        case ThresholdSource.ADT_FILE:
            detail = (
                f"ADT {t.adt}, Warning Threshold {t.warning} over {t.time_period_minutes} "
                f"minutes, set by the User's ADT file {user.sequence_number}"
            )
        case ThresholdSource.ADT_FILE_DEFAULT:
            detail = (
                f"the User's ADT file {user.sequence_number} has no 1440-minute SRV 6.23 entry: "
                "ADT 0 and Warning Threshold 0 were created on loading it"
            )
        case ThresholdSource.NO_ADT_FILE:
            detail = (
                "the User ID never submitted an ADT file: ADT 0 and Warning Threshold 0 over "
                "1440 minutes for SRV 6.23 (our choice, as for SRVs giving rise to critical "
                "commands)"
            )
    return AnomalyReason(
        code=f"THRESHOLD_FROM_{user.source.name}",
        clause=SOURCE_CLAUSES[user.source],
        detail=detail,
    )


# --- loading an ADT file --------------------------------------------------------------------


def _check_entries(entries: Sequence[AdtEntry]) -> None:
    """The file checks on its entries; the first failure rejects the whole file (TADP 3.7)."""
    seen: set[tuple[str, int]] = set()
    for entry in entries:
        srv = entry.srv.strip() if isinstance(entry.srv, str) else ""
        if not srv or not _whole(entry.time_period_minutes, least=1):
            raise _violation(
                f"an ADT entry names its SRV and a Time Period Applicable of at least one "
                f"minute, not {entry!r}: the whole file is rejected",
                AdtCode.INVALID_ADT_ENTRY,
                clauses.TADP_3_7,
            )
        if not (_whole(entry.adt) and _whole(entry.warning)):
            raise _violation(
                f"an ADT entry's thresholds are whole numbers of requests, not {entry!r}: the "
                "whole file is rejected",
                AdtCode.INVALID_ADT_ENTRY,
                clauses.TADP_3_7,
            )
        key = (srv, entry.time_period_minutes)
        if key in seen:
            raise _violation(
                f"the file has more than one entry for SRV {srv} with a Time Period Applicable "
                f"of {entry.time_period_minutes} minutes: the whole file is rejected",
                AdtCode.DUPLICATE_ADT_ENTRY,
                clauses.TADP_ADT_ONE_ENTRY,
            )
        seen.add(key)


def _applied(entries: Sequence[AdtEntry]) -> AdtEntry | None:
    """The file's entry the CoS Party applies: SRV 6.23 over 1440 minutes (SRPD 20)."""
    for entry in entries:
        if (
            entry.srv.strip() == SRV_6_23
            and entry.time_period_minutes == TIME_PERIOD_APPLICABLE_MINUTES
        ):
            return entry
    return None


# --- the aggregate --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AnomalyDetectionRecord:
    """The ``adt:<User ID>`` aggregate. Nothing recorded: the User ID never submitted an ADT
    file, and its SRV 6.23 threshold is zero (``NO_ADT_FILE``, [choice])."""

    user_id: str
    threshold: AdtThreshold = ZERO_THRESHOLD
    source: ThresholdSource = ThresholdSource.NO_ADT_FILE
    sequence_number: int | None = None  # of the last file loaded
    loaded_at: datetime | None = None
    files_loaded: int = 0
    counted: tuple[datetime, ...] = ()  # requests let through, still inside a window
    last_at: datetime | None = None
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.user_id, str) or not self.user_id.strip():
            raise _violation(
                f"an ADT record is kept for a User ID, not {self.user_id!r}",
                AdtCode.USER_ID_REQUIRED,
                clauses.SRPD_20,
            )

    @classmethod
    def create(cls, event: DomainEvent, version: int) -> Self:
        if not isinstance(event, AdtFileLoaded | RequestAssessed):
            raise TypeError(f"an ADT record does not start with {event.TYPE}")
        user_id = event.user_id if isinstance(event, AdtFileLoaded) else event.decision.user_id
        return cls(user_id=user_id).apply(event, version)

    @property
    def aggregate_id(self) -> str:
        return anomaly_detection_aggregate_id(self.user_id)

    def apply(self, event: DomainEvent, version: int) -> Self:
        at = event.occurred_at
        assert at is not None  # noqa: S101 — every command gives a time
        match event:
            case AdtFileLoaded():
                return attrs.evolve(
                    self,
                    threshold=event.threshold,
                    source=event.source,
                    sequence_number=event.sequence_number,
                    loaded_at=at,
                    files_loaded=self.files_loaded + 1,
                    counted=_still_counted(self.counted, at),
                    last_at=at,
                    version=version,
                )
            case RequestAssessed():
                counted = self.counted
                if not event.decision.ceases:
                    counted = (*counted, event.decision.at)
                return attrs.evolve(
                    self, counted=_still_counted(counted, at), last_at=at, version=version
                )
        raise TypeError(f"an ADT record does not fold {event.TYPE}")

    def _in_order(self, at: datetime) -> datetime:
        at = utc(at)
        if self.last_at is not None and at < self.last_at:
            raise _violation(
                f"{at.isoformat()} is before the record's last event, {self.last_at.isoformat()}",
                AdtCode.BEFORE_LAST_EVENT,
                clauses.SRPD_20,
            )
        return at

    def load_adt_file(
        self, *, sequence_number: int, entries: Sequence[AdtEntry], at: datetime
    ) -> AdtFileLoaded:
        """Load the User's ADT file with ``sequence_number`` and ``entries``, if it passes the
        file checks; any failure rejects the whole file and nothing is recorded."""
        at = self._in_order(at)
        if not _whole(sequence_number):
            raise _violation(
                f"an ADT file's sequence number is a whole number, not {sequence_number!r}",
                AdtCode.INVALID_ADT_SEQUENCE_NUMBER,
                clauses.TADP_ADT_SEQUENCE_NUMBER,
            )
        if self.sequence_number is not None and sequence_number <= self.sequence_number:
            raise _violation(
                f"ADT file {sequence_number} of User {self.user_id} is not greater than the "
                f"last loaded, {self.sequence_number}: the file is a replay and is rejected",
                AdtCode.ADT_FILE_REPLAYED,
                clauses.TADP_ADT_SEQUENCE_NUMBER,
            )
        _check_entries(entries)
        applied = _applied(entries)
        if applied is None:
            threshold, source = ZERO_THRESHOLD, ThresholdSource.ADT_FILE_DEFAULT
        else:
            threshold = AdtThreshold(adt=applied.adt, warning=applied.warning)
            source = ThresholdSource.ADT_FILE
        return AdtFileLoaded(
            occurred_at=at,
            user_id=self.user_id,
            sequence_number=sequence_number,
            threshold=threshold,
            source=source,
            ignored_entries=len(entries) - (applied is not None),
        )

    def window_count(self, at: datetime) -> int:
        """The User's SRV 6.23 requests let through in the 1440 minutes ending at ``at`` (``at``
        not before the last event)."""
        return requests_in_window(self.counted, at)

    def assess(self, *, request: str, at: datetime) -> RequestAssessed:
        """Apply Threshold Anomaly Detection to the SRV 6.23 ``request`` received at ``at``,
        counted with the User's requests let through in the window before it."""
        at = self._in_order(at)
        if not request.strip():
            raise _violation(
                "an assessment names its Service Request",
                AdtCode.REQUEST_REQUIRED,
                clauses.SRPD_8_2,
            )
        decision = assess_threshold(self, at, self.window_count(at))
        return RequestAssessed(occurred_at=at, request=request, decision=decision)


def _still_counted(counted: tuple[datetime, ...], at: datetime) -> tuple[datetime, ...]:
    """The request times that can still fall in a window ending at or after ``at``."""
    start = at - WINDOW
    return tuple(t for t in counted if t > start)
