"""SoftHSM2 for the HSM tests: a fresh PKCS#11 token in a temporary folder, and keys imported
into it as an HSM holds them (sensitive, non-extractable).

SoftHSM reads its configuration (``SOFTHSM2_CONF``) when the module is initialised, once per
process, so one temporary configuration and token folder serve the whole test run; each test
gets its own token in it (``fresh_token``), and the module is re-initialised to see it. Tests
skip, saying why, only where ``libsofthsm2.so`` or ``softhsm2-util`` is absent (``make test``
installs Debian's ``softhsm2`` where it can, ``.ci/system-packages``).
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import attrs
import pkcs11
import pytest

from adapters.crypto.pkcs11_signer import Pkcs11Signer, import_key

MODULE_ENV = "ETMAD_SOFTHSM_MODULE"
MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
SO_PIN = "so-pin-5678"
USER_PIN = "user-pin-1234"
PIN_ENV = "ETMAD_TEST_HSM_PIN"

_config: Path | None = None
_labels = itertools.count(1)


def softhsm_module() -> str | None:
    """The SoftHSM2 PKCS#11 library: ``$ETMAD_SOFTHSM_MODULE``, else Debian's places."""
    configured = os.environ.get(MODULE_ENV)
    if configured:
        return configured if Path(configured).is_file() else None
    return next((m for m in MODULES if Path(m).is_file()), None)


def require_softhsm() -> str:
    """The SoftHSM2 module, or skip the test saying what is missing and how to get it."""
    module = softhsm_module()
    if module is None:
        pytest.skip(
            f"SoftHSM2 not installed (no libsofthsm2.so in {', '.join(MODULES)}; set "
            f"{MODULE_ENV}, or install Debian's softhsm2: .ci/system-packages)"
        )
    if shutil.which("softhsm2-util") is None:
        pytest.skip("SoftHSM2's softhsm2-util is not on PATH (Debian package softhsm2)")
    return module


def _configuration() -> Path:
    """This process's SoftHSM configuration, written once in a temporary folder."""
    global _config  # noqa: PLW0603 — SoftHSM reads it once per process
    if _config is None:
        folder = Path(tempfile.mkdtemp(prefix="etmad-softhsm-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        (folder / "tokens").mkdir()
        config = folder / "softhsm2.conf"
        config.write_text(
            f"directories.tokendir = {folder / 'tokens'}\n"
            "objectstore.backend = file\n"
            "log.level = ERROR\n"
            "slots.removable = false\n",
            encoding="utf-8",
        )
        os.environ["SOFTHSM2_CONF"] = str(config)
        _config = config
    return _config


@attrs.frozen
class SoftHsmToken:
    """A token initialised for one test, its PINs, and its URIs."""

    module: str
    label: str
    config: Path

    def uri(self, key: str | None = None) -> str:
        """``pkcs11:`` naming this token (and ``key`` by label), the PIN in ``PIN_ENV``."""
        text = f"pkcs11:module={self.module};token={self.label};pin-env={PIN_ENV}"
        return text if key is None else f"{text};label={key}"

    def signer(self) -> Pkcs11Signer:
        return Pkcs11Signer(module=self.module, token=self.label, pin=USER_PIN)

    def import_key(self, label: str, private_key: bytes, certificate: bytes | None = None) -> bytes:
        """Store ``private_key`` (PKCS#8 PEM or DER) as a sensitive, non-extractable key
        labelled ``label`` with its public key (and ``certificate``); returns its SPKI."""
        return import_key(
            module=self.module,
            token=self.label,
            pin=USER_PIN,
            label=label,
            private_key=private_key,
            certificate=certificate,
        )

    def environment(self) -> dict[str, str]:
        """What a child process needs to reach this token."""
        return {"SOFTHSM2_CONF": str(self.config), PIN_ENV: USER_PIN}


def fresh_token(prefix: str = "etmad-test") -> SoftHsmToken:
    """A newly initialised token (its own label) with ``SO_PIN`` and ``USER_PIN``; skips the
    test where SoftHSM2 is absent."""
    module = require_softhsm()
    config = _configuration()
    label = f"{prefix}-{os.getpid()}-{next(_labels)}"
    subprocess.run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            SO_PIN,
            "--pin",
            USER_PIN,
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(config)},
    )
    pkcs11.lib(module).reinitialize()  # SoftHSM sees new tokens when (re)initialised
    return SoftHsmToken(module=module, label=label, config=config)
