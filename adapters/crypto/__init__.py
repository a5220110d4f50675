"""Credentials toolkit on ``asn1crypto`` and ``cryptography``: SMKI certificate parsing, the trust
store, Confirm Validity, the software signer and a test PKI builder (DOMAIN.md 6)."""
