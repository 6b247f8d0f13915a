"""A real, throw-away PostgreSQL server for tests (like tests/broker.py for RabbitMQ).

Fixtures:
    postgres    session-scoped `PostgresServer`: the server named by env
                MOZCI_TEST_POSTGRES_DSN (an admin DSN, e.g. on a CI service), else a private
                cluster made with Debian's `initdb` + `pg_ctl` in a temp dir on a free
                loopback port (as the `postgres` user when run as root), stopped and removed
                at session end. Skips when no PostgreSQL is installed; fails instead when
                env CI is set.
    pg_dsn      function-scoped: a DSN on that server whose search_path is a fresh schema
                (dropped after the test), so tests never see each other's rows.

Load it from a conftest with `from pg import pg_dsn, postgres  # noqa: F401` (or add "pg"
to `pytest_plugins` in tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ENV_DSN = "MOZCI_TEST_POSTGRES_DSN"
_TIMEOUT = 60.0


class PostgresUnavailable(Exception):
    """No PostgreSQL server can be had on this machine."""


@dataclass
class PostgresServer:
    """An admin DSN plus how to make databases on it."""

    admin_dsn: str
    data_dir: Path | None = None  # set when this module started the cluster
    _shared: str | None = None

    def shared_database(self) -> str:
        """One database for the session's per-test schemas (dropped by `close`)."""
        if self._shared is None:
            self._shared = self.create_database()
        return self._shared

    def close(self) -> None:
        if self._shared is not None:
            with contextlib.suppress(Exception):
                self.drop_database(self._shared)
            self._shared = None

    def dsn(self, database: str, *, schema: str | None = None) -> str:
        from psycopg.conninfo import make_conninfo

        if schema is None:
            return make_conninfo(self.admin_dsn, dbname=database)
        return make_conninfo(self.admin_dsn, dbname=database, options=f"-c search_path={schema}")

    def create_schema(self, database: str) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return name

    def drop_schema(self, database: str, schema: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def create_database(self) -> str:
        import psycopg

        name = f"mozci_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    # Debian keeps the server binaries out of PATH, one directory per major version.
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_server_user(cmd: Sequence[str]) -> list[str]:
    """initdb and postgres refuse to run as root: drop to the `postgres` user then."""
    if os.geteuid() != 0:
        return list(cmd)
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    return [runuser, "-u", "postgres", "--", *cmd]


def _run(cmd: Sequence[str]) -> None:
    proc = subprocess.run(
        list(cmd),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        cwd="/",
    )
    if proc.returncode != 0:
        raise PostgresUnavailable(
            f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout}"
        )


def start_private_cluster() -> PostgresServer:
    """initdb + pg_ctl start in a temp dir; trust auth on loopback only."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found (apt-get install postgresql)"
        )
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable("running as root and no `postgres` user exists") from None
    base = Path(tempfile.mkdtemp(prefix="mozci-test-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        os.chown(base, server_user.pw_uid, server_user.pw_gid)
    port = _free_port()
    try:
        _run(
            _as_server_user(
                [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            )
        )
        # fsync off: a test cluster is thrown away, and the store's durability is not what
        # these tests measure (its transactions still commit or roll back as a unit).
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200"
        )
        _run(
            _as_server_user(
                [pg_ctl, "-D", str(data), "-l", str(base / "log"), "-o", options, "-w", "start"]
            )
        )
    except (PostgresUnavailable, subprocess.TimeoutExpired, OSError) as error:
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(str(error)) from error
    return PostgresServer(
        admin_dsn=f"host=127.0.0.1 port={port} user=postgres dbname=postgres",
        data_dir=data,
    )


def stop_private_cluster(server: PostgresServer) -> None:
    if server.data_dir is None:
        return
    pg_ctl = _pg_bin("pg_ctl")
    if pg_ctl is not None:
        with contextlib.suppress(PostgresUnavailable, subprocess.TimeoutExpired):
            _run(_as_server_user([pg_ctl, "-D", str(server.data_dir), "-m", "fast", "stop"]))
    shutil.rmtree(server.data_dir.parent, ignore_errors=True)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL needed in CI: {reason}")
    pytest.skip(f"no PostgreSQL: {reason}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[test]')")
    if os.environ.get(ENV_DSN):
        external = PostgresServer(admin_dsn=os.environ[ENV_DSN])
        try:
            yield external
        finally:
            external.close()
        return
    try:
        server = start_private_cluster()
    except PostgresUnavailable as error:
        _unavailable(str(error))
    try:
        yield server
    finally:
        stop_private_cluster(server)


@pytest.fixture
def pg_dsn(postgres: PostgresServer) -> Iterator[str]:
    """A DSN whose search_path is a fresh, empty schema: a database of its own, in effect.

    A schema is much cheaper to make than a database (CREATE DATABASE copies a template
    and checkpoints). Advisory locks are per database, so tests sharing it must not run
    concurrently (they do not: one pytest session runs one test at a time).
    """
    database = postgres.shared_database()
    schema = postgres.create_schema(database)
    try:
        yield postgres.dsn(database, schema=schema)
    finally:
        postgres.drop_schema(database, schema)
