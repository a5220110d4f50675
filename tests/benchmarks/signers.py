"""``make bench``: signatures per second, the software signer against SoftHSM2 over PKCS#11, in
the same run.

Both sign the same 200-byte messages with the same P-256 key (imported into a fresh SoftHSM2
token as a sensitive, non-extractable key), GBCS's RAW r‖s form, one at a time as a Signed
Pre-Command is signed. The ratio is the HSM's rate over the software signer's: what moving the
CoS and TCoS Parties' keys into a token costs per signature (a hardware HSM's rate is its own;
SoftHSM2 measures the PKCS#11 path, not a device). Skips, saying why, where SoftHSM2 is absent.

    python -m tests.benchmarks.signers [--signatures N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.crypto.software_signer import SoftwareSigner
from application.credentials import SignatureEncoding, Signer
from tests.softhsm_support import fresh_token, softhsm_module

KEY = "bench-key"


def rate(signer: Signer, messages: list[bytes]) -> float:
    """Signatures per second of ``signer`` over ``messages``."""
    signer.sign(KEY, messages[0], encoding=SignatureEncoding.RAW)  # warm up
    began = time.perf_counter()
    for message in messages:
        signer.sign(KEY, message, encoding=SignatureEncoding.RAW)
    return len(messages) / (time.perf_counter() - began)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--signatures", type=int, default=2000)
    args = parser.parse_args(argv)
    if softhsm_module() is None or shutil.which("softhsm2-util") is None:
        print("signers: skipped: SoftHSM2 is not installed (.ci/system-packages installs it)")
        return 0
    private = ec.generate_private_key(ec.SECP256R1())
    der = private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    software = SoftwareSigner()
    software.add_key(KEY, der)
    token = fresh_token("etmad-bench")
    token.import_key(KEY, der)
    hsm = token.signer()
    messages = [bytes([n % 256]) * 200 for n in range(args.signatures)]
    soft_rate = rate(software, messages)
    hsm_rate = rate(hsm, messages)
    print(f"signatures: {args.signatures} ECDSA P-256 (RAW), one at a time")
    print(f"{'signer':<10}{'sigs/s':>10}")
    print(f"{'software':<10}{soft_rate:>10.0f}")
    print(f"{'softhsm2':<10}{hsm_rate:>10.0f}")
    print(f"ratio softhsm2 / software = {hsm_rate / soft_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
