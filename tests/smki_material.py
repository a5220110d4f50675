"""Where the DCC test material is (DOMAIN.md 6), and the skip when it is absent.

Tests read it in place, never copied: ``$ETMAD_DCC_VECTORS`` if set, else
``../shared/vectors/dcc`` beside the project root.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Inside every DCC test certificate's validity except a few (see the DCC README).
DCC_TIME = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
Z1_ISSUER = "CN=Z1,OU=07"


def dcc_vectors() -> Path:
    """The DCC test material folder, or skip the test with the reason."""
    configured = os.environ.get("ETMAD_DCC_VECTORS")
    folder = Path(configured) if configured else ROOT.parent / "shared" / "vectors" / "dcc"
    if not (folder / "smki").is_dir():
        pytest.skip(
            f"DCC test material not found at {folder} (set ETMAD_DCC_VECTORS to the folder "
            "holding smki/, duis/ and gbcs/)"
        )
    return folder


def smki() -> Path:
    return dcc_vectors() / "smki"
