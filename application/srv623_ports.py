"""The ports of SRV 6.23 beyond the DCC's request stage (SRPD clause 8 as rewritten by ETMAD
3.5; DOMAIN.md 3.4): what the DCC, the CoS Party and the TCoS Party each read and write.

The three are separate services with their own keys (DOMAIN.md 1). They talk only through the
signed artefacts clause 8 names — the Countersigned CoS Service Request (8.1(a), 8.1A(a)), the
CoS Authorisation Response (8.2), the Signed Pre-Command (8.2A) — and the notifications of
8.3(a) and 8.3A(a) (a party's ``PartyReport``). Each artefact is written by an adapter holding
the writer's key and read by an adapter holding the reader's trust store; the application
decides on the facts the readers give.

A reader never raises for a communication it cannot accept: what failed is a fact the checks
decide on (a failed Check Cryptographic Protection is a recorded rejection, not a crash).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Protocol

import attrs

from application.srv623 import VerifiedRequest
from domain.anomaly_detection import AnomalyDecision
from domain.identifiers import EUI64, CertificateId, MPxN
from domain.service_request import CheckOutcome, Party
from domain.smki import TrustAnchorCell, Validity
from domain.srv623_checks import Stage
from domain.substantive import CredentialsUpdate

# --- what readers give -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SignatureCheck:
    """Check Cryptographic Protection of one signed communication, and the certificate it was
    checked with.

    ``verified`` is whether the signature verified with the key of that certificate; ``detail``
    says why not (``CODE: message``; empty when it verified). The certificate's facts are given
    whenever it is known, even when the signature did not verify: its ID, its Entity Identifier
    and Remote Party Role code when it is an SMKI Organisation Certificate (the code as the
    certificate carries it: ``coSPartyXmlSign``'s code is configuration, not in
    ``RemotePartyRole``), and Confirm Validity of it at the time the reader was asked about."""

    verified: bool
    detail: str = ""
    certificate_id: CertificateId | None = None
    entity_id: EUI64 | None = None
    role_code: int | None = None
    validity: Validity | None = None


@attrs.frozen(kw_only=True)
class CountersignedFacts:
    """A Countersigned CoS Service Request as the CoS or the TCoS Party reads it (8.1(b),
    8.1A(b)).

    ``countersignature`` is the DCC's signature over the artefact. ``request`` is the inner
    SRV 6.23 request verified by the party's own request reader (its signature and Confirm
    Validity of its signer at the time asked); None when it could not be read or its signature
    did not verify, ``request_failure`` then saying why. ``request_xml`` is the inner request
    byte for byte when the artefact could be read at all."""

    sha256: str
    countersigned_at: datetime | None
    countersignature: SignatureCheck
    request_xml: bytes | None = attrs.field(repr=False)
    request: VerifiedRequest | None
    request_failure: str = ""


@attrs.frozen(kw_only=True)
class AuthorisationResponseFacts:
    """A CoS Authorisation Response as the DCC reads it (8.4).

    ``signature`` answers 8.4(a), (b) and the role check; ``well_formed`` answers 8.4(c)
    (hardened parse, root and version, XML Schema, the one byte form, a signed DUIS request
    inside), ``form_detail`` saying why not. The remaining fields are given when it is well
    formed: the SHA-256 of the Countersigned CoS Service Request it answers (8.4(d)), the
    inner request byte for byte (8.4(e), (g)) and the GBCS Signed Pre-Command (8.4(f); None for
    a SMETS1 Device, 8.2(b))."""

    sha256: str
    signature: SignatureCheck
    well_formed: bool
    form_detail: str = ""
    authorised_at: datetime | None = None
    countersigned_request_sha256: str | None = None
    request_xml: bytes | None = attrs.field(default=None, repr=False)
    signed_pre_command: bytes | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class PreCommandCertificate:
    """One certificate inside a Signed Pre-Command: the trust anchor cell it fills (None: a
    certification path certificate), its ID and Entity Identifier when readable, and Confirm
    Validity of it at the time asked (None when it could not be read; ``detail`` says why)."""

    cell: TrustAnchorCell | None
    certificate_id: CertificateId | None
    entity_id: EUI64 | None
    validity: Validity | None
    detail: str = ""


@attrs.frozen(kw_only=True)
class PreCommandFacts:
    """A GBCS Signed Pre-Command as read (8.4(f), 8.4A).

    ``readable`` is whether the bytes are a CS02b Update Security Credentials command the
    codec reads (``detail`` says why not; the other fields are then empty). ``device`` is the
    Grouping Header's recipient, ``update`` what the command does (``domain.substantive``),
    ``certificates`` every certificate inside it, and ``signature`` the check of its signature
    with the certificate the reader was asked to use."""

    sha256: str
    readable: bool
    detail: str = ""
    device: EUI64 | None = None
    update: CredentialsUpdate | None = None
    certificates: tuple[PreCommandCertificate, ...] = ()
    signature: SignatureCheck = SignatureCheck(verified=False, detail="not read")


@attrs.frozen(kw_only=True)
class CommandOutcome:
    """What the Device's response to the Command says: whether every replacement it carried
    succeeded, and in words what it said."""

    succeeded: bool
    detail: str


# --- the ports -----------------------------------------------------------------------------------


class Countersigner(Protocol):
    """**Protocol** (the DCC's): writes the Countersigned CoS Service Request (8.1(a), 8.1A(a))
    around the signed request bytes, signed with the DCC's key."""

    def countersign(self, request_xml: bytes, *, at: datetime) -> bytes:
        """The Countersigned CoS Service Request for ``request_xml``, countersigned at ``at``."""
        ...


class CountersignedRequestReader(Protocol):
    """**Protocol** (a party's): reads a Countersigned CoS Service Request with the party's
    own trust store. Never raises for bytes it cannot accept: ``countersignature.verified`` is
    then False and says why."""

    def read_countersigned(self, xml: bytes, *, at: datetime) -> CountersignedFacts:
        """The facts of ``xml``, certificates judged at ``at``."""
        ...


class PreCommandSigner(Protocol):
    """**Protocol** (the ECoS Party's or the TCoS Party's): generates the GBCS payload of the
    CS02b supplierByTransCoS Pre-Command substantively identical to a signed SRV 6.23 request
    (8.2(a)(i), 8.2A(a)) and signs it with the party's key (8.2(a)(ii), 8.2A(b))."""

    def sign_pre_command(self, request_xml: bytes, *, counter: int, at: datetime) -> bytes:
        """The Signed Pre-Command for the request in ``request_xml``, with ``counter`` as its
        originator counter and authorising sequence number."""
        ...


class AuthorisationResponseWriter(Protocol):
    """**Protocol** (the CoS Party's): writes the CoS Authorisation Response (8.2(a)(iii),
    8.2(b)) signed with its CoS Party XML Signing Key."""

    def write_authorisation_response(
        self, countersigned_xml: bytes, *, signed_pre_command: bytes | None, at: datetime
    ) -> bytes:
        """The response answering ``countersigned_xml``, carrying ``signed_pre_command`` (None
        for a SMETS1 Device)."""
        ...


class AuthorisationResponseReader(Protocol):
    """**Protocol** (the DCC's): reads a CoS Authorisation Response. Never raises."""

    def read_authorisation_response(
        self, xml: bytes, *, at: datetime
    ) -> AuthorisationResponseFacts:
        """The facts of ``xml``, certificates judged at ``at``."""
        ...


class SignedPreCommandReader(Protocol):
    """**Protocol** (the DCC's): reads a GBCS Signed Pre-Command. Never raises."""

    def read_pre_command(
        self, data: bytes, *, signed_by: CertificateId | None, at: datetime
    ) -> PreCommandFacts:
        """The facts of ``data``: its signature checked with the certificate ``signed_by``
        (None: not checked), every certificate judged at ``at``."""
        ...


class CommandOutcomeReader(Protocol):
    """**Protocol** (the DCC's): what a Device's GBCS response to an Update Security
    Credentials Command says. Never raises: an unreadable response did not succeed."""

    def command_outcome(self, response: bytes) -> CommandOutcome: ...


class DspLookup(Protocol):
    """**Protocol**: what a CoS or TCoS Party may consult the DSP for (DOMAIN.md 1): MPxN ↔
    Party Details (the Responsible Supplier's MPID on a date, from Registration Data), MPxN ↔
    Device (the Smart Metering Inventory) and Party Details ↔ User ID."""

    def responsible_supplier(self, mpxn: MPxN, on: datetime) -> str | None:
        """The MPID Registration Data names as Responsible Supplier of ``mpxn`` on ``on``."""
        ...

    def mpids_of(self, user_id: EUI64) -> frozenset[str] | None:
        """The MPIDs of the Party whose User ID is ``user_id`` (None: no Party Details held)."""
        ...

    def mpxn_of(self, device: EUI64) -> MPxN | None:
        """The MPxN the Smart Metering Inventory associates with ``device``."""
        ...


# --- what a party tells the DCC --------------------------------------------------------------


class PartyVerdict(enum.StrEnum):
    ANSWERED = "answered"  # 8.2, 8.2A: the answer is sent to the DCC
    REFUSED = "refused"  # 8.3(a), 8.3A(a): a check failed, the DCC is notified
    CEASED = "ceased"  # 8.2 / SRPD 20: CoS Party Threshold Anomaly Detection ceased it


@attrs.frozen(kw_only=True)
class PartyReport:
    """What a CoS or TCoS Party sends back for one Countersigned CoS Service Request: its run
    of its stage's checks (in order, to the first failure), and then its answer (the CoS
    Authorisation Response XML or the Signed Pre-Command), its refusal (8.3(a), 8.3A(a)), or the
    cessation of processing by anomaly detection with the decision taken (CoS Party only)."""

    party: Party
    stage: Stage
    outcomes: tuple[CheckOutcome, ...]
    verdict: PartyVerdict
    answer: bytes | None = attrs.field(default=None, repr=False)
    anomaly: AnomalyDecision | None = None
    request_id: str | None = None  # the inner request's, when it could be read
