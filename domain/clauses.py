"""Clause identifiers, as cited in decisions, errors and ``docs/clauses.md``.

Grep a clause id (for example ``ETMAD 1.4(b)``) to find every rule that enforces it.
"""

from __future__ import annotations

from typing import Final

ETMAD_1_3: Final = "ETMAD 1.3"
ETMAD_1_4: Final = "ETMAD 1.4"
ETMAD_1_4_A: Final = "ETMAD 1.4(a)"
ETMAD_1_4_B: Final = "ETMAD 1.4(b)"
ETMAD_1_4_C: Final = "ETMAD 1.4(c)"
ETMAD_1_5: Final = "ETMAD 1.5"
ETMAD_1_6: Final = "ETMAD 1.6"
ETMAD_1_7: Final = "ETMAD 1.7"
ETMAD_1_8_B: Final = "ETMAD 1.8(b)"
ETMAD_1_9: Final = "ETMAD 1.9"
ETMAD_1_10: Final = "ETMAD 1.10"
ETMAD_1_11: Final = "ETMAD 1.11"
ETMAD_1_12: Final = "ETMAD 1.12"
ETMAD_1_13: Final = "ETMAD 1.13"
ETMAD_1_14: Final = "ETMAD 1.14"
ETMAD_1_17: Final = "ETMAD 1.17"
ETMAD_2_BULK: Final = "ETMAD 2 (Bulk Migration)"
ETMAD_2_FAILED_MIGRATION: Final = "ETMAD 2 (Failed Migration)"
ETMAD_2_GPF_MODEL: Final = "ETMAD 2 (Gas Proxy Function Device Model)"
ETMAD_2_GPF_SUPPLIER: Final = "ETMAD 2 (Responsible Supplier of a Gas Proxy Function)"
ETMAD_2_TCOS_DEVICE: Final = "ETMAD 2 (TCoS Device / ECoS Device)"
ETMAD_3_2_C: Final = "ETMAD 3.2(c)"  # G2.44(a) as amended: FIPS 140-2 Level 3 signing
ETMAD_3_3: Final = "ETMAD 3.3"
ETMAD_3_7_D: Final = "ETMAD 3.7(d)"
ETMAD_3_7_E: Final = "ETMAD 3.7(e)"
ETMAD_3_7_F: Final = "ETMAD 3.7(f)"
ETMAD_3_7_G: Final = "ETMAD 3.7(g)"
ETMAD_6_1_A: Final = "ETMAD 6.1(a)"
ETMAD_6_1_B: Final = "ETMAD 6.1(b)"
ETMAD_6_1_C: Final = "ETMAD 6.1(c)"
ETMAD_6_1_C_I: Final = "ETMAD 6.1(c)(i)"
ETMAD_6_1_C_II: Final = "ETMAD 6.1(c)(ii)"
ETMAD_6_1_C_III: Final = "ETMAD 6.1(c)(iii)"
ETMAD_6_1_C_IV: Final = "ETMAD 6.1(c)(iv)"
ETMAD_6_1_D: Final = "ETMAD 6.1(d)"
ETMAD_6_1_E: Final = "ETMAD 6.1(e)"
ETMAD_6_2: Final = "ETMAD 6.2"
ETMAD_7_1: Final = "ETMAD 7.1"
# SRPD clause 8 as rewritten by the ETMAD (ETMAD 3.5): the SRV 6.23 CoS and TCoS Party paths.
SRPD_8_2_A: Final = "SRPD 8.2(a)"
SRPD_8_2A: Final = "SRPD 8.2A"
SRPD_8_4_F: Final = "SRPD 8.4(f)"
# SRV 6.23 routing: SRPD 6.4 and clause 8 as rewritten by ETMAD 3.5, the SMETS1 precondition,
# and the DUIS Command Variants (the 2021 consultation's DUIS changes).
ETMAD_1_19: Final = "ETMAD 1.19"
ETMAD_1_20: Final = "ETMAD 1.20"
SRPD_6_4_B: Final = "SRPD 6.4(b)"
SRPD_8_1: Final = "SRPD 8.1"
SRPD_8_1A: Final = "SRPD 8.1A"
DUIS_COMMAND_VARIANT: Final = "DUIS CommandVariant"
DUIS_3_8_76: Final = "DUIS 3.8.76"

# SRV 6.23 checks (domain/srv623_checks.py). The DCC's own request checks are "the SRPD 6.1
# checks" (the 2021 consultation's proposals, DOMAIN 3.4 [choice]); SRPD 6.1's letters are not
# in the seeds. The role check between 8.4(b) and 8.4(c) lost its label in the seed.
SRPD_6_1: Final = "SRPD 6.1"
SRPD_8_1_B_I: Final = "SRPD 8.1(b)(i)"
SRPD_8_1_B_II: Final = "SRPD 8.1(b)(ii)"
SRPD_8_1_B_III: Final = "SRPD 8.1(b)(iii)"
SRPD_8_1_B_IV: Final = "SRPD 8.1(b)(iv)"
SRPD_8_4_A: Final = "SRPD 8.4(a)"
SRPD_8_4_B: Final = "SRPD 8.4(b)"
SRPD_8_4_ROLE: Final = "SRPD 8.4 (role check)"
SRPD_8_4_C: Final = "SRPD 8.4(c)"
SRPD_8_4_D: Final = "SRPD 8.4(d)"
SRPD_8_4_E: Final = "SRPD 8.4(e)"
SRPD_8_4_G: Final = "SRPD 8.4(g)"
SRPD_8_1A_B_I: Final = "SRPD 8.1A(b)(i)"
SRPD_8_1A_B_II: Final = "SRPD 8.1A(b)(ii)"
SRPD_8_1A_B_III: Final = "SRPD 8.1A(b)(iii)"
SRPD_8_1A_B_IV: Final = "SRPD 8.1A(b)(iv)"
SRPD_8_4A_A: Final = "SRPD 8.4A(a)"
SRPD_8_4A_B: Final = "SRPD 8.4A(b)"
SRPD_8_4A_C: Final = "SRPD 8.4A(c)"
SRPD_8_4A_D: Final = "SRPD 8.4A(d)"
SRPD_8_4A_E: Final = "SRPD 8.4A(e)"
SRPD_8_4A_F: Final = "SRPD 8.4A(f)"
# The SRV 6.23 ServiceRequest aggregate (domain/service_request.py): its receipt, routing, the
# stages' runs, the communications between the parties, rejections and who is told, success.
DUIS_SRV_6_23: Final = "DUIS SRV 6.23"
SRPD_6_4: Final = "SRPD 6.4"
SRPD_8_1_A: Final = "SRPD 8.1(a)"
SRPD_8_1_B: Final = "SRPD 8.1(b)"
SRPD_8_2_B: Final = "SRPD 8.2(b)"
SRPD_8_3: Final = "SRPD 8.3"
SRPD_8_4: Final = "SRPD 8.4"
SRPD_8_5: Final = "SRPD 8.5"
SRPD_8_6: Final = "SRPD 8.6"
SRPD_8_1A_A: Final = "SRPD 8.1A(a)"
SRPD_8_1A_B: Final = "SRPD 8.1A(b)"
SRPD_8_3A: Final = "SRPD 8.3A"
SRPD_8_4A: Final = "SRPD 8.4A"
SRPD_8_5A: Final = "SRPD 8.5A"
SRPD_8_6A: Final = "SRPD 8.6A"
# CoS Party Threshold Anomaly Detection (domain/anomaly_detection.py): SRPD 8.2 sends the CoS
# Party to clause 20; the ADT file rules are the TADP (Appendix AA) as the 2021 consultation
# proposed them (its section 3.2). Only TADP 3.7 (a failed check rejects the whole file) is
# numbered in the seeds; the other TADP rules are named by what they say.
SRPD_8_2: Final = "SRPD 8.2"
SRPD_20: Final = "SRPD 20"
TADP_3_7: Final = "TADP 3.7"
TADP_ADT_SEQUENCE_NUMBER: Final = "TADP (ADT file sequence number)"
TADP_ADT_ONE_ENTRY: Final = "TADP (one ADT entry per SRV and Time Period)"
TADP_ADT_DEFAULTS: Final = "TADP (ADT defaults on loading a file)"
TADP_ADT_NO_FILE: Final = "TADP (User ID that never submitted an ADT file)"
