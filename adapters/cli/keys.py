"""``etmad keys import-test-pki --module M --token LABEL --pin-env VAR [--from DIR]``: load the
DCC test PKI's keys into a PKCS#11 token, for demos and tests of HSM signing.

Every key file of ``DIR`` (by default the DCC material's ``smki/z1``, read in place) is stored
in the token as a sensitive, non-extractable ECDSA P-256 key labelled with the file's name
without its key suffix, with its public key and, where ``DIR`` holds ``LABEL.pem``, its
certificate. Prints ``LABEL -> CERTIFICATE`` per key. A label the token already holds with the
same key is left as it is; with another key, it is an error. The test PKI's keys are public:
a production key is generated in its module, never imported.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from adapters.crypto.pkcs11_signer import Pkcs11Signer, Pkcs11Uri, import_key
from adapters.crypto.software_signer import KEY_SUFFIXES, SoftwareSigner
from domain.errors import DomainError

DEFAULT_FOLDER = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "dcc" / "smki" / "z1"
VECTORS_ENV = "ETMAD_DCC_VECTORS"


class PkiFolderUnreadable(DomainError):  # noqa: N818 — reads as the fact it reports
    """The test PKI folder is missing or holds no key files."""

    code = "TEST_PKI_UNREADABLE"


def add_keys_parser(sub: Any) -> None:  # noqa: ANN401 — argparse's private subparsers action
    """Add ``keys import-test-pki`` to the ``etmad`` sub-parsers."""
    keys = sub.add_parser("keys", help="signing keys in a PKCS#11 token (HSM)")
    verbs = keys.add_subparsers(dest="keys_verb", required=True, metavar="KEYS_VERB")
    load = verbs.add_parser(
        "import-test-pki",
        help="load the DCC test PKI's keys into a PKCS#11 token (demos, tests)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    load.add_argument("--module", required=True, help="the PKCS#11 library (.so) of the HSM")
    load.add_argument("--token", required=True, metavar="LABEL", help="the token's label")
    load.add_argument(
        "--pin-env",
        required=True,
        metavar="VAR",
        help="the environment variable holding the token's user PIN",
    )
    load.add_argument(
        "--from",
        dest="folder",
        default=None,
        metavar="DIR",
        help=f"the folder of key files (default: ${VECTORS_ENV}/smki/z1, else {DEFAULT_FOLDER})",
    )


def run_keys(args: argparse.Namespace) -> int:
    """Run ``keys import-test-pki``; errors reach ``main`` as ``DomainError``s."""
    folder = _folder(args.folder)
    uri = Pkcs11Uri(module=args.module, token=args.token, pin_env=args.pin_env)
    pin = uri.pin()
    keys = _key_files(folder)
    if not keys:
        raise PkiFolderUnreadable(f"no key files ({', '.join(KEY_SUFFIXES)}) in {folder}")
    signer = Pkcs11Signer(module=uri.module, token=uri.token, pin=pin)
    try:
        for label, path in keys.items():
            certificate = folder / f"{label}.pem"
            material = path.read_bytes()
            if label in signer:
                expected = SoftwareSigner()
                if expected.add_key(label, material) != signer.public_key(label):
                    raise PkiFolderUnreadable(
                        f"token {uri.token!r} holds another key labelled {label!r}"
                    )
                status = " (already in the token)"
            else:
                import_key(
                    module=uri.module,
                    token=uri.token,
                    pin=pin,
                    label=label,
                    private_key=material,
                    certificate=certificate.read_bytes() if certificate.is_file() else None,
                )
                status = ""
            shown = certificate.name if certificate.is_file() else "(no certificate)"
            print(f"{label} -> {shown}{status}")
    finally:
        signer.close()
    return 0


def _folder(given: str | None) -> Path:
    if given:
        folder = Path(given)
    elif os.environ.get(VECTORS_ENV):
        folder = Path(os.environ[VECTORS_ENV]) / "smki" / "z1"
    else:
        folder = DEFAULT_FOLDER
    if not folder.is_dir():
        raise PkiFolderUnreadable(f"the test PKI folder {folder} does not exist (give --from DIR)")
    return folder


def _key_files(folder: Path) -> dict[str, Path]:
    """Key files by label, one per label (``x.key`` and ``x.key.pem`` hold one key)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        for suffix in KEY_SUFFIXES:
            if path.is_file() and path.name.endswith(suffix) and len(path.name) > len(suffix):
                found.setdefault(path.name[: -len(suffix)], path)
                break
    return found
