"""Failed Migrations (ETMAD section 2): what came back from each step of 6.1(c), and how a
failed step is classified.

"Failed Migration means the failure to complete any one or more of the steps specified in
Clause 6.1(c)": every failed step is one, before any retry. ETMAD 3.3 adds three items about it
to Section H17.5: the ECoS migration **failure code**, **failure sub-code** and **date of last
failure**. The taxonomy here is published in ``docs/failures.md`` and is stable: reports and
other services match on it, so a code is never renamed or reused.

* **failure code** = the step (and, for 6.1(c)(iv), whose Service Provider) x the cause group:
  ``TCOS_INSTRUCTION_UNAVAILABLE``, ``TCOS_REVIEW_REFUSED``, ``REPLACEMENT_REJECTED``,
  ``ECOS_CONFIRMATION_MISSING`` ...
* **sub-code** = the GBCS status of the Device's response, written as GBCS writes it with its
  number (``badCertificate(5)``), or else the transport or answer detail as a stable token
  (``no_response``, ``unavailable``, ``refused``, ``not_confirmed``, ``invalid_response``).
  Free text (a refusal's reason, a transport's message) is kept beside it as ``detail``.
* **cause** = what the Error Handling and Retry Approach classifies as retryable or not
  (``domain.retry_policy``). It is the code's cause group refined by the GBCS status.

The domain has its own view of a Device's response (``DeviceOutcome``, ``GbcsStatus``): the GBCS
codec is an adapter, and the application translates its decoded response into these values.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

from domain import clauses
from domain.identifiers import CosParty
from domain.smki import RemotePartyRole, TrustAnchorCell


class Step(enum.StrEnum):
    """The steps of one Device's ECoS Migration (ETMAD 6.1(c)), in order."""

    INSTRUCTION = "instruction"  # (i) instruct the TCoS Service Provider to initiate
    REVIEW = "review"  # (ii) its review confirming migration can commence
    REPLACEMENT = "replacement"  # (iii) TCoS credentials replaced by the ECoS Party's
    CONFIRMATION = "confirmation"  # (iv) confirmed by the ECoS and the TCoS Service Providers

    @property
    def clause(self) -> str:
        return STEP_CLAUSES[self]

    @property
    def order(self) -> int:
        return list(Step).index(self)


STEP_CLAUSES: Final[dict[Step, str]] = {
    Step.INSTRUCTION: clauses.ETMAD_6_1_C_I,
    Step.REVIEW: clauses.ETMAD_6_1_C_II,
    Step.REPLACEMENT: clauses.ETMAD_6_1_C_III,
    Step.CONFIRMATION: clauses.ETMAD_6_1_C_IV,
}


class ReplyKind(enum.StrEnum):
    """What came back from a Service Provider or a Device (the domain's view of the ports')."""

    ANSWERED = "answered"  # a reply arrived; its content says whether the step succeeded
    NO_RESPONSE = "no_response"  # nothing arrived within the time-out
    UNAVAILABLE = "unavailable"  # the party or the transport refused the call (an outage)
    # Only for the Device's outcome of step (iii) after a send that was interrupted (the run
    # stopped after ``ReplacementCommandSent`` was saved and before any reply was recorded),
    # decided on resume by asking the Service Providers (6.1(c)(iv) semantics) instead of
    # sending again:
    RECONCILED = "reconciled"  # a Service Provider confirmed the Device holds the ECoS creds
    INTERRUPTED = "interrupted"  # none confirmed: the outcome is unknown, as a no response


class GbcsStatus(enum.IntEnum):
    """A Device's outcome for one trust anchor cell (GBCS ``StatusCode``), as the domain sees
    it. The values are GBCS's; ``gbcs_name`` is GBCS's spelling."""

    SUCCESS = 0
    BAD_CERTIFICATE = 5
    NO_TRUST_ANCHOR = 10
    INSUFFICIENT_MEMORY = 17
    TRUST_ANCHOR_NOT_FOUND = 25
    RESOURCES_BUSY = 30
    OTHER = 127

    @property
    def gbcs_name(self) -> str:
        head, *rest = self.name.lower().split("_")
        return head + "".join(word.capitalize() for word in rest)

    @property
    def sub_code(self) -> str:
        """The H17.5 sub-code: GBCS's name and number, ``badCertificate(5)``."""
        return f"{self.gbcs_name}({self.value})"


class FailureCause(enum.StrEnum):
    """Why a step failed, as the Error Handling and Retry Approach classifies it. Stable."""

    NO_RESPONSE = "no_response"  # nothing within the time-out (a Service Provider or a Device)
    UNAVAILABLE = "unavailable"  # the Service Provider or the transport was unavailable
    REFUSED = "refused"  # the TCoS Service Provider declined the instruction or the review
    NOT_CONFIRMED = "not_confirmed"  # a Service Provider answered without confirming, at (iv)
    INVALID_RESPONSE = "invalid_response"  # the Device's answer has no usable outcome
    BAD_CERTIFICATE = "badCertificate"  # GBCS 5
    NO_TRUST_ANCHOR = "noTrustAnchor"  # GBCS 10
    INSUFFICIENT_MEMORY = "insufficientMemory"  # GBCS 17
    TRUST_ANCHOR_NOT_FOUND = "trustAnchorNotFound"  # GBCS 25
    RESOURCES_BUSY = "resourcesBusy"  # GBCS 30
    OTHER_DEVICE_ERROR = "other"  # GBCS 127


STATUS_CAUSES: Final[dict[GbcsStatus, FailureCause]] = {
    GbcsStatus.BAD_CERTIFICATE: FailureCause.BAD_CERTIFICATE,
    GbcsStatus.NO_TRUST_ANCHOR: FailureCause.NO_TRUST_ANCHOR,
    GbcsStatus.INSUFFICIENT_MEMORY: FailureCause.INSUFFICIENT_MEMORY,
    GbcsStatus.TRUST_ANCHOR_NOT_FOUND: FailureCause.TRUST_ANCHOR_NOT_FOUND,
    GbcsStatus.RESOURCES_BUSY: FailureCause.RESOURCES_BUSY,
    GbcsStatus.OTHER: FailureCause.OTHER_DEVICE_ERROR,
}

#: Where several cells failed, the status that names the failure: the one that says most about
#: the Device (a rejection of the credentials before a lack of memory, before an unspecified
#: error, before being busy). Every cell's status stays in the recorded outcome.
STATUS_PRECEDENCE: Final[tuple[GbcsStatus, ...]] = (
    GbcsStatus.BAD_CERTIFICATE,
    GbcsStatus.NO_TRUST_ANCHOR,
    GbcsStatus.TRUST_ANCHOR_NOT_FOUND,
    GbcsStatus.INSUFFICIENT_MEMORY,
    GbcsStatus.OTHER,
    GbcsStatus.RESOURCES_BUSY,
)


class FailureCode(enum.StrEnum):
    """The H17.5 ECoS migration failure code: step x cause group. Published in
    ``docs/failures.md``; stable (never renamed or reused)."""

    TCOS_INSTRUCTION_NO_RESPONSE = "TCOS_INSTRUCTION_NO_RESPONSE"
    TCOS_INSTRUCTION_UNAVAILABLE = "TCOS_INSTRUCTION_UNAVAILABLE"
    TCOS_INSTRUCTION_REFUSED = "TCOS_INSTRUCTION_REFUSED"
    TCOS_REVIEW_NO_RESPONSE = "TCOS_REVIEW_NO_RESPONSE"
    TCOS_REVIEW_UNAVAILABLE = "TCOS_REVIEW_UNAVAILABLE"
    TCOS_REVIEW_REFUSED = "TCOS_REVIEW_REFUSED"
    REPLACEMENT_NO_RESPONSE = "REPLACEMENT_NO_RESPONSE"
    REPLACEMENT_UNAVAILABLE = "REPLACEMENT_UNAVAILABLE"
    REPLACEMENT_INVALID_RESPONSE = "REPLACEMENT_INVALID_RESPONSE"
    REPLACEMENT_REJECTED = "REPLACEMENT_REJECTED"
    ECOS_CONFIRMATION_MISSING = "ECOS_CONFIRMATION_MISSING"
    ECOS_CONFIRMATION_UNAVAILABLE = "ECOS_CONFIRMATION_UNAVAILABLE"
    TCOS_CONFIRMATION_MISSING = "TCOS_CONFIRMATION_MISSING"
    TCOS_CONFIRMATION_UNAVAILABLE = "TCOS_CONFIRMATION_UNAVAILABLE"


@attrs.frozen(kw_only=True)
class StepFailure:
    """A Failed Migration (ETMAD 2): one 6.1(c) step failed, classified for H17.5 (ETMAD 3.3).

    Its date is the ``occurred_at`` of the step event that carries it."""

    step: Step
    code: FailureCode
    cause: FailureCause
    sub_code: str
    detail: str
    clause: str = clauses.ETMAD_2_FAILED_MIGRATION


@attrs.frozen(kw_only=True)
class ProviderResponse:
    """A Service Provider's answer to an instruction, a review or a confirmation request.

    ``confirmed`` counts only when ``kind`` is ``ANSWERED``; ``reason`` is the reason it gave
    for a refusal (or anything else it said)."""

    kind: ReplyKind
    confirmed: bool = False
    reason: str = ""

    @property
    def succeeded(self) -> bool:
        return self.kind is ReplyKind.ANSWERED and self.confirmed


@attrs.frozen
class CellStatus:
    """The Device's outcome for one trust anchor cell of the replacement."""

    cell: TrustAnchorCell
    status: GbcsStatus


@attrs.frozen(kw_only=True)
class DeviceOutcome:
    """What came back for the CS02b transCoSByTransCoS command: the Device's per-cell outcome,
    or no response, or an unavailable transport. An answer the application could not decode,
    or one without an outcome for the transitionalCoS cell, is recorded as answered with the
    cells it had (none if undecodable) and ``detail`` saying why; it classifies as
    ``REPLACEMENT_INVALID_RESPONSE``.

    After an interrupted send the outcome is decided on resume without a reply from the
    Device: ``RECONCILED`` (no cells; a Service Provider confirmed that the Device holds the
    ECoS Party's credentials, so the command took effect: a success) or ``INTERRUPTED`` (none
    confirmed: ``REPLACEMENT_NO_RESPONSE``, cause ``no_response``, sub-code ``interrupted``)."""

    kind: ReplyKind
    cells: tuple[CellStatus, ...] = ()
    detail: str = ""

    @property
    def succeeded(self) -> bool:
        return classify_replacement(self) is None


#: The sub-code of a replacement whose send was interrupted and that no Service Provider then
#: confirmed (cause ``no_response``: the retry policy treats it as the Device not answering).
INTERRUPTED_SUB_CODE: Final = "interrupted"

_UNANSWERED_REPLACEMENT: Final[dict[ReplyKind, tuple[FailureCode, FailureCause, str]]] = {
    ReplyKind.NO_RESPONSE: (
        FailureCode.REPLACEMENT_NO_RESPONSE,
        FailureCause.NO_RESPONSE,
        FailureCause.NO_RESPONSE.value,
    ),
    ReplyKind.INTERRUPTED: (
        FailureCode.REPLACEMENT_NO_RESPONSE,
        FailureCause.NO_RESPONSE,
        INTERRUPTED_SUB_CODE,
    ),
    ReplyKind.UNAVAILABLE: (
        FailureCode.REPLACEMENT_UNAVAILABLE,
        FailureCause.UNAVAILABLE,
        FailureCause.UNAVAILABLE.value,
    ),
}

# --- classification -------------------------------------------------------------------------

_TCOS_PROVIDER_CODES: Final[dict[tuple[Step, FailureCause], FailureCode]] = {
    (Step.INSTRUCTION, FailureCause.NO_RESPONSE): FailureCode.TCOS_INSTRUCTION_NO_RESPONSE,
    (Step.INSTRUCTION, FailureCause.UNAVAILABLE): FailureCode.TCOS_INSTRUCTION_UNAVAILABLE,
    (Step.INSTRUCTION, FailureCause.REFUSED): FailureCode.TCOS_INSTRUCTION_REFUSED,
    (Step.REVIEW, FailureCause.NO_RESPONSE): FailureCode.TCOS_REVIEW_NO_RESPONSE,
    (Step.REVIEW, FailureCause.UNAVAILABLE): FailureCode.TCOS_REVIEW_UNAVAILABLE,
    (Step.REVIEW, FailureCause.REFUSED): FailureCode.TCOS_REVIEW_REFUSED,
}

_CONFIRMATION_CODES: Final[dict[tuple[CosParty, FailureCause], FailureCode]] = {
    (CosParty.ECOS, FailureCause.NO_RESPONSE): FailureCode.ECOS_CONFIRMATION_MISSING,
    (CosParty.ECOS, FailureCause.NOT_CONFIRMED): FailureCode.ECOS_CONFIRMATION_MISSING,
    (CosParty.ECOS, FailureCause.UNAVAILABLE): FailureCode.ECOS_CONFIRMATION_UNAVAILABLE,
    (CosParty.TCOS, FailureCause.NO_RESPONSE): FailureCode.TCOS_CONFIRMATION_MISSING,
    (CosParty.TCOS, FailureCause.NOT_CONFIRMED): FailureCode.TCOS_CONFIRMATION_MISSING,
    (CosParty.TCOS, FailureCause.UNAVAILABLE): FailureCode.TCOS_CONFIRMATION_UNAVAILABLE,
}

_KIND_CAUSES: Final[dict[ReplyKind, FailureCause]] = {
    ReplyKind.NO_RESPONSE: FailureCause.NO_RESPONSE,
    ReplyKind.UNAVAILABLE: FailureCause.UNAVAILABLE,
}


def _provider_cause(response: ProviderResponse, *, answered: FailureCause) -> FailureCause | None:
    if response.succeeded:
        return None
    return _KIND_CAUSES.get(response.kind, answered)


def _provider_detail(response: ProviderResponse) -> str:
    if response.kind is ReplyKind.ANSWERED:
        return response.reason or "no reason given"
    return response.reason


def classify_tcos_step(step: Step, response: ProviderResponse) -> StepFailure | None:
    """6.1(c)(i) or (ii): the TCoS Service Provider accepted the instruction / confirmed in its
    review that migration can commence, or the step failed (no answer, unavailable, refused)."""
    if step not in {Step.INSTRUCTION, Step.REVIEW}:
        raise ValueError(f"the TCoS Service Provider's steps are (i) and (ii), not {step}")
    cause = _provider_cause(response, answered=FailureCause.REFUSED)
    if cause is None:
        return None
    return StepFailure(
        step=step,
        code=_TCOS_PROVIDER_CODES[step, cause],
        cause=cause,
        sub_code=cause.value,
        detail=_provider_detail(response),
    )


def classify_confirmation(party: CosParty, response: ProviderResponse) -> StepFailure | None:
    """6.1(c)(iv): one Service Provider's confirmation that the migration completed, or the
    confirmation is missing (no answer, or an answer that does not confirm) or unavailable."""
    cause = _provider_cause(response, answered=FailureCause.NOT_CONFIRMED)
    if cause is None:
        return None
    return StepFailure(
        step=Step.CONFIRMATION,
        code=_CONFIRMATION_CODES[party, cause],
        cause=cause,
        sub_code=cause.value,
        detail=_provider_detail(response),
    )


def classify_replacement(outcome: DeviceOutcome) -> StepFailure | None:
    """6.1(c)(iii): the Device replaced its TCoS credentials (every cell it reported succeeded,
    the transitionalCoS cell among them), or the step failed."""

    def failure(code: FailureCode, cause: FailureCause, sub_code: str, detail: str) -> StepFailure:
        return StepFailure(
            step=Step.REPLACEMENT, code=code, cause=cause, sub_code=sub_code, detail=detail
        )

    if outcome.kind is ReplyKind.RECONCILED:
        return None  # the Service Providers confirmed what the Device holds (6.1(c)(iv))
    unanswered = _UNANSWERED_REPLACEMENT.get(outcome.kind)
    if unanswered is not None:
        code, cause, sub_code = unanswered
        return failure(code, cause, sub_code, outcome.detail)
    failed = {c.status for c in outcome.cells if c.status is not GbcsStatus.SUCCESS}
    if failed:
        status = next(s for s in STATUS_PRECEDENCE if s in failed)
        cells = ", ".join(
            f"{c.cell.role.name} {c.cell.key_usage} {c.cell.cell_usage}: {c.status.sub_code}"
            for c in outcome.cells
        )
        return failure(
            FailureCode.REPLACEMENT_REJECTED,
            STATUS_CAUSES[status],
            status.sub_code,
            "; ".join(d for d in (cells, outcome.detail) if d),
        )
    if not any(c.cell.role is RemotePartyRole.TRANSITIONAL_COS for c in outcome.cells):
        why = (
            "no outcome for the transitionalCoS cell"
            if outcome.cells
            else "no cell outcome in the response"
        )
        return failure(
            FailureCode.REPLACEMENT_INVALID_RESPONSE,
            FailureCause.INVALID_RESPONSE,
            FailureCause.INVALID_RESPONSE.value,
            "; ".join(d for d in (why, outcome.detail) if d),
        )
    return None


def taxonomy() -> tuple[tuple[FailureCode, FailureCause, str], ...]:
    """Every failure code with each cause and sub-code it is given with, in the order of
    ``docs/failures.md``."""
    rows: list[tuple[FailureCode, FailureCause, str]] = [
        (code, cause, cause.value) for (_, cause), code in _TCOS_PROVIDER_CODES.items()
    ]
    rows += [
        (FailureCode.REPLACEMENT_NO_RESPONSE, FailureCause.NO_RESPONSE, "no_response"),
        (FailureCode.REPLACEMENT_NO_RESPONSE, FailureCause.NO_RESPONSE, INTERRUPTED_SUB_CODE),
        (FailureCode.REPLACEMENT_UNAVAILABLE, FailureCause.UNAVAILABLE, "unavailable"),
        (
            FailureCode.REPLACEMENT_INVALID_RESPONSE,
            FailureCause.INVALID_RESPONSE,
            "invalid_response",
        ),
    ]
    rows += [
        (FailureCode.REPLACEMENT_REJECTED, STATUS_CAUSES[s], s.sub_code)
        for s in GbcsStatus
        if s is not GbcsStatus.SUCCESS
    ]
    rows += [(code, cause, cause.value) for (_, cause), code in _CONFIRMATION_CODES.items()]
    return tuple(rows)
