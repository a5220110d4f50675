"""Where a role's signing key is, as text: ``pkcs11:…`` (a key in an HSM token) or ``file:PATH``
(a software key file, for development and tests only).

``signer_from_uri`` gives the ``Signer`` holding the key and the key's handle there. A
``pkcs11:`` URI must name its key (``label=`` or ``id=``); ``docs/operations.md``, "Keys in an
HSM (PKCS#11)", describes the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from adapters.crypto.pkcs11_signer import SCHEME as PKCS11_SCHEME
from adapters.crypto.pkcs11_signer import Pkcs11Signer, Pkcs11Uri, Pkcs11UriInvalid
from adapters.crypto.software_signer import KEY_SUFFIXES, SoftwareSigner
from application.credentials import Signer
from domain.errors import DomainError

FILE_SCHEME: Final = "file:"


class SignerUriInvalid(DomainError, ValueError):  # noqa: N818 — reads as the fact it reports
    """Text that names no usable key: an unknown scheme, or a key file that cannot be read."""

    code = "SIGNER_URI_INVALID"


def is_hardware(signer: Signer) -> bool:
    """Whether ``signer`` signs inside a cryptographic module (a PKCS#11 token), not in this
    process's memory."""
    return isinstance(signer, Pkcs11Signer)


def signer_from_uri(
    text: str, *, base: Path | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Signer, str]:
    """The signer holding the key ``text`` names, and the key's handle in it.

    ``pkcs11:module=…;token=…;pin-env=…;label=…`` (or ``id=HEX``): the token's signer, logged
    in with the PIN in the environment variable ``pin-env`` names (``environ``, by default the
    process's). ``file:PATH`` (relative to ``base``): a ``SoftwareSigner`` holding only that key
    (PEM or DER PKCS#8), named by the file's name without its key suffix.
    """
    if text.startswith(PKCS11_SCHEME):
        uri = Pkcs11Uri.parse(text)
        if uri.key is None:
            raise Pkcs11UriInvalid("the PKCS#11 URI names no key: add label=LABEL or id=HEX to it")
        return Pkcs11Signer.from_uri(uri, environ=environ), uri.key
    if text.startswith(FILE_SCHEME):
        path = (base or Path()) / text.removeprefix(FILE_SCHEME)
        try:
            material = path.read_bytes()
        except OSError as e:
            raise SignerUriInvalid(f"cannot read the key file {path}: {e.strerror}") from None
        handle = _handle_of(path.name)
        signer = SoftwareSigner()
        signer.add_key(handle, material)
        return signer, handle
    raise SignerUriInvalid(
        f"a key is named by {PKCS11_SCHEME}… (an HSM token) or {FILE_SCHEME}PATH (a key file), "
        f"not {text[:40]!r}"
    )


def _handle_of(name: str) -> str:
    for suffix in KEY_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name
