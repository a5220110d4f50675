"""The SRV 6.23 checks and their DUIS response codes are one reference table: every check has a
clause, a party, a place in its stage's run and a code that exists, and
``docs/response-codes.md`` says exactly what the module says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain import clauses
from domain.srv623_checks import (
    CHECK_SPECS,
    COS_PARTY_RERUNS,
    DCC_8_4_E_RERUNS,
    MEANING_NOT_HELD,
    RESPONSE_CODES,
    STAGE_CODES,
    Check,
    CheckingParty,
    CodeBasis,
    CodeScope,
    Stage,
    checks_of,
    response_code,
)
from tests.smki_material import require_material

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "response-codes.md").read_text(encoding="utf-8")
CLAUSE_IDS = {v for k, v in vars(clauses).items() if k.isupper() and isinstance(v, str)}


def test_every_check_has_one_spec_a_stable_id_and_a_clause_from_the_clause_module():
    assert set(CHECK_SPECS) == set(Check)
    assert all(check.value == check.name for check in Check)  # the id is the name, never aliased
    assert len({check.value for check in Check}) == len(Check.__members__)
    assert [c for c in Check if c.clause not in CLAUSE_IDS] == []


def test_every_check_maps_to_a_code_in_the_reference_table():
    for check in Check:
        code = response_code(check)
        assert code is RESPONSE_CODES[CHECK_SPECS[check].code]
        assert code.scope is not CodeScope.ALERT  # alerts are reference data only


def test_stages_belong_to_their_parties_and_each_check_knows_its_place():
    assert {stage: stage.party for stage in Stage} == {
        Stage.DCC_REQUEST: CheckingParty.DCC,
        Stage.COS_PARTY: CheckingParty.COS_PARTY,
        Stage.DCC_COS_AUTHORISATION_RESPONSE: CheckingParty.DCC,
        Stage.TCOS_PARTY: CheckingParty.TCOS_PARTY,
        Stage.DCC_SIGNED_PRE_COMMAND: CheckingParty.DCC,
    }
    assert sum(len(checks_of(stage)) for stage in Stage) == len(Check)
    for stage in Stage:
        assert [check.order for check in checks_of(stage)] == list(
            range(1, len(checks_of(stage)) + 1)
        )
        assert {check.party for check in checks_of(stage)} == {stage.party}


def test_8_4_runs_a_b_the_role_check_then_c_to_g():
    clauses_in_order = [check.clause for check in checks_of(Stage.DCC_COS_AUTHORISATION_RESPONSE)]
    distinct = list(dict.fromkeys(clauses_in_order))
    assert distinct == [
        clauses.SRPD_8_4_A,
        clauses.SRPD_8_4_B,
        clauses.SRPD_8_4_ROLE,
        clauses.SRPD_8_4_C,
        clauses.SRPD_8_4_D,
        clauses.SRPD_8_4_E,
        clauses.SRPD_8_4_F,
        clauses.SRPD_8_4_G,
    ]
    assert Check.DCC_8_4_ROLE_COS_PARTY_XML_SIGN.order == 3


def test_8_4_f_is_left_out_for_a_smets1_target_only():
    smets2 = checks_of(Stage.DCC_COS_AUTHORISATION_RESPONSE)
    smets1 = checks_of(Stage.DCC_COS_AUTHORISATION_RESPONSE, smets1_target=True)
    assert set(smets2) - set(smets1) == {Check.DCC_8_4_F_PRE_COMMAND_SUBSTANTIVELY_IDENTICAL}
    assert smets1[-1] is Check.DCC_8_4_G_NOT_A_REPLAY


def test_8_4a_authenticates_the_signed_pre_command_before_comparing_it():
    assert checks_of(Stage.DCC_SIGNED_PRE_COMMAND) == (
        Check.TCOS_8_4A_C_CRYPTOGRAPHIC_PROTECTION,
        Check.TCOS_8_4A_D_CONFIRM_VALIDITY,
        Check.TCOS_8_4A_A_USER_IDS_MATCH_REQUEST,
        Check.TCOS_8_4A_B_DEVICE_ID_MATCHES_REQUEST,
        Check.TCOS_8_4A_E_PRE_COMMAND_CERTIFICATES_VALID,
        Check.TCOS_8_4A_F_RESPONSIBLE_SUPPLIER,
    )


def test_the_party_stages_run_their_clause_items_in_order():
    assert [c.clause for c in checks_of(Stage.TCOS_PARTY)] == [
        clauses.SRPD_8_1A_B_I,
        clauses.SRPD_8_1A_B_II,
        clauses.SRPD_8_1A_B_III,
        clauses.SRPD_8_1A_B_IV,
    ]
    cos = [c.clause for c in checks_of(Stage.COS_PARTY)]
    assert list(dict.fromkeys(cos)) == [
        clauses.SRPD_8_1_B_I,
        clauses.SRPD_8_1_B_II,
        clauses.SRPD_8_1_B_III,
        clauses.SRPD_8_1_B_IV,
    ]


def test_the_dcc_authenticates_a_request_before_its_replay_and_content_checks():
    request = checks_of(Stage.DCC_REQUEST)
    assert request[:5] == (
        Check.REQUEST_CRYPTOGRAPHIC_PROTECTION,
        Check.REQUEST_SIGNER_CONFIRM_VALIDITY,
        Check.REQUEST_SIGNER_ROLE_XML_SIGN,
        Check.REQUEST_USER_ID_MATCHES_SIGNER,
        Check.REQUEST_NOT_A_REPLAY,
    )
    assert {c.clause for c in request} == {clauses.SRPD_6_1}


def test_the_cos_party_re_runs_what_it_can_decide_without_the_dcc_s_data():
    rerun = {c.spec.reruns for c in checks_of(Stage.COS_PARTY) if c.spec.reruns}
    assert rerun == set(COS_PARTY_RERUNS)
    assert set(checks_of(Stage.DCC_REQUEST)) - rerun == {
        Check.REQUEST_NOT_A_REPLAY,  # its own 8.1(b)(iv)
        Check.REQUEST_MPID_IN_SIGNER_CERTIFICATE,  # Registration Data
        Check.REQUEST_MPXN_MATCHES_INVENTORY,  # Smart Metering Inventory
        Check.REQUEST_REPLACEMENT_CERTIFICATE_COUNT,  # the Device type, from the inventory
    }
    assert all(
        c.clause == clauses.SRPD_8_1_B_III
        for c in checks_of(Stage.COS_PARTY)
        if c.spec.reruns is not None
    )


def test_the_dcc_re_runs_every_request_check_but_replay_under_8_4_e():
    rerun = [
        c.spec.reruns for c in checks_of(Stage.DCC_COS_AUTHORISATION_RESPONSE) if c.spec.reruns
    ]
    assert rerun == list(DCC_8_4_E_RERUNS)
    assert set(checks_of(Stage.DCC_REQUEST)) - set(rerun) == {Check.REQUEST_NOT_A_REPLAY}
    for check in checks_of(Stage.DCC_COS_AUTHORISATION_RESPONSE):
        assert (check.clause == clauses.SRPD_8_4_E) == (check.spec.reruns is not None)


def test_after_the_request_leaves_the_dcc_each_stage_answers_with_its_own_code():
    for stage, code in STAGE_CODES.items():
        assert {response_code(check).code for check in checks_of(stage)} == {code}
    assert len(set(STAGE_CODES.values())) == len(STAGE_CODES)


def test_only_e65_is_mapped_from_a_source_and_only_it_and_the_alerts_say_a_meaning():
    sourced = {c for c in Check if c.spec.basis is CodeBasis.SOURCE}
    assert sourced == {Check.REQUEST_SIGNER_ROLE_XML_SIGN}
    assert response_code(Check.REQUEST_SIGNER_ROLE_XML_SIGN).code == "E65"
    with_meaning = {c.code for c in RESPONSE_CODES.values() if c.meaning != MEANING_NOT_HELD}
    assert with_meaning == {"E65", "N63", "N65"}
    assert all("not in the material held" in RESPONSE_CODES[c].meaning for c in ("N63", "N65"))


def test_the_reference_table_holds_the_6_23_codes_and_the_general_codes_the_brief_names():
    codes = set(RESPONSE_CODES)
    assert {f"E06230{n}" for n in range(1, 7)} <= codes
    assert {"E1", "E2", "E4", "E19", "E1007"} | {f"E{n}" for n in range(65, 72)} <= codes
    assert {c.code for c in RESPONSE_CODES.values() if c.scope is CodeScope.SRV_6_23} == {
        f"E06230{n}" for n in range(1, 7)
    }


# The sources cited are checked against the material itself, where it is present.

SCHEMA_LINE = re.compile(r"(?:ResponseCode|DCCAlertCode enumeration), line (\d+)")
SEED_LINES = re.compile(r"SEC-subsidiary-changes-ECoS-2021\.txt lines? ([\d, ]+\d)")


def test_every_code_is_enumerated_at_the_schema_line_its_source_cites():
    vectors = require_material("duis")
    schema = (vectors / "duis" / "schema" / "DUIS Schema V5.4.xsd").read_text(encoding="utf-8")
    lines = schema.splitlines()
    for code in RESPONSE_CODES.values():
        (cited,) = SCHEMA_LINE.findall(code.source)
        assert f'<xs:enumeration value="{code.code}"/>' in lines[int(cited) - 1], code.code


def test_every_consultation_line_cited_for_a_code_names_that_code():
    seeds = require_material("duis").parent.parent / "seeds"
    consultation = seeds / "SEC-subsidiary-changes-ECoS-2021.txt"
    if not consultation.exists():
        pytest.skip(f"the seeds are not at {seeds}")
    lines = consultation.read_text(encoding="utf-8").splitlines()
    for code in RESPONSE_CODES.values():
        for group in SEED_LINES.findall(code.source):
            for number in group.split(","):
                assert code.code in lines[int(number) - 1], (code.code, number)


# docs/response-codes.md cannot drift from the module.


def _rows(section_heading: str) -> list[list[str]]:
    """The body rows of the first table after ``section_heading``, cells without backticks."""
    section = DOC.split(section_heading, 1)[1]
    rows: list[list[str]] = []
    for line in section.splitlines():
        if line.startswith("|"):
            cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split(" | ")]
            rows.append(cells)
        elif rows:
            break
    return rows[2:]  # header and rule


def test_the_codes_table_of_the_doc_is_the_reference_table():
    expected = [[c.code, c.scope.value, c.meaning, c.source] for c in RESPONSE_CODES.values()]
    assert _rows("## 1. Response codes") == expected


def test_the_checks_table_of_the_doc_is_the_module_s():
    expected = [
        [
            stage.value,
            str(check.order),
            check.value,
            check.clause,
            check.party.value,
            check.spec.code,
            check.spec.basis.value,
            check.spec.description,
        ]
        for stage in Stage
        for check in checks_of(stage)
    ]
    assert _rows("## 2. Checks") == expected


def test_the_re_run_table_of_the_doc_is_the_module_s():
    def said(check: Check, reruns: tuple[Check, ...]) -> str:
        return "re-run" if check in reruns else "not re-run"

    expected = [
        [check.value, said(check, COS_PARTY_RERUNS), said(check, DCC_8_4_E_RERUNS)]
        for check in checks_of(Stage.DCC_REQUEST)
    ]
    assert _rows("## 3. Which request checks") == expected
