"""Settings of the application: DCC-set parameters, each with a documented default."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Final

import attrs

from domain.bulk_gate import BULK_MIGRATION_CEILING, bulk_migration_number
from domain.eligibility import EligibilityParameters
from domain.identifiers import DeviceType
from domain.programme_policies import IncidentRule, NonMigratableCandidateRule, SuspensionRule
from domain.retry_policy import DEFAULT_RETRY_POLICY, RetryPolicy
from domain.selection import DEFAULT_REST, SelectionParameters

#: **[our choice]** The requisite number of replacement certificates in an SRV 6.23 by the
#: target Device's type (2021 consultation 3.3, 6.23 check (iv); the material gives no number).
#: An SRV 6.23 can carry the Supplier's three certificates — DigitalSigningCertificate (DS
#: management cell), KeyAgreementCertificate (KA management cell) and
#: KeyAgreementTopUpCertificate (KA prepayment top-up cell), the last two optional in DUIS —
#: and an ESME and a GSME hold all three Supplier cells (GBCS), so a change of supplier
#: replaces all three; the DCC's 6.23 templates carry three. Types not listed are not targets
#: of an SRV 6.23: the check fails for them.
REQUISITE_REPLACEMENT_CERTIFICATES: Final[Mapping[DeviceType, int]] = MappingProxyType(
    {DeviceType.ESME: 3, DeviceType.GSME: 3}
)


@attrs.frozen(kw_only=True)
class Settings:
    """DCC-set parameters (``docs/decisions.md`` and ``docs/operations.md`` explain each).

    - ``eligibility``: the 1.4(b) windows (7 days recent change of supplier, 14 days pending,
      7 days recent Commissioning).
    - ``bulk_migration_number``: the DCC-defined number of Devices of a Device Model that may
      be migrated before the 1.6 decision; at most 300 (section 2).
    - ``auto_authorise_bulk``: record the 1.6 decision by policy when 6.1(b) evidence appears.
    - ``mpan_check_digit``: verify MPAN check digits (``False`` accepts DCC test MPANs).
    - ``retry_policy``: the ECoS Migration Error Handling and Retry Approach in force (1.7,
      7.1); frozen onto each series of attempts when it starts.
    - ``selection``: the daily Device selection (``docs/selection.md``): a programme capacity
      of 10 000 Devices a day, a pilot of 20 Devices a model before the 1.6 decision (never
      past the Bulk Migration number), then a ramp-up of 50, 200, 1000 and 5000 a day from
      days 0, 7, 14 and 28 after it.
    - ``reselect_after``: how long a Device whose series completed unsuccessfully rests before
      the selection takes it again, unless a remediation of it is resolved sooner (1.3;
      ``domain.selection.rest_until``).
    - ``aggregate_cache_size``: how many folded aggregates the application keeps in memory
      (``application/cache.py``; least recently used out first).
    - ``suspension_rule``, ``non_migratable_candidate_rule``, ``incident_rule``: the programme
      policies the process managers apply (``docs/process-managers.md``): a suspension is
      proposed when at least half of at least 20 attempts of a model completed in 24 hours
      failed (4.3); a Non-Migratable candidate when 5 Devices of a model rejected the
      credentials replacement device-side and none replaced them (4.2); an incident when one
      DCC system was unavailable across 3 Device Models within an hour (4.4).
    - ``auto_suspend``: a suspension proposal also suspends the model, with the proposal as its
      reason, until an operator resumes it (``ResumeModel``); ``False`` records the proposal
      only.
    - ``replacement_certificates``: the requisite number of replacement certificates in an
      SRV 6.23 by the target Device's type (SRPD 6.1; ``REQUISITE_REPLACEMENT_CERTIFICATES``,
      **[our choice]**: 3 for ESME and GSME — DS, KA and KA top-up).
    """

    eligibility: EligibilityParameters = attrs.field(factory=EligibilityParameters)
    bulk_migration_number: int = attrs.field(default=BULK_MIGRATION_CEILING)
    auto_authorise_bulk: bool = True
    mpan_check_digit: bool = True
    retry_policy: RetryPolicy = DEFAULT_RETRY_POLICY
    selection: SelectionParameters = attrs.field(factory=SelectionParameters)
    aggregate_cache_size: int = 1_000_000
    reselect_after: timedelta = DEFAULT_REST
    suspension_rule: SuspensionRule = attrs.field(factory=SuspensionRule)
    non_migratable_candidate_rule: NonMigratableCandidateRule = attrs.field(
        factory=NonMigratableCandidateRule
    )
    incident_rule: IncidentRule = attrs.field(factory=IncidentRule)
    auto_suspend: bool = True
    replacement_certificates: Mapping[DeviceType, int] = REQUISITE_REPLACEMENT_CERTIFICATES

    @bulk_migration_number.validator
    def _check(self, _attribute: object, value: int) -> None:
        bulk_migration_number(value)
