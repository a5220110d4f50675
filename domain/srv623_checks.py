"""The checks of an SRV 6.23 'CoS Update Security Credentials' Service Request (SRPD clause 8 as
rewritten by ETMAD 3.5), who runs each, in what order, and the DUIS response code a failure
gives.

Five stages, each run by one party (DOMAIN 3.4):

* ``DCC_REQUEST`` — the DCC's checks of the request itself before it sends a Countersigned CoS
  Service Request (8.1(a), 8.1A(a): "where all of the requirements of Clause 6.1 are
  satisfied"). They are the checks the 2021 consultation proposed (its sections 3.3 and 3.5),
  treated as part of "the SRPD 6.1 checks" **[choice]**, plus Check Cryptographic Protection,
  Confirm Validity and anti-replay, which the proposed checks presuppose.
* ``COS_PARTY`` — 8.1(b)(i)-(iv), with the request checks the CoS Party re-runs under (iii).
* ``DCC_COS_AUTHORISATION_RESPONSE`` — 8.4(a), (b), the role check, (c)-(g), with the request
  checks the DCC re-runs under (e).
* ``TCOS_PARTY`` — 8.1A(b)(i)-(iv).
* ``DCC_SIGNED_PRE_COMMAND`` — 8.4A(a)-(f).

**[choice]** Every stage runs its checks in the order ``checks_of`` gives and stops at the first
failure; that failure's response code is the one the User receives. 8.3(a) and 8.3A(a) ("shall
not undertake any further processing") and 8.6(a) and 8.6A ("not be obliged to undertake any of
the other checks that remain") allow it.

Response codes are reference data (``RESPONSE_CODES``): the material held names them (the DUIS
5.4 schema enumerates them; the 2021 consultation says which ECoS touched) but gives the meaning
of only one, E65. Every other mapping of a check to a code is **our assignment** and says so
(``CodeBasis``); ``docs/response-codes.md`` publishes both tables and a test keeps it equal to
this module.
"""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

import attrs

from domain import clauses

if TYPE_CHECKING:
    from collections.abc import Mapping

MEANING_NOT_HELD: Final = "meaning not in the material held"

_CONSULTATION: Final = "seeds/SEC-subsidiary-changes-ECoS-2021.txt"
_SCHEMA: Final = "vectors/dcc/duis/schema/DUIS Schema V5.4.xsd"
_CODES_ENUM: Final = f"{_SCHEMA} xs:simpleType ResponseCode, line"
_ALERTS_ENUM: Final = f"{_SCHEMA} DCCAlertMessage/DCCAlertCode enumeration, line"


class CodeScope(enum.StrEnum):
    """Where a code belongs in DUIS."""

    SRV_6_23 = "SRV 6.23-specific"
    GENERAL = "general"
    ALERT = "alert"


@attrs.frozen
class ResponseCode:
    """One DUIS response (or DCC alert) code as reference data: its meaning only where the
    material held gives one (else ``MEANING_NOT_HELD``), and where the code is found."""

    code: str
    scope: CodeScope
    meaning: str
    source: str


def _general(code: str, line: int) -> ResponseCode:
    return ResponseCode(code, CodeScope.GENERAL, MEANING_NOT_HELD, f"{_CODES_ENUM} {line}")


def _ecos_general(code: str, line: int) -> ResponseCode:
    return ResponseCode(
        code,
        CodeScope.GENERAL,
        MEANING_NOT_HELD,
        f"{_CODES_ENUM} {line}; added for ECoS to DUIS 3.5.10: {_CONSULTATION} line 251",
    )


def _srv_6_23(code: str, line: int, consultation: str) -> ResponseCode:
    return ResponseCode(
        code, CodeScope.SRV_6_23, MEANING_NOT_HELD, f"{_CODES_ENUM} {line}{consultation}"
    )


_UPDATED_FOR_ECOS: Final = f"; description updated for ECoS: {_CONSULTATION} line 260"
_NEW_FOR_ECOS: Final = f"; added for ECoS: {_CONSULTATION} line 261"

RESPONSE_CODES: Final[Mapping[str, ResponseCode]] = MappingProxyType(
    {
        code.code: code
        for code in (
            _general("E1", 4024),
            _general("E2", 4025),
            _general("E4", 4027),
            _general("E19", 4033),
            ResponseCode(
                "E65",
                CodeScope.GENERAL,
                "the Remote Party Role of the User's Organisation Certificate used to sign a "
                "Service Request (any SRV) is not 'xmlSign' (consultation: \"to validate the "
                "Remote Party Role of the User Certificate used to sign all Service Requests to "
                "the DCC, to check that the Remote Party Role of the User's Organisation "
                "Certificate is 'xmlSign'\")",
                f"{_CODES_ENUM} 4063; {_CONSULTATION} line 249 (DUIS 'Section 2.53' and 3.3.1)",
            ),
            _ecos_general("E66", 4064),
            _ecos_general("E67", 4065),
            _ecos_general("E68", 4066),
            _ecos_general("E69", 4067),
            _ecos_general("E70", 4068),
            _ecos_general("E71", 4069),
            ResponseCode(
                "E1007",
                CodeScope.GENERAL,
                MEANING_NOT_HELD,
                f"{_CODES_ENUM} 4076; its DUIS 3.10.2 validation checks extended for ECoS "
                f"for all Service Requests: {_CONSULTATION} line 266",
            ),
            _srv_6_23("E062301", 4129, ""),
            _srv_6_23("E062302", 4130, _UPDATED_FOR_ECOS),
            _srv_6_23("E062303", 4131, _UPDATED_FOR_ECOS),
            _srv_6_23("E062304", 4132, _UPDATED_FOR_ECOS),
            _srv_6_23("E062305", 4133, _NEW_FOR_ECOS),
            _srv_6_23("E062306", 4134, _NEW_FOR_ECOS),
            ResponseCode(
                "N26",
                CodeScope.ALERT,
                MEANING_NOT_HELD,
                f"{_ALERTS_ENUM} 4964; trigger conditions extended for ECoS: "
                f"{_CONSULTATION} line 253",
            ),
            ResponseCode(
                "N63",
                CodeScope.ALERT,
                "ECoSAlert; the conditions that raise it are not in the material held",
                f"{_ALERTS_ENUM} 5000; body xs:complexType ECoSAlert line 4758 (AlertID, "
                f"RequestID, ECoSAlertCode, DeviceID, AdditionalInformation); "
                f"{_CONSULTATION} lines 254, 264",
            ),
            ResponseCode(
                "N65",
                CodeScope.ALERT,
                "CoSCertificate Alert; the conditions that raise it are not in the material held",
                f"{_ALERTS_ENUM} 5002; body xs:complexType CoSCertificateAlert line 4775 "
                f"(DeviceID, CertificateSerialNumber); {_CONSULTATION} lines 254, 264",
            ),
        )
    }
)


class CheckingParty(enum.StrEnum):
    DCC = "DCC"
    COS_PARTY = "CoS Party"
    TCOS_PARTY = "TCoS Party"


class Stage(enum.StrEnum):
    """One party's run of checks on one communication of an SRV 6.23."""

    DCC_REQUEST = "dcc_request"  # SRPD 6.1, before 8.1(a) / 8.1A(a)
    COS_PARTY = "cos_party"  # 8.1(b), on the Countersigned CoS Service Request
    DCC_COS_AUTHORISATION_RESPONSE = "dcc_cos_authorisation_response"  # 8.4
    TCOS_PARTY = "tcos_party"  # 8.1A(b), on the Countersigned CoS Service Request
    DCC_SIGNED_PRE_COMMAND = "dcc_signed_pre_command"  # 8.4A, from the TCoS Party

    @property
    def party(self) -> CheckingParty:
        return _STAGE_PARTIES[self]


_STAGE_PARTIES: Final = MappingProxyType(
    {
        Stage.DCC_REQUEST: CheckingParty.DCC,
        Stage.COS_PARTY: CheckingParty.COS_PARTY,
        Stage.DCC_COS_AUTHORISATION_RESPONSE: CheckingParty.DCC,
        Stage.TCOS_PARTY: CheckingParty.TCOS_PARTY,
        Stage.DCC_SIGNED_PRE_COMMAND: CheckingParty.DCC,
    }
)

# Our assignment: a failure after the request left the DCC is reported to the User with one code
# per stage (8.3(b), 8.3A(b): "that the Service Request cannot be processed"; 8.6(c), 8.6A(b)).
# E66-E71 are the codes DUIS 3.5.10 added for ECoS; which means what is not in the material.
STAGE_CODES: Final[Mapping[Stage, str]] = MappingProxyType(
    {
        Stage.COS_PARTY: "E66",
        Stage.DCC_COS_AUTHORISATION_RESPONSE: "E67",
        Stage.TCOS_PARTY: "E68",
        Stage.DCC_SIGNED_PRE_COMMAND: "E69",
    }
)


class CodeBasis(enum.StrEnum):
    """Whether the material held maps the check to its code, or we did."""

    SOURCE = "source"
    OUR_ASSIGNMENT = "our assignment"


class Check(enum.StrEnum):
    """Every SRV 6.23 check, by a stable id (never renamed or reused: reasons and records
    carry it). Request checks are ``REQUEST_*``; the others name their clause."""

    # DCC, on the Service Request (SRPD 6.1 [choice]; 2021 consultation 3.3, 3.5)
    REQUEST_CRYPTOGRAPHIC_PROTECTION = "REQUEST_CRYPTOGRAPHIC_PROTECTION"
    REQUEST_SIGNER_CONFIRM_VALIDITY = "REQUEST_SIGNER_CONFIRM_VALIDITY"
    REQUEST_SIGNER_ROLE_XML_SIGN = "REQUEST_SIGNER_ROLE_XML_SIGN"
    REQUEST_USER_ID_MATCHES_SIGNER = "REQUEST_USER_ID_MATCHES_SIGNER"
    REQUEST_NOT_A_REPLAY = "REQUEST_NOT_A_REPLAY"
    REQUEST_MPID_IN_SIGNER_CERTIFICATE = "REQUEST_MPID_IN_SIGNER_CERTIFICATE"
    REQUEST_MPXN_MATCHES_INVENTORY = "REQUEST_MPXN_MATCHES_INVENTORY"
    REQUEST_REPLACEMENT_CERTIFICATE_COUNT = "REQUEST_REPLACEMENT_CERTIFICATE_COUNT"
    REQUEST_REPLACEMENT_CERTIFICATE_ROLES = "REQUEST_REPLACEMENT_CERTIFICATE_ROLES"
    REQUEST_KEY_USAGE_MATCHES_CELL = "REQUEST_KEY_USAGE_MATCHES_CELL"
    REQUEST_PREPAYMENT_FLOOR_SEQUENCE_NUMBER = "REQUEST_PREPAYMENT_FLOOR_SEQUENCE_NUMBER"
    REQUEST_ISSUING_OCA_CERTIFICATES_INCLUDED = "REQUEST_ISSUING_OCA_CERTIFICATES_INCLUDED"
    REQUEST_OCA_CERTIFICATES_ALL_USED = "REQUEST_OCA_CERTIFICATES_ALL_USED"
    # CoS Party, on the Countersigned CoS Service Request (8.1(b))
    COS_8_1_B_I_CRYPTOGRAPHIC_PROTECTION = "COS_8_1_B_I_CRYPTOGRAPHIC_PROTECTION"
    COS_8_1_B_II_CONFIRM_VALIDITY = "COS_8_1_B_II_CONFIRM_VALIDITY"
    COS_8_1_B_III_REQUEST_CRYPTOGRAPHIC_PROTECTION = (
        "COS_8_1_B_III_REQUEST_CRYPTOGRAPHIC_PROTECTION"
    )
    COS_8_1_B_III_REQUEST_SIGNER_CONFIRM_VALIDITY = "COS_8_1_B_III_REQUEST_SIGNER_CONFIRM_VALIDITY"
    COS_8_1_B_III_REQUEST_SIGNER_ROLE_XML_SIGN = "COS_8_1_B_III_REQUEST_SIGNER_ROLE_XML_SIGN"
    COS_8_1_B_III_REQUEST_USER_ID_MATCHES_SIGNER = "COS_8_1_B_III_REQUEST_USER_ID_MATCHES_SIGNER"
    COS_8_1_B_III_REQUEST_REPLACEMENT_CERTIFICATE_ROLES = (
        "COS_8_1_B_III_REQUEST_REPLACEMENT_CERTIFICATE_ROLES"
    )
    COS_8_1_B_III_REQUEST_KEY_USAGE_MATCHES_CELL = "COS_8_1_B_III_REQUEST_KEY_USAGE_MATCHES_CELL"
    COS_8_1_B_III_REQUEST_PREPAYMENT_FLOOR_SEQUENCE_NUMBER = (
        "COS_8_1_B_III_REQUEST_PREPAYMENT_FLOOR_SEQUENCE_NUMBER"
    )
    COS_8_1_B_III_REQUEST_ISSUING_OCA_CERTIFICATES_INCLUDED = (
        "COS_8_1_B_III_REQUEST_ISSUING_OCA_CERTIFICATES_INCLUDED"
    )
    COS_8_1_B_III_REQUEST_OCA_CERTIFICATES_ALL_USED = (
        "COS_8_1_B_III_REQUEST_OCA_CERTIFICATES_ALL_USED"
    )
    COS_8_1_B_IV_NOT_A_REPLAY = "COS_8_1_B_IV_NOT_A_REPLAY"
    # DCC, on the CoS Authorisation Response (8.4)
    DCC_8_4_A_CRYPTOGRAPHIC_PROTECTION = "DCC_8_4_A_CRYPTOGRAPHIC_PROTECTION"
    DCC_8_4_B_CONFIRM_VALIDITY = "DCC_8_4_B_CONFIRM_VALIDITY"
    DCC_8_4_ROLE_COS_PARTY_XML_SIGN = "DCC_8_4_ROLE_COS_PARTY_XML_SIGN"
    DCC_8_4_C_VALID_AND_WELL_FORMED = "DCC_8_4_C_VALID_AND_WELL_FORMED"
    DCC_8_4_D_MAPS_TO_COUNTERSIGNED_REQUEST = "DCC_8_4_D_MAPS_TO_COUNTERSIGNED_REQUEST"
    DCC_8_4_E_REQUEST_CRYPTOGRAPHIC_PROTECTION = "DCC_8_4_E_REQUEST_CRYPTOGRAPHIC_PROTECTION"
    DCC_8_4_E_REQUEST_SIGNER_CONFIRM_VALIDITY = "DCC_8_4_E_REQUEST_SIGNER_CONFIRM_VALIDITY"
    DCC_8_4_E_REQUEST_SIGNER_ROLE_XML_SIGN = "DCC_8_4_E_REQUEST_SIGNER_ROLE_XML_SIGN"
    DCC_8_4_E_REQUEST_USER_ID_MATCHES_SIGNER = "DCC_8_4_E_REQUEST_USER_ID_MATCHES_SIGNER"
    DCC_8_4_E_REQUEST_MPID_IN_SIGNER_CERTIFICATE = "DCC_8_4_E_REQUEST_MPID_IN_SIGNER_CERTIFICATE"
    DCC_8_4_E_REQUEST_MPXN_MATCHES_INVENTORY = "DCC_8_4_E_REQUEST_MPXN_MATCHES_INVENTORY"
    DCC_8_4_E_REQUEST_REPLACEMENT_CERTIFICATE_COUNT = (
        "DCC_8_4_E_REQUEST_REPLACEMENT_CERTIFICATE_COUNT"
    )
    DCC_8_4_E_REQUEST_REPLACEMENT_CERTIFICATE_ROLES = (
        "DCC_8_4_E_REQUEST_REPLACEMENT_CERTIFICATE_ROLES"
    )
    DCC_8_4_E_REQUEST_KEY_USAGE_MATCHES_CELL = "DCC_8_4_E_REQUEST_KEY_USAGE_MATCHES_CELL"
    DCC_8_4_E_REQUEST_PREPAYMENT_FLOOR_SEQUENCE_NUMBER = (
        "DCC_8_4_E_REQUEST_PREPAYMENT_FLOOR_SEQUENCE_NUMBER"
    )
    DCC_8_4_E_REQUEST_ISSUING_OCA_CERTIFICATES_INCLUDED = (
        "DCC_8_4_E_REQUEST_ISSUING_OCA_CERTIFICATES_INCLUDED"
    )
    DCC_8_4_E_REQUEST_OCA_CERTIFICATES_ALL_USED = "DCC_8_4_E_REQUEST_OCA_CERTIFICATES_ALL_USED"
    DCC_8_4_F_PRE_COMMAND_SUBSTANTIVELY_IDENTICAL = "DCC_8_4_F_PRE_COMMAND_SUBSTANTIVELY_IDENTICAL"
    DCC_8_4_G_NOT_A_REPLAY = "DCC_8_4_G_NOT_A_REPLAY"
    # TCoS Party, on the Countersigned CoS Service Request (8.1A(b))
    TCOS_8_1A_B_I_CRYPTOGRAPHIC_PROTECTION = "TCOS_8_1A_B_I_CRYPTOGRAPHIC_PROTECTION"
    TCOS_8_1A_B_II_CONFIRM_VALIDITY = "TCOS_8_1A_B_II_CONFIRM_VALIDITY"
    TCOS_8_1A_B_III_SAME_USER = "TCOS_8_1A_B_III_SAME_USER"
    TCOS_8_1A_B_IV_RESPONSIBLE_SUPPLIER = "TCOS_8_1A_B_IV_RESPONSIBLE_SUPPLIER"
    # DCC, on the TCoS Party's Signed Pre-Command (8.4A)
    TCOS_8_4A_C_CRYPTOGRAPHIC_PROTECTION = "TCOS_8_4A_C_CRYPTOGRAPHIC_PROTECTION"
    TCOS_8_4A_D_CONFIRM_VALIDITY = "TCOS_8_4A_D_CONFIRM_VALIDITY"
    TCOS_8_4A_A_USER_IDS_MATCH_REQUEST = "TCOS_8_4A_A_USER_IDS_MATCH_REQUEST"
    TCOS_8_4A_B_DEVICE_ID_MATCHES_REQUEST = "TCOS_8_4A_B_DEVICE_ID_MATCHES_REQUEST"
    TCOS_8_4A_E_PRE_COMMAND_CERTIFICATES_VALID = "TCOS_8_4A_E_PRE_COMMAND_CERTIFICATES_VALID"
    TCOS_8_4A_F_RESPONSIBLE_SUPPLIER = "TCOS_8_4A_F_RESPONSIBLE_SUPPLIER"

    @property
    def spec(self) -> CheckSpec:
        return CHECK_SPECS[self]

    @property
    def clause(self) -> str:
        return self.spec.clause

    @property
    def stage(self) -> Stage:
        return self.spec.stage

    @property
    def party(self) -> CheckingParty:
        return self.spec.stage.party

    @property
    def order(self) -> int:
        """1-based position in its stage's run."""
        return checks_of(self.stage).index(self) + 1


@attrs.frozen
class CheckSpec:
    """What one check is: its clause, its stage (hence its party), what it confirms, the code
    its failure gives and on what basis, and, for a re-run, the request check it repeats."""

    clause: str
    stage: Stage
    description: str
    code: str
    basis: CodeBasis = CodeBasis.OUR_ASSIGNMENT
    reruns: Check | None = None
    smets2_only: bool = False


def _request(clause: str, description: str, code: str) -> CheckSpec:
    return CheckSpec(clause, Stage.DCC_REQUEST, description, code)


def _stage(stage: Stage, clause: str, description: str, *, smets2_only: bool = False) -> CheckSpec:
    return CheckSpec(clause, stage, description, STAGE_CODES[stage], smets2_only=smets2_only)


_REQUEST_SPECS: Final[dict[Check, CheckSpec]] = {
    Check.REQUEST_CRYPTOGRAPHIC_PROTECTION: _request(
        clauses.SRPD_6_1,
        "Check Cryptographic Protection of the Service Request: its XML signature verifies "
        "with the Organisation Certificate it names",
        "E2",
    ),
    Check.REQUEST_SIGNER_CONFIRM_VALIDITY: _request(
        clauses.SRPD_6_1,
        "Confirm Validity of that signing certificate at the request's time",
        "E4",
    ),
    Check.REQUEST_SIGNER_ROLE_XML_SIGN: attrs.evolve(
        _request(
            clauses.SRPD_6_1,
            "the signing certificate's Remote Party Role is xmlSign (consultation 3.5)",
            "E65",
        ),
        basis=CodeBasis.SOURCE,
    ),
    Check.REQUEST_USER_ID_MATCHES_SIGNER: _request(
        clauses.SRPD_6_1,
        "the User ID in the request is the one in the signing certificate "
        "(consultation 3.3, 6.23 check (i))",
        "E062302",
    ),
    Check.REQUEST_NOT_A_REPLAY: _request(
        clauses.SRPD_6_1,
        "the Request ID counter is greater than any earlier one from the same originator",
        "E19",
    ),
    Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE: _request(
        clauses.SRPD_6_1,
        "the MPID used for the Registration Data look-up is an MPID in the signing certificate "
        "(consultation 3.3, 6.23 check (ii))",
        "E062303",
    ),
    Check.REQUEST_MPXN_MATCHES_INVENTORY: _request(
        clauses.SRPD_6_1,
        "the MPxN in the request is the one the Smart Metering Inventory associates with the "
        "target Device (consultation 3.3, 6.23 check (iii))",
        "E062304",
    ),
    Check.REQUEST_REPLACEMENT_CERTIFICATE_COUNT: _request(
        clauses.SRPD_6_1,
        "the request has the requisite number of replacement certificates for the target "
        "Device's type (consultation 3.3, 6.23 check (iv))",
        "E062305",
    ),
    Check.REQUEST_REPLACEMENT_CERTIFICATE_ROLES: _request(
        clauses.SRPD_6_1,
        "every replacement certificate has Remote Party Role supplier "
        "(consultation 3.3, 6.23 check (v))",
        "E062305",
    ),
    Check.REQUEST_KEY_USAGE_MATCHES_CELL: _request(
        clauses.SRPD_6_1,
        "each replacement certificate's key usage suits the trust anchor cell it fills "
        "(consultation 3.3, 6.23 check (vi))",
        "E062305",
    ),
    Check.REQUEST_PREPAYMENT_FLOOR_SEQUENCE_NUMBER: _request(
        clauses.SRPD_6_1,
        "where a prepayment top-up key is replaced, SupplierPrepaymentTopUpFloorSeqNumber is "
        "present (consultation 3.3, 6.23 check (vii))",
        "E062306",
    ),
    Check.REQUEST_ISSUING_OCA_CERTIFICATES_INCLUDED: _request(
        clauses.SRPD_6_1,
        "the issuing OCA certificate of every Organisation Certificate in the request is "
        "included (consultation 3.3, checks for all requests with certificates (i))",
        "E1007",
    ),
    Check.REQUEST_OCA_CERTIFICATES_ALL_USED: _request(
        clauses.SRPD_6_1,
        "every included OCA certificate issued at least one Organisation Certificate in the "
        "request (consultation 3.3, checks for all requests with certificates (ii))",
        "E1007",
    ),
}

# [choice] The request checks the CoS Party re-runs under 8.1(b)(iii): those it can decide from
# the request and the SMKI alone. It holds neither Registration Data nor the Smart Metering
# Inventory (MPID, MPxN and the Device type for the certificate count come from them), and
# replay is its own 8.1(b)(iv).
COS_PARTY_RERUNS: Final[tuple[Check, ...]] = (
    Check.REQUEST_CRYPTOGRAPHIC_PROTECTION,
    Check.REQUEST_SIGNER_CONFIRM_VALIDITY,
    Check.REQUEST_SIGNER_ROLE_XML_SIGN,
    Check.REQUEST_USER_ID_MATCHES_SIGNER,
    Check.REQUEST_REPLACEMENT_CERTIFICATE_ROLES,
    Check.REQUEST_KEY_USAGE_MATCHES_CELL,
    Check.REQUEST_PREPAYMENT_FLOOR_SEQUENCE_NUMBER,
    Check.REQUEST_ISSUING_OCA_CERTIFICATES_INCLUDED,
    Check.REQUEST_OCA_CERTIFICATES_ALL_USED,
)

# [choice] The request checks the DCC re-runs under 8.4(e): every one but anti-replay (the inner
# request was seen once already, by design; 8.4(g) is its replay check). Registration Data and
# the inventory may have changed while the CoS Party worked.
DCC_8_4_E_RERUNS: Final[tuple[Check, ...]] = tuple(
    check for check in _REQUEST_SPECS if check is not Check.REQUEST_NOT_A_REPLAY
)


def _rerun(stage: Stage, clause: str, original: Check) -> CheckSpec:
    return CheckSpec(
        clause,
        stage,
        f"re-run of {original.value} on the inner request",
        STAGE_CODES[stage],
        reruns=original,
    )


def _reruns(
    prefix: str, stage: Stage, clause: str, originals: tuple[Check, ...]
) -> dict[Check, CheckSpec]:
    return {
        Check(f"{prefix}{original.value}"): _rerun(stage, clause, original)
        for original in originals
    }


_COS = Stage.COS_PARTY
_RESPONSE = Stage.DCC_COS_AUTHORISATION_RESPONSE
_TCOS = Stage.TCOS_PARTY
_PRE_COMMAND = Stage.DCC_SIGNED_PRE_COMMAND

CHECK_SPECS: Final[Mapping[Check, CheckSpec]] = MappingProxyType(
    {
        **_REQUEST_SPECS,
        Check.COS_8_1_B_I_CRYPTOGRAPHIC_PROTECTION: _stage(
            _COS,
            clauses.SRPD_8_1_B_I,
            "Check Cryptographic Protection of the Countersigned CoS Service Request",
        ),
        Check.COS_8_1_B_II_CONFIRM_VALIDITY: _stage(
            _COS,
            clauses.SRPD_8_1_B_II,
            "Confirm Validity of the certificates used to check it",
        ),
        **_reruns("COS_8_1_B_III_", _COS, clauses.SRPD_8_1_B_III, COS_PARTY_RERUNS),
        Check.COS_8_1_B_IV_NOT_A_REPLAY: _stage(
            _COS,
            clauses.SRPD_8_1_B_IV,
            "the inner Service Request is not a Replay",
        ),
        Check.DCC_8_4_A_CRYPTOGRAPHIC_PROTECTION: _stage(
            _RESPONSE,
            clauses.SRPD_8_4_A,
            "Check Cryptographic Protection of the CoS Authorisation Response",
        ),
        Check.DCC_8_4_B_CONFIRM_VALIDITY: _stage(
            _RESPONSE,
            clauses.SRPD_8_4_B,
            "Confirm Validity of the certificates used to check it",
        ),
        Check.DCC_8_4_ROLE_COS_PARTY_XML_SIGN: _stage(
            _RESPONSE,
            clauses.SRPD_8_4_ROLE,
            "the Remote Party Role of the certificate used to check it is coSPartyXmlSign",
        ),
        Check.DCC_8_4_C_VALID_AND_WELL_FORMED: _stage(
            _RESPONSE,
            clauses.SRPD_8_4_C,
            "the CoS Authorisation Response is valid and well formed",
        ),
        Check.DCC_8_4_D_MAPS_TO_COUNTERSIGNED_REQUEST: _stage(
            _RESPONSE,
            clauses.SRPD_8_4_D,
            "it maps to a Countersigned CoS Service Request previously sent to the CoS Party",
        ),
        **_reruns("DCC_8_4_E_", _RESPONSE, clauses.SRPD_8_4_E, DCC_8_4_E_RERUNS),
        Check.DCC_8_4_F_PRE_COMMAND_SUBSTANTIVELY_IDENTICAL: _stage(
            _RESPONSE,
            clauses.SRPD_8_4_F,
            "SMETS2+ only: the Signed Pre-Command is substantively identical to the inner request",
            smets2_only=True,
        ),
        Check.DCC_8_4_G_NOT_A_REPLAY: _stage(
            _RESPONSE,
            clauses.SRPD_8_4_G,
            "neither the CoS Authorisation Response nor the inner request is a Replay",
        ),
        Check.TCOS_8_1A_B_I_CRYPTOGRAPHIC_PROTECTION: _stage(
            _TCOS,
            clauses.SRPD_8_1A_B_I,
            "Check Cryptographic Protection of the communication and of the inner request",
        ),
        Check.TCOS_8_1A_B_II_CONFIRM_VALIDITY: _stage(
            _TCOS,
            clauses.SRPD_8_1A_B_II,
            "Confirm Validity of the certificates used to check both",
        ),
        Check.TCOS_8_1A_B_III_SAME_USER: _stage(
            _TCOS,
            clauses.SRPD_8_1A_B_III,
            "the submitting User's User ID and the User ID in each Organisation Certificate "
            "in the request are all associated with the same User",
        ),
        Check.TCOS_8_1A_B_IV_RESPONSIBLE_SUPPLIER: _stage(
            _TCOS,
            clauses.SRPD_8_1A_B_IV,
            "the User ID in each Organisation Certificate is that of the Party who is (or is to "
            "be) Responsible Supplier, via the request's MPxN and Registration Data, on the "
            "execution date or else the current date",
        ),
        Check.TCOS_8_4A_C_CRYPTOGRAPHIC_PROTECTION: _stage(
            _PRE_COMMAND,
            clauses.SRPD_8_4A_C,
            "the Signed Pre-Command came from the TCoS Party (Check Cryptographic Protection)",
        ),
        Check.TCOS_8_4A_D_CONFIRM_VALIDITY: _stage(
            _PRE_COMMAND,
            clauses.SRPD_8_4A_D,
            "Confirm Validity of the certificates used to check it",
        ),
        Check.TCOS_8_4A_A_USER_IDS_MATCH_REQUEST: _stage(
            _PRE_COMMAND,
            clauses.SRPD_8_4A_A,
            "the User ID in each Organisation Certificate in the Signed Pre-Command equals that "
            "in the corresponding certificate of the original request",
        ),
        Check.TCOS_8_4A_B_DEVICE_ID_MATCHES_REQUEST: _stage(
            _PRE_COMMAND,
            clauses.SRPD_8_4A_B,
            "the Device ID in the Signed Pre-Command is the original request's",
        ),
        Check.TCOS_8_4A_E_PRE_COMMAND_CERTIFICATES_VALID: _stage(
            _PRE_COMMAND,
            clauses.SRPD_8_4A_E,
            "Confirm Validity of every certificate inside the Signed Pre-Command",
        ),
        Check.TCOS_8_4A_F_RESPONSIBLE_SUPPLIER: _stage(
            _PRE_COMMAND,
            clauses.SRPD_8_4A_F,
            "as 8.1A(b)(iv), with the MPxN the Smart Metering Inventory associates with the "
            "Device in the Signed Pre-Command",
        ),
    }
)

_BY_STAGE: Final[Mapping[Stage, tuple[Check, ...]]] = MappingProxyType(
    {stage: tuple(c for c, spec in CHECK_SPECS.items() if spec.stage is stage) for stage in Stage}
)


def checks_of(stage: Stage, *, smets1_target: bool = False) -> tuple[Check, ...]:
    """The checks of ``stage`` in the order they run; the run stops at the first failure
    (**[choice]**, 8.6(a), 8.6A). For a SMETS1 target, SMETS2+-only checks (8.4(f)) are left
    out."""
    checks = _BY_STAGE[stage]
    if smets1_target:
        return tuple(c for c in checks if not CHECK_SPECS[c].smets2_only)
    return checks


def response_code(check: Check) -> ResponseCode:
    """The DUIS response code the User receives when ``check`` is the first to fail."""
    return RESPONSE_CODES[CHECK_SPECS[check].code]
