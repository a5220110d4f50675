"""A throwaway PostgreSQL server for the tests (and for ``make demo STORE=postgresql``).

``initdb`` into a folder, ``pg_ctl start`` on a free loopback port with the server's socket in
that folder, ``pg_ctl stop`` at the end. PostgreSQL refuses to run as root, so when the tests
run as root the server runs as the ``postgres`` user (``runuser -u postgres --``), which then
owns the folder. The binaries are found on ``PATH`` or in ``/usr/lib/postgresql/*/bin``.

    python -m tests.postgres_support run DIR -- COMMAND...

starts a fresh server whose data lives in ``DIR`` (emptied first), runs ``COMMAND`` with
``ETMAD_STORE`` set to its URL (and ``{url}`` in the arguments replaced by it), and stops the
server; the data stays in ``DIR``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import psycopg
from psycopg import sql

SERVER_USER = "postgres"
DATABASE = "etmad"
SETTINGS = (
    # A throwaway server: durability is not wanted, speed and many connections are.
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=400",
    "shared_buffers=64MB",
)


class NoServerError(Exception):
    """No PostgreSQL server binary on this machine (the reason is the message)."""


def find_binaries() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in candidates:
        if all((folder / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise NoServerError(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or in "
        "/usr/lib/postgresql/*/bin; install Debian's postgresql package (make test does where "
        "it can)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@attrs.frozen
class Server:
    """A running server: connect to ``dbname`` as ``user`` at 127.0.0.1:``port``."""

    folder: Path
    port: int
    user: str = SERVER_USER
    dbname: str = DATABASE
    host: str = "127.0.0.1"

    def url(self, **parameters: object) -> str:
        query = "&".join(f"{key}={value}" for key, value in parameters.items())
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}" + (
            f"?{query}" if query else ""
        )

    def connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=self.host, port=self.port, dbname=self.dbname, user=self.user, autocommit=True
        )


class Cluster:
    """``initdb``, ``pg_ctl start`` and ``pg_ctl stop`` on one data folder, as the right user."""

    def __init__(self, folder: Path) -> None:
        self.binaries = find_binaries()
        self.folder = folder
        self.as_root = os.geteuid() == 0
        if self.as_root:
            try:
                self.owner: pwd.struct_passwd | None = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise NoServerError(
                    f"running as root and there is no {SERVER_USER!r} user to run PostgreSQL "
                    "as (PostgreSQL refuses to run as root)"
                ) from None
            if shutil.which("runuser") is None:
                raise NoServerError("running as root and runuser is missing")
        else:
            self.owner = None

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        line = [str(self.binaries / command[0]), *command[1:]]
        if self.as_root:
            line = ["runuser", "-u", SERVER_USER, "--", *line]
        return subprocess.run(line, capture_output=True, text=True, check=False, cwd=self.folder)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.owner is not None:
            os.chown(self.folder, self.owner.pw_uid, self.owner.pw_gid)
        done = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SERVER_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}\n{done.stderr}")

    def _pg_start(self, port: int) -> subprocess.CompletedProcess[str]:
        options = " ".join(f"-c {setting}" for setting in SETTINGS)
        return self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {self.folder} {options}",
            "start",
        )

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def start(self) -> Server:
        failures = []
        for _ in range(3):  # a free port may be taken between probing and binding
            port = _free_port()
            done = self._pg_start(port)
            if done.returncode == 0:
                server = Server(self.folder, port)
                with contextlib.closing(
                    psycopg.connect(
                        host=server.host,
                        port=port,
                        dbname="postgres",
                        user=SERVER_USER,
                        autocommit=True,
                    )
                ) as conn:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
                return server
            log = self.log
            failures.append(done.stderr + (log.read_text() if log.exists() else ""))
        raise RuntimeError("pg_ctl start failed:\n" + "\n".join(failures))

    def restart(self, server: Server, *, down_for: float = 0.0) -> None:
        """Stop the server (fast: its connections are cut), keep it down for ``down_for``
        seconds, and start it again on the same port with the same data: a database restart
        as clients see it."""
        self.stop()
        time.sleep(down_for)
        self.start_again(server)

    def start_again(self, server: Server) -> None:
        """Start the stopped server again on its port, with its data."""
        done = self._pg_start(server.port)
        if done.returncode != 0:
            log = self.log
            raise RuntimeError(
                "pg_ctl start after a restart failed:\n"
                + done.stderr
                + (log.read_text() if log.exists() else "")
            )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@contextlib.contextmanager
def throwaway_server() -> Iterator[Server]:
    """A fresh server in a temporary folder, stopped and deleted at the end. Raises
    ``NoServerError`` where no server binary exists."""
    folder = Path(tempfile.mkdtemp(prefix="etmad-pg-"))
    try:
        cluster = Cluster(folder)
        cluster.init()
        server = cluster.start()
        try:
            yield server
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Schemas:
    """A new, empty schema for each test, on one administrative connection."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self._conn = server.connect()
        self._numbers = itertools.count(1)

    def new(self) -> str:
        name = f"test_{next(self._numbers)}"
        self._conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        return name

    def drop(self, name: str) -> None:
        self._conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))

    def close(self) -> None:
        self._conn.close()


def run_on_fresh_server(folder: Path, command: list[str]) -> int:
    """``python -m tests.postgres_support run DIR -- COMMAND...`` (see the module docstring)."""
    if folder.exists():
        Cluster(folder).stop()  # a server left running by an interrupted run
        shutil.rmtree(folder)
    cluster = Cluster(folder.resolve())
    cluster.init()
    server = cluster.start()
    url = server.url(schema="etmad")
    sys.stderr.write(f"PostgreSQL {cluster.binaries.parent.name} at {url}, data in {folder}\n")
    try:
        line = [part.replace("{url}", url) for part in command]
        return subprocess.run(line, env={**os.environ, "ETMAD_STORE": url}, check=False).returncode
    finally:
        cluster.stop()


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[0] != "run" or argv[2] != "--":
        sys.stderr.write("usage: python -m tests.postgres_support run DIR -- COMMAND...\n")
        return 2
    try:
        return run_on_fresh_server(Path(argv[1]), argv[3:])
    except NoServerError as e:
        sys.stderr.write(f"tests.postgres_support: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
