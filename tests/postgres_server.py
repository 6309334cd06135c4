"""A throwaway PostgreSQL server for the records tests: started once a session, on a free port.

    def test_x(postgres_url: str) -> None:          # a fresh, empty database of its own
        store = PostgresRecordStore(postgres_url)

`initdb` into a temporary folder, then `postgres -D DIR -p PORT -k DIR` (fsync off: the data is
thrown away). PostgreSQL refuses to run as root, so as root both run as the `postgres` system user
on a folder it owns. Tests that need it are skipped only when no PostgreSQL binaries are installed
(CI installs them: .ci/run).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

SUPERUSER = "kb"


def _binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian layout, or initdb/postgres on PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    port: int
    folder: Path
    process: subprocess.Popen[bytes]
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def new_database(self) -> str:
        """The URL of a new empty database (a few ms: copied from template0 without WAL)."""
        name = f"kb_test_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f"create database {name} template template0 strategy file_copy")
        return self.url(name)

    def execute(self, dbname: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser (autocommit); its rows, if any."""
        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            cur = conn.execute(sql.encode(), params)
            return cur.fetchall() if cur.description else []


def _as_postgres_user() -> dict[str, Any]:
    """Popen arguments that drop root to the `postgres` user (PostgreSQL will not run as root)."""
    if os.geteuid() != 0:
        return {}
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no `postgres` user to run PostgreSQL as")
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": [], "env": {**os.environ, "HOME": pw.pw_dir}}


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = _binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no initdb/postgres): the PostgreSQL records tests need it")
    drop = _as_postgres_user()
    folder = Path(tempfile.mkdtemp(prefix="kb-pg-"))  # not pytest's tmp: its parents are closed to other users
    if drop:
        os.chown(folder, drop["user"], drop["group"])
    data = folder / "data"
    subprocess.run(
        [bin_dir / "initdb", "-D", data, "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync", "--no-locale"],
        check=True,
        capture_output=True,
        **drop,
    )
    process: subprocess.Popen[bytes] | None = None
    try:
        for _attempt in range(3):  # the free port may be taken between finding and binding it
            port = _free_port()
            log = (folder / "postgres.log").open("wb")
            process = subprocess.Popen(
                [
                    bin_dir / "postgres",
                    *("-D", data, "-p", str(port), "-k", folder),
                    *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"),
                    *("-c", "synchronous_commit=off", "-c", "max_connections=200"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                **drop,
            )
            log.close()
            server = PostgresServer(port=port, folder=folder, process=process)
            if _wait_ready(server):
                break
            process.wait(5)
        else:
            raise RuntimeError("PostgreSQL did not start:\n" + (folder / "postgres.log").read_text(errors="replace"))
        yield server
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: roll back, disconnect, stop
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_ready(server: PostgresServer, timeout: float = 20.0) -> bool:
    """True once the server accepts connections; False if it exited (say, the port was taken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            time.sleep(0.05)
    raise RuntimeError("PostgreSQL did not accept connections in time")


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A new empty database on the session's server."""
    return postgres_server.new_database()
