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


def vectors_folder() -> Path:
    """Where the DCC test material is looked for (it may be absent)."""
    configured = os.environ.get("ETMAD_DCC_VECTORS")
    return Path(configured) if configured else ROOT.parent / "shared" / "vectors" / "dcc"


def require_material(*parts: str) -> Path:
    """The DCC test material folder holding ``parts`` (e.g. ``"gbcs"``), or skip the test with
    the reason and where it looked."""
    folder = vectors_folder()
    missing = [part for part in parts if not (folder / part).is_dir()]
    if missing:
        pytest.skip(
            f"DCC test material ({', '.join(p + '/' for p in missing)}) not found at {folder}: "
            "set ETMAD_DCC_VECTORS to the folder holding duis/, gbcs/ and smki/"
        )
    return folder


def dcc_vectors() -> Path:
    """The DCC test material folder, or skip the test with the reason."""
    return require_material("smki")


def smki() -> Path:
    return dcc_vectors() / "smki"
