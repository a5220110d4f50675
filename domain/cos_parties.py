"""The DCC's register of the CoS parties' certificates (DOMAIN.md 2, 3.4): one aggregate per
store, id ``cos-party-register``.

The TCoS Party's and the ECoS Party's certificates both carry the Remote Party Role
``transitionalCoS`` (ETMAD 3.4), so the role cannot tell them apart. The DCC records here, by
Certificate ID (serial and issuer), which party each certificate pertains to
(``CosCertificateRecorded``, ``ETMAD 2 (TCoS Device / ECoS Device)``); ``party_of`` answers from
the certificate's identity only. A certificate is recorded once: again for the same party it is
refused ``COS_CERTIFICATE_ALREADY_RECORDED``, for the other party
``COS_CERTIFICATE_OF_OTHER_PARTY``. Certificate IDs compare exactly as recorded (the issuer is
not normalised, ``docs/formats.md``).

The register also holds the precondition of ``ETMAD 1.20``: the ECoS Party may process SRV 6.23s
for SMETS1 Devices once the relevant testing under the ECoS Testing Approach Document is complete
(``Smets1TestingCompleted``, dated when the testing completed, with its evidence). It is recorded
once (``SMETS1_TESTING_ALREADY_RECORDED``) and needs its evidence (``EVIDENCE_REQUIRED``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Self

import attrs

from domain import clauses
from domain.errors import RuleViolation
from domain.events import DomainEvent, utc
from domain.identifiers import CertificateId, CosParty

#: The one register of a store.
COS_PARTY_REGISTER_ID: Final = "cos-party-register"

CERTIFICATE_CLAUSE: Final = clauses.ETMAD_2_TCOS_DEVICE
SMETS1_TESTING_CLAUSE: Final = clauses.ETMAD_1_20

# --- events ---------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CosCertificateRecorded(DomainEvent):
    """The DCC recorded that a ``transitionalCoS`` certificate pertains to the TCoS Party or to
    the ECoS Party (``occurred_at``: when recorded)."""

    TYPE = "etmad.cos_party_register.CosCertificateRecorded.v1"
    certificate: CertificateId
    party: CosParty
    recorded_by: str
    clause: str = CERTIFICATE_CLAUSE


@attrs.frozen(kw_only=True)
class Smets1TestingCompleted(DomainEvent):
    """The testing that lets the ECoS Party process SRV 6.23s for SMETS1 Devices was completed
    (``occurred_at``: when it completed)."""

    TYPE = "etmad.cos_party_register.Smets1TestingCompleted.v1"
    evidence: str
    recorded_by: str
    clause: str = SMETS1_TESTING_CLAUSE


EVENTS: tuple[type[DomainEvent], ...] = (CosCertificateRecorded, Smets1TestingCompleted)

# --- state ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RecordedCertificate:
    certificate: CertificateId
    party: CosParty
    recorded_at: datetime
    recorded_by: str


@attrs.frozen(kw_only=True)
class Smets1Testing:
    """The ``ETMAD 1.20`` precondition as recorded."""

    completed_at: datetime
    evidence: str
    recorded_by: str


@attrs.frozen(kw_only=True)
class CosPartyRegister:
    """The ``cos-party-register`` aggregate. Nothing recorded: no certificate is known and the
    SMETS1 testing is not complete."""

    certificates: tuple[RecordedCertificate, ...] = ()
    smets1_testing: Smets1Testing | None = None
    version: int = 0

    @classmethod
    def create(cls, event: DomainEvent, version: int) -> Self:
        """Either event may be the first."""
        return cls().apply(event, version)

    @property
    def aggregate_id(self) -> str:
        return COS_PARTY_REGISTER_ID

    def apply(self, event: DomainEvent, version: int) -> Self:
        at = event.occurred_at
        assert at is not None  # noqa: S101 — the commands always give a time
        match event:
            case CosCertificateRecorded():
                record = RecordedCertificate(
                    certificate=event.certificate,
                    party=event.party,
                    recorded_at=at,
                    recorded_by=event.recorded_by,
                )
                return attrs.evolve(
                    self, certificates=(*self.certificates, record), version=version
                )
            case Smets1TestingCompleted():
                testing = Smets1Testing(
                    completed_at=at, evidence=event.evidence, recorded_by=event.recorded_by
                )
                return attrs.evolve(self, smets1_testing=testing, version=version)
        raise TypeError(f"the CoS Party register does not fold {event.TYPE}")

    # --- queries ----------------------------------------------------------------------------

    def recorded(
        self, certificate: CertificateId, *, as_of: datetime | None = None
    ) -> RecordedCertificate | None:
        """The record of ``certificate`` (by its identity: serial and issuer), if recorded by
        ``as_of`` (any time when ``None``)."""
        for record in self.certificates:
            if record.certificate == certificate and (as_of is None or record.recorded_at <= as_of):
                return record
        return None

    def party_of(
        self, certificate: CertificateId, *, as_of: datetime | None = None
    ) -> CosParty | None:
        """The party ``certificate`` pertains to, decided by its identity only (never by its
        role, which is ``transitionalCoS`` for both parties); ``None`` when in neither list."""
        record = self.recorded(certificate, as_of=as_of)
        return None if record is None else record.party

    def smets1_testing_as_of(self, as_of: datetime | None) -> Smets1Testing | None:
        """The ``ETMAD 1.20`` precondition if testing had completed by ``as_of``."""
        testing = self.smets1_testing
        if testing is None or (as_of is not None and testing.completed_at > as_of):
            return None
        return testing

    # --- commands ---------------------------------------------------------------------------

    def record_certificate(
        self, *, certificate: CertificateId, party: CosParty, at: datetime, recorded_by: str
    ) -> CosCertificateRecorded:
        """Record that ``certificate`` pertains to ``party``; a certificate pertains to one
        party, recorded once."""
        at = utc(at)
        _require_text(recorded_by, "recording a CoS certificate names who recorded it")
        known = self.recorded(certificate)
        if known is not None and known.party is party:
            raise RuleViolation(
                f"certificate {certificate} is already recorded for the {party} Party "
                f"(on {known.recorded_at.isoformat()} by {known.recorded_by})",
                code="COS_CERTIFICATE_ALREADY_RECORDED",
                clause=CERTIFICATE_CLAUSE,
            )
        if known is not None:
            raise RuleViolation(
                f"certificate {certificate} is recorded for the {known.party} Party; it cannot "
                f"also pertain to the {party} Party",
                code="COS_CERTIFICATE_OF_OTHER_PARTY",
                clause=CERTIFICATE_CLAUSE,
            )
        return CosCertificateRecorded(
            occurred_at=at, certificate=certificate, party=party, recorded_by=recorded_by
        )

    def record_smets1_testing_completed(
        self, *, completed_at: datetime, evidence: str, recorded_by: str
    ) -> Smets1TestingCompleted:
        """Record that the ``ETMAD 1.20`` testing completed at ``completed_at``, once."""
        completed_at = utc(completed_at)
        if self.smets1_testing is not None:
            raise RuleViolation(
                "the SMETS1 testing was already recorded as completed on "
                f"{self.smets1_testing.completed_at.isoformat()}",
                code="SMETS1_TESTING_ALREADY_RECORDED",
                clause=SMETS1_TESTING_CLAUSE,
            )
        if not evidence.strip():
            raise RuleViolation(
                "the completion of the SMETS1 testing needs its evidence",
                code="EVIDENCE_REQUIRED",
                clause=SMETS1_TESTING_CLAUSE,
            )
        _require_text(recorded_by, "recording the SMETS1 testing names who recorded it")
        return Smets1TestingCompleted(
            occurred_at=completed_at, evidence=evidence, recorded_by=recorded_by
        )


def _require_text(value: str, message: str) -> None:
    if not value.strip():
        raise RuleViolation(message, code="RECORDED_BY_REQUIRED")
