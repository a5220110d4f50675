"""The CoS Party register's use cases (DOMAIN.md 3.4; ETMAD 2, 1.20): which ``transitionalCoS``
certificates pertain to the TCoS Party and which to the ECoS Party, and when the SMETS1 testing
under the ECoS Testing Approach Document completed. SRV 6.23 routing reads both
(``domain.routing.route_srv623``); ``etmad apply`` records them with ``RecordCosCertificate`` and
``RecordSmets1TestingCompleted``."""

from __future__ import annotations

from datetime import datetime

from application.service import EtmadApplication, Outcome, UnitOfWork
from domain.cos_parties import COS_PARTY_REGISTER_ID, CosPartyRegister
from domain.identifiers import CertificateId, CosParty


def _register(uow: UnitOfWork) -> CosPartyRegister:
    return uow.get(COS_PARTY_REGISTER_ID, CosPartyRegister.create) or CosPartyRegister()


def record_cos_certificate(
    app: EtmadApplication,
    *,
    certificate: CertificateId,
    party: CosParty,
    at: datetime,
    recorded_by: str,
) -> Outcome:
    """Record that ``certificate`` pertains to ``party`` (ETMAD 2: decided by the certificate's
    identity, never its role); once per certificate."""
    uow = UnitOfWork(app)
    event = _register(uow).record_certificate(
        certificate=certificate, party=party, at=at, recorded_by=recorded_by
    )
    uow.record(COS_PARTY_REGISTER_ID, CosPartyRegister.create, event)
    return Outcome(uow.commit())


def record_smets1_testing_completed(
    app: EtmadApplication, *, completed_at: datetime, evidence: str, recorded_by: str
) -> Outcome:
    """Record that the ETMAD 1.20 testing completed at ``completed_at``, with its evidence;
    once. From then SMETS1 SRV 6.23s for Devices that are not TCoS Devices go to the CoS Party."""
    uow = UnitOfWork(app)
    event = _register(uow).record_smets1_testing_completed(
        completed_at=completed_at, evidence=evidence, recorded_by=recorded_by
    )
    uow.record(COS_PARTY_REGISTER_ID, CosPartyRegister.create, event)
    return Outcome(uow.commit())
