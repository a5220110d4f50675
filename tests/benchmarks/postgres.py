"""PostgreSQL for the benchmarks: a throwaway server each benchmark starts itself and removes
afterwards (``tests.postgres_support``), and the store URLs the benchmarks build on it.

The server is the tests' one: ``initdb`` into a temporary folder, on a free loopback port, with
``fsync``, ``synchronous_commit`` and ``full_page_writes`` off (a throwaway server). So the
figures measure the round trips, the SQL and the server's own work, not waiting for the disk;
the ratios set the programme against raw inserts on the same server in the same run.

Every benchmark is one thread doing one unit of work at a time, so each application's pool
holds ``POOL_SIZE`` connections open for the whole run (no connection is opened per
transaction) and may open ``MAX_OVERFLOW`` more only if something holds one while asking for
another.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.postgres_support import Cluster, NoServerError, throwaway_server

POOL_SIZE = 2
MAX_OVERFLOW = 2


def unavailable() -> str | None:
    """Why no throwaway server can be started here, or ``None`` when one can."""
    try:
        Cluster(Path(tempfile.gettempdir()))  # finds the binaries and the user; starts nothing
    except NoServerError as e:
        return str(e)
    return None


@contextmanager
def postgresql_stores() -> Iterator[Callable[[str], str]]:
    """A fresh server for the block: gives the store URL of a named schema on it (each created
    on first use by ``build_application``); the server and its data are gone afterwards."""
    with throwaway_server() as server:

        def url(schema: str) -> str:
            return server.url(schema=schema, pool_size=POOL_SIZE, max_overflow=MAX_OVERFLOW)

        yield url
