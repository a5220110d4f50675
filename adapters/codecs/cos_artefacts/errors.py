"""Typed refusals of the CoS artefacts codec (``docs/formats.md`` lists every code).

An artefact refused for what its XML or signature is raises the DUIS codec's error of the same
meaning (``INVALID_XML``, ``HOSTILE_XML``, ``SCHEMA_INVALID``, ``SIGNATURE_MISSING``,
``SIGNATURE_PROFILE``, ``UNKNOWN_SIGNER``, ``SIGNATURE_INVALID``): both formats share DUIS's
parser and signature profile. The refusals below are this codec's own; every one is a
``DuisError``, so a caller catches any refusal of an XML artefact with one ``except``.
"""

from __future__ import annotations

from adapters.codecs.duis.errors import DuisError


class CosArtefactError(DuisError):
    """Base of the refusals that belong to the CoS artefacts formats only."""

    code = "COS_ARTEFACT_ERROR"


class WrongArtefact(CosArtefactError):  # noqa: N818 — reads as the fact it reports
    """The root element is not the artefact the caller reads."""

    code = "WRONG_ARTEFACT"


class UnsupportedVersion(CosArtefactError):  # noqa: N818 — reads as the fact it reports
    """The ``version`` attribute is missing or names a version this codec does not read."""

    code = "UNSUPPORTED_VERSION"


class NotCanonical(CosArtefactError):  # noqa: N818 — reads as the fact it reports
    """The bytes are not the one serialisation etmad writes (so the SHA-256 would differ)."""

    code = "NOT_CANONICAL"


class InvalidArtefact(CosArtefactError):  # noqa: N818 — reads as the fact it reports
    """Schema-valid and signed, but its content is unusable (the wrapped request is not a
    signed DUIS request, say), or asked to write such an artefact."""

    code = "INVALID_ARTEFACT"
