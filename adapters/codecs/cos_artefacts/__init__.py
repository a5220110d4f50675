"""The two signed XML artefacts etmad defines for SRV 6.23 (format ``etmad-cos-artefacts/1``).

- the **Countersigned CoS Service Request** (SRPD 8.1(a), 8.1A(a)):
  :func:`build_countersigned_request`, :func:`read_countersigned_request`;
- the **CoS Authorisation Response** (SRPD 8.2(a), 8.2(b), read under 8.4):
  :func:`build_cos_authorisation_response`, :func:`read_cos_authorisation_response`.

Both wrap the signed DUIS request byte for byte, are signed with the DUIS signature profile and
are validated against XML Schemas shipped in this package. ``docs/formats.md`` describes them;
every refusal is a ``DuisError`` with a stable ``code`` (:mod:`.errors`).
"""

from __future__ import annotations

from adapters.codecs.cos_artefacts.authorisation_response import (
    CosAuthorisationResponse,
    build_cos_authorisation_response,
    read_cos_authorisation_response,
)
from adapters.codecs.cos_artefacts.countersigned_request import (
    CountersignedRequest,
    build_countersigned_request,
    read_countersigned_request,
)
from adapters.codecs.cos_artefacts.envelope import NAMESPACE, VERSION, artefact_schema
from adapters.codecs.cos_artefacts.errors import (
    CosArtefactError,
    InvalidArtefact,
    NotCanonical,
    UnsupportedVersion,
    WrongArtefact,
)

__all__ = [
    "NAMESPACE",
    "VERSION",
    "CosArtefactError",
    "CosAuthorisationResponse",
    "CountersignedRequest",
    "InvalidArtefact",
    "NotCanonical",
    "UnsupportedVersion",
    "WrongArtefact",
    "artefact_schema",
    "build_cos_authorisation_response",
    "build_countersigned_request",
    "read_cos_authorisation_response",
    "read_countersigned_request",
]
