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
ETMAD_3_3: Final = "ETMAD 3.3"
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
